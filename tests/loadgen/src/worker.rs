//! One connection's request loop.
//!
//! Each worker owns one HTTP/1.1 keep-alive connection (a bare
//! `hyper::client::conn::http1` handshake: no pool, no per-request lookup)
//! and sends one request at a time on it, so `--concurrency` is both the
//! number of connections and the number of requests in flight. A connection
//! the server closes is reopened before the next request; a request is never
//! retried. The whole loop runs under the end deadline: a request still in
//! flight when the window closes is dropped and not counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::report::Stats;
use crate::response::{Outcome, classify};

/// `Mcp-Session-Id` (MCP 2025-06-18, "Session Management").
pub(crate) const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `MCP-Protocol-Version` (MCP 2025-06-18, "Protocol Version Header").
pub(crate) const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// What a Streamable HTTP client must accept on a POST.
const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
/// How much of an error body goes into `first_error`.
const ERROR_SAMPLE_BYTES: usize = 300;

/// Whether each connection opens an MCP session first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// Bare `tools/call` POSTs, no `initialize` (stateless servers).
    Stateless,
    /// `initialize` + `notifications/initialized` per connection, then
    /// `tools/call` with the `Mcp-Session-Id` it returned.
    Session,
}

impl Mode {
    /// The flag value: `stateless` or `session`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Stateless => "stateless",
            Mode::Session => "session",
        }
    }
}

/// Everything the workers share; built once, read-only.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Resolved address of the target.
    pub(crate) addr: SocketAddr,
    /// `Host` header value (the URL's authority).
    pub(crate) host: HeaderValue,
    /// Path and query of the MCP endpoint.
    pub(crate) path: String,
    /// `MCP-Protocol-Version` sent on every request.
    pub(crate) protocol_version: HeaderValue,
    /// The `params` member of every `tools/call`, serialized once.
    pub(crate) call_params: String,
    /// `Bearer …` header values, marked sensitive; empty: no `Authorization`.
    pub(crate) tokens: Vec<HeaderValue>,
    /// Stateless or session.
    pub(crate) mode: Mode,
    /// Per-request (and per-connect) timeout.
    pub(crate) timeout: Duration,
    /// Completions before this instant are warm-up: not recorded.
    pub(crate) measure_from: Instant,
    /// No request is counted after this instant; the loop is cut here.
    pub(crate) end: Instant,
}

/// Runs one worker until `plan.end` and returns what it saw.
pub(crate) async fn run(
    plan: Arc<Plan>,
    index: usize,
    rotation: Arc<AtomicUsize>,
    mut stats: Stats,
) -> Stats {
    let mut worker = Worker {
        plan: &plan,
        conn: None,
        session: None,
        next_id: 1,
    };
    // Session mode pins one token per connection: a session is bound to the
    // user that opened it (MCP authorization spec, "session hijacking"), so
    // its requests must keep presenting that user's token.
    let pinned = match plan.mode {
        Mode::Session => plan.tokens.get(index % plan.tokens.len().max(1)).cloned(),
        Mode::Stateless => None,
    };
    // Elapsing is the normal end; finishing first means setup failed.
    let _ = tokio::time::timeout_at(plan.end, async {
        loop {
            let token = match plan.mode {
                Mode::Session => pinned.clone(),
                Mode::Stateless if plan.tokens.is_empty() => None,
                Mode::Stateless => {
                    let i = rotation.fetch_add(1, Ordering::Relaxed) % plan.tokens.len();
                    plan.tokens.get(i).cloned()
                }
            };
            if let Err(stop) = worker.step(token, &mut stats).await {
                stats.note_error(|| stop.clone());
                return;
            }
        }
    })
    .await;
    stats
}

struct Worker<'a> {
    plan: &'a Plan,
    conn: Option<SendRequest<Full<Bytes>>>,
    session: Option<HeaderValue>,
    next_id: u64,
}

/// A failed exchange below the JSON-RPC level.
enum Failure {
    /// Connect, write or read failed.
    Transport(String),
    /// No complete response within the timeout.
    Timeout,
}

/// What came back.
struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Worker<'_> {
    /// One measured `tools/call` (after connecting and, in session mode,
    /// opening the session). `Err` stops the worker: its session could not be
    /// set up, and retrying would turn a broken target into a busy loop.
    async fn step(&mut self, token: Option<HeaderValue>, stats: &mut Stats) -> Result<(), String> {
        if self.plan.mode == Mode::Session && self.session.is_none() {
            self.open_session(token.clone(), stats).await?;
        }
        let id = self.take_id();
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{}}}"#,
            self.plan.call_params
        );
        let started = Instant::now();
        let reply = self.exchange(body, token.as_ref(), stats).await;
        let done = Instant::now();
        if done < self.plan.measure_from {
            return Ok(());
        }
        let latency = done.duration_since(started);
        match reply {
            Ok(reply) => {
                let content_type = reply
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                let outcome = classify(reply.status, content_type, &reply.body, id);
                if outcome != Outcome::Ok {
                    stats.note_error(|| sample(reply.status, &reply.body));
                }
                stats.record(outcome, latency);
            }
            Err(Failure::Transport(message)) => {
                stats.transport += 1;
                stats.note_error(|| format!("transport: {message}"));
            }
            Err(Failure::Timeout) => {
                stats.timeout += 1;
                stats.note_error(|| format!("timeout after {:?}", self.plan.timeout));
            }
        }
        Ok(())
    }

    /// `initialize`, then `notifications/initialized` (MCP 2025-06-18,
    /// "Lifecycle"), keeping the `Mcp-Session-Id` the server assigned.
    async fn open_session(
        &mut self,
        token: Option<HeaderValue>,
        stats: &mut Stats,
    ) -> Result<(), String> {
        let id = self.take_id();
        let init = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":{},"capabilities":{{}},"clientInfo":{{"name":"loadgen","version":"{}"}}}}}}"#,
            serde_json::Value::from(self.plan.protocol_version.to_str().unwrap_or_default()),
            env!("CARGO_PKG_VERSION"),
        );
        let failed = |stats: &mut Stats, why: String| {
            stats.setup_errors += 1;
            format!("session setup: {why}")
        };
        let reply = match self.exchange(init, token.as_ref(), stats).await {
            Ok(reply) => reply,
            Err(Failure::Transport(m)) => return Err(failed(stats, format!("transport: {m}"))),
            Err(Failure::Timeout) => return Err(failed(stats, "timeout".to_owned())),
        };
        let content_type = reply
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if classify(reply.status, content_type, &reply.body, id) != Outcome::Ok {
            let why = format!("initialize: {}", sample(reply.status, &reply.body));
            return Err(failed(stats, why));
        }
        let Some(session) = reply.headers.get(MCP_SESSION_ID).cloned() else {
            return Err(failed(
                stats,
                "initialize returned no Mcp-Session-Id (a stateless server? use --mode stateless)"
                    .to_owned(),
            ));
        };
        self.session = Some(session);
        let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned();
        match self.exchange(note, token.as_ref(), stats).await {
            // A notification is answered with 202 Accepted and no body.
            Ok(reply) if reply.status.is_success() => Ok(()),
            Ok(reply) => Err(failed(
                stats,
                format!(
                    "notifications/initialized: {}",
                    sample(reply.status, &reply.body)
                ),
            )),
            Err(Failure::Transport(m)) => Err(failed(stats, format!("transport: {m}"))),
            Err(Failure::Timeout) => Err(failed(stats, "timeout".to_owned())),
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// POSTs one JSON-RPC message and reads the whole response. Any failure
    /// drops the connection (a half-read response would desynchronise it).
    async fn exchange(
        &mut self,
        body: String,
        token: Option<&HeaderValue>,
        stats: &mut Stats,
    ) -> Result<Reply, Failure> {
        let plan = self.plan;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(plan.path.as_str())
            .header(HOST, plan.host.clone())
            .header(CONTENT_TYPE, APPLICATION_JSON)
            .header(ACCEPT, ACCEPT_BOTH)
            .header(MCP_PROTOCOL_VERSION, plan.protocol_version.clone());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, token.clone());
        }
        if let Some(session) = &self.session {
            request = request.header(MCP_SESSION_ID, session.clone());
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(request) => request,
            Err(e) => return Err(Failure::Transport(format!("build request: {e}"))),
        };
        let result = tokio::time::timeout(plan.timeout, async {
            let conn = self.ready_connection(stats).await?;
            let response = conn
                .send_request(request)
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?
                .to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        })
        .await;
        let result = result.unwrap_or(Err(Failure::Timeout));
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// The open connection, or a new one when there is none or the server
    /// closed it.
    async fn ready_connection(
        &mut self,
        stats: &mut Stats,
    ) -> Result<&mut SendRequest<Full<Bytes>>, Failure> {
        if let Some(conn) = &mut self.conn
            && conn.ready().await.is_err()
        {
            self.conn = None;
        }
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.plan.addr)
                .await
                .map_err(|e| Failure::Transport(format!("connect: {e}")))?;
            stream
                .set_nodelay(true)
                .map_err(|e| Failure::Transport(format!("set TCP_NODELAY: {e}")))?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| Failure::Transport(format!("handshake: {e}")))?;
            // The connection task ends when the sender is dropped or the
            // peer closes; its error, if any, surfaces on the next send.
            tokio::spawn(connection);
            stats.connects += 1;
            self.conn = Some(sender);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| Failure::Transport("no connection".to_owned()))
    }
}

/// `"HTTP 401: <first bytes of the body>"`, for the report's `first_error`.
fn sample(status: StatusCode, body: &[u8]) -> String {
    let end = body.len().min(ERROR_SAMPLE_BYTES);
    let text = String::from_utf8_lossy(&body[..end]);
    format!("HTTP {}: {}", status.as_u16(), text.trim())
}
