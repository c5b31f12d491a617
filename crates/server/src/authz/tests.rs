//! Unit tests for finding what a JSON-RPC body calls, and for session owners.

use super::*;

#[track_caller]
fn check(body: &str, expected: Option<&[&str]>) {
    let found = parse_called(body.as_bytes()).map(|c| c.tools);
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
fn initialize_is_recognised_alone_and_in_batches() {
    let initializes = |body: &str| parse_called(body.as_bytes()).map(|c| c.initialize);
    assert_eq!(
        initializes(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#),
        Some(true)
    );
    assert_eq!(
        initializes(r#"[{"jsonrpc":"2.0","id":1,"method":"initialize"}]"#),
        Some(true)
    );
    assert_eq!(
        initializes(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
        Some(false)
    );
    assert_eq!(
        initializes(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
        Some(false)
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

fn principal(subject: Option<&str>, client: Option<&str>) -> Principal {
    Principal {
        issuer: "https://idp".to_owned(),
        subject: subject.map(str::to_owned),
        client_id: client.map(str::to_owned),
        scopes: auth::Scopes::from_space_delimited("mcp:tools"),
        audience: vec![],
        expires_at: 0,
        source: auth::PrincipalSource::Jwt,
    }
}

#[test]
fn owner_falls_back_to_client_for_tokens_without_sub() {
    let service = Owner::of(&principal(None, Some("svc"))).expect("a client owns");
    let user = principal(Some("svc"), None);
    // A user called "svc" is not the client "svc".
    assert_ne!(Some(&service), Owner::of(&user).as_ref());
    assert!(!service.is(&user));
    assert!(service.is(&principal(None, Some("svc"))));
}

#[test]
fn owner_is_compared_by_issuer_too() {
    let owner = Owner::of(&principal(Some("alice"), None)).expect("a subject owns");
    let mut other_realm = principal(Some("alice"), None);
    other_realm.issuer = "https://other-idp".to_owned();
    assert!(owner.is(&principal(Some("alice"), Some("any-client"))));
    assert!(!owner.is(&other_realm));
}

/// Issue 11 item 5: a token naming neither subject nor client has no owner,
/// so it cannot share one "anonymous" owner with every other such token.
#[test]
fn a_token_without_subject_or_client_owns_nothing() {
    assert_eq!(Owner::of(&principal(None, None)), None);
    let owner = Owner::of(&principal(Some("alice"), None)).expect("a subject owns");
    assert!(!owner.is(&principal(None, None)));
}

/// Issue 11 item 6 (MCP authorization, "token passthrough"): once
/// authorization is done, the raw token is gone from the request, so no tool
/// handler can read or forward it; the principal stays.
#[tokio::test]
async fn the_bearer_token_does_not_reach_the_mcp_service() {
    use tower::ServiceExt as _;

    let state = AuthzState {
        policy: Arc::new(ToolPolicy::new(
            vec![DEFAULT_BASE_SCOPE.to_owned()],
            &std::collections::BTreeMap::new(),
            std::collections::BTreeSet::new(),
        )),
        validator: None,
        challenge: Arc::new(ChallengeContext {
            resource_metadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
                .to_owned(),
            realm: None,
            scope: Some("mcp:tools".to_owned()),
        }),
        sessions: None,
        shared: None,
        body_limit: 1024,
        metrics: Arc::new(Metrics::new(Arc::new(Vec::new))),
    };
    let app = axum::Router::new()
        .route(
            "/mcp",
            axum::routing::post(|request: Request| async move {
                let extensions = request.extensions();
                format!(
                    "token:{} principal:{}",
                    extensions.get::<BearerToken>().is_some(),
                    identity::principal_of(extensions).is_some()
                )
            }),
        )
        .layer(axum::middleware::from_fn_with_state(state, authorize));
    let mut request = Request::post("/mcp")
        .body(Body::from(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_templates"}}"#,
        ))
        .expect("request");
    request
        .extensions_mut()
        .insert(Arc::new(principal(Some("alice"), None)));
    request
        .extensions_mut()
        .insert(BearerToken::new("a-token-the-handler-must-not-see"));
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("body");
    assert_eq!(&body[..], b"token:false principal:true");
}

#[track_caller]
fn check_headers(headers: &[(&str, &str)], expected: Option<(&[&str], bool)>) {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    let found = called_from_headers(&map).map(|c| (c.tools, c.initialize));
    let expected = expected.map(|(tools, initialize)| {
        let tools = tools.iter().map(|s| s.parse::<Tool>().ok()).collect();
        (tools, initialize)
    });
    assert_eq!(found, expected, "headers: {headers:?}");
}

/// MCP 2026-07-28, "Standard request headers": at that version the headers
/// name the tool (rmcp refuses a body that disagrees); before it, or when
/// they cannot name it, the body decides.
#[test]
fn mcp_2026_07_28_headers_name_the_tool_older_versions_need_the_body() {
    let v2026 = ("mcp-protocol-version", "2026-07-28");
    check_headers(
        &[
            v2026,
            ("mcp-method", "tools/call"),
            ("mcp-name", "save_template"),
        ],
        Some((&["save_template"], false)),
    );
    // An unknown tool needs the base scopes only; rmcp refuses the call.
    check_headers(
        &[
            v2026,
            ("mcp-method", "tools/call"),
            ("mcp-name", "no_such_tool"),
        ],
        Some((&["no_such_tool"], false)),
    );
    check_headers(&[v2026, ("mcp-method", "tools/list")], Some((&[], false)));
    check_headers(&[v2026, ("mcp-method", "initialize")], Some((&[], true)));
    // Undecidable from the headers: read the body.
    check_headers(&[v2026, ("mcp-method", "tools/call")], None);
    check_headers(&[v2026, ("mcp-name", "save_template")], None);
    check_headers(
        &[
            v2026,
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?c2F2ZV90ZW1wbGF0ZQ==?="),
        ],
        None,
    );
    // Older versions: rmcp does not check the headers, so they are ignored.
    for version in ["2025-11-25", "2025-06-18"] {
        check_headers(
            &[
                ("mcp-protocol-version", version),
                ("mcp-method", "tools/call"),
                ("mcp-name", "render_template"),
            ],
            None,
        );
    }
    check_headers(
        &[
            ("mcp-method", "tools/call"),
            ("mcp-name", "render_template"),
        ],
        None,
    );
}
