//! The `fill_template` prompt: a user message that walks the model through
//! collecting a template's variables, one question at a time, and then
//! calling `render_template`. The prompt text is built here and nowhere else.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{GetPromptResult, PromptMessage, Role};
use rmcp::{ErrorData, prompt, prompt_router};

use super::TemplateServer;
use super::errors::Outcome;
use super::wire::FillTemplateArgs;

// The macro generates an undocumented `fill_template_prompt_attr` fn.
#[allow(missing_docs)]
#[prompt_router(vis = "pub(super)")]
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
        let template = self.load(&args.name).await.map_err(|e| match e.outcome {
            // Nothing the caller's arguments could fix.
            Outcome::Busy | Outcome::StoreError => ErrorData::internal_error(e.message, None),
            _ => ErrorData::invalid_params(e.message, None),
        })?;
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
