//! Taking the bearer token out of a request (RFC 6750 §2.1, header only).
//!
//! The form-body (§2.2) and query (§2.3) methods are not supported: a token in
//! the query string ends up in access logs and browser history, so a request
//! that carries `access_token` in its query is refused as `invalid_request`,
//! even when it also has a valid `Authorization` header.

use std::fmt;

use http::{HeaderMap, Uri, header::AUTHORIZATION};

use crate::error::{Error, ErrorKind, err};

/// An access token taken from a request.
///
/// `Debug` and `Display` never show the token, only its length, so a
/// `BearerToken` can sit in request extensions and structs that get logged.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token obtained some other way (tests, benchmarks, a token read
    /// from a non-HTTP transport). Prefer [`extract_bearer`] for requests.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        BearerToken(token.into())
    }

    /// The token itself. Never log it and never forward it to another service.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken(<redacted>, {} bytes)", self.0.len())
    }
}

impl fmt::Display for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Extracts the bearer token from the `Authorization` header (RFC 6750 §2.1).
///
/// - no `Authorization` header, or one with another scheme (e.g. `Basic`):
///   [`ErrorKind::MissingToken`], i.e. no bearer credentials (§3.1: the
///   challenge carries no `error`);
/// - more than one `Authorization` header, an `access_token` query parameter
///   (§2.3 is refused), a non-ASCII header or an empty token:
///   [`ErrorKind::InvalidRequest`];
/// - a token that is not `b64token` syntax (§2.1):
///   [`ErrorKind::Malformed`].
///
/// The scheme name is matched case-insensitively (RFC 9110 §11.1).
pub fn extract_bearer(headers: &HeaderMap, uri: &Uri) -> Result<BearerToken, Error> {
    if let Some(query) = uri.query()
        && url::form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "access_token")
    {
        return err(ErrorKind::InvalidRequest(
            "access token in the query string",
        ));
    }

    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return err(ErrorKind::MissingToken);
    };
    if values.next().is_some() {
        return err(ErrorKind::InvalidRequest("several authorization headers"));
    }

    let Ok(value) = value.to_str() else {
        return err(ErrorKind::InvalidRequest(
            "authorization header is not visible ascii",
        ));
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return err(ErrorKind::MissingToken);
    }
    let token = rest.trim_matches([' ', '\t']);
    if token.is_empty() {
        return err(ErrorKind::InvalidRequest("empty bearer token"));
    }
    if !is_b64token(token) {
        return err(ErrorKind::Malformed("token syntax"));
    }
    Ok(BearerToken(token.to_owned()))
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests;
