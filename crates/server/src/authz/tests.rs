//! Unit tests for finding the tools a JSON-RPC body calls.

use super::*;

#[track_caller]
fn check(body: &str, expected: Option<&[&str]>) {
    let found = tool_names(body.as_bytes());
    let expected = expected.map(|e| e.iter().map(|s| s.parse::<Tool>().ok()).collect::<Vec<_>>());
    assert_eq!(found, expected, "body: {body}");
}

#[test]
fn tools_call_names_are_found_in_single_messages_and_batches() {
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"save_template","arguments":{}}}"#,
        Some(&["save_template"]),
    );
    check(
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_template"}}]"#,
        Some(&["delete_template"]),
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
        Some(&[]),
    );
    check(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        Some(&[]),
    );
}

#[test]
fn unreadable_bodies_fail_closed() {
    // A duplicate key could make two parsers disagree on the tool.
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"render_template","name":"delete_template"}}"#,
        None,
    );
    check(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
        None,
    );
    check("not json", None);
    check("", None);
    check("   ", None);
    check(
        r#"[{"method":"tools/call","params":{"name":"a"}}] trailing"#,
        None,
    );
}

#[test]
fn large_arguments_do_not_hide_the_tool() {
    let big = "x".repeat(512 * 1024);
    let body = format!(
        r#"  {{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"arguments":{{"text":"{big}","nested":[{{"name":"render_template"}}]}},"name":"save_template"}}}}"#
    );
    check(&body, Some(&["save_template"]));
    let batch = format!("\n[{body},{body}]");
    check(&batch, Some(&["save_template", "save_template"]));
}

#[test]
fn owner_falls_back_to_client_for_tokens_without_sub() {
    let mut principal = Principal {
        issuer: "https://idp".to_owned(),
        subject: None,
        client_id: Some("svc".to_owned()),
        scopes: auth::Scopes::from_space_delimited("mcp:tools"),
        audience: vec![],
        expires_at: 0,
        source: auth::PrincipalSource::Jwt,
    };
    let service = Owner::of(&principal);
    principal.subject = Some("svc".to_owned());
    // A user called "svc" is not the client "svc".
    assert_ne!(service, Owner::of(&principal));
}
