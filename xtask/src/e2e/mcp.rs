//! Raw HTTP for the e2e scenarios: every status and header visible (the
//! `WWW-Authenticate` challenge, `Mcp-Session-Id`, `Location`), and a
//! minimal MCP Streamable HTTP client speaking JSON-RPC over it.
//!
//! The third-party clients prove interoperability; this client proves the
//! wire details a client library hides. Tokens go in headers only and never
//! appear in errors.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

/// The protocol version the raw client negotiates.
const PROTOCOL_VERSION: &str = "2025-06-18";
/// The protocol version without `initialize`: every request says which
/// version it speaks, in `MCP-Protocol-Version` and in `_meta`.
pub(crate) const PROTOCOL_2026: &str = "2026-07-28";

/// A `ureq` agent: no redirects followed, no status-as-error, no proxy, and
/// its own cookie jar (a fresh agent is a fresh browser).
#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
}

/// Sends an idempotent request once more when the connection failed under
/// it (RFC 9110 §9.2.2): a pooled keep-alive connection the server closed
/// after its previous answer (a 401 to a `POST` whose body it never read)
/// fails with "peer disconnected" on reuse, and a retry gets a fresh one.
fn retry_idempotent(
    call: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    match call() {
        Err(ureq::Error::Io(_)) => call(),
        other => other,
    }
}

/// A response: status, headers (lowercase names) and body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Http {
    pub(crate) fn new() -> anyhow::Result<Http> {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .build();
        Ok(Http {
            agent: ureq::Agent::new_with_config(config),
        })
    }

    pub(crate) fn get(&self, url: &str, bearer: Option<&str>) -> anyhow::Result<Reply> {
        let call = || {
            let mut req = self.agent.get(url);
            if let Some(token) = bearer {
                req = req.header("Authorization", format!("Bearer {token}"));
            }
            req.call()
        };
        Reply::read(&format!("GET {url}"), retry_idempotent(call))
    }

    /// `GET` with an `Accept` header (HTML pages).
    pub(crate) fn get_accept(&self, url: &str, accept: &str) -> anyhow::Result<Reply> {
        let call = || self.agent.get(url).header("Accept", accept).call();
        Reply::read(&format!("GET {url}"), retry_idempotent(call))
    }

    pub(crate) fn post_form(&self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Reply> {
        let req = self.agent.post(url);
        Reply::read(&format!("POST {url}"), req.send_form(form.iter().copied()))
    }

    /// `POST` of one JSON-RPC message with the headers a Streamable HTTP
    /// client sends.
    pub(crate) fn post_mcp(
        &self,
        url: &str,
        token: Option<&str>,
        session: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<Reply> {
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream");
        if let Some(token) = token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(session) = session {
            req = req
                .header("Mcp-Session-Id", session)
                .header("MCP-Protocol-Version", PROTOCOL_VERSION);
        }
        let method = body["method"].as_str().unwrap_or("?");
        Reply::read(&format!("POST {url} ({method})"), req.send_json(body))
    }

    /// `POST` of one JSON-RPC message as a [`PROTOCOL_2026`] client sends
    /// it: no session, `MCP-Protocol-Version`, and `standard` as the
    /// `Mcp-Method`/`Mcp-Name` headers (given, not derived from the body, so
    /// a scenario can make them disagree).
    pub(crate) fn post_mcp_2026(
        &self,
        url: &str,
        token: &str,
        standard: &[(&str, &str)],
        body: &Value,
    ) -> anyhow::Result<Reply> {
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("Authorization", format!("Bearer {token}"))
            .header("MCP-Protocol-Version", PROTOCOL_2026);
        for (name, value) in standard {
            req = req.header(*name, *value);
        }
        let method = body["method"].as_str().unwrap_or("?");
        Reply::read(
            &format!("POST {url} ({method}, {PROTOCOL_2026})"),
            req.send_json(body),
        )
    }
}

impl Reply {
    fn read(
        what: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Reply> {
        let mut resp = result.with_context(|| format!("{what}: request failed"))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let body = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("{what}: reading the body"))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// The first header named `name` (lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `WWW-Authenticate` challenge, or "".
    pub(crate) fn challenge(&self) -> &str {
        self.header("www-authenticate").unwrap_or_default()
    }

    pub(crate) fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.body).with_context(|| {
            format!(
                "HTTP {}: body is not JSON: {}",
                self.status,
                preview(&self.body)
            )
        })
    }

    /// The JSON-RPC message of an MCP response: the body itself
    /// (`application/json`) or the last `data:` event carrying a JSON-RPC
    /// response (`text/event-stream`).
    pub(crate) fn jsonrpc(&self) -> anyhow::Result<Value> {
        let sse = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !sse {
            return self.json();
        }
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .rfind(|msg| msg.get("result").is_some() || msg.get("error").is_some())
            .with_context(|| {
                format!(
                    "no JSON-RPC response in the event stream: {}",
                    preview(&self.body)
                )
            })
    }
}

/// The start of a body, on one line, for error messages.
pub(crate) fn preview(body: &str) -> String {
    let text: String = body.chars().take(300).collect();
    text.replace('\n', " ")
}

/// The value of `param` in a `WWW-Authenticate: Bearer …` challenge.
pub(crate) fn challenge_param(challenge: &str, param: &str) -> Option<String> {
    let needle = format!("{param}=\"");
    let start = challenge.find(&needle)? + needle.len();
    let end = challenge[start..].find('"')? + start;
    Some(challenge[start..end].to_owned())
}

/// The MCP `initialize` request.
pub(crate) fn initialize_request() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                      "clientInfo": {"name": "xtask-e2e", "version": "1"}}})
}

/// A [`PROTOCOL_2026`] request: `params._meta` carries the protocol
/// version, the client's identity and capabilities that `initialize` used
/// to carry.
pub(crate) fn request_2026(id: u64, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": PROTOCOL_2026,
        "io.modelcontextprotocol/clientInfo": {"name": "xtask-e2e", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// One MCP session over raw HTTP with one bearer token (swappable: a
/// session is bound to the caller, not to one token).
pub(crate) struct Session {
    http: Http,
    url: String,
    /// The `Mcp-Session-Id` the server assigned.
    pub(crate) id: String,
    next_id: u64,
}

impl Session {
    /// `initialize` (200 + `Mcp-Session-Id`), then
    /// `notifications/initialized` (202).
    pub(crate) fn open(http: &Http, url: &str, token: &str) -> anyhow::Result<Session> {
        let reply = http.post_mcp(url, Some(token), None, &initialize_request())?;
        ensure!(
            reply.status == 200,
            "initialize: HTTP {} {} {}",
            reply.status,
            reply.challenge(),
            preview(&reply.body)
        );
        let id = reply
            .header("mcp-session-id")
            .context("initialize: no Mcp-Session-Id header")?
            .to_owned();
        let init = reply.jsonrpc()?;
        ensure!(
            init["result"]["serverInfo"]["name"] == "mcp-file-templates",
            "initialize: unexpected result {init}"
        );
        let ack = http.post_mcp(
            url,
            Some(token),
            Some(&id),
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )?;
        ensure!(
            ack.status == 202,
            "notifications/initialized: HTTP {}",
            ack.status
        );
        Ok(Session {
            http: http.clone(),
            url: url.to_owned(),
            id,
            next_id: 2,
        })
    }

    /// Sends the next requests to `url`: another replica serving the same
    /// session.
    pub(crate) fn set_url(&mut self, url: &str) {
        url.clone_into(&mut self.url);
    }

    /// Sends one request in this session; returns the raw reply.
    pub(crate) fn request(
        &mut self,
        token: &str,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Reply> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.http
            .post_mcp(&self.url, Some(token), Some(&self.id), &body)
    }

    /// `tools/call`; returns the raw reply.
    pub(crate) fn call(
        &mut self,
        token: &str,
        tool: &str,
        arguments: Value,
    ) -> anyhow::Result<Reply> {
        self.request(
            token,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        )
    }

    /// `tools/call` that must succeed: HTTP 200, a result that is not
    /// `isError`; returns its `structuredContent`.
    pub(crate) fn call_ok(
        &mut self,
        token: &str,
        tool: &str,
        arguments: Value,
    ) -> anyhow::Result<Value> {
        let reply = self.call(token, tool, arguments)?;
        tool_result(&reply).with_context(|| format!("tools/call {tool}"))
    }

    /// `delete_template` of `name` at `version`, which must answer
    /// `deleted: true`; `what` says which deletion failed.
    pub(crate) fn delete_ok(
        &mut self,
        token: &str,
        name: &str,
        version: &str,
        what: &str,
    ) -> anyhow::Result<()> {
        let deleted = self.call_ok(
            token,
            "delete_template",
            json!({"name": name, "expected_version": version}),
        )?;
        ensure!(deleted["deleted"] == true, "{what}: {deleted}");
        Ok(())
    }

    /// `tools/list`: the tool names.
    pub(crate) fn list_tools(&mut self, token: &str) -> anyhow::Result<Vec<String>> {
        let reply = self.request(token, "tools/list", json!({}))?;
        ensure!(
            reply.status == 200,
            "tools/list: HTTP {} {}",
            reply.status,
            reply.challenge()
        );
        let msg = reply.jsonrpc()?;
        let tools = msg["result"]["tools"]
            .as_array()
            .with_context(|| format!("tools/list: no tools in {msg}"))?;
        let mut names: Vec<String> = tools
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Ends the session (`DELETE`); best effort.
    pub(crate) fn close(self, token: &str) {
        let _ = self
            .http
            .agent
            .delete(&self.url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Mcp-Session-Id", &self.id)
            .call();
    }
}

/// The `structuredContent` of a successful tool call reply.
pub(crate) fn tool_result(reply: &Reply) -> anyhow::Result<Value> {
    if reply.status != 200 {
        bail!(
            "HTTP {} {} {}",
            reply.status,
            reply.challenge(),
            preview(&reply.body)
        );
    }
    let msg = reply.jsonrpc()?;
    if let Some(error) = msg.get("error") {
        bail!("JSON-RPC error {error}");
    }
    let result = &msg["result"];
    if result["isError"] == true {
        bail!("tool error: {}", result["content"]);
    }
    Ok(result["structuredContent"].clone())
}
