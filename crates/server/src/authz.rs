//! Server-local authorization on `/mcp`, running INSIDE `auth::AuthLayer`
//! (so an `Arc<Principal>` and the [`BearerToken`] are in the request
//! extensions), deciding with the one [`ToolPolicy`]:
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
//!   presenting its `Mcp-Session-Id` gets 404 as if it did not exist. With
//!   shared sessions (`crate::sessions::shared`) the owner is recorded in
//!   Redis before the `initialize` answer leaves, and a replica that does
//!   not hold a session asks Redis for its owner before rmcp restores it.
//! - A refused call gets its audit line here (`identity::audit`), a call
//!   that runs gets it from the MCP handler; each refusal is counted once.
//!
//! Finding the tool, two paths:
//!
//! - **Headers** (MCP 2026-07-28, "Standard request headers"): when the
//!   request declares a protocol version at which rmcp itself answers a
//!   `Mcp-Method`/`Mcp-Name` that disagrees with the body with HTTP 400 and
//!   JSON-RPC `-32020` (2026-07-28 and later), the headers name the tool and
//!   the scopes are decided **before the body is read**: an unauthorized
//!   `tools/call` is refused without buffering a byte of it. The headers
//!   cannot smuggle a call past the check, because a body that calls another
//!   tool than `Mcp-Name` names never reaches a tool (rmcp's header check).
//!   A base64-encoded `Mcp-Name` (`=?base64?…?=`) or a missing header takes
//!   the body path.
//! - **Body**, every older protocol version: the JSON-RPC body is parsed
//!   (batches included) and the scopes decided from it.
//!
//! Either way the body of a request that goes on to rmcp is buffered here,
//! bounded by the body limit (413 past it), and handed on unchanged.

mod policy;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode};
use rmcp::transport::streamable_http_server::SessionManager;

use auth::{BearerToken, ChallengeContext, Error as AuthError, ErrorKind, Principal, Validator};

pub use self::policy::{DEFAULT_BASE_SCOPE, DEFAULT_WRITE_SCOPE, ToolPolicy};
use crate::identity::{self, Audited, Owner};
use crate::metrics::Metrics;
use crate::sessions::shared::SharedSessions;
use crate::sessions::{Full, OwnedSessionManager, Ownership, RECHECK_EVERY, SessionLimits};
use crate::tool::Tool;

const HEADER_SESSION_ID: &str = "mcp-session-id";
const HEADER_MCP_METHOD: &str = "mcp-method";
const HEADER_MCP_NAME: &str = "mcp-name";
const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// First protocol version at which rmcp checks `Mcp-Method`/`Mcp-Name`
/// against the body (`ProtocolVersion::STANDARD_HEADERS`).
const STANDARD_HEADERS_VERSION: &str = "2026-07-28";
/// State of the [`authorize`] middleware.
#[derive(Clone)]
pub struct AuthzState {
    /// Scopes per tool and the online-checked tools.
    pub policy: Arc<ToolPolicy>,
    /// For verify-online introspection; `None` when auth is disabled for benchmarks.
    pub validator: Option<Arc<Validator>>,
    /// Where challenges point.
    pub challenge: Arc<ChallengeContext>,
    /// The session manager and its owners; `None` in stateless mode.
    pub sessions: Option<Arc<OwnedSessionManager>>,
    /// The sessions shared by every replica (`sessions.backend = "redis"`).
    pub shared: Option<Arc<SharedSessions>>,
    /// Largest body read when looking for the tool name.
    pub body_limit: usize,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// The middleware; see the module documentation.
pub async fn authorize(State(state): State<AuthzState>, request: Request, next: Next) -> Response {
    let Some(principal) = identity::principal_of(request.extensions()).cloned() else {
        // AuthLayer runs first and always inserts a Principal; reaching here
        // without one is a wiring bug, and failing closed is the only answer.
        tracing::error!("authorize ran without a Principal: auth layer missing");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let session_id = request
        .headers()
        .get(HEADER_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    // A shared session adopted by this request: forgotten again below if
    // rmcp could not bring it back.
    let mut adopted = None;
    if let (Some(id), Some(manager)) = (&session_id, &state.sessions) {
        let mut ownership = manager
            .sessions()
            .owned_by(id, |owner| owner.is(&principal));
        if let Some(shared) = &state.shared {
            ownership =
                match shared_ownership(&state, manager, shared, id, &principal, ownership).await {
                    Ok(Shared::Adopted) => {
                        adopted = Some(id.clone());
                        Ownership::Owned
                    }
                    Ok(Shared::Is(ownership)) => ownership,
                    Err(response) => return response,
                };
        }
        if ownership != Ownership::Owned {
            // A foreign session and one without a bound owner are answered
            // alike, as if they did not exist (fail closed).
            if ownership == Ownership::Foreign {
                state.metrics.authz_failure("session_owner_mismatch");
                tracing::warn!(
                    target: "audit",
                    issuer = %principal.issuer,
                    subject = principal.subject.as_deref().unwrap_or("-"),
                    "session presented by a caller that does not own it"
                );
            }
            return session_not_found();
        }
    }

    let is_post = request.method() == Method::POST;
    let from_headers = if is_post {
        called_from_headers(request.headers())
    } else {
        None
    };
    let (request, called) = match from_headers {
        // Decided from the headers: the body stays unread until the scopes
        // allow the call.
        Some(called) => (request, called),
        None if is_post => match tools_called(request, state.body_limit).await {
            Ok(found) => found,
            Err(response) => return response,
        },
        None => (request, Called::default()),
    };
    let tools = called.tools;

    for &tool in &tools {
        let needed = state.policy.required_for(tool);
        if !principal.scopes.missing(needed).is_empty() {
            let error = AuthError::from(ErrorKind::InsufficientScope {
                required: needed.to_vec(),
            });
            state.metrics.authz_failure(error.kind().label());
            return refuse(&state, &principal, tool, &error);
        }
    }
    // The header path reads the body only now, within the same limit: past
    // it the limited stream fails, and rmcp answers a body that fails to
    // read with 500, so the 413 has to be given here.
    let mut request = if is_post && called.from_headers {
        match buffer_body(request, state.body_limit).await {
            Ok((request, _)) => request,
            Err(response) => return response,
        }
    } else {
        request
    };

    if let Some(validator) = &state.validator
        && validator.introspects(&principal.issuer)
        && let Some(tool) = tools
            .iter()
            .flatten()
            .copied()
            .find(|&t| state.policy.verify_online(t))
    {
        let Some(token) = request.extensions().get::<BearerToken>() else {
            tracing::error!("authorize ran without a BearerToken: auth layer missing");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        if let Err(error) = validator.introspect(token).await {
            // The validator counted this failure in its own metrics.
            return refuse(&state, &principal, Some(tool), &error);
        }
    }
    // MCP authorization, "token passthrough": nothing past this point may
    // read or forward the caller's token.
    request.extensions_mut().remove::<BearerToken>();

    // A new session: take its slot before rmcp creates it.
    let reservation = match &state.sessions {
        Some(manager) if session_id.is_none() && called.initialize => {
            let Some(owner) = Owner::of(&principal) else {
                state.metrics.authz_failure("session_without_owner");
                return session_refused(
                    StatusCode::FORBIDDEN,
                    None,
                    "a session needs a token that names its subject (sub) or client (azp, client_id)",
                );
            };
            match manager.sessions().reserve(owner) {
                Ok(reservation) => Some(reservation),
                Err(full) => return session_full(&state, &principal, full),
            }
        }
        _ => None,
    };

    let ends_session = request.method() == Method::DELETE;
    let mut response = next.run(request).await;
    // rmcp answers a session's DELETE with 202 Accepted, an empty body; the
    // official clients (the Python SDK, both generations, expects 200 or
    // 204 and logs "Session termination failed: 202") read anything else as
    // a failure. The session is gone by the time rmcp answers, so 204 No
    // Content is the truthful status.
    if ends_session && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }

    if let (Some(id), Some(manager)) = (adopted, &state.sessions)
        && !manager
            .has_session(&id.as_str().into())
            .await
            .unwrap_or(false)
    {
        // rmcp could not bring the session back (its record vanished
        // between the owner check and the restore): rmcp answered 404.
        manager.sessions().forget(&id);
    }
    if let (Some(reservation), Some(manager)) = (reservation, &state.sessions)
        && let Some(id) = response
            .headers()
            .get(HEADER_SESSION_ID)
            .and_then(|v| v.to_str().ok())
    {
        let id: rmcp::transport::streamable_http_server::SessionId = id.into();
        let owner = reservation.owner().cloned();
        reservation.bind(id.clone());
        // Shared: the owner is recorded before the answer (and so the
        // session id) leaves this replica. When Redis cannot take it, the
        // session works here and is unknown (404) elsewhere.
        if let (Some(shared), Some(owner)) = (&state.shared, owner)
            && let Err(error) = shared.bind(&id, &owner).await
        {
            tracing::warn!(%error, "session owner not shared; the session is served by this replica only");
        }
        // A session that already ended (its worker failed at once) was
        // closed before it had an owner: forget it now.
        if !manager.has_session(&id).await.unwrap_or(false) {
            manager.sessions().forget(&id);
        }
    }
    // Otherwise the reservation, if any, is dropped here and its slot freed.
    response
}

/// What the shared session store says about a session id.
enum Shared {
    /// Created by another replica for this caller, and now held here too.
    Adopted,
    /// As the local registry (or the shared record) says.
    Is(Ownership),
}

/// Completes the local answer `local` about session `id` with the shared
/// record:
///
/// - unknown here: the shared owner decides; a session of this caller is
///   adopted (it takes a slot here, so the limits hold per replica);
/// - held here: at most once per [`RECHECK_EVERY`] the shared record's
///   expiry is renewed, and a record that is gone (deleted through another
///   replica, expired, lost with Redis) closes the session here too.
///
/// When Redis cannot answer, what this replica knows stands: its own
/// sessions go on, any other is unknown (404, and the client initializes
/// again, MCP transport "Session management").
async fn shared_ownership(
    state: &AuthzState,
    manager: &OwnedSessionManager,
    shared: &SharedSessions,
    id: &str,
    principal: &Principal,
    local: Ownership,
) -> Result<Shared, Response> {
    match local {
        Ownership::Unknown => match shared.owner(id).await {
            Ok(Some(owner)) if owner.is(principal) => {
                match manager.sessions().adopt(id.into(), owner) {
                    Ok(()) => Ok(Shared::Adopted),
                    Err(full) => Err(session_full(state, principal, full)),
                }
            }
            Ok(Some(_)) => Ok(Shared::Is(Ownership::Foreign)),
            Ok(None) => Ok(Shared::Is(Ownership::Unknown)),
            Err(error) => {
                tracing::warn!(%error, "session store unavailable; an unknown session is answered 404");
                Ok(Shared::Is(Ownership::Unknown))
            }
        },
        Ownership::Owned if manager.sessions().claim_recheck(id, RECHECK_EVERY) => {
            match shared.touch(id).await {
                Ok(true) => Ok(Shared::Is(Ownership::Owned)),
                Ok(false) => {
                    // `close_session` forgets the owner and frees the slot.
                    let _ = manager.close_session(&id.into()).await;
                    Ok(Shared::Is(Ownership::Unknown))
                }
                Err(error) => {
                    tracing::warn!(%error, "session store unavailable; serving a session held here");
                    Ok(Shared::Is(Ownership::Owned))
                }
            }
        }
        other => Ok(Shared::Is(other)),
    }
}

/// A session limit reached: audited, counted and answered 429 or 503.
fn session_full(state: &AuthzState, principal: &Principal, full: Full) -> Response {
    state.metrics.authz_failure(full.label());
    tracing::warn!(
        issuer = %principal.issuer,
        subject = principal.subject.as_deref().unwrap_or("-"),
        "session refused: {full}"
    );
    let status = match full {
        Full::Owner => StatusCode::TOO_MANY_REQUESTS,
        Full::Total => StatusCode::SERVICE_UNAVAILABLE,
    };
    session_refused(
        status,
        Some(SessionLimits::RETRY_AFTER_SECS),
        &format!("{full}; close a session (DELETE) or retry later"),
    )
}

/// Audits and answers one refused tool call. Counting is the caller's: a
/// scope refusal is counted here in `authz_failure`, an introspection
/// refusal by the validator that made it, so each is counted once.
fn refuse(
    state: &AuthzState,
    principal: &Principal,
    tool: Option<Tool>,
    error: &AuthError,
) -> Response {
    let reason = error.kind().label();
    if let Some(tool) = tool {
        identity::audit(Some(principal), tool, None, reason, Audited::Refused);
    }
    auth::challenge(error, &state.challenge)
}

/// What rmcp answers for a session it does not know, so that a foreign
/// session is indistinguishable from a missing one.
fn session_not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

/// A refused `initialize`: a JSON-RPC error with the HTTP status that says
/// why (429 for the caller's limit, 503 for the server's, 403 for a token
/// that cannot own a session) and, for the limits, `Retry-After`.
fn session_refused(status: StatusCode, retry_after: Option<u64>, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32000, "message": message },
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// What a POST asks for, as far as authorization cares.
#[derive(Debug, Default, PartialEq, Eq)]
struct Called {
    /// The tool of every `tools/call` (`None` for a name that is no tool of
    /// ours, which rmcp refuses).
    tools: Vec<Option<Tool>>,
    /// Whether the POST is an `initialize`, which creates a session in
    /// stateful mode.
    initialize: bool,
    /// Whether this was read from the 2026-07-28 headers, before the body.
    from_headers: bool,
}

/// What a 2026-07-28 POST calls, from its `Mcp-Method`/`Mcp-Name` headers
/// alone; `None` when the headers cannot decide it (an older protocol
/// version, a missing or non-UTF-8 header, a base64-encoded name) and the
/// body must be read.
///
/// Trusting the headers is sound only because rmcp checks them against the
/// body at exactly these versions (`ProtocolVersion::STANDARD_HEADERS`,
/// compared as strings, as rmcp compares them): a body whose method or tool
/// differs, or a repeated header, is answered 400 with JSON-RPC `-32020`
/// before any handler runs.
fn called_from_headers(headers: &http::HeaderMap) -> Option<Called> {
    let standard_headers = headers
        .get(HEADER_PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v >= STANDARD_HEADERS_VERSION);
    if !standard_headers {
        return None;
    }
    let method = headers.get(HEADER_MCP_METHOD)?.to_str().ok()?;
    if method != "tools/call" {
        return Some(Called {
            tools: Vec::new(),
            initialize: method == "initialize",
            from_headers: true,
        });
    }
    let name = headers.get(HEADER_MCP_NAME)?.to_str().ok()?;
    if name.starts_with("=?") {
        return None;
    }
    Some(Called {
        // A name that is no tool of ours needs the base scopes; rmcp
        // refuses the call.
        tools: vec![name.parse().ok()],
        initialize: false,
        from_headers: true,
    })
}

/// What a POST calls, read from its body. Returns the request with its body
/// intact.
async fn tools_called(request: Request, limit: usize) -> Result<(Request, Called), Response> {
    let (request, bytes) = buffer_body(request, limit).await?;
    match parse_called(&bytes) {
        Some(called) => Ok((request, called)),
        // Fail closed: what we cannot parse we cannot authorize. rmcp would
        // answer the same body with a parse error.
        None => Err((
            StatusCode::BAD_REQUEST,
            [(http::header::CONTENT_TYPE, "application/json")],
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
        )
            .into_response()),
    }
}

/// Reads the whole body, at most `limit` bytes (413 past it), and returns
/// the request with the same bytes as its body, and the bytes.
async fn buffer_body(request: Request, limit: usize) -> Result<(Request, bytes::Bytes), Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes)),
        Err(_) => Err((StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response()),
    }
}

/// The tool of every `tools/call` in a JSON-RPC message or batch, and whether
/// one is an `initialize`; `None` when the body is not JSON-RPC we can read
/// (duplicate keys, a non-string `method` or `name`, …), so that no parser
/// difference can skip the check.
fn parse_called(body: &[u8]) -> Option<Called> {
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
    let initialize = messages
        .iter()
        .any(|m| m.method.as_deref() == Some("initialize"));
    let tools = messages
        .into_iter()
        .filter(|m| m.method.as_deref() == Some("tools/call"))
        // A call without a name, or naming no tool of ours, is refused by
        // rmcp; requiring the base scopes for it is enough.
        .map(|m| m.params.and_then(|p| p.name).and_then(|n| n.parse().ok()))
        .collect();
    Some(Called {
        tools,
        initialize,
        from_headers: false,
    })
}

#[cfg(test)]
mod tests;
