//! The crate's error type: `Error(Box<ErrorKind>)` with a `#[non_exhaustive]` kind.

use std::fmt;

/// An error from discovering, fetching or looking up keys.
///
/// Cheap to clone (one fetch result is shared by every waiter of a single-flight refresh).
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<ErrorKind>);

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The [`Config`](crate::Config) is inconsistent (e.g. `refresh_ahead >= ttl`).
    #[error("invalid jwks configuration: {0}")]
    Config(String),
    /// The HTTP request failed below the HTTP layer (connect, TLS, reset).
    #[error("http request failed: {0}")]
    Http(String),
    /// The request did not complete within `http_timeout`.
    #[error("http request timed out")]
    Timeout,
    /// The endpoint answered with a redirect; redirects are never followed.
    #[error("endpoint answered with redirect status {status}")]
    Redirect {
        /// The 3xx status.
        status: u16,
    },
    /// The endpoint answered with a status other than 200.
    #[error("endpoint answered with status {0}")]
    Status(u16),
    /// The body exceeded `max_body_bytes`.
    #[error("response body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The configured cap.
        limit: usize,
    },
    /// The body is not the expected JSON (a JWKS must be an object with a `keys` array).
    #[error("invalid json: {0}")]
    InvalidJson(String),
    /// The discovery document is unusable (e.g. `jwks_uri` missing or not an http(s) URL).
    #[error("invalid discovery document: {0}")]
    InvalidDiscovery(String),
    /// OpenID Connect Discovery 1.0 §4.3: the document's `issuer` differs from the configured one.
    #[error("discovery issuer mismatch: expected {expected}, found {found}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The `issuer` the document announced.
        found: String,
    },
    /// The JWKS parsed but held no usable signing key; the previous set is kept.
    #[error("jwks contains no usable signing key")]
    NoUsableKeys,
    /// No key has this kid in the key set fetched successfully for this lookup: the only
    /// answer that says the kid is really not published.
    #[error("no signing key with the requested kid")]
    UnknownKid,
    /// A kid-miss refresh was refused because this cooldown window's fetch budget is spent.
    /// Says nothing about the kid: it may belong to a key rotated in since the last fetch, so
    /// callers should treat the token as not yet judgeable (retry later), not as signed by an
    /// unknown key.
    #[error("kid-miss refresh suppressed by rate limit")]
    RefreshSuppressed,
    /// The fetch task ended without a result (the runtime is shutting down).
    #[error("key fetch aborted")]
    FetchAborted,
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error, returning its kind.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {}
