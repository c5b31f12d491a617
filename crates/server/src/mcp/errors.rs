//! Domain failures as tool results: [`ToolError`] and the prose that tells
//! the model what went wrong and what to call next. Each store, render or
//! offload error maps to one [`Outcome`] (its label is what metrics and the
//! audit log record) and one message; I/O details stay in the server log.

use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use templates::{RenderError, StoreError, Template};

use super::offload::OffloadError;

/// How a tool call ended. Its [`label`](Outcome::label) is the `outcome`
/// label of `mcp_tool_calls_total` and the `outcome` field of the audit line;
/// dashboards and tests match on those strings, so they never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The tool did what was asked.
    Ok,
    /// The template name is not a valid slug.
    InvalidName,
    /// No template has that name.
    NotFound,
    /// The template changed since `expected_version`, or exists already.
    Conflict,
    /// `expected_version` is not a version string.
    InvalidVersion,
    /// The template to save is invalid or too large, or there are too many.
    InvalidTemplate,
    /// Render values are missing, unknown or too large.
    InvalidVariables,
    /// The template cannot be rendered with these values.
    RenderFailed,
    /// The store failed (I/O), or a render or store call panicked; the
    /// caller can only retry.
    StoreError,
    /// Every render and store slot stayed taken for the whole wait; nothing
    /// was done, and the caller may retry.
    Busy,
}

impl Outcome {
    /// Every outcome, in declaration order ([`Outcome::index`] is the position).
    pub const ALL: [Outcome; 10] = [
        Outcome::Ok,
        Outcome::InvalidName,
        Outcome::NotFound,
        Outcome::Conflict,
        Outcome::InvalidVersion,
        Outcome::InvalidTemplate,
        Outcome::InvalidVariables,
        Outcome::RenderFailed,
        Outcome::StoreError,
        Outcome::Busy,
    ];

    /// The label metrics and the audit log record.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::InvalidName => "invalid_name",
            Outcome::NotFound => "not_found",
            Outcome::Conflict => "conflict",
            Outcome::InvalidVersion => "invalid_version",
            Outcome::InvalidTemplate => "invalid_template",
            Outcome::InvalidVariables => "invalid_variables",
            Outcome::RenderFailed => "render_failed",
            Outcome::StoreError => "store_error",
            Outcome::Busy => "busy",
        }
    }

    /// The position of this outcome in [`Outcome::ALL`], for per-outcome tables.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// A domain failure reported as an `isError: true` tool result. Built only
/// here, from a store or render error, so its outcome is never [`Outcome::Ok`].
#[derive(Debug)]
pub struct ToolError {
    /// What metrics and the audit log record.
    pub(super) outcome: Outcome,
    /// Message for the model: what went wrong and what to do.
    pub(super) message: String,
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        Ok(CallToolResult::error(vec![ContentBlock::text(self.message)]).into())
    }
}

impl ToolError {
    fn new(outcome: Outcome, message: impl Into<String>) -> Self {
        Self {
            outcome,
            message: message.into(),
        }
    }

    /// The store failed in a way the caller cannot fix; the detail is logged
    /// by whoever saw it.
    pub(super) fn store_failed() -> Self {
        Self::new(
            Outcome::StoreError,
            "the template store failed; try again later",
        )
    }

    /// The message for work that could not be run or did not finish; the
    /// detail of a panic is logged by `Offload::run`.
    pub(super) fn from_offload(error: OffloadError) -> Self {
        match error {
            OffloadError::Busy(_) => Self::new(
                Outcome::Busy,
                format!(
                    "the server is busy: {error}. Nothing was changed; retry in a few seconds."
                ),
            ),
            _ => Self::store_failed(),
        }
    }

    /// The message for a store error, naming the call that gets past it.
    pub(super) fn from_store(error: StoreError) -> Self {
        match &error {
            StoreError::InvalidName { .. } => Self::new(
                Outcome::InvalidName,
                format!(
                    "{error}. Names are lowercase slugs like \"meeting-minutes\"; call list_templates to see existing names."
                ),
            ),
            StoreError::NotFound(_) => Self::new(
                Outcome::NotFound,
                format!("{error}. Call list_templates to see the available templates."),
            ),
            StoreError::Conflict {
                current: Some(current),
                expected: None,
                ..
            } => Self::new(
                Outcome::Conflict,
                format!(
                    "{error}. To replace it, call get_template, then call save_template again with expected_version=\"{current}\"."
                ),
            ),
            StoreError::Conflict {
                current: Some(current),
                ..
            } => Self::new(
                Outcome::Conflict,
                format!(
                    "{error}. Someone else changed it: call get_template to read version {current}, reapply your change and retry with expected_version=\"{current}\"."
                ),
            ),
            StoreError::Conflict { current: None, .. } => Self::new(
                Outcome::Conflict,
                format!("{error}. Omit expected_version to create it anew."),
            ),
            StoreError::InvalidVersion { .. } => Self::new(
                Outcome::InvalidVersion,
                format!("{error}. Use the version string returned by get_template."),
            ),
            StoreError::Invalid { .. }
            | StoreError::TooLarge
            | StoreError::TooManyTemplates { .. } => Self::new(
                Outcome::InvalidTemplate,
                format!("{error}. Fix the template and retry."),
            ),
            StoreError::Backend { .. } => {
                // The database's own reason may name hosts: logged, not sent.
                tracing::error!(%error, "template store failure");
                Self::new(
                    Outcome::StoreError,
                    "the template database is unavailable; retry in a few seconds (a save or \
                     delete may have completed just before: call get_template to check first)",
                )
            }
            _ => {
                // I/O failures are ours, not the caller's: log the detail, say little.
                tracing::error!(%error, "template store failure");
                Self::store_failed()
            }
        }
    }

    /// The message for a render error; for variables, the declared list.
    pub(super) fn from_render(error: RenderError, template: &Template) -> Self {
        let declared = || {
            template
                .meta
                .variables
                .iter()
                .map(|v| {
                    if v.required {
                        format!("{} (required)", v.name)
                    } else {
                        v.name.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &error {
            RenderError::MissingVariables(_) | RenderError::UnknownVariables(_) => Self::new(
                Outcome::InvalidVariables,
                format!(
                    "{error}. Template \"{}\" declares: {}. Call render_template again with those names in `variables`.",
                    template.meta.name,
                    declared()
                ),
            ),
            RenderError::VariableTooLarge(_) => Self::new(
                Outcome::InvalidVariables,
                format!("{error}. Shorten the value and retry."),
            ),
            _ => Self::new(
                Outcome::RenderFailed,
                format!("{error}. The template itself cannot be rendered with these values."),
            ),
        }
    }
}
