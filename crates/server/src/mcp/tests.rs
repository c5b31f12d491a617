//! Unit tests for the MCP error mapping and filtering.

use std::time::Duration;

use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::CallToolResponse;
use templates::{
    RenderError, StoreError, Template, TemplateMeta, TemplateName, VariableSpec, Version,
};

use super::offload::OffloadError;
use super::tools::matches;
use super::{Outcome, TemplateServer, ToolError};
use crate::tool::Tool;

fn meta(name: &str, title: &str, tags: &[&str]) -> TemplateMeta {
    let name = match TemplateName::parse(name) {
        Ok(name) => name,
        Err(e) => panic!("{e}"),
    };
    TemplateMeta {
        name,
        title: title.to_owned(),
        description: "Notes of a meeting".to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        filename: None,
        variables: vec![
            VariableSpec {
                name: "date".to_owned(),
                description: "Meeting date".to_owned(),
                required: true,
                default: None,
            },
            VariableSpec {
                name: "place".to_owned(),
                description: String::new(),
                required: false,
                default: Some("Room 1".to_owned()),
            },
        ],
        version: Version::of_bytes(b"x"),
    }
}

#[test]
fn list_filter_matches_query_case_insensitively_and_tag_exactly() {
    let m = meta("meeting-minutes", "Meeting Minutes", &["meeting", "en"]);
    assert!(matches(&m, None, None));
    assert!(matches(&m, Some("MINUTES"), None));
    assert!(matches(&m, Some("notes of"), None));
    assert!(matches(&m, None, Some("en")));
    assert!(!matches(&m, None, Some("e")));
    assert!(!matches(&m, Some("invoice"), None));
    assert!(!matches(&m, Some("meeting"), Some("de")));
}

#[test]
fn conflict_tells_the_model_the_current_version() {
    let m = meta("a", "A", &[]);
    let current = Version::of_bytes(b"current");
    let error = ToolError::from_store(StoreError::Conflict {
        name: m.name.clone(),
        expected: Some(Version::of_bytes(b"old")),
        current: Some(current.clone()),
    });
    assert_eq!(error.outcome, Outcome::Conflict);
    assert!(
        error
            .message
            .contains(&format!("expected_version=\"{current}\""))
    );
    assert!(error.message.contains("get_template"));
}

#[test]
fn invalid_variables_are_reported_by_name_with_the_declared_list() {
    let template = Template {
        meta: meta("a", "A", &[]),
        body: "{{ date }}".to_owned(),
    };
    let error = ToolError::from_render(
        RenderError::MissingVariables(vec!["date".to_owned()]),
        &template,
    );
    assert_eq!(error.outcome, Outcome::InvalidVariables);
    assert!(error.message.contains("date"), "{}", error.message);
    assert!(
        error.message.contains("date (required), place"),
        "{}",
        error.message
    );
}

#[test]
fn store_io_errors_do_not_leak_paths() {
    let error = ToolError::from_store(StoreError::Io {
        path: "/srv/secret/dir/a.md".into(),
        source: std::io::Error::other("disk on fire"),
    });
    assert_eq!(error.outcome, Outcome::StoreError);
    assert!(!error.message.contains("/srv/secret"));
}

#[test]
fn busy_is_its_own_outcome_and_says_nothing_was_done() {
    let error = ToolError::from_offload(OffloadError::Busy(Duration::from_secs(1)));
    assert_eq!(error.outcome, Outcome::Busy);
    assert!(
        error
            .message
            .starts_with("the server is busy: every render and store slot stayed taken for 1s."),
        "{}",
        error.message
    );
    assert!(error.message.contains("retry"), "{}", error.message);
    let error = ToolError::from_offload(OffloadError::Panicked);
    assert_eq!(error.outcome, Outcome::StoreError);
}

#[test]
fn tool_errors_become_is_error_results() {
    let name = TemplateName::parse("gone").unwrap_or_else(|e| panic!("{e}"));
    let error = ToolError::from_store(StoreError::NotFound(name));
    assert_eq!(error.outcome, Outcome::NotFound);
    let result = error.into_call_tool_result();
    match result {
        Ok(CallToolResponse::Complete(result)) => assert_eq!(result.is_error, Some(true)),
        other => panic!("unexpected {other:?}"),
    }
}

/// The `#[tool]` fn names are the one place a tool name is still written as a
/// literal; this pins them to [`Tool`]. rmcp lists its tools sorted by name,
/// so the names are mapped to `Tool` and sorted by its declaration order.
#[test]
fn routed_tools_are_exactly_tool_all() {
    let router = TemplateServer::tool_router();
    let mut routed: Vec<Tool> = router
        .list_all()
        .into_iter()
        .map(|t| t.name.parse::<Tool>().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    routed.sort_unstable();
    assert_eq!(routed, Tool::ALL);
    for tool in router.list_all() {
        assert!(
            tool.output_schema.is_some(),
            "{} has no outputSchema",
            tool.name
        );
    }
}

#[test]
fn outcome_labels_are_unique_and_index_matches_all() {
    for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
        assert_eq!(outcome.index(), i);
    }
    let labels: Vec<&str> = Outcome::ALL.map(Outcome::label).to_vec();
    assert_eq!(
        labels,
        [
            "ok",
            "invalid_name",
            "not_found",
            "conflict",
            "invalid_version",
            "invalid_template",
            "invalid_variables",
            "render_failed",
            "store_error",
            "busy",
        ]
    );
    let mut unique = labels.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), labels.len(), "duplicate label in {labels:?}");
}
