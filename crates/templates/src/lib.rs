//! The template domain of mcp-file-templates: named file templates, their
//! versions, their file format, rendering under limits, and the store seam
//! ([`TemplateStore`]) with its two backends: a directory ([`FsStore`]) and
//! PostgreSQL ([`PgStore`]), shared by the replicas of a deployment.
//!
//! It is its own crate so that the MCP/HTTP surface (`crates/server`) and
//! any other backend of the store seam build on the domain without reaching
//! into it: a backend holds bytes, the domain decides what they mean.
//!
//! What it owns:
//! - the file format (`+++` TOML front matter, then a minijinja body) and its
//!   validation ([`TemplateDraft`], precise [`StoreError::Invalid`] reasons);
//! - names ([`TemplateName`]) and the only mapping from a name to a path,
//!   `dir/<name>.md`, which cannot leave the directory;
//! - versions ([`Version`], a content hash) and optimistic concurrency: a
//!   write or delete names the version it replaces, and a stale one gets
//!   [`StoreError::Conflict`] with the current version, never a lost update;
//! - crash-safe writes (temp file, fsync, rename, fsync of the directory) and
//!   a cross-process advisory lock on `dir/.lock` ([`FsStore`]);
//! - one compare-and-swap per write in PostgreSQL, and every replica's
//!   in-memory copy kept current by `LISTEN`/`NOTIFY` with a periodic
//!   resync ([`PgStore`]);
//! - rendering with bounded work, output and input ([`render()`]).
//!
//! What it must not know: MCP, rmcp, JSON-RPC, HTTP, OAuth, scopes, who the
//! caller is, or which async runtime it runs under. Callers authorize first
//! and then call this sync API: [`TemplateStore::list`] answers from memory,
//! every other store call and every render does file I/O or bounded but real
//! CPU work, which async callers run on a blocking thread and bound
//! themselves. Errors here carry enough detail for a client to fix its
//! request; mapping them to wire errors is the caller's job. The stores read
//! no environment variables: their directory or connection string and
//! limits come from the caller. [`FsStore`] spawns no thread and starts no
//! timer (the caller calls [`FsStore::refresh`] to pick up changes made
//! behind its back); [`PgStore`] owns one listener thread, joined when the
//! store is dropped.
//!
//! See `docs/templates.md` for the file format and the shipped templates.
//!
//! Modules: `name` (names and versions), `format` (the file format and draft
//! validation), `jinja` (the one minijinja environment both `format` and
//! `render` use, so neither imports the other), `render` (rendering under
//! fuel and output limits, the compiled-template cache), `fs` (the directory
//! backend), `pg` (the PostgreSQL backend, its schema in `migrations/`),
//! `transfer` (copying every template between two stores).

mod format;
mod fs;
mod jinja;
mod name;
mod pg;
pub mod render;
mod transfer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::format::{check_draft, undeclared_variables};
pub use self::fs::{FsStore, SkippedFile};
pub use self::jinja::HELPERS;
pub use self::name::{MAX_NAME_LEN, TemplateName, Version};
pub use self::pg::{PgOptions, PgStore};
pub use self::render::{RenderError, RenderLimits, Rendered, Renderer, render, render_at};
pub use self::transfer::{CopyReport, copy_all};

/// One variable a template accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    /// An identifier (`[A-Za-z_][A-Za-z0-9_]*`, at most 64 bytes), unique in
    /// the template and not one of the reserved names (`today`, `now`, …).
    pub name: String,
    /// What the value means and what shape it takes, for the client.
    #[serde(default)]
    pub description: String,
    /// Whether rendering fails without it. A required variable has no default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Used when the variable is not given (or given as `null`). It is itself
    /// a template that may use the helper values `today` and `now`. An
    /// optional variable without a default renders as the empty string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// Everything the store knows about a template except its body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateMeta {
    /// The template's name, the stem of its file.
    pub name: TemplateName,
    /// A short human title.
    pub title: String,
    /// What the template is for.
    pub description: String,
    /// Slugs for search and filtering; shipped templates carry a language tag.
    pub tags: Vec<String>,
    /// A template for the suggested output file name, rendered with the same
    /// variables as the body.
    pub filename: Option<String>,
    /// The variables the template accepts, in declaration order.
    pub variables: Vec<VariableSpec>,
    /// The content hash of the file this was read from.
    pub version: Version,
}

/// A template: its metadata and its minijinja body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Template {
    /// Name, front matter and version.
    pub meta: TemplateMeta,
    /// The minijinja source after the closing `+++` line.
    pub body: String,
}

/// What [`TemplateStore::list`] returns: the valid templates at one moment,
/// sorted by name, shared rather than copied.
///
/// Cloning it copies a reference count; iterating it yields each template's
/// metadata. A backend builds it when its templates change, not per call, so
/// serving a listing of 10 000 templates allocates nothing.
#[derive(Clone, Default)]
pub struct Listing {
    templates: Arc<[Arc<Template>]>,
}

impl Listing {
    /// A listing of `templates`, sorted by name here.
    pub fn new(templates: impl IntoIterator<Item = Arc<Template>>) -> Self {
        let mut templates: Vec<Arc<Template>> = templates.into_iter().collect();
        templates.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        Self {
            templates: templates.into(),
        }
    }

    /// The templates' metadata, sorted by name.
    pub fn iter(&self) -> <&Self as IntoIterator>::IntoIter {
        self.into_iter()
    }

    /// How many templates the listing holds.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// Whether the listing holds no template.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}

impl<'a> IntoIterator for &'a Listing {
    type Item = &'a TemplateMeta;
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, Arc<Template>>,
        fn(&'a Arc<Template>) -> &'a TemplateMeta,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.templates.iter().map(|t| &t.meta)
    }
}

impl fmt::Debug for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|m| m.name.as_str()))
            .finish()
    }
}

/// What [`TemplateStore::save`] takes: a template without a name or version.
/// It is validated on save ([`check_draft`] gives the same verdict).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDraft {
    /// Non-empty, at most 200 characters, one line.
    pub title: String,
    /// At most 2000 characters.
    #[serde(default)]
    pub description: String,
    /// Slugs (`[a-z0-9]` words joined by `-`, at most 32 bytes), unique, at most 16.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Optional file-name template (one line, at most 255 bytes).
    #[serde(default)]
    pub filename: Option<String>,
    /// At most 64 variables.
    #[serde(default)]
    pub variables: Vec<VariableSpec>,
    /// Non-empty minijinja source; every variable it uses must be declared.
    pub body: String,
}

impl From<Template> for TemplateDraft {
    fn from(t: Template) -> Self {
        Self {
            title: t.meta.title,
            description: t.meta.description,
            tags: t.meta.tags,
            filename: t.meta.filename,
            variables: t.meta.variables,
            body: t.body,
        }
    }
}

/// The result of a successful save.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveOutcome {
    /// A new template was created.
    Created(TemplateMeta),
    /// An existing template was replaced.
    Updated(TemplateMeta),
}

impl SaveOutcome {
    /// The metadata of the saved template, whichever way it was saved.
    pub fn meta(&self) -> &TemplateMeta {
        match self {
            Self::Created(meta) | Self::Updated(meta) => meta,
        }
    }
}

/// Limits of a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Largest template file, front matter included, in bytes.
    pub max_template_bytes: usize,
    /// Most templates the directory may hold; creating one more is refused.
    pub max_templates: usize,
}

impl Default for StoreLimits {
    /// 256 KiB per template is far above any useful document skeleton while
    /// keeping a full index of 10 000 templates well under a few GiB in the
    /// worst case (and a few MiB in practice).
    fn default() -> Self {
        Self {
            max_template_bytes: 256 * 1024,
            max_templates: 10_000,
        }
    }
}

/// A named, versioned collection of templates.
///
/// The API is synchronous. [`list`](Self::list) answers from memory and may
/// be called on an async worker; the other calls do I/O and belong on a
/// blocking thread.
pub trait TemplateStore: Send + Sync + 'static {
    /// Every valid template, sorted by name, from memory: no I/O, no parsing.
    /// It reflects every save and delete made through this store at once;
    /// how soon it reflects changes made behind the store's back is the
    /// backend's to document ([`FsStore::refresh`]). Invalid files are
    /// skipped.
    fn list(&self) -> Result<Listing, StoreError>;

    /// One template, as it is in the backing storage now.
    fn get(&self, name: &TemplateName) -> Result<Template, StoreError>;

    /// Creates (`expected_version == None`: fails with `Conflict` if the
    /// template exists) or replaces (`Some(v)`: fails with `Conflict` unless
    /// the current version is `v`, with `NotFound` if there is none) a template.
    fn save(
        &self,
        name: &TemplateName,
        draft: TemplateDraft,
        expected_version: Option<&Version>,
    ) -> Result<SaveOutcome, StoreError>;

    /// Deletes a template if its current version is `expected_version`.
    fn delete(&self, name: &TemplateName, expected_version: &Version) -> Result<(), StoreError>;

    /// Whether the backing storage answers now, for readiness probes. A
    /// store that serves from memory may still answer `list` and `get`
    /// while this fails. The directory store has nothing to ask: `Ok`.
    fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Counters of the backing database since the store opened, for
    /// metrics; `None` for a store without one (the directory).
    fn stats(&self) -> Option<StoreStats> {
        None
    }
}

/// What a database-backed store counts ([`TemplateStore::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Calls on the store's own connection (saves, deletes, reads of a
    /// template not in memory, health checks); the listener's are apart.
    pub db_calls: u64,
    /// Those that failed.
    pub db_errors: u64,
    /// Time spent in them, in microseconds (divide by `db_calls` for the
    /// mean latency).
    pub db_micros: u64,
    /// Change notifications received from other replicas (and this one).
    pub notifications: u64,
    /// Times the listener (re)connected and compared every version.
    pub listener_connects: u64,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The name is not a valid template name.
    #[error("invalid template name \"{name}\": {reason}")]
    InvalidName {
        /// The rejected name, escaped for display.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No template has this name.
    #[error("template \"{0}\" does not exist")]
    NotFound(TemplateName),
    /// The template's current version is not the one the caller expected.
    #[error("{}", conflict_message(name, expected.as_ref(), current.as_ref()))]
    Conflict {
        /// The template.
        name: TemplateName,
        /// The version the caller based its change on (`None`: create).
        expected: Option<Version>,
        /// The version on disk now (`None`: it does not exist).
        current: Option<Version>,
    },
    /// The draft or the file is not a valid template.
    #[error("invalid template: {reason}")]
    Invalid {
        /// What is wrong, with a line number where there is one.
        reason: String,
    },
    /// The template exceeds `StoreLimits::max_template_bytes`.
    #[error("template exceeds the store's size limit (max_template_bytes)")]
    TooLarge,
    /// Reading or writing the template directory failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The string is not a version this store produces.
    #[error("invalid version \"{version}\": {reason}")]
    InvalidVersion {
        /// The rejected string, escaped for display.
        version: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database behind the store failed or cannot be reached. The
    /// message names the step and the database's own reason, never the
    /// connection string.
    #[error("template database unavailable: {message}")]
    Backend {
        /// What failed.
        message: String,
    },
    /// Creating another template would exceed `StoreLimits::max_templates`.
    #[error("the store already holds its limit of {limit} templates")]
    TooManyTemplates {
        /// The configured limit.
        limit: usize,
    },
}

fn conflict_message(
    name: &TemplateName,
    expected: Option<&Version>,
    current: Option<&Version>,
) -> String {
    match (expected, current) {
        (None, Some(current)) => {
            format!("template \"{name}\" already exists (current version {current})")
        }
        (Some(expected), Some(current)) => format!(
            "template \"{name}\" changed: expected version {expected}, current version {current}"
        ),
        (Some(expected), None) => {
            format!("template \"{name}\" no longer exists (expected version {expected})")
        }
        (None, None) => format!("template \"{name}\" changed concurrently"),
    }
}
