//! The one mapping from an [`Error`] to an HTTP response (RFC 6750 §3).
//!
//! | error | status | `WWW-Authenticate: Bearer …` |
//! |---|---|---|
//! | [`ErrorKind::MissingToken`] | 401 | no `error` (RFC 6750 §3.1) |
//! | [`ErrorKind::InvalidRequest`] | 400 | `error="invalid_request"` |
//! | every token error (`Malformed` … `UnknownIssuer`) | 401 | `error="invalid_token"` |
//! | [`ErrorKind::InsufficientScope`] | 403 | `error="insufficient_scope", scope="…"` |
//! | `IntrospectionUnavailable`, `Introspection`, `Jwks`, `KeyRefreshSuppressed`, `IntrospectionRateLimited` | 503 + `Retry-After` | no `error` |
//! | `Config` | 500 | no `error` |
//!
//! Every response carries the absolute `resource_metadata` URL (RFC 9728
//! §5.1), so a client that knows nothing can discover the authorization
//! server from any failure, and every 401 the scopes to request
//! ([`ChallengeContext::scope`]). `error_description` is generic per class: the
//! precise reason goes to the log (at `debug`), never to the caller.
//!
//! When the authorization server is unreachable and the token cannot be
//! judged, the answer is 503 with `Retry-After`, not 401: a 401 tells clients
//! to throw the token away and re-authenticate, which would turn an IdP outage
//! into a login storm. The same holds for a `kid` whose key refresh was
//! rate-limited: RFC 6750 has no error code for "not judged yet", and a 401
//! there would let a flood of random kids starve a genuine key rotation.
//! Likewise for a token refused an introspection call by the rate limit on
//! those calls: a flood of garbage must not get a real opaque token thrown
//! away. `Config` errors only come from constructors, so a correctly built
//! server never answers 500 here.

use axum::body::Body;
use http::{
    HeaderValue, Response, StatusCode,
    header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE},
};

use crate::error::{Error, ErrorKind};

/// Seconds a client should wait after a 503 before retrying: the JWKS and
/// introspection clients retry within seconds, so a short hint keeps clients
/// from hammering without stalling them.
pub const RETRY_AFTER_SECS: u32 = 5;

/// Where the challenge points clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeContext {
    /// The absolute URL of the RFC 9728 metadata document, e.g.
    /// `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`
    /// (see [`crate::ProtectedResourceMetadata::metadata_url`]).
    pub resource_metadata: String,
    /// An optional `realm` (RFC 6750 §3).
    pub realm: Option<String>,
    /// The scopes a client should request (space-separated), sent as
    /// `scope` in every 401 challenge: MCP authorization (2025-11-25 and
    /// 2026-07-28, "Scope Selection Strategy") says the server SHOULD, so
    /// that a client asks for what the resource needs on its first
    /// authorization instead of guessing. A 403 `insufficient_scope` names
    /// what the refused call needs instead.
    pub scope: Option<String>,
}

/// Builds the response for an authentication or authorization failure.
#[must_use]
pub fn challenge(error: &Error, ctx: &ChallengeContext) -> Response<Body> {
    let kind = error.kind();
    let (status, code, description) = classify(kind);

    let mut header = String::from("Bearer ");
    if let Some(realm) = &ctx.realm {
        push_param(&mut header, "realm", realm);
    }
    if let Some(code) = code {
        push_param(&mut header, "error", code);
        push_param(&mut header, "error_description", description);
    }
    if let ErrorKind::InsufficientScope { required } = kind {
        push_param(&mut header, "scope", &required.join(" "));
    } else if status == StatusCode::UNAUTHORIZED
        && let Some(scope) = ctx.scope.as_deref().filter(|s| !s.is_empty())
    {
        push_param(&mut header, "scope", scope);
    }
    push_param(&mut header, "resource_metadata", &ctx.resource_metadata);

    let body = match code {
        Some(code) => serde_json::json!({ "error": code, "error_description": description }),
        None => serde_json::json!({ "error_description": description }),
    };

    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    // `push_param` removes every byte HeaderValue refuses, so this cannot fail;
    // if it ever did, the status alone is still a correct answer.
    if let Ok(value) = HeaderValue::from_bytes(header.trim_end_matches([',', ' ']).as_bytes()) {
        headers.insert(WWW_AUTHENTICATE, value);
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    response
}

/// Status, RFC 6750 error code and generic description of an error kind.
fn classify(kind: &ErrorKind) -> (StatusCode, Option<&'static str>, &'static str) {
    const INVALID_TOKEN: (StatusCode, Option<&str>, &str) = (
        StatusCode::UNAUTHORIZED,
        Some("invalid_token"),
        "the access token is invalid or expired",
    );
    const UNAVAILABLE: (StatusCode, Option<&str>, &str) = (
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "the authorization server is unavailable, retry later",
    );
    match kind {
        ErrorKind::MissingToken => (StatusCode::UNAUTHORIZED, None, "a bearer token is required"),
        ErrorKind::InvalidRequest(_) => (
            StatusCode::BAD_REQUEST,
            Some("invalid_request"),
            "the request is malformed",
        ),
        ErrorKind::TokenTooLarge
        | ErrorKind::Malformed(_)
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::KeyMismatch
        | ErrorKind::UnknownKey
        | ErrorKind::UnknownCritical
        | ErrorKind::InvalidType
        | ErrorKind::InvalidSignature
        | ErrorKind::Expired
        | ErrorKind::NotYetValid
        | ErrorKind::IssuedInFuture
        | ErrorKind::MissingClaim(_)
        | ErrorKind::InvalidIssuer
        | ErrorKind::InvalidAudience
        | ErrorKind::Inactive
        | ErrorKind::UnknownIssuer => INVALID_TOKEN,
        ErrorKind::InsufficientScope { .. } => (
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            "the access token lacks a required scope",
        ),
        ErrorKind::IntrospectionUnavailable
        | ErrorKind::Introspection(_)
        | ErrorKind::Jwks(_)
        | ErrorKind::KeyRefreshSuppressed
        | ErrorKind::IntrospectionRateLimited => UNAVAILABLE,
        ErrorKind::Config(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "the resource server is misconfigured",
        ),
    }
}

/// Appends `name="value", ` with RFC 9110 §5.6.4 quoted-string escaping.
///
/// `"` and `\` are escaped; control characters (which a header value cannot
/// carry) are dropped.
fn push_param(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out.push_str("\", ");
}

#[cfg(test)]
mod tests;
