//! Domain failures as tool results: [`ToolError`] and the prose that tells
//! the model what went wrong and what to call next. Each store or render
//! error maps to one stable outcome label (for metrics and the audit log)
//! and one message; I/O details stay in the server log.

use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use templates::{RenderError, StoreError, Template};

/// A domain failure reported as an `isError: true` tool result.
#[derive(Debug)]
pub struct ToolError {
    /// Stable outcome label for metrics and the audit log.
    pub outcome: &'static str,
    /// Message for the model: what went wrong and what to do.
    pub message: String,
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        Ok(CallToolResult::error(vec![ContentBlock::text(self.message)]).into())
    }
}

impl ToolError {
    pub(super) fn new(outcome: &'static str, message: impl Into<String>) -> Self {
        Self {
            outcome,
            message: message.into(),
        }
    }

    pub(super) fn from_store(error: StoreError) -> Self {
        match &error {
            StoreError::InvalidName { .. } => Self::new(
                "invalid_name",
                format!(
                    "{error}. Names are lowercase slugs like \"meeting-minutes\"; call list_templates to see existing names."
                ),
            ),
            StoreError::NotFound(_) => Self::new(
                "not_found",
                format!("{error}. Call list_templates to see the available templates."),
            ),
            StoreError::Conflict {
                current: Some(current),
                expected: None,
                ..
            } => Self::new(
                "conflict",
                format!(
                    "{error}. To replace it, call get_template, then call save_template again with expected_version=\"{current}\"."
                ),
            ),
            StoreError::Conflict {
                current: Some(current),
                ..
            } => Self::new(
                "conflict",
                format!(
                    "{error}. Someone else changed it: call get_template to read version {current}, reapply your change and retry with expected_version=\"{current}\"."
                ),
            ),
            StoreError::Conflict { current: None, .. } => Self::new(
                "conflict",
                format!("{error}. Omit expected_version to create it anew."),
            ),
            StoreError::InvalidVersion { .. } => Self::new(
                "invalid_version",
                format!("{error}. Use the version string returned by get_template."),
            ),
            StoreError::Invalid { .. }
            | StoreError::TooLarge
            | StoreError::TooManyTemplates { .. } => Self::new(
                "invalid_template",
                format!("{error}. Fix the template and retry."),
            ),
            _ => {
                // I/O failures are ours, not the caller's: log the detail, say little.
                tracing::error!(%error, "template store failure");
                Self::new("store_error", "the template store failed; try again later")
            }
        }
    }

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
                "invalid_variables",
                format!(
                    "{error}. Template \"{}\" declares: {}. Call render_template again with those names in `variables`.",
                    template.meta.name,
                    declared()
                ),
            ),
            RenderError::VariableTooLarge(_) => Self::new(
                "invalid_variables",
                format!("{error}. Shorten the value and retry."),
            ),
            _ => Self::new(
                "render_failed",
                format!("{error}. The template itself cannot be rendered with these values."),
            ),
        }
    }
}
