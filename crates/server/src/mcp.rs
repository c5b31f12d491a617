//! The MCP surface: five tools, one resource per template (plus the
//! `template://{name}` resource template) and the `fill_template` prompt.
//!
//! This is the only module that speaks MCP's wire types. It knows nothing of
//! OAuth: the HTTP layer (`crate::authz`) has already checked the caller's
//! scopes before a `tools/call` reaches us and left a [`Caller`] in the HTTP
//! request extensions, which we read only for the audit log.
//!
//! Domain failures (unknown template, version conflict, invalid variables or
//! names) are tool results with `isError: true` and a message that tells the
//! model what to do next; protocol errors are kept for malformed requests.
//! Successful results carry `structuredContent` (with an `outputSchema`) and
//! the same JSON as text, for clients that predate structured output.

use std::sync::Arc;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, GetPromptResult, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, PromptMessage,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Json, RoleServer, ServerHandler, prompt, prompt_handler, prompt_router};
use rmcp::{tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use templates::{
    RenderError, RenderLimits, Renderer, SaveOutcome, StoreError, Template, TemplateDraft,
    TemplateMeta, TemplateName, TemplateStore, VariableSpec, Version,
};

/// Every tool this server exposes, by name.
pub const TOOL_NAMES: [&str; 5] = [
    "list_templates",
    "get_template",
    "render_template",
    "save_template",
    "delete_template",
];

/// URI scheme of template resources: `template://{name}`.
const URI_PREFIX: &str = "template://";
/// MIME type of a template resource (the Markdown body).
const TEMPLATE_MIME: &str = "text/markdown";

/// Who is calling, as far as the audit log needs to know. The HTTP layer puts
/// it into the request extensions; it never carries the token.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// Token `iss`.
    pub issuer: String,
    /// Token `sub`, when it has one.
    pub subject: Option<String>,
    /// `azp` / `client_id` of the client the token was issued to.
    pub client_id: Option<String>,
}

/// The MCP server handler. Cheap to clone (four reference counts): one is
/// cloned per session, or per request in stateless mode, from a prototype
/// built once, so nothing per-server is rebuilt or deep-copied per request.
#[derive(Clone)]
pub struct TemplateServer {
    store: Arc<dyn TemplateStore>,
    renderer: Arc<Renderer>,
    metrics: Arc<Metrics>,
    routers: Arc<Routers>,
}

/// The tool and prompt routers (their descriptions and JSON schemas), built
/// once per server.
struct Routers {
    tools: ToolRouter<TemplateServer>,
    prompts: PromptRouter<TemplateServer>,
}

impl std::fmt::Debug for TemplateServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateServer")
            .field("renderer", &self.renderer)
            .finish_non_exhaustive()
    }
}

// ---- Tool parameters and results (the wire shapes) ----

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
    fn new(outcome: &'static str, message: impl Into<String>) -> Self {
        Self {
            outcome,
            message: message.into(),
        }
    }

    fn from_store(error: StoreError) -> Self {
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

    fn from_render(error: RenderError, template: &Template) -> Self {
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

fn variable_view(spec: &VariableSpec) -> Variable {
    Variable {
        name: spec.name.clone(),
        description: spec.description.clone(),
        required: spec.required,
        default: spec.default.clone(),
    }
}

fn summary(meta: &TemplateMeta) -> TemplateSummary {
    let mut variables: Vec<&VariableSpec> = meta.variables.iter().collect();
    variables.sort_by_key(|v| !v.required);
    TemplateSummary {
        name: meta.name.to_string(),
        title: meta.title.clone(),
        description: meta.description.clone(),
        tags: meta.tags.clone(),
        variables: variables.into_iter().map(|v| v.name.clone()).collect(),
        version: meta.version.to_string(),
        uri: format!("{URI_PREFIX}{}", meta.name),
    }
}

fn matches(meta: &TemplateMeta, query: Option<&str>, tag: Option<&str>) -> bool {
    if let Some(tag) = tag
        && !meta.tags.iter().any(|t| t == tag)
    {
        return false;
    }
    let Some(query) = query.map(str::trim).filter(|q| !q.is_empty()) else {
        return true;
    };
    let query = query.to_lowercase();
    meta.name.as_str().contains(&query)
        || meta.title.to_lowercase().contains(&query)
        || meta.description.to_lowercase().contains(&query)
        || meta.tags.iter().any(|t| t.contains(&query))
}

/// Reads the [`Caller`] the HTTP layer left in the request's extensions.
fn caller_of(ctx: &RequestContext<RoleServer>) -> Caller {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        .unwrap_or_default()
}

/// Runs a blocking store call off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ToolError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ToolError::from_store),
        Err(join_error) => {
            tracing::error!(%join_error, "template store task failed");
            Err(ToolError::new(
                "store_error",
                "the template store failed; try again later",
            ))
        }
    }
}

#[tool_router]
impl TemplateServer {
    /// Builds the handler prototype.
    pub fn new(
        store: Arc<dyn TemplateStore>,
        render_limits: RenderLimits,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            renderer: Arc::new(Renderer::new(render_limits)),
            metrics,
            routers: Arc::new(Routers {
                tools: Self::tool_router(),
                prompts: Self::prompt_router(),
            }),
        }
    }

    /// Records the audit line and the metric of one tool call.
    fn finish<T>(
        &self,
        ctx: &RequestContext<RoleServer>,
        tool: &'static str,
        template: Option<&str>,
        result: Result<T, ToolError>,
    ) -> Result<T, ToolError> {
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome,
        };
        let caller = caller_of(ctx);
        tracing::info!(
            target: "audit",
            issuer = %caller.issuer,
            subject = caller.subject.as_deref().unwrap_or("-"),
            client = caller.client_id.as_deref().unwrap_or("-"),
            tool,
            template = template.unwrap_or("-"),
            outcome,
            "tool call"
        );
        self.metrics.tool_call(tool, outcome);
        result
    }

    fn load(&self, name: &str) -> Result<Template, ToolError> {
        let name = TemplateName::parse(name).map_err(ToolError::from_store)?;
        self.store.get(&name).map_err(ToolError::from_store)
    }

    #[tool(
        description = "List the available file templates. Optional `query` searches names, titles, descriptions and tags (case-insensitive); optional `tag` keeps only templates with that exact tag. Returns each template's name, title, description, tags, variable names and version. Start here, then call get_template or render_template.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_templates(
        &self,
        Parameters(params): Parameters<ListTemplatesParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TemplateList>, ToolError> {
        let result = self
            .store
            .list()
            .map_err(ToolError::from_store)
            .map(|metas| {
                Json(TemplateList {
                    templates: metas
                        .iter()
                        .filter(|m| matches(m, params.query.as_deref(), params.tag.as_deref()))
                        .map(summary)
                        .collect(),
                })
            });
        self.finish(&ctx, "list_templates", None, result)
    }

    #[tool(
        description = "Get one template by `name`: its title, description, tags, file-name template, declared variables (name, description, required, default), body and current version. Use the variables to build the `variables` object for render_template, and the version as `expected_version` when saving or deleting.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_template(
        &self,
        Parameters(params): Parameters<NameParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TemplateDetails>, ToolError> {
        let result = self.load(&params.name).map(|t| {
            Json(TemplateDetails {
                name: t.meta.name.to_string(),
                title: t.meta.title,
                description: t.meta.description,
                tags: t.meta.tags,
                filename: t.meta.filename,
                variables: t.meta.variables.iter().map(variable_view).collect(),
                body: t.body,
                version: t.meta.version.to_string(),
            })
        });
        self.finish(&ctx, "get_template", Some(&params.name), result)
    }

    #[tool(
        description = "Render template `name` with `variables` (an object mapping each variable name to its value) and return the document `text` and a suggested `filename`. Every required variable must be given; names the template does not declare are rejected. Missing or unknown variables are reported by name, so you can ask the user and retry.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn render_template(
        &self,
        Parameters(params): Parameters<RenderTemplateParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<RenderedTemplate>, ToolError> {
        let result = self.load(&params.name).and_then(|template| {
            self.renderer
                .render(&template, &params.variables)
                .map(|r| {
                    Json(RenderedTemplate {
                        text: r.text,
                        filename: r.filename,
                    })
                })
                .map_err(|e| ToolError::from_render(e, &template))
        });
        self.finish(&ctx, "render_template", Some(&params.name), result)
    }

    #[tool(
        description = "Create or replace a template. To create, omit `expected_version`; it fails if the name is taken. To replace, pass the `version` from get_template as `expected_version`; it fails with the current version if someone changed the template meanwhile. The body uses minijinja syntax ({{ var }}, {% if %}, {% for %}) and every variable it uses must be declared in `variables`. Needs the templates:write scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn save_template(
        &self,
        Parameters(params): Parameters<SaveTemplateParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<SavedTemplate>, ToolError> {
        let template = params.name.clone();
        let result = self.save(params).await;
        self.finish(&ctx, "save_template", Some(&template), result)
    }

    #[tool(
        description = "Delete template `name`. Pass the `version` from get_template as `expected_version`; the delete fails if the template changed since, so nothing is removed by mistake. Needs the templates:write scope.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn delete_template(
        &self,
        Parameters(params): Parameters<DeleteTemplateParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<DeletedTemplate>, ToolError> {
        let template = params.name.clone();
        let result = self.delete(params).await;
        self.finish(&ctx, "delete_template", Some(&template), result)
    }
}

impl TemplateServer {
    async fn save(&self, params: SaveTemplateParams) -> Result<Json<SavedTemplate>, ToolError> {
        let name = TemplateName::parse(&params.name).map_err(ToolError::from_store)?;
        let expected = params
            .expected_version
            .as_deref()
            .map(Version::parse)
            .transpose()
            .map_err(ToolError::from_store)?;
        let draft = TemplateDraft {
            title: params.title,
            description: params.description,
            tags: params.tags,
            filename: params.filename,
            variables: params
                .variables
                .into_iter()
                .map(|v| VariableSpec {
                    name: v.name,
                    description: v.description,
                    required: v.required,
                    default: v.default,
                })
                .collect(),
            body: params.body,
        };
        let store = Arc::clone(&self.store);
        let outcome = blocking(move || store.save(&name, draft, expected.as_ref())).await?;
        let (created, meta) = match outcome {
            SaveOutcome::Created(meta) => (true, meta),
            SaveOutcome::Updated(meta) => (false, meta),
        };
        Ok(Json(SavedTemplate {
            name: meta.name.to_string(),
            created,
            version: meta.version.to_string(),
        }))
    }

    async fn delete(
        &self,
        params: DeleteTemplateParams,
    ) -> Result<Json<DeletedTemplate>, ToolError> {
        let name = TemplateName::parse(&params.name).map_err(ToolError::from_store)?;
        let expected = Version::parse(&params.expected_version).map_err(ToolError::from_store)?;
        let store = Arc::clone(&self.store);
        let deleted_name = name.to_string();
        blocking(move || store.delete(&name, &expected)).await?;
        Ok(Json(DeletedTemplate {
            name: deleted_name,
            deleted: true,
        }))
    }
}

// The macro generates an undocumented `fill_template_prompt_attr` fn.
#[allow(missing_docs)]
#[prompt_router]
impl TemplateServer {
    /// Guides the model through collecting a template's variables and rendering it.
    #[prompt(
        name = "fill_template",
        description = "Fill in a file template: the model asks for each variable the template needs, then calls render_template."
    )]
    async fn fill_template(
        &self,
        Parameters(args): Parameters<FillTemplateArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        let template = self
            .load(&args.name)
            .map_err(|e| ErrorData::invalid_params(e.message, None))?;
        let meta = &template.meta;
        let mut text = format!(
            "I want to create a document from the template \"{}\" ({}).\n",
            meta.name, meta.title
        );
        if !meta.description.is_empty() {
            text.push_str(&format!("{}\n", meta.description));
        }
        if meta.variables.is_empty() {
            text.push_str("\nIt has no variables.\n");
        } else {
            text.push_str("\nIt takes these variables:\n");
            for v in &meta.variables {
                let need = if v.required { "required" } else { "optional" };
                let default = v
                    .default
                    .as_deref()
                    .map(|d| format!(", default: {d}"))
                    .unwrap_or_default();
                let description = if v.description.is_empty() {
                    "no description".to_owned()
                } else {
                    v.description.clone()
                };
                text.push_str(&format!("- {} ({need}{default}): {description}\n", v.name));
            }
        }
        text.push_str(&format!(
            "\nAsk me for every required value I have not given yet, one short question at a time; \
             offer the default for optional ones and leave them out if I accept it. \
             Then call the render_template tool with {{\"name\": \"{}\", \"variables\": {{...}}}} \
             using exactly the variable names above, and show me the rendered text and the suggested file name. \
             If render_template reports missing or unknown variables, ask me for those and call it again.",
            meta.name
        ));
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(format!("Fill in the template \"{}\"", meta.name)),
        )
    }
}

#[tool_handler(router = self.routers.tools)]
#[prompt_handler(router = self.routers.prompts)]
impl ServerHandler for TemplateServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(
            "mcp-file-templates",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "File templates: list_templates to discover, get_template to see variables, \
             render_template to produce a document. save_template and delete_template change \
             templates and use optimistic concurrency via expected_version. \
             Each template is also a resource at template://{name}.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let metas = self
            .store
            .list()
            .map_err(|e| ErrorData::internal_error(ToolError::from_store(e).message, None))?;
        let resources = metas
            .iter()
            .map(|m| {
                Resource::new(format!("{URI_PREFIX}{}", m.name), m.name.to_string())
                    .with_title(m.title.clone())
                    .with_description(m.description.clone())
                    .with_mime_type(TEMPLATE_MIME)
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("template://{name}", "template")
                .with_title("File template")
                .with_description("The Markdown body of the template called {name}")
                .with_mime_type(TEMPLATE_MIME),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some(name) = request.uri.strip_prefix(URI_PREFIX) else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "unknown resource {}: URIs look like template://<name>",
                    request.uri
                ),
                None,
            ));
        };
        let template = self.load(name).map_err(|e| match e.outcome {
            "not_found" | "invalid_name" => ErrorData::resource_not_found(e.message, None),
            _ => ErrorData::internal_error(e.message, None),
        })?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(template.body, request.uri).with_mime_type(TEMPLATE_MIME),
        ])
        .into())
    }
}

#[cfg(test)]
mod tests;
