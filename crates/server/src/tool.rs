//! The tools this server exposes, as one type.
//!
//! [`Tool`] is the single list of tool names: the MCP surface records its
//! calls under it, the configuration validates `tool=scope` entries against
//! it, and the tool policy (`authz::ToolPolicy`) keys its scopes by it. A tool
//! name is written as a string literal only here and in the handler's
//! function name in `mcp::tools`, and a test pins the two to each other.

use std::fmt;
use std::str::FromStr;

/// One tool of the MCP surface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tool {
    /// `list_templates`: names, titles, tags and versions.
    ListTemplates,
    /// `get_template`: one template with its body and variables.
    GetTemplate,
    /// `render_template`: a document from a template and values.
    RenderTemplate,
    /// `save_template`: create or replace a template.
    SaveTemplate,
    /// `delete_template`: remove a template.
    DeleteTemplate,
}

impl Tool {
    /// Every tool, in declaration order (`tools/list` sorts them by name).
    pub const ALL: [Tool; 5] = [
        Tool::ListTemplates,
        Tool::GetTemplate,
        Tool::RenderTemplate,
        Tool::SaveTemplate,
        Tool::DeleteTemplate,
    ];

    /// The tool's MCP name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Tool::ListTemplates => "list_templates",
            Tool::GetTemplate => "get_template",
            Tool::RenderTemplate => "render_template",
            Tool::SaveTemplate => "save_template",
            Tool::DeleteTemplate => "delete_template",
        }
    }

    /// Whether a call changes templates. Such tools need `templates:write` by
    /// default, and `delete_template` is checked online by default.
    #[must_use]
    pub const fn writes(self) -> bool {
        matches!(self, Tool::SaveTemplate | Tool::DeleteTemplate)
    }

    /// The position of this tool in [`Tool::ALL`], for per-tool tables.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Every tool name, comma-separated, for error messages.
    #[must_use]
    pub fn names() -> String {
        Tool::ALL.map(Tool::name).join(", ")
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Tool::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown tool {name:?} (known: {known})", known = Tool::names())]
pub struct UnknownTool {
    /// The name as given.
    pub name: String,
}

impl FromStr for Tool {
    type Err = UnknownTool;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Tool::ALL
            .into_iter()
            .find(|tool| tool.name() == name)
            .ok_or_else(|| UnknownTool {
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::Tool;

    #[test]
    fn names_round_trip_and_index_matches_all() {
        for (i, tool) in Tool::ALL.into_iter().enumerate() {
            assert_eq!(tool.name().parse::<Tool>(), Ok(tool));
            assert_eq!(tool.index(), i);
        }
        let err = "drop_tables".parse::<Tool>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown tool \"drop_tables\" (known: list_templates, get_template, render_template, save_template, delete_template)"
        );
    }

    #[test]
    fn only_save_and_delete_write() {
        let writers: Vec<Tool> = Tool::ALL.into_iter().filter(|t| t.writes()).collect();
        assert_eq!(writers, [Tool::SaveTemplate, Tool::DeleteTemplate]);
    }
}
