//! [`ToolPolicy`]: which scopes each tool needs and which tools re-check the
//! token online. Built once by the configuration, read by the authorization
//! middleware, the RFC 9728 metadata (`scopes_supported`: the base scopes
//! only) and the benchmark principal; nothing else decides what a tool needs.

use std::collections::{BTreeMap, BTreeSet};

use crate::tool::Tool;

/// The scope every `/mcp` request needs by default (the walkthrough's scope).
pub const DEFAULT_BASE_SCOPE: &str = "mcp:tools";
/// The extra scope of the tools that change templates ([`Tool::writes`]).
pub const DEFAULT_WRITE_SCOPE: &str = "templates:write";

/// Scopes per tool, precomputed: a lookup on the request path allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolPolicy {
    base: Vec<String>,
    /// `base` then the tool's own scopes, without duplicates, by [`Tool::index`].
    required: [Vec<String>; Tool::ALL.len()],
    verify_online: BTreeSet<Tool>,
    supported: Vec<String>,
}

impl ToolPolicy {
    /// A policy from the scopes every request needs (`base`), the extra
    /// scopes of each tool, and the tools whose calls are re-checked online.
    #[must_use]
    pub fn new(
        base: Vec<String>,
        per_tool: &BTreeMap<Tool, Vec<String>>,
        verify_online: BTreeSet<Tool>,
    ) -> Self {
        let required = Tool::ALL.map(|tool| {
            let mut scopes = base.clone();
            merge_unique(&mut scopes, per_tool.get(&tool).into_iter().flatten());
            scopes
        });
        let mut supported = base.clone();
        merge_unique(&mut supported, required.iter().flatten());
        Self {
            base,
            required,
            verify_online,
            supported,
        }
    }

    /// The default extra scopes: [`DEFAULT_WRITE_SCOPE`] for every tool that
    /// writes.
    #[must_use]
    pub fn default_tool_scopes() -> BTreeMap<Tool, Vec<String>> {
        Tool::ALL
            .into_iter()
            .filter(|tool| tool.writes())
            .map(|tool| (tool, vec![DEFAULT_WRITE_SCOPE.to_owned()]))
            .collect()
    }

    /// The default online-checked tools: `delete_template`, whose effect
    /// cannot be undone, so a revoked token must not get through.
    #[must_use]
    pub fn default_verify_online() -> BTreeSet<Tool> {
        BTreeSet::from([Tool::DeleteTemplate])
    }

    /// The scopes every request to `/mcp` needs.
    #[must_use]
    pub fn base(&self) -> &[String] {
        &self.base
    }

    /// Every scope a call of `tool` needs, the base scopes first. A call of
    /// an unknown tool (`None`, refused later by rmcp) needs the base scopes.
    #[must_use]
    pub fn required_for(&self, tool: Option<Tool>) -> &[String] {
        match tool {
            Some(tool) => &self.required[tool.index()],
            None => &self.base,
        }
    }

    /// Whether a call of `tool` re-checks the token by introspection.
    #[must_use]
    pub fn verify_online(&self, tool: Tool) -> bool {
        self.verify_online.contains(&tool)
    }

    /// Every scope the server ever asks for, base scopes first (what the
    /// benchmark principal holds; `scopes_supported` of the RFC 9728
    /// metadata lists only [`ToolPolicy::base`], the minimal set).
    #[must_use]
    pub fn supported(&self) -> &[String] {
        &self.supported
    }
}

/// Appends each scope of `more` that `scopes` does not hold yet.
fn merge_unique<'a>(scopes: &mut Vec<String>, more: impl IntoIterator<Item = &'a String>) {
    for scope in more {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::{DEFAULT_BASE_SCOPE, ToolPolicy};
    use crate::tool::Tool;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn default_policy_needs_write_scope_for_writes_only() {
        let policy = ToolPolicy::new(
            strings(&[DEFAULT_BASE_SCOPE]),
            &ToolPolicy::default_tool_scopes(),
            ToolPolicy::default_verify_online(),
        );
        for tool in Tool::ALL {
            let expected: &[&str] = if tool.writes() {
                &["mcp:tools", "templates:write"]
            } else {
                &["mcp:tools"]
            };
            assert_eq!(policy.required_for(Some(tool)), strings(expected), "{tool}");
        }
        assert_eq!(policy.required_for(None), strings(&["mcp:tools"]));
        assert_eq!(
            policy.supported(),
            strings(&["mcp:tools", "templates:write"])
        );
        assert!(policy.verify_online(Tool::DeleteTemplate));
        assert!(!policy.verify_online(Tool::SaveTemplate));
    }

    #[test]
    fn scopes_are_merged_once_in_order() {
        let per_tool = BTreeMap::from([
            (Tool::SaveTemplate, strings(&["mcp:tools", "b", "a", "b"])),
            (Tool::RenderTemplate, strings(&["a"])),
        ]);
        let policy = ToolPolicy::new(strings(&["mcp:tools"]), &per_tool, BTreeSet::new());
        assert_eq!(
            policy.required_for(Some(Tool::SaveTemplate)),
            strings(&["mcp:tools", "b", "a"])
        );
        assert_eq!(policy.supported(), strings(&["mcp:tools", "a", "b"]));
    }
}
