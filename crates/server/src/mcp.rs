//! The MCP surface: five tools, one resource per template (plus the
//! `template://{name}` resource template) and the `fill_template` prompt.
//!
//! This is the only module that speaks MCP's wire types. It knows nothing of
//! OAuth: the HTTP layer (`crate::authz`) has already checked the caller's
//! scopes before a `tools/call` reaches us. The principal `auth::AuthLayer`
//! left in the HTTP request extensions is read only for the audit log
//! (`crate::identity`).
//!
//! Domain failures (unknown template, version conflict, invalid variables or
//! names, every render and store slot busy) are tool results with
//! `isError: true` and a message that tells the model what to do next;
//! protocol errors are kept for malformed requests. Successful results carry
//! `structuredContent` (with an `outputSchema`) and the same JSON as text,
//! for clients that predate structured output.
//!
//! Renders and store calls run on blocking threads, a bounded number at a
//! time (`offload`); listing needs neither, the store answers it from
//! memory, so it is served on the async worker and never waits for a slot.
//!
//! This root owns [`TemplateServer`] and its `ServerHandler` impl; each
//! concern lives in its own submodule:
//!
//! - `wire`: the parameter and result structs, the shapes on the wire.
//! - `errors`: [`ToolError`] and the prose that tells the model the next step.
//! - `offload`: [`Offload`], renders and store calls on blocking threads
//!   behind one semaphore, and why it lives here rather than in the store.
//! - `tools`: the `#[tool_router]` handlers.
//! - `prompt`: the `fill_template` prompt and its text.
//! - `resources`: the `template://` resources and the resource template.

mod errors;
mod offload;
mod prompt;
mod resources;
mod tools;
pub mod wire;

use std::sync::Arc;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CacheScope, Implementation, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, prompt_handler, tool_handler};
use templates::{RenderLimits, Renderer, Template, TemplateName, TemplateStore};

use crate::metrics::Metrics;

pub use errors::{Outcome, ToolError};
pub use offload::{Offload, OffloadError, OffloadLimits};

/// How long a 2026-07-28 client may treat a `tools/list` result as fresh
/// (`ttlMs`, SEP-2549). The tools and their schemas are compiled in, so
/// they change only with a new release; five minutes bounds how long a
/// client keeps the old list after an upgrade.
pub const TOOLS_LIST_TTL_MS: u64 = 5 * 60 * 1000;

/// The MCP server handler. Cheap to clone (five reference counts): one is
/// cloned per session, or per request in stateless mode, from a prototype
/// built once, so nothing per-server is rebuilt or deep-copied per request.
#[derive(Clone)]
pub struct TemplateServer {
    store: Arc<dyn TemplateStore>,
    renderer: Arc<Renderer>,
    offload: Offload,
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
            .field("offload", &self.offload)
            .finish_non_exhaustive()
    }
}

impl TemplateServer {
    /// Builds the handler prototype; its clones share the offload slots.
    pub fn new(
        store: Arc<dyn TemplateStore>,
        render_limits: RenderLimits,
        offload_limits: OffloadLimits,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            renderer: Arc::new(Renderer::new(render_limits)),
            offload: Offload::new(offload_limits),
            metrics,
            routers: Arc::new(Routers {
                tools: Self::tool_router(),
                prompts: Self::prompt_router(),
            }),
        }
    }

    /// Runs `work` (a render or a store call) on a blocking thread once one
    /// of the offload slots is free.
    async fn offload<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
    ) -> Result<T, ToolError> {
        self.offload
            .run(work)
            .await
            .map_err(ToolError::from_offload)?
    }

    /// The template called `name`, for tools, the prompt and resources alike.
    async fn load(&self, name: &str) -> Result<Template, ToolError> {
        let name = TemplateName::parse(name).map_err(ToolError::from_store)?;
        let store = Arc::clone(&self.store);
        self.offload(move || store.get(&name).map_err(ToolError::from_store))
            .await
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

    /// Replaces the `#[tool_handler]` default, which marks the list
    /// `cacheScope: "public"`. The list is served only behind a bearer token
    /// and names tools whose use depends on the caller's scopes, so it is
    /// `"private"`: a shared cache (a gateway in front of several users)
    /// must not hand it to a caller this server never authorized. Older
    /// protocol versions get no caching hints, as rmcp's default does.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let result = ListToolsResult::with_all_items(self.routers.tools.list_all());
        let hints = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        Ok(if hints {
            result
                .with_ttl_ms(TOOLS_LIST_TTL_MS)
                .with_cache_scope(CacheScope::Private)
        } else {
            result
        })
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.resource_list()
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::resource_templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.read_template(request).await
    }
}

#[cfg(test)]
mod tests;
