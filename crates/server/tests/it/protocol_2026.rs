//! MCP 2026-07-28 on the wire: per-tool scopes decided from the
//! `Mcp-Method`/`Mcp-Name` headers before the body is read, the headers
//! unable to smuggle a call the body makes, and the caching hints of
//! `tools/list`. Each test names the rule it checks.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{StatusCode, header};
use serde_json::{Value, json};

use mcp_file_templates::mcp::TOOLS_LIST_TTL_MS;

use super::support::{Fixture, METADATA_URL, mcp_post};
use super::{ALL_SCOPES, DEFAULT, Options, Server, start, www_authenticate};

const V2026: &str = "2026-07-28";

/// A 2026-07-28 request: no `initialize`, so every request carries the
/// protocol version and the client's capabilities in `_meta`.
fn request_2026(id: u64, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": V2026,
        "io.modelcontextprotocol/clientInfo": {"name": "raw-2026", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn call_2026(id: u64, tool: &str, arguments: Value) -> Value {
    request_2026(
        id,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
}

/// The JSON-RPC message of a reply, whether it came as JSON or as one SSE
/// `data:` line.
fn message(body: &str) -> Value {
    let json = body
        .lines()
        .find_map(|line| line.strip_prefix("data:"))
        .unwrap_or(body);
    serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Every file of the template directory and its bytes.
fn files(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

impl Server {
    /// POSTs `body` as a 2026-07-28 client does, with `headers` as the
    /// standard headers (`Mcp-Method`, `Mcp-Name`, repeated ones included).
    async fn post_2026(
        &self,
        token: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", V2026)
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("send")
    }
}

/// A body that sends `first` and then never ends (a stalled upload).
fn stalled_body(first: &'static str) -> Body {
    let first = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) });
    Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()))
}

/// MCP 2026-07-28 "Standard request headers" with MCP authorization "scope
/// challenge" (RFC 6750 §3.1): `Mcp-Name` names a tool the token lacks a
/// scope for, and the 403 with every needed scope comes from the headers
/// alone. The body never ends, so a server that read it first would never
/// answer.
#[tokio::test]
async fn mcp_2026_07_28_insufficient_scope_is_decided_from_headers_without_reading_the_body() {
    let f = Fixture::start(&[], |_| {}).await;
    let token = f.token("mcp:tools");
    let request = mcp_post()
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("mcp-protocol-version", V2026)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "save_template")
        .body(stalled_body(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"save_template","arguments":{"body":""#,
        ))
        .expect("request");
    let reply = tokio::time::timeout(Duration::from_secs(10), f.send(request))
        .await
        .expect("answered without waiting for the body");
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let challenge = reply.challenge().expect("a challenge");
    assert_eq!(
        challenge.get("error").map(String::as_str),
        Some("insufficient_scope")
    );
    assert_eq!(
        challenge.get("scope").map(String::as_str),
        Some("mcp:tools templates:write")
    );
    assert_eq!(
        challenge.get("resource_metadata").map(String::as_str),
        Some(METADATA_URL)
    );
    assert_eq!(f.authz_failures().await.get("insufficient_scope"), Some(&1));
}

/// The same refusal at 2025-11-25 is decided from the body, as before: the
/// headers of a version at which rmcp does not check them against the body
/// are not trusted, so a read tool named in them does not let a body that
/// calls `save_template` through.
#[tokio::test]
async fn mcp_2025_11_25_scopes_come_from_the_body_not_the_headers() {
    let f = Fixture::start(&[], |_| {}).await;
    let token = f.token("mcp:tools");
    let request = mcp_post()
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "render_template")
        .body(Body::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "save_template", "arguments": {"name": "x", "title": "X", "body": "x"}}})
            .to_string(),
        ))
        .expect("request");
    let reply = f.send(request).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(
        reply
            .challenge()
            .expect("a challenge")
            .get("scope")
            .map(String::as_str),
        Some("mcp:tools templates:write")
    );
}

/// MCP 2026-07-28 "Standard request headers": a server that parses the
/// body answers a header that disagrees with it with HTTP 400 and JSON-RPC
/// `-32020`. Here that is what keeps the header path sound: a read-only
/// token names `render_template` (or another method) in the headers while
/// the body calls `save_template`; the call is refused and the template
/// directory is byte for byte what it was. Checked in both server modes
/// (2026-07-28 requests are stateless in either).
#[tokio::test]
async fn mcp_2026_07_28_header_body_mismatch_is_400_32020_and_saves_nothing() {
    for stateless in [false, true] {
        let server = start(Options {
            stateless,
            ..DEFAULT
        })
        .await;
        let reader = server.token("bob", "mcp:tools");
        let before = files(server._dir.path());
        let smuggled = call_2026(
            7,
            "save_template",
            json!({"name": "smuggled", "title": "S", "body": "pwned"}),
        );
        let cases: [&[(&str, &str)]; 3] = [
            &[
                ("mcp-method", "tools/call"),
                ("mcp-name", "render_template"),
            ],
            &[("mcp-method", "tools/list")],
            // A repeated header must not let the first value decide.
            &[
                ("mcp-method", "tools/call"),
                ("mcp-name", "render_template"),
                ("mcp-name", "save_template"),
            ],
        ];
        for headers in cases {
            let response = server.post_2026(&reader, headers, &smuggled).await;
            let status = response.status();
            let body = response.text().await.expect("body");
            assert_eq!(status, 400, "stateless={stateless} {headers:?}: {body}");
            let error = message(&body);
            assert_eq!(error["error"]["code"], -32020, "{headers:?}: {body}");
        }
        assert_eq!(files(server._dir.path()), before, "stateless={stateless}");

        // The control: with matching headers the same body is a 403 (the
        // token lacks the write scope), and with the write scope it saves,
        // so the file check above can see a save.
        let refused = server
            .post_2026(
                &reader,
                &[("mcp-method", "tools/call"), ("mcp-name", "save_template")],
                &smuggled,
            )
            .await;
        assert_eq!(refused.status(), 403);
        assert!(
            www_authenticate(&refused).contains("scope=\"mcp:tools templates:write\""),
            "{}",
            www_authenticate(&refused)
        );
        let writer = server.token("alice", ALL_SCOPES);
        let saved = server
            .post_2026(
                &writer,
                &[("mcp-method", "tools/call"), ("mcp-name", "save_template")],
                &smuggled,
            )
            .await;
        assert_eq!(saved.status(), 200);
        let saved = message(&saved.text().await.expect("body"));
        assert_eq!(
            saved["result"]["structuredContent"]["created"], true,
            "{saved}"
        );
        assert_ne!(files(server._dir.path()), before);
    }
}

/// MCP 2026-07-28 list caching (SEP-2549): `tools/list` carries `ttlMs` and
/// `cacheScope`; the list is served only to token holders, so it is
/// `"private"` (rmcp's `#[tool_handler]` default says `"public"`). Older
/// protocol versions get no hints.
#[tokio::test]
async fn mcp_2026_07_28_tools_list_is_private_with_a_ttl() {
    let server = start(Options {
        stateless: true,
        ..DEFAULT
    })
    .await;
    let token = server.token("alice", "mcp:tools");
    let response = server
        .post_2026(
            &token,
            &[("mcp-method", "tools/list")],
            &request_2026(1, "tools/list", json!({})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let list = message(&response.text().await.expect("body"));
    assert_eq!(list["result"]["cacheScope"], "private");
    assert_eq!(list["result"]["ttlMs"], TOOLS_LIST_TTL_MS);
    assert_eq!(list["result"]["tools"].as_array().map(Vec::len), Some(5));

    let legacy = server
        .post(
            Some(&token),
            None,
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .await;
    assert_eq!(legacy.status(), 200);
    let legacy = message(&legacy.text().await.expect("body"));
    assert_eq!(legacy["result"]["tools"].as_array().map(Vec::len), Some(5));
    assert_eq!(legacy["result"].get("cacheScope"), None);
    assert_eq!(legacy["result"].get("ttlMs"), None);
}
