//! The five tools as `#[tool_router]` handlers: each parses its arguments,
//! calls the store or the renderer, and ends in `finish`, which writes the
//! audit line and counts the call. The fn names are the tool names rmcp
//! serves; a test pins them to `crate::tool::Tool`.
//!
//! `list_templates` filters the store's in-memory listing on the async
//! worker; every other tool does its store call (and `render_template` its
//! render, in the same blocking task) through `TemplateServer::offload`.

use std::sync::Arc;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};
use templates::{SaveOutcome, TemplateDraft, TemplateMeta, TemplateName, VariableSpec, Version};

use super::TemplateServer;
use super::errors::{Outcome, ToolError};
use super::resources::uri_of;
use super::wire::{
    DeleteTemplateParams, DeletedTemplate, ListTemplatesParams, NameParams, RenderTemplateParams,
    RenderedTemplate, SaveTemplateParams, SavedTemplate, TemplateDetails, TemplateList,
    TemplateSummary, Variable,
};
use crate::identity::{self, Audited};
use crate::tool::Tool;

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
        uri: uri_of(&meta.name),
    }
}

pub(super) fn matches(meta: &TemplateMeta, query: Option<&str>, tag: Option<&str>) -> bool {
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

#[tool_router(vis = "pub(super)")]
impl TemplateServer {
    /// Records the audit line and the metric of one tool call.
    fn finish<T>(
        &self,
        ctx: &RequestContext<RoleServer>,
        tool: Tool,
        template: Option<&str>,
        result: Result<T, ToolError>,
    ) -> Result<T, ToolError> {
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(e) => e.outcome,
        };
        // The auth layer always leaves a principal (benchmark mode a fixed
        // one); without it the line says "-" rather than failing the call.
        let principal = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| identity::principal_of(&parts.extensions));
        identity::audit(
            principal.map(Arc::as_ref),
            tool,
            template,
            outcome.label(),
            Audited::Called,
        );
        self.metrics.tool_call(tool, outcome);
        result
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
        self.finish(&ctx, Tool::ListTemplates, None, result)
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
        let result = self.load(&params.name).await.map(|t| {
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
        self.finish(&ctx, Tool::GetTemplate, Some(&params.name), result)
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
        let result = match TemplateName::parse(&params.name) {
            Ok(name) => {
                let store = Arc::clone(&self.store);
                let renderer = Arc::clone(&self.renderer);
                let variables = params.variables;
                // One slot for the read and the render: the template is
                // rendered on the thread that read it.
                self.offload(move || {
                    let template = store.get(&name).map_err(ToolError::from_store)?;
                    renderer
                        .render(&template, &variables)
                        .map(|r| {
                            Json(RenderedTemplate {
                                text: r.text,
                                filename: r.filename,
                            })
                        })
                        .map_err(|e| ToolError::from_render(e, &template))
                })
                .await
            }
            Err(e) => Err(ToolError::from_store(e)),
        };
        self.finish(&ctx, Tool::RenderTemplate, Some(&params.name), result)
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
        self.finish(&ctx, Tool::SaveTemplate, Some(&template), result)
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
        self.finish(&ctx, Tool::DeleteTemplate, Some(&template), result)
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
        let outcome = self
            .offload(move || {
                store
                    .save(&name, draft, expected.as_ref())
                    .map_err(ToolError::from_store)
            })
            .await?;
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
        self.offload(move || {
            store
                .delete(&name, &expected)
                .map_err(ToolError::from_store)
        })
        .await?;
        Ok(Json(DeletedTemplate {
            name: deleted_name,
            deleted: true,
        }))
    }
}
