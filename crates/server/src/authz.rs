//! Server-local authorization on `/mcp`, running INSIDE `auth::AuthLayer`
//! (so a [`Principal`] and the [`BearerToken`] are in the request
//! extensions):
//!
//! - **Per-tool scopes** (MCP authorization spec, "scope challenge"): a
//!   `tools/call` whose caller lacks a scope of that tool gets HTTP 403
//!   `insufficient_scope` with `scope="<every scope the call needs>"`
//!   (RFC 6750 §3.1), so the client can step up in one round trip.
//! - **Verify-online tools**: for revocation-sensitive tools the token is
//!   re-checked by RFC 7662 introspection (when configured); an inactive
//!   token gets 401 `invalid_token` even though its JWT still verifies.
//! - **Session binding** (MCP security best practices, "session hijacking"):
//!   a session belongs to the (issuer, subject) that created it; anyone else
//!   presenting its `Mcp-Session-Id` gets 404 as if it did not exist.
//!
//! Finding the tool: the `Mcp-Name` header is trusted only when the request
//! declares a protocol version at which rmcp itself rejects a header that
//! disagrees with the body (2026-07-28 and later); otherwise the JSON-RPC body
//! is parsed (batches included). Either way the body of a POST is buffered
//! here, bounded by the body limit (413 past it), and handed on unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use auth::{BearerToken, ChallengeContext, Error as AuthError, ErrorKind, Principal, Validator};

use crate::config::AuthSettings;
use crate::metrics::Metrics;

const HEADER_SESSION_ID: &str = "mcp-session-id";
const HEADER_MCP_METHOD: &str = "mcp-method";
const HEADER_MCP_NAME: &str = "mcp-name";
const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// First protocol version at which rmcp checks `Mcp-Method`/`Mcp-Name`
/// against the body (`ProtocolVersion::STANDARD_HEADERS`).
const STANDARD_HEADERS_VERSION: &str = "2026-07-28";
/// Owner entries kept before stale ones are pruned against the live sessions.
const PRUNE_THRESHOLD: usize = 4096;

/// Who owns a session: the token's issuer and subject (or client, for
/// client-credentials tokens without `sub`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Owner {
    issuer: String,
    subject: String,
}

impl Owner {
    fn of(principal: &Principal) -> Self {
        let subject = match (&principal.subject, &principal.client_id) {
            (Some(sub), _) => format!("sub:{sub}"),
            (None, Some(client)) => format!("client:{client}"),
            (None, None) => String::from("anonymous"),
        };
        Self {
            issuer: principal.issuer.clone(),
            subject,
        }
    }
}

/// Session id → owner, for stateful mode.
#[derive(Debug, Default)]
pub struct SessionOwners {
    owners: Mutex<HashMap<String, Owner>>,
    sessions: Option<Arc<LocalSessionManager>>,
}

impl SessionOwners {
    /// Tracks owners of the sessions `sessions` manages; `None` in stateless mode.
    pub fn new(sessions: Option<Arc<LocalSessionManager>>) -> Self {
        Self {
            owners: Mutex::new(HashMap::new()),
            sessions,
        }
    }

    fn owner(&self, id: &str) -> Option<Owner> {
        self.owners.lock().ok()?.get(id).cloned()
    }

    fn remove(&self, id: &str) {
        if let Ok(mut owners) = self.owners.lock() {
            owners.remove(id);
        }
    }

    async fn insert(&self, id: String, owner: Owner) {
        let len = match self.owners.lock() {
            Ok(mut owners) => {
                owners.insert(id, owner);
                owners.len()
            }
            Err(_) => return,
        };
        // Sessions also end by idle timeout, which we are not told about:
        // now and then drop the owners of sessions rmcp no longer has.
        if len > PRUNE_THRESHOLD
            && let Some(manager) = &self.sessions
        {
            let live: Vec<String> = manager
                .sessions
                .read()
                .await
                .keys()
                .map(|k| k.to_string())
                .collect();
            if let Ok(mut owners) = self.owners.lock() {
                owners.retain(|id, _| live.iter().any(|l| l == id));
            }
        }
    }
}

/// State of the [`authorize`] middleware.
#[derive(Clone)]
pub struct AuthzState {
    /// Scope policy.
    pub policy: Arc<AuthSettings>,
    /// For verify-online introspection; `None` when auth is disabled for benchmarks.
    pub validator: Option<Arc<Validator>>,
    /// Where challenges point.
    pub challenge: Arc<ChallengeContext>,
    /// Session owners.
    pub sessions: Arc<SessionOwners>,
    /// Largest body read when looking for the tool name.
    pub body_limit: usize,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// The middleware; see the module documentation.
pub async fn authorize(State(state): State<AuthzState>, request: Request, next: Next) -> Response {
    let Some(principal) = request
        .extensions()
        .get::<std::sync::Arc<Principal>>()
        .cloned()
    else {
        // AuthLayer runs first and always inserts a Principal; reaching here
        // without one is a wiring bug, and failing closed is the only answer.
        tracing::error!("authorize ran without a Principal: auth layer missing");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let owner = Owner::of(&principal);
    let session_id = request
        .headers()
        .get(HEADER_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    if let Some(id) = &session_id
        && let Some(existing) = state.sessions.owner(id)
        && existing != owner
    {
        state.metrics.authz_failure("session_owner_mismatch");
        tracing::warn!(
            target: "audit",
            issuer = %principal.issuer,
            subject = principal.subject.as_deref().unwrap_or("-"),
            "session presented by a caller that does not own it"
        );
        return session_not_found();
    }

    let (request, tools) = if request.method() == Method::POST {
        match tools_called(request, state.body_limit).await {
            Ok(found) => found,
            Err(response) => return response,
        }
    } else {
        (request, Vec::new())
    };

    for tool in &tools {
        let needed = state.policy.scopes_for_tool(tool);
        if !principal.scopes.missing(&needed).is_empty() {
            state.metrics.authz_failure("insufficient_scope");
            audit_refusal(&principal, tool, "insufficient_scope");
            let error = AuthError::from(ErrorKind::InsufficientScope { required: needed });
            return auth::challenge(&error, &state.challenge);
        }
    }

    if let Some(validator) = &state.validator
        && validator.introspection_configured()
        && let Some(tool) = tools
            .iter()
            .find(|t| state.policy.verify_online_tools.contains(*t))
    {
        let Some(token) = request.extensions().get::<BearerToken>() else {
            tracing::error!("authorize ran without a BearerToken: auth layer missing");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        if let Err(error) = validator.introspect(token).await {
            state.metrics.authz_failure(error.kind().label());
            audit_refusal(&principal, tool, error.kind().label());
            return auth::challenge(&error, &state.challenge);
        }
    }

    let is_delete = request.method() == Method::DELETE;
    let response = next.run(request).await;

    match &session_id {
        None => {
            if let Some(new_id) = response
                .headers()
                .get(HEADER_SESSION_ID)
                .and_then(|v| v.to_str().ok())
            {
                state.sessions.insert(new_id.to_owned(), owner).await;
            }
        }
        Some(id) if is_delete && response.status().is_success() => state.sessions.remove(id),
        Some(_) => {}
    }
    response
}

fn audit_refusal(principal: &Principal, tool: &str, outcome: &str) {
    tracing::info!(
        target: "audit",
        issuer = %principal.issuer,
        subject = principal.subject.as_deref().unwrap_or("-"),
        client = principal.client_id.as_deref().unwrap_or("-"),
        tool,
        template = "-",
        outcome,
        "tool call refused"
    );
}

/// What rmcp answers for a session it does not know, so that a foreign
/// session is indistinguishable from a missing one.
fn session_not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

/// The tools a POST calls. Returns the request with its body intact.
async fn tools_called(request: Request, limit: usize) -> Result<(Request, Vec<String>), Response> {
    // Buffer the body on every path, the header path included: past the body
    // limit the stream fails, and rmcp answers a body that fails to read with
    // 500, so the 413 has to be given here.
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response());
        }
    };
    let headers = &parts.headers;
    let standard_headers = headers
        .get(HEADER_PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v >= STANDARD_HEADERS_VERSION);
    let from_headers = if standard_headers {
        let method = headers.get(HEADER_MCP_METHOD).and_then(|v| v.to_str().ok());
        let name = headers.get(HEADER_MCP_NAME).and_then(|v| v.to_str().ok());
        match (method, name) {
            // rmcp rejects a request whose body disagrees with these headers.
            (Some("tools/call"), Some(name)) if !name.starts_with("=?") => {
                Some(vec![name.to_owned()])
            }
            (Some(m), _) if m != "tools/call" => Some(Vec::new()),
            _ => None,
        }
    } else {
        None
    };
    let tools = match from_headers {
        Some(tools) => tools,
        None => match tool_names(&bytes) {
            Some(tools) => tools,
            None => {
                // Fail closed: what we cannot parse we cannot authorize. rmcp
                // would answer the same body with a parse error.
                return Err((
                    StatusCode::BAD_REQUEST,
                    [(http::header::CONTENT_TYPE, "application/json")],
                    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
                )
                    .into_response());
            }
        },
    };
    Ok((Request::from_parts(parts, Body::from(bytes)), tools))
}

/// Tool names of every `tools/call` in a JSON-RPC message or batch; `None`
/// when the body is not JSON-RPC we can read (duplicate keys, a non-string
/// `method` or `name`, …), so that no parser difference can skip the check.
fn tool_names(body: &[u8]) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Message {
        method: Option<String>,
        params: Option<Params>,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        name: Option<String>,
    }
    // `untagged` buffers the whole body into a generic tree first, which costs
    // a second pass, but it also parses every number: a body rmcp cannot
    // read (a 400-digit `id`) fails here and gets a JSON-RPC parse error
    // (400) instead of rmcp's 415 (`http_hardening`).
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Body {
        One(Message),
        Batch(Vec<Message>),
    }
    let messages = match serde_json::from_slice::<Body>(body).ok()? {
        Body::One(m) => vec![m],
        Body::Batch(ms) => ms,
    };
    let names = messages
        .into_iter()
        .filter(|m| m.method.as_deref() == Some("tools/call"))
        // A call without a name is refused by rmcp; requiring the base
        // scopes for it (the empty name has no extra scopes) is enough.
        .map(|m| m.params.and_then(|p| p.name).unwrap_or_default())
        .collect();
    Some(names)
}

#[cfg(test)]
mod tests;
