//! HTTP-level hardening of the real router: body limit, malformed JSON-RPC,
//! `Origin`/`Host` validation (DNS rebinding, CSRF), request timeout, load
//! shedding, and CORS for browser clients. Every refusal is a precise 4xx or
//! a 503, never a 500 and never a hang.

use std::task::Poll;

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{Fixture, HOST, METADATA_URL, Reply, mcp_post, mcp_post_with_host, tool_call};

/// A body that sends `first` and then never ends (a stalled upload).
fn stalled_body(first: &'static [u8]) -> Body {
    let first = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(first))]);
    Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()))
}

/// A body streamed in 1 KiB chunks without `Content-Length`.
fn chunked_body(bytes: usize) -> Body {
    let chunks =
        (0..bytes.div_ceil(1024)).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1024])));
    Body::from_stream(futures::stream::iter(chunks))
}

fn header_list(reply: &Reply, name: &str) -> String {
    reply.header(name).unwrap_or_default().to_ascii_lowercase()
}

#[tokio::test]
async fn body_over_the_limit_is_413_not_500() {
    let f = Fixture::start(&["--body-limit-bytes", "4096"], |_| {}).await;
    let token = f.token("mcp:tools");
    let oversized = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"list_templates","arguments":{{"pad":"{}"}}}}}}"#,
        "x".repeat(8 * 1024)
    );

    // Declared length over the limit, with and without credentials: refused
    // before anything reads the body.
    for auth in [Some(&token), None] {
        let mut request = mcp_post().header(header::CONTENT_LENGTH, oversized.len());
        if let Some(token) = auth {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let reply = f
            .send(
                request
                    .body(Body::from(oversized.clone()))
                    .expect("request"),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "auth: {}",
            auth.is_some()
        );
    }

    // No Content-Length: the limit trips while the body is read (by the
    // scope check looking for the tool name).
    let reply = f
        .send(
            mcp_post()
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(chunked_body(8 * 1024))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);

    // 2026-07-28 requests name the tool in headers, so the scope check does
    // not need the body; once it allows the call the body is read within
    // the same limit.
    let reply = f
        .send(
            mcp_post()
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "list_templates")
                .body(chunked_body(8 * 1024))
                .expect("request"),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );

    // Just under the limit is served.
    let reply = f
        .send(
            mcp_post()
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(tool_call(
                    "list_templates",
                    json!({"pad": "x".repeat(3000)}),
                ))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_json_rpc_is_a_4xx_or_a_json_rpc_error_never_a_500() {
    let f = Fixture::start(&[], |_| {}).await;
    let token = f.token("mcp:tools");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_id = "9".repeat(400);
    // (name, body, expected status). A 200 must carry a JSON-RPC error.
    // 400 with a JSON-RPC parse error comes from the scope check, which fails
    // closed on any body it cannot read; 415 is rmcp's answer to JSON that is
    // not a JSON-RPC message.
    let cases: Vec<(&str, String, StatusCode)> = vec![
        ("empty body", String::new(), StatusCode::BAD_REQUEST),
        ("not JSON", "hello".into(), StatusCode::BAD_REQUEST),
        ("truncated JSON", r#"{"jsonrpc":"2.0","id":1,"#.into(), StatusCode::BAD_REQUEST),
        ("JSON null", "null".into(), StatusCode::BAD_REQUEST),
        ("JSON number", "42".into(), StatusCode::BAD_REQUEST),
        ("empty array", "[]".into(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("empty object", "{}".into(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "method is a number",
            r#"{"jsonrpc":"2.0","id":1,"method":123}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "tool name is a number",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "params is a string",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "jsonrpc version 1.0",
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "id is an object",
            r#"{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "id is a 400-digit number",
            format!(r#"{{"jsonrpc":"2.0","id":{huge_id},"method":"tools/list"}}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "id is 1e400",
            r#"{"jsonrpc":"2.0","id":1e400,"method":"tools/list"}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "duplicate method member",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "arguments nested 10 000 levels",
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"list_templates","arguments":{{"x":{deep}}}}}}}"#
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown method",
            r#"{"jsonrpc":"2.0","id":1,"method":"no/such"}"#.into(),
            StatusCode::OK,
        ),
        (
            "unknown tool",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#
                .into(),
            StatusCode::OK,
        ),
    ];
    for (name, body, expected) in cases {
        let reply = f
            .send(
                mcp_post()
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::from(body))
                    .expect("request"),
            )
            .await;
        assert_eq!(reply.status, expected, "[{name}] body: {}", reply.body);
        if reply.status == StatusCode::OK {
            let answer: Value = serde_json::from_str(&reply.body)
                .unwrap_or_else(|e| panic!("[{name}] not JSON ({e}): {}", reply.body));
            let failed = answer.get("error").is_some() || answer["result"]["isError"] == true;
            assert!(failed, "[{name}] no JSON-RPC error: {answer}");
        }
    }
}

#[tokio::test]
async fn origin_and_host_are_validated_against_dns_rebinding_and_csrf() {
    let f = Fixture::start(&[], |_| {}).await;
    let token = f.token("mcp:tools");
    let send = |host: &'static str, origin: Option<&'static str>| {
        let mut request =
            mcp_post_with_host(host).header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        f.send(
            request
                .body(tool_call("list_templates", json!({})))
                .expect("request"),
        )
    };
    let cases: [(&str, Option<&str>, StatusCode); 13] = [
        (HOST, None, StatusCode::OK),
        // Same origin as the public URL, and loopback on any port.
        (HOST, Some("http://localhost:8000"), StatusCode::OK),
        (HOST, Some("http://localhost:6274"), StatusCode::OK),
        (HOST, Some("http://127.0.0.1:3000"), StatusCode::OK),
        // Foreign origins: a page on another site driving the user's browser.
        (HOST, Some("https://evil.example"), StatusCode::FORBIDDEN),
        (HOST, Some("null"), StatusCode::FORBIDDEN),
        (
            HOST,
            Some("http://localhost.evil.example"),
            StatusCode::FORBIDDEN,
        ),
        (HOST, Some("https://localhost:8000"), StatusCode::FORBIDDEN),
        (HOST, Some("not an origin"), StatusCode::FORBIDDEN),
        // Host: a rebound DNS name pointing at this server.
        ("evil.example", None, StatusCode::FORBIDDEN),
        ("evil.example:8000", None, StatusCode::FORBIDDEN),
        ("localhost.evil.example", None, StatusCode::FORBIDDEN),
        ("127.0.0.1:8000", None, StatusCode::OK),
    ];
    for (host, origin, expected) in cases {
        let reply = send(host, origin).await;
        assert_eq!(
            reply.status, expected,
            "Host {host}, Origin {origin:?}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn request_timeout_answers_408_instead_of_hanging() {
    let f = Fixture::start(&["--request-timeout-secs", "1"], |_| {}).await;
    let token = f.token("mcp:tools");
    // From here on the clock only moves when every task waits: the stalled
    // upload below makes the timeout fire at once, deterministically.
    tokio::time::pause();
    let reply = f
        .send(
            mcp_post()
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(stalled_body(br#"{"jsonrpc":"2.0","#))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::REQUEST_TIMEOUT);
}

#[tokio::test]
async fn concurrency_limit_sheds_every_route_with_503_and_recovers() {
    let f = Fixture::start(&["--concurrency-limit", "1"], |_| {}).await;
    let token = f.token("mcp:tools");
    let healthz = || {
        Request::get("/healthz")
            .header(header::HOST, HOST)
            .body(Body::empty())
            .expect("request")
    };
    // A slow upload holds the only slot.
    let mut slow = Box::pin(
        f.router.clone().oneshot(
            mcp_post()
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(stalled_body(b"{"))
                .expect("request"),
        ),
    );
    for _ in 0..10 {
        assert!(matches!(futures::poll!(slow.as_mut()), Poll::Pending));
        tokio::task::yield_now().await;
    }

    let shed = f.send(healthz()).await;
    assert_eq!(shed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.header("retry-after"), Some("1"));

    // The client gives up; its slot is released.
    drop(slow);
    assert_eq!(f.send(healthz()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_preflight_is_unauthenticated_and_challenges_are_readable_by_browsers() {
    let f = Fixture::start(&[], |_| {}).await;
    let origin = "http://localhost:6274";
    let preflight = |path: &'static str, origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .header(header::HOST, HOST)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, content-type, mcp-session-id, mcp-protocol-version",
            )
            .body(Body::empty())
            .expect("request")
    };

    for path in ["/mcp", "/.well-known/oauth-protected-resource/mcp"] {
        let reply = f.send(preflight(path, "http://localhost:6274")).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.status);
        assert!(reply.challenge().is_none(), "{path}: preflight challenged");
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
        let methods = header_list(&reply, "access-control-allow-methods");
        assert!(
            methods.contains("post") && methods.contains("delete"),
            "{methods}"
        );
        let allowed = header_list(&reply, "access-control-allow-headers");
        for needed in [
            "authorization",
            "content-type",
            "mcp-session-id",
            "mcp-protocol-version",
        ] {
            assert!(
                allowed.contains(needed),
                "{path}: {needed} not in {allowed}"
            );
        }
    }

    let foreign = f.send(preflight("/mcp", "https://evil.example")).await;
    assert!(foreign.header("access-control-allow-origin").is_none());

    // The 401 and the 403 both let the browser read the challenge.
    let no_token = mcp_post()
        .header(header::ORIGIN, origin)
        .body(tool_call("list_templates", json!({})))
        .expect("request");
    let no_scope = mcp_post()
        .header(header::ORIGIN, origin)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", f.token("mcp:tools")),
        )
        .body(tool_call(
            "save_template",
            json!({"name": "x", "title": "X", "body": "x"}),
        ))
        .expect("request");
    for (request, status) in [
        (no_token, StatusCode::UNAUTHORIZED),
        (no_scope, StatusCode::FORBIDDEN),
    ] {
        let reply = f.send(request).await;
        assert_eq!(reply.status, status);
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
        let exposed = header_list(&reply, "access-control-expose-headers");
        assert!(
            exposed.contains("www-authenticate") && exposed.contains("mcp-session-id"),
            "{status}: {exposed}"
        );
        let params = reply.challenge().expect("challenge");
        assert_eq!(
            params.get("resource_metadata").map(String::as_str),
            Some(METADATA_URL)
        );
    }
}
