//! Integration tests: the real router from `build_app` on 127.0.0.1:0, tokens
//! from the in-process `test-issuer`, driven by rmcp's own Streamable HTTP
//! client and by raw HTTP where the wire details matter.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use clap::Parser;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use test_issuer::TestIssuer;
use tokio_util::sync::CancellationToken;

use mcp_file_templates::app::{AppDeps, Authentication, build_app};
use mcp_file_templates::config::{self, Cli, Config, Env, FileConfig, Secret};
use mcp_file_templates::deps;
use templates::{FsStore, StoreLimits};

mod availability;
mod hostile;
mod http_hardening;
mod logs;
mod overload;
mod pg_store;
mod protocol_2026;
mod sessions;
mod shared_sessions;
mod support;

const GREETING: &str = r#"+++
title = "Greeting"
description = "A short greeting letter"
tags = ["letter", "en"]
filename = "greeting-{{ name }}.md"

[[variables]]
name = "name"
description = "Who is greeted"
required = true

[[variables]]
name = "sender"
description = "Who signs"
default = "The team"
+++
Hello {{ name }}!

-- {{ sender }}
"#;

const INTROSPECTION_CLIENT: &str = "mcp-server";
const INTROSPECTION_SECRET: &str = "introspection-secret";
const ALL_SCOPES: &str = "mcp:tools templates:write";

struct Server {
    issuer: TestIssuer,
    validator: Arc<auth::Validator>,
    /// `http://127.0.0.1:PORT`
    base: String,
    /// `http://127.0.0.1:PORT/mcp`, also the token audience.
    url: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

struct Options {
    stateless: bool,
    load_keys: bool,
}

const DEFAULT: Options = Options {
    stateless: false,
    load_keys: true,
};

async fn start(options: Options) -> Server {
    start_with(options, |_| {}).await
}

/// [`start`], with `tune` applied to the configuration after the flags are
/// parsed.
async fn start_with(options: Options, tune: impl FnOnce(&mut Config)) -> Server {
    let issuer = TestIssuer::start().await;
    issuer.set_introspection_client(INTROSPECTION_CLIENT, INTROSPECTION_SECRET);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("greeting.md"), GREETING).expect("write template");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let mut args = vec![
        "mcp-file-templates".to_owned(),
        "--public-url".to_owned(),
        base.clone(),
        "--issuer".to_owned(),
        issuer.issuer(),
        "--jwks-uri".to_owned(),
        issuer.jwks_uri(),
        "--introspection-endpoint".to_owned(),
        issuer.introspection_endpoint(),
        "--introspection-client-id".to_owned(),
        INTROSPECTION_CLIENT.to_owned(),
    ];
    if options.stateless {
        args.push("--stateless".to_owned());
    }
    let cli = Cli::try_parse_from(args).expect("flags");
    let env = Env {
        introspection_client_secret: Some(Secret::new(INTROSPECTION_SECRET)),
        allow_insecure_bench: false,
        log_filter: None,
        store_postgres_url: None,
        sessions_redis_url: None,
    };
    let mut config =
        config::build(cli, FileConfig::default(), env, Path::new("/")).expect("config");
    tune(&mut config);

    let validator = Arc::new(deps::validator(&config.auth).expect("validator"));
    if options.load_keys {
        validator.jwks().refresh().await.expect("load keys");
    }
    let store = FsStore::open(dir.path().to_path_buf(), StoreLimits::default()).expect("store");
    let shutdown = CancellationToken::new();
    let app = build_app(
        &config,
        AppDeps {
            store: Arc::new(store),
            auth: Authentication::Validator(Arc::clone(&validator)),
            shutdown: shutdown.clone(),
        },
    )
    .expect("app");
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled_owned().await })
            .await;
    });
    Server {
        url: format!("{base}/mcp"),
        base,
        issuer,
        validator,
        http: reqwest::Client::new(),
        shutdown,
        _dir: dir,
    }
}

impl Server {
    fn token(&self, sub: &str, scope: &str) -> String {
        self.issuer.token(sub, &self.url, scope)
    }

    async fn client(&self, token: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(self.url.clone()).auth_header(token),
        );
        ().serve(transport).await.expect("initialize")
    }

    /// POSTs one JSON-RPC message with the headers a Streamable HTTP client sends.
    async fn post(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        body: Value,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-06-18");
        }
        request.send().await.expect("send")
    }

    /// Initializes a raw session and returns its id.
    async fn raw_session(&self, token: &str) -> String {
        let response = self.post(Some(token), None, initialize()).await;
        assert_eq!(response.status(), 200);
        let id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("session id")
            .to_owned();
        let _ = response.text().await;
        let ack = self
            .post(
                Some(token),
                Some(&id),
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert_eq!(ack.status(), 202);
        id
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }
}

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    })
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn args(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments must be an object"),
    }
}

fn structured(result: &rmcp::model::CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "tool failed: {result:?}");
    result
        .structured_content
        .clone()
        .expect("structured content")
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

// ---- The MCP surface through rmcp's own client ----

#[tokio::test]
async fn rmcp_client_drives_every_tool_resource_and_prompt() {
    let server = start(DEFAULT).await;
    let client = server.client(&server.token("alice", ALL_SCOPES)).await;

    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("mcp-file-templates")
    );

    let tools = client.list_all_tools().await.expect("tools/list");
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "delete_template",
            "get_template",
            "list_templates",
            "render_template",
            "save_template"
        ]
    );

    let list = client
        .call_tool(
            CallToolRequestParams::new("list_templates")
                .with_arguments(args(json!({"tag": "letter"}))),
        )
        .await
        .expect("list_templates");
    let list = structured(&list);
    assert_eq!(list["templates"][0]["name"], "greeting");
    assert_eq!(list["templates"][0]["uri"], "template://greeting");

    let got = client
        .call_tool(
            CallToolRequestParams::new("get_template")
                .with_arguments(args(json!({"name": "greeting"}))),
        )
        .await
        .expect("get_template");
    let got = structured(&got);
    assert_eq!(got["variables"][0]["name"], "name");
    assert_eq!(got["variables"][0]["required"], true);
    let version = got["version"].as_str().expect("version").to_owned();

    let rendered = client
        .call_tool(
            CallToolRequestParams::new("render_template").with_arguments(args(
                json!({"name": "greeting", "variables": {"name": "Ada"}}),
            )),
        )
        .await
        .expect("render_template");
    let rendered = structured(&rendered);
    assert_eq!(rendered["text"], "Hello Ada!\n\n-- The team\n");
    assert_eq!(rendered["filename"], "greeting-Ada.md");

    // Domain errors are isError results naming what is wrong, not protocol errors.
    let missing = client
        .call_tool(
            CallToolRequestParams::new("render_template").with_arguments(args(
                json!({"name": "greeting", "variables": {"nmae": "Ada"}}),
            )),
        )
        .await
        .expect("render_template with a typo");
    assert_eq!(missing.is_error, Some(true));
    assert!(text_of(&missing).contains("nmae"), "{}", text_of(&missing));
    let unknown = client
        .call_tool(
            CallToolRequestParams::new("get_template")
                .with_arguments(args(json!({"name": "nope"}))),
        )
        .await
        .expect("get_template unknown");
    assert_eq!(unknown.is_error, Some(true));
    assert!(text_of(&unknown).contains("list_templates"));

    let saved = client
        .call_tool(CallToolRequestParams::new("save_template").with_arguments(args(json!({
            "name": "greeting", "title": "Greeting v2", "description": "Shorter",
            "tags": ["letter"], "variables": [{"name": "name", "description": "Who", "required": true}],
            "body": "Hi {{ name }}", "expected_version": version,
        }))))
        .await
        .expect("save_template");
    let saved = structured(&saved);
    assert_eq!(saved["created"], false);
    let new_version = saved["version"].as_str().expect("version").to_owned();

    let stale = client
        .call_tool(
            CallToolRequestParams::new("delete_template").with_arguments(args(json!({
                "name": "greeting", "expected_version": version,
            }))),
        )
        .await
        .expect("delete with a stale version");
    assert_eq!(stale.is_error, Some(true));
    assert!(
        text_of(&stale).contains(&new_version),
        "{}",
        text_of(&stale)
    );

    let resources = client.list_resources(None).await.expect("resources/list");
    assert_eq!(resources.resources[0].uri, "template://greeting");
    assert_eq!(
        resources.resources[0].mime_type.as_deref(),
        Some("text/markdown")
    );
    let templates = client
        .list_resource_templates(None)
        .await
        .expect("resources/templates/list");
    assert_eq!(
        templates.resource_templates[0].uri_template,
        "template://{name}"
    );
    let read = client
        .read_resource(ReadResourceRequestParams::new("template://greeting"))
        .await
        .expect("resources/read");
    let body = serde_json::to_value(&read.contents[0]).expect("contents");
    assert_eq!(body["text"], "Hi {{ name }}");
    assert_eq!(body["mimeType"], "text/markdown");

    let prompt = client
        .get_prompt(
            GetPromptRequestParams::new("fill_template")
                .with_arguments(args(json!({"name": "greeting"}))),
        )
        .await
        .expect("prompts/get");
    let prompt_text = serde_json::to_string(&prompt.messages).expect("messages");
    assert!(
        prompt_text.contains("name (required): Who"),
        "{prompt_text}"
    );
    assert!(prompt_text.contains("render_template"));

    let deleted = client
        .call_tool(
            CallToolRequestParams::new("delete_template").with_arguments(args(json!({
                "name": "greeting", "expected_version": new_version,
            }))),
        )
        .await
        .expect("delete_template");
    assert_eq!(structured(&deleted)["deleted"], true);
    client.cancel().await.expect("close");
}

// ---- RFC 6750 / MCP authorization on the wire ----

#[tokio::test]
async fn rfc6750_no_token_gets_401_with_resource_metadata() {
    let server = start(DEFAULT).await;
    let response = server.post(None, None, initialize()).await;
    assert_eq!(response.status(), 401);
    let challenge = www_authenticate(&response);
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(!challenge.contains("error="), "{challenge}");
    // RFC 9728 §3.1: the metadata URL has the resource path inserted.
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", server.base);
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
    let metadata: Value = server
        .http
        .get(&metadata_url)
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(metadata["resource"], server.url);
    // MCP authorization 2025-11-25, "Scope selection strategy": clients
    // request `scopes_supported` when no challenge names scopes, so it is
    // the minimal set for basic use (the write scope comes by step-up) and
    // never `offline_access`.
    assert_eq!(
        metadata["scopes_supported"],
        serde_json::json!(["mcp:tools"])
    );
}

#[tokio::test]
async fn rfc6750_bad_token_gets_401_invalid_token() {
    let server = start(DEFAULT).await;
    let wrong_audience = server
        .issuer
        .token("alice", "https://elsewhere.example/mcp", ALL_SCOPES);
    for token in ["not-a-jwt", wrong_audience.as_str()] {
        let response = server.post(Some(token), None, initialize()).await;
        assert_eq!(response.status(), 401);
        assert!(www_authenticate(&response).contains("error=\"invalid_token\""));
    }
}

#[tokio::test]
async fn mcp_tool_scope_step_up_via_body_gets_403_insufficient_scope() {
    let server = start(DEFAULT).await;
    let bob = server.token("bob", "mcp:tools");
    let session = server.raw_session(&bob).await;
    let response = server
        .post(
            Some(&bob),
            Some(&session),
            call(
                2,
                "save_template",
                json!({"name": "x", "title": "X", "body": "x"}),
            ),
        )
        .await;
    assert_eq!(response.status(), 403);
    let challenge = www_authenticate(&response);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    // RFC 6750 §3.1: every scope the call needs, so one step-up suffices.
    assert!(
        challenge.contains("scope=\"mcp:tools templates:write\""),
        "{challenge}"
    );
    assert!(challenge.contains("resource_metadata="), "{challenge}");

    // The same token may still use read tools.
    let ok = server
        .post(
            Some(&bob),
            Some(&session),
            call(3, "list_templates", json!({})),
        )
        .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn mcp_tool_scope_step_up_via_mcp_name_header_gets_403() {
    let server = start(Options {
        stateless: true,
        ..DEFAULT
    })
    .await;
    let bob = server.token("bob", "mcp:tools");
    // 2026-07-28 requests carry Mcp-Method/Mcp-Name, which rmcp checks against the body.
    let response = server
        .http
        .post(&server.url)
        .bearer_auth(&bob)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "delete_template")
        .json(&call(1, "delete_template", json!({"name": "greeting", "expected_version": "sha256:00000000000000000000000000000000"})))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 403);
    assert!(www_authenticate(&response).contains("scope=\"mcp:tools templates:write\""));
}

#[tokio::test]
async fn mcp_session_used_by_another_subject_is_not_found() {
    let server = start(DEFAULT).await;
    let alice = server.token("alice", ALL_SCOPES);
    let mallory = server.token("mallory", ALL_SCOPES);
    let session = server.raw_session(&alice).await;
    let stolen = server
        .post(
            Some(&mallory),
            Some(&session),
            call(2, "list_templates", json!({})),
        )
        .await;
    assert_eq!(stolen.status(), 404);
    // The standalone SSE stream (GET) and the session's end (DELETE) are
    // bound to the owner as well (issue 11 item 7).
    let listen = server
        .http
        .get(&server.url)
        .bearer_auth(&mallory)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .expect("get");
    assert_eq!(listen.status(), 404);
    let ended = server
        .http
        .delete(&server.url)
        .bearer_auth(&mallory)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .expect("delete");
    assert_eq!(ended.status(), 404);
    let own = server
        .post(
            Some(&alice),
            Some(&session),
            call(3, "list_templates", json!({})),
        )
        .await;
    assert_eq!(
        own.status(),
        200,
        "mallory's DELETE did not end the session"
    );
    assert!(
        server
            .metrics()
            .await
            .contains(r#"mcp_authz_failures_total{reason="session_owner_mismatch"} 3"#)
    );
}

#[tokio::test]
async fn rfc7662_verify_online_delete_with_revoked_token_gets_401() {
    let server = start(DEFAULT).await;
    let alice = server.token("alice", ALL_SCOPES);
    let session = server.raw_session(&alice).await;
    server.issuer.revoke(&alice);
    let before = server.issuer.introspection_requests();
    // Read tools keep working on the still-valid JWT (zero IdP calls)...
    let read = server
        .post(
            Some(&alice),
            Some(&session),
            call(2, "list_templates", json!({})),
        )
        .await;
    assert_eq!(read.status(), 200);
    assert_eq!(server.issuer.introspection_requests(), before);
    // ...but the revocation-sensitive tool asks the issuer and is refused.
    let delete = server
        .post(
            Some(&alice),
            Some(&session),
            call(3, "delete_template", json!({"name": "greeting", "expected_version": "sha256:00000000000000000000000000000000"})),
        )
        .await;
    assert_eq!(delete.status(), 401);
    assert!(www_authenticate(&delete).contains("error=\"invalid_token\""));
    assert!(server.issuer.introspection_requests() > before);
}

// ---- Operations ----

#[tokio::test]
async fn readyz_is_503_until_keys_are_loaded() {
    let server = start(Options {
        load_keys: false,
        ..DEFAULT
    })
    .await;
    let url = format!("{}/readyz", server.base);
    let before = server.http.get(&url).send().await.expect("readyz");
    assert_eq!(before.status(), 503);
    server.validator.jwks().refresh().await.expect("refresh");
    let after = server.http.get(&url).send().await.expect("readyz");
    assert_eq!(after.status(), 200);
    let body: Value = after.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    let health = server
        .http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn readyz_is_degraded_while_jwks_refresh_fails() {
    let server = start(DEFAULT).await;
    server
        .issuer
        .set_jwks_fault(Some(test_issuer::JwksFault::Status(503)));
    assert!(server.validator.jwks().refresh().await.is_err());
    let response = server
        .http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .expect("readyz");
    // The last good key set is still served, so the instance stays in rotation.
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "degraded");
    // Tokens still validate against the last good set.
    let token = server.token("alice", ALL_SCOPES);
    assert_eq!(
        server.post(Some(&token), None, initialize()).await.status(),
        200
    );
}

#[tokio::test]
async fn metrics_counters_move() {
    let server = start(DEFAULT).await;
    let bob = server.token("bob", "mcp:tools");
    let _ = server.post(None, None, initialize()).await;
    let session = server.raw_session(&bob).await;
    let _ = server
        .post(
            Some(&bob),
            Some(&session),
            call(
                2,
                "render_template",
                json!({"name": "greeting", "variables": {"name": "A"}}),
            ),
        )
        .await
        .text()
        .await;
    let _ = server
        .post(
            Some(&bob),
            Some(&session),
            call(
                3,
                "save_template",
                json!({"name": "x", "title": "X", "body": "x"}),
            ),
        )
        .await;
    let text = server.metrics().await;
    for needle in [
        "mcp_http_requests_total{status=\"401\"} 1",
        "mcp_http_requests_total{status=\"403\"} 1",
        "mcp_tool_calls_total{tool=\"render_template\",outcome=\"ok\"} 1",
        "mcp_authz_failures_total{reason=\"insufficient_scope\"} 1",
        "mcp_auth_failures_total{reason=\"missing_token\"} 1",
        "mcp_jwks_fetches_total{issuer=\"",
        "\",result=\"ok\"} 1",
        "mcp_token_cache_hits_total",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[tokio::test]
async fn cors_preflight_is_unauthenticated_and_exposes_challenge_headers() {
    let server = start(DEFAULT).await;
    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, &server.url)
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-session-id",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:6274")
    );
    let denied = server
        .http
        .post(&server.url)
        .header("origin", "http://localhost:6274")
        .json(&initialize())
        .send()
        .await
        .expect("post");
    assert_eq!(denied.status(), 401);
    let exposed = denied
        .headers()
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("www-authenticate") && exposed.contains("mcp-session-id"),
        "{exposed}"
    );
    let foreign = server
        .http
        .request(reqwest::Method::OPTIONS, &server.url)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn stateless_json_mode_answers_a_bare_tools_call() {
    let server = start(Options {
        stateless: true,
        ..DEFAULT
    })
    .await;
    let token = server.token("alice", ALL_SCOPES);
    let response = server
        .post(
            Some(&token),
            None,
            call(
                1,
                "render_template",
                json!({"name": "greeting", "variables": {"name": "Ada"}}),
            ),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["result"]["structuredContent"]["text"],
        "Hello Ada!\n\n-- The team\n"
    );
}

#[tokio::test]
async fn optimistic_concurrency_through_the_tool_exactly_one_save_wins() {
    let server = start(Options {
        stateless: true,
        ..DEFAULT
    })
    .await;
    let token = server.token("alice", ALL_SCOPES);
    let got: Value = server
        .post(
            Some(&token),
            None,
            call(1, "get_template", json!({"name": "greeting"})),
        )
        .await
        .json()
        .await
        .expect("json");
    let version = got["result"]["structuredContent"]["version"]
        .as_str()
        .expect("version")
        .to_owned();
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let server = Arc::clone(&server);
        let token = token.clone();
        let version = version.clone();
        tasks.push(tokio::spawn(async move {
            let body: Value = server
                .post(
                    Some(&token),
                    None,
                    call(
                        10 + i,
                        "save_template",
                        json!({
                            "name": "greeting", "title": format!("Writer {i}"),
                            "body": format!("v{i}"), "expected_version": version,
                        }),
                    ),
                )
                .await
                .json()
                .await
                .expect("json");
            body["result"]["isError"] != json!(true)
        }));
    }
    let mut wins = 0;
    for task in tasks {
        if task.await.expect("task") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}
