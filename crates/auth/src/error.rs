//! The error type: one `Error(Box<ErrorKind>)` for every way a request can
//! fail authentication, plus the configuration errors of the constructors.
//!
//! Messages never contain the token, a claim value chosen by the caller, or a
//! secret: they name the rule that failed. [`crate::challenge`] turns an error
//! into the RFC 6750 response; [`ErrorKind::label`] gives a stable metric label.

/// Why a bearer token was not turned into a [`crate::Principal`], or why a
/// configuration was refused.
///
/// Boxed so that `Result<Principal, Error>` stays one pointer wide on the
/// error side.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<ErrorKind>);

impl Error {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error, returning its kind.
    #[must_use]
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

/// Every way authentication can fail.
///
/// Grouped as the RFC 6750 mapping in [`crate::challenge`] groups them:
/// request errors (no credentials, a malformed request), token errors
/// (`invalid_token`), the scope error (`insufficient_scope`), errors where the
/// token could not be judged because the authorization server was unreachable,
/// and configuration errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    // Request errors.
    /// The request carried no bearer credentials (RFC 6750 §3.1: the challenge
    /// has no `error` parameter).
    #[error("no bearer token in the request")]
    MissingToken,
    /// The request itself is malformed (RFC 6750 §3.1 `invalid_request`), e.g.
    /// two `Authorization` headers or a token in the query string.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),

    // Token errors (RFC 6750 §3.1 `invalid_token`).
    /// The token is longer than the configured cap; refused before parsing.
    #[error("token exceeds the size limit")]
    TokenTooLarge,
    /// The token is not a well-formed JWT (or the named part of it is broken).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header `alg` is not in the allow-list (this includes `none` and
    /// every `HS*` algorithm, which are never allowed).
    #[error("token algorithm is not allowed")]
    UnsupportedAlgorithm,
    /// The key named by `kid` may not verify the header's `alg` (key type,
    /// curve or the JWK's own `alg` disagree).
    #[error("token algorithm does not match its key")]
    KeyMismatch,
    /// No key with the token's `kid` is published, even after a refresh.
    #[error("token signing key is unknown")]
    UnknownKey,
    /// The header lists a `crit` extension we do not understand (RFC 7515
    /// §4.1.11).
    #[error("token has an unknown critical header")]
    UnknownCritical,
    /// The header `typ` is not accepted by the [`crate::TypPolicy`].
    #[error("token type is not accepted")]
    InvalidType,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// A required claim is absent.
    #[error("token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// `iss` is not exactly the configured issuer.
    #[error("token issuer is not accepted")]
    InvalidIssuer,
    /// `aud` names none of the accepted audiences.
    #[error("token audience is not accepted")]
    InvalidAudience,
    /// The authorization server says the token is not active (RFC 7662 §2.2).
    #[error("token is not active")]
    Inactive,

    // Scope error (RFC 6750 §3.1 `insufficient_scope`).
    /// The token is valid but lacks scopes the resource requires.
    #[error("token lacks the required scope")]
    InsufficientScope {
        /// Every scope the resource requires (not only the missing ones), as
        /// RFC 6750 §3 asks for the `scope` attribute.
        required: Vec<String>,
    },

    // The token could not be judged.
    /// The introspection endpoint could not be reached in time, or answered
    /// with a server error.
    #[error("introspection endpoint is unavailable")]
    IntrospectionUnavailable,
    /// The introspection endpoint answered, but not with a usable RFC 7662
    /// response (e.g. it refused our client credentials).
    #[error("introspection failed: {0}")]
    Introspection(&'static str),
    /// The signing keys could not be fetched, so the token's key could not be
    /// looked up.
    #[error("signing keys are unavailable")]
    Jwks(#[source] jwks::Error),

    // Configuration.
    /// A constructor refused its configuration.
    #[error("invalid auth configuration: {0}")]
    Config(String),
}

impl ErrorKind {
    /// Every label [`ErrorKind::label`] can return, in a stable order.
    pub const LABELS: [&'static str; 22] = [
        "missing_token",
        "invalid_request",
        "token_too_large",
        "malformed",
        "unsupported_algorithm",
        "key_mismatch",
        "unknown_key",
        "unknown_critical",
        "invalid_type",
        "invalid_signature",
        "expired",
        "not_yet_valid",
        "issued_in_future",
        "missing_claim",
        "invalid_issuer",
        "invalid_audience",
        "inactive",
        "insufficient_scope",
        "introspection_unavailable",
        "introspection",
        "jwks",
        "config",
    ];

    /// A stable, low-cardinality label for metrics and logs (e.g. `"expired"`).
    #[must_use]
    pub fn label(&self) -> &'static str {
        Self::LABELS[self.index()]
    }

    /// The position of this kind's label in [`ErrorKind::LABELS`].
    pub(crate) fn index(&self) -> usize {
        match self {
            ErrorKind::MissingToken => 0,
            ErrorKind::InvalidRequest(_) => 1,
            ErrorKind::TokenTooLarge => 2,
            ErrorKind::Malformed(_) => 3,
            ErrorKind::UnsupportedAlgorithm => 4,
            ErrorKind::KeyMismatch => 5,
            ErrorKind::UnknownKey => 6,
            ErrorKind::UnknownCritical => 7,
            ErrorKind::InvalidType => 8,
            ErrorKind::InvalidSignature => 9,
            ErrorKind::Expired => 10,
            ErrorKind::NotYetValid => 11,
            ErrorKind::IssuedInFuture => 12,
            ErrorKind::MissingClaim(_) => 13,
            ErrorKind::InvalidIssuer => 14,
            ErrorKind::InvalidAudience => 15,
            ErrorKind::Inactive => 16,
            ErrorKind::InsufficientScope { .. } => 17,
            ErrorKind::IntrospectionUnavailable => 18,
            ErrorKind::Introspection(_) => 19,
            ErrorKind::Jwks(_) => 20,
            ErrorKind::Config(_) => 21,
        }
    }
}

/// Shorthand used throughout the crate.
pub(crate) fn err<T>(kind: ErrorKind) -> Result<T, Error> {
    Err(Error::from(kind))
}
