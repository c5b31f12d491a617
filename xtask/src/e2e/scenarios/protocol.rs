//! MCP 2026-07-28 over raw HTTP with a real Keycloak token: no
//! `initialize`, `server/discover`, the caching hints of `tools/list`, a
//! tool call, the `Mcp-Method`/`Mcp-Name` headers checked against the body,
//! and the per-tool 403 decided from those headers.

use anyhow::{Context, ensure};
use serde_json::json;

use super::{BOTH_SCOPES, RENDERED_TEXT, TOOLS, bob_read_only_token, render_args};
use crate::e2e::Env;
use crate::e2e::mcp::{Http, PROTOCOL_2026, challenge_param, preview, request_2026, tool_result};
use crate::e2e::server::{Mode, Server};

/// MCP 2026-07-28, "Lifecycle" (`server/discover`, no `initialize`), "List
/// caching" (SEP-2549), "Standard request headers" (a header that disagrees
/// with the body is HTTP 400, JSON-RPC `-32020`) and authorization "scope
/// challenge" (RFC 6750 §3.1), with bob's read-only token from Keycloak.
pub(crate) fn protocol_2026_07_28_client_discovers_lists_renders(
    env: &mut Env,
) -> anyhow::Result<()> {
    let server = Server::start(env, "protocol-2026", Mode::Jwt)?;
    let http = Http::new()?;
    let token = bob_read_only_token(env)?;
    let bob = token.as_str();

    // No initialize: discovery is the first request, and no session is made.
    let discover = http.post_mcp_2026(
        &server.url,
        bob,
        &[("Mcp-Method", "server/discover")],
        &request_2026(1, "server/discover", json!({})),
    )?;
    ensure!(
        discover.status == 200,
        "server/discover: HTTP {} {} {}",
        discover.status,
        discover.challenge(),
        preview(&discover.body)
    );
    ensure!(
        discover.header("mcp-session-id").is_none(),
        "server/discover created a session"
    );
    let found = discover.jsonrpc()?;
    let versions = found["result"]["supportedVersions"]
        .as_array()
        .with_context(|| format!("server/discover: no supportedVersions in {found}"))?;
    ensure!(
        versions.iter().any(|v| v == PROTOCOL_2026),
        "server/discover does not offer {PROTOCOL_2026}: {versions:?}"
    );
    ensure!(
        found["result"]["capabilities"]["tools"].is_object(),
        "server/discover: no tools capability in {found}"
    );

    // tools/list: the list depends on who asks, so it is private.
    let listed = http.post_mcp_2026(
        &server.url,
        bob,
        &[("Mcp-Method", "tools/list")],
        &request_2026(2, "tools/list", json!({})),
    )?;
    ensure!(
        listed.status == 200,
        "tools/list: HTTP {} {}",
        listed.status,
        preview(&listed.body)
    );
    let list = listed.jsonrpc()?;
    ensure!(
        list["result"]["cacheScope"] == "private",
        "tools/list cacheScope must be \"private\": {}",
        list["result"]["cacheScope"]
    );
    ensure!(
        list["result"]["ttlMs"].as_u64().is_some_and(|ttl| ttl > 0),
        "tools/list ttlMs: {}",
        list["result"]["ttlMs"]
    );
    let mut names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .with_context(|| format!("tools/list: no tools in {list}"))?
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    names.sort_unstable();
    ensure!(names == TOOLS, "tools/list: {names:?}");

    // A read tool, named in the headers and called in the body.
    let rendered = http.post_mcp_2026(
        &server.url,
        bob,
        &[
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "render_template"),
        ],
        &request_2026(
            3,
            "tools/call",
            json!({"name": "render_template", "arguments": render_args()?}),
        ),
    )?;
    let text = tool_result(&rendered).context("tools/call render_template")?["text"].clone();
    ensure!(
        text.as_str().is_some_and(|t| t.contains(RENDERED_TEXT)),
        "render_template: {text}"
    );

    // The headers name a read tool, the body saves: refused as a mismatch,
    // and nothing is written.
    let name = format!("e2e-smuggled-{}", std::process::id());
    let saved_file = env.templates.join(format!("{name}.md"));
    let save = request_2026(
        4,
        "tools/call",
        json!({"name": "save_template", "arguments": {"name": name, "title": "Smuggled", "body": "x"}}),
    );
    let mismatch = http.post_mcp_2026(
        &server.url,
        bob,
        &[
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "render_template"),
        ],
        &save,
    )?;
    ensure!(
        mismatch.status == 400,
        "Mcp-Name render_template with a save_template body: HTTP {} {}",
        mismatch.status,
        preview(&mismatch.body)
    );
    let error = mismatch.jsonrpc()?;
    ensure!(
        error["error"]["code"] == -32020,
        "header/body mismatch must be JSON-RPC -32020: {error}"
    );

    // Named honestly, the write is refused from the headers: 403 with every
    // scope the call needs, so one step-up suffices.
    let refused = http.post_mcp_2026(
        &server.url,
        bob,
        &[("Mcp-Method", "tools/call"), ("Mcp-Name", "save_template")],
        &save,
    )?;
    ensure!(
        refused.status == 403,
        "save_template with a read-only token: HTTP {} {}",
        refused.status,
        preview(&refused.body)
    );
    let challenge = refused.challenge();
    ensure!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge_param(challenge, "scope").as_deref() == Some(BOTH_SCOPES)
            && challenge.contains("resource_metadata=\""),
        "step-up challenge {challenge:?}"
    );
    ensure!(
        !saved_file.exists(),
        "a refused save wrote {}",
        saved_file.display()
    );
    Ok(())
}
