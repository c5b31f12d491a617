//! The templates as MCP resources: one `template://{name}` resource per
//! template (its Markdown body) and the `template://{name}` resource template.
//! The URI scheme and the MIME type are defined here and nowhere else; the
//! `ServerHandler` impl in the module root only delegates to these.

use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
};
use templates::TemplateName;

use super::TemplateServer;
use super::errors::{Outcome, ToolError};

/// URI scheme of template resources: `template://{name}`.
const URI_PREFIX: &str = "template://";
/// MIME type of a template resource (the Markdown body).
const TEMPLATE_MIME: &str = "text/markdown";

/// The resource URI of the template called `name`.
pub(super) fn uri_of(name: &TemplateName) -> String {
    format!("{URI_PREFIX}{name}")
}

/// The one resource template: `template://{name}`.
pub(super) fn resource_templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new("template://{name}", "template")
            .with_title("File template")
            .with_description("The Markdown body of the template called {name}")
            .with_mime_type(TEMPLATE_MIME),
    ])
}

impl TemplateServer {
    /// Every template as a resource (`resources/list`), from the store's
    /// in-memory listing.
    pub(super) fn resource_list(&self) -> Result<ListResourcesResult, ErrorData> {
        let metas = self
            .store
            .list()
            .map_err(|e| ErrorData::internal_error(ToolError::from_store(e).message, None))?;
        let resources = metas
            .iter()
            .map(|m| {
                Resource::new(uri_of(&m.name), m.name.to_string())
                    .with_title(m.title.clone())
                    .with_description(m.description.clone())
                    .with_mime_type(TEMPLATE_MIME)
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    /// The body of the template a `template://` URI names (`resources/read`).
    pub(super) async fn read_template(
        &self,
        request: ReadResourceRequestParams,
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
        let template = self.load(name).await.map_err(|e| match e.outcome {
            Outcome::NotFound | Outcome::InvalidName => {
                ErrorData::resource_not_found(e.message, None)
            }
            _ => ErrorData::internal_error(e.message, None),
        })?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(template.body, request.uri).with_mime_type(TEMPLATE_MIME),
        ])
        .into())
    }
}
