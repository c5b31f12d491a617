//! The shapes on the wire: the parameters and results of the tools and the
//! arguments of the prompt, as serde and schemars see them. Their field docs
//! are the descriptions clients show in the JSON schemas, so every change
//! here changes what the model reads. Nothing here touches the store.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Arguments of `list_templates`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTemplatesParams {
    /// Case-insensitive text to look for in the name, title, description and tags.
    #[serde(default)]
    pub query: Option<String>,
    /// Only templates carrying exactly this tag (e.g. "meeting", "en").
    #[serde(default)]
    pub tag: Option<String>,
}

/// Arguments naming one template.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameParams {
    /// Template name as returned by list_templates, e.g. "meeting-minutes".
    pub name: String,
}

/// Arguments of `render_template`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderTemplateParams {
    /// Template name as returned by list_templates.
    pub name: String,
    /// Values for the template's variables, keyed by variable name (see get_template). Required variables must be present; unknown names are rejected.
    #[serde(default)]
    pub variables: serde_json::Map<String, serde_json::Value>,
}

/// One variable a template declares.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// Identifier used in the body as {{ name }}.
    pub name: String,
    /// What the value means and its expected shape.
    #[serde(default)]
    pub description: String,
    /// Whether rendering fails without a value.
    #[serde(default)]
    pub required: bool,
    /// Value used when none is given; may use {{ today }} and {{ now }}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// Arguments of `save_template`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveTemplateParams {
    /// Template name: lowercase slug [a-z0-9][a-z0-9._-]*, at most 64 characters.
    pub name: String,
    /// Short one-line title.
    pub title: String,
    /// What the template is for.
    #[serde(default)]
    pub description: String,
    /// Lowercase slug tags, e.g. ["meeting", "en"].
    #[serde(default)]
    pub tags: Vec<String>,
    /// Optional template for the output file name, e.g. "minutes-{{ date }}.md".
    #[serde(default)]
    pub filename: Option<String>,
    /// Every variable the body uses.
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// Template body (minijinja syntax: {{ var }}, {% if %}, {% for %}).
    pub body: String,
    /// Omit to create a new template. To replace an existing one, pass the version from get_template; the save fails if the template changed since.
    #[serde(default)]
    pub expected_version: Option<String>,
}

/// Arguments of `delete_template`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteTemplateParams {
    /// Template name.
    pub name: String,
    /// The version from get_template; the delete fails if the template changed since.
    pub expected_version: String,
}

/// One entry of `list_templates`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateSummary {
    /// Template name.
    pub name: String,
    /// Short title.
    pub title: String,
    /// What the template is for.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Names of the variables, required ones first.
    pub variables: Vec<String>,
    /// Current version.
    pub version: String,
    /// Resource URI of the template.
    pub uri: String,
}

/// Result of `list_templates`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateList {
    /// Matching templates, sorted by name.
    pub templates: Vec<TemplateSummary>,
}

/// Result of `get_template`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateDetails {
    /// Template name.
    pub name: String,
    /// Short title.
    pub title: String,
    /// What the template is for.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// File-name template, if any.
    pub filename: Option<String>,
    /// Declared variables.
    pub variables: Vec<Variable>,
    /// Template body.
    pub body: String,
    /// Current version; pass it as expected_version to save_template or delete_template.
    pub version: String,
}

/// Result of `render_template`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RenderedTemplate {
    /// The rendered document.
    pub text: String,
    /// Suggested file name, when the template defines one.
    pub filename: Option<String>,
}

/// Result of `save_template`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SavedTemplate {
    /// Template name.
    pub name: String,
    /// True when a new template was created, false when one was replaced.
    pub created: bool,
    /// The new version.
    pub version: String,
}

/// Result of `delete_template`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeletedTemplate {
    /// Template name.
    pub name: String,
    /// Always true.
    pub deleted: bool,
}

/// Arguments of the `fill_template` prompt.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FillTemplateArgs {
    /// Name of the template to fill in.
    pub name: String,
}
