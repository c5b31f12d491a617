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
#[derive(Clone, Debug, thiserror::Error)]
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

/// Declares [`ErrorKind`] with each variant written once, next to its metric
/// label, and derives [`ErrorKind::LABELS`] and `ErrorKind::index` from the
/// same list: a variant cannot exist without a label, and the label table
/// cannot drift from the variants. (strum's derives would need an attribute
/// per variant and a separate count; this stays dependency-free.)
macro_rules! error_kinds {
    (
        $(#[$enum_meta:meta])*
        pub enum ErrorKind {
            $(
                $(#[$meta:meta])*
                $variant:ident
                $( ( $( $(#[$tmeta:meta])* $tuple:ty ),* ) )?
                $( { $( $(#[$fmeta:meta])* $field:ident : $fty:ty ),* $(,)? } )?
                => $label:literal,
            )*
        }
    ) => {
        $(#[$enum_meta])*
        pub enum ErrorKind {
            $(
                $(#[$meta])*
                $variant
                $( ( $( $(#[$tmeta])* $tuple ),* ) )?
                $( { $( $(#[$fmeta])* $field : $fty ),* } )?,
            )*
        }

        /// The position of each variant's label in [`ErrorKind::LABELS`].
        #[repr(usize)]
        enum LabelIndex {
            $( $variant, )*
        }

        impl ErrorKind {
            /// Every label [`ErrorKind::label`] can return, in declaration
            /// order (stable: new kinds are appended to their group).
            pub const LABELS: [&'static str; [$($label),*].len()] = [$($label),*];

            /// The position of this kind's label in [`ErrorKind::LABELS`]
            /// (the index of the metrics counters).
            #[must_use]
            pub fn index(&self) -> usize {
                match self {
                    $( ErrorKind::$variant { .. } => LabelIndex::$variant as usize, )*
                }
            }
        }
    };
}

error_kinds! {
    /// Every way authentication can fail.
    ///
    /// Grouped as the RFC 6750 mapping in [`crate::challenge`] groups them:
    /// request errors (no credentials, a malformed request), token errors
    /// (`invalid_token`), the scope error (`insufficient_scope`), errors where
    /// the token could not be judged because the authorization server was
    /// unreachable, and configuration errors.
    ///
    /// Each variant is followed by `=> "label"`, its [`ErrorKind::label`].
    #[derive(Clone, Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum ErrorKind {
        // Request errors.
        /// The request carried no bearer credentials (RFC 6750 §3.1: the
        /// challenge has no `error` parameter).
        #[error("no bearer token in the request")]
        MissingToken => "missing_token",
        /// The request itself is malformed (RFC 6750 §3.1 `invalid_request`),
        /// e.g. two `Authorization` headers or a token in the query string.
        #[error("invalid request: {0}")]
        InvalidRequest(&'static str) => "invalid_request",

        // Token errors (RFC 6750 §3.1 `invalid_token`).
        /// The token is longer than the configured cap; refused before parsing.
        #[error("token exceeds the size limit")]
        TokenTooLarge => "token_too_large",
        /// The token is not a well-formed JWT (or the named part of it is
        /// broken, e.g. a claim of the wrong JSON type).
        #[error("malformed token: {0}")]
        Malformed(&'static str) => "malformed",
        /// The header `alg` is not in the allow-list (this includes `none` and
        /// every `HS*` algorithm, which are never allowed).
        #[error("token algorithm is not allowed")]
        UnsupportedAlgorithm => "unsupported_algorithm",
        /// The key named by `kid` may not verify the header's `alg` (key type,
        /// curve or the JWK's own `alg` disagree).
        #[error("token algorithm does not match its key")]
        KeyMismatch => "key_mismatch",
        /// No key with the token's `kid` is in the key set just fetched
        /// successfully (a suppressed or failed refresh is
        /// [`ErrorKind::KeyRefreshSuppressed`] or [`ErrorKind::Jwks`]).
        #[error("token signing key is unknown")]
        UnknownKey => "unknown_key",
        /// The header lists a `crit` extension we do not understand (RFC 7515
        /// §4.1.11).
        #[error("token has an unknown critical header")]
        UnknownCritical => "unknown_critical",
        /// The header `typ` is not accepted by the [`crate::TypPolicy`].
        #[error("token type is not accepted")]
        InvalidType => "invalid_type",
        /// The signature does not verify.
        #[error("token signature is invalid")]
        InvalidSignature => "invalid_signature",
        /// `exp` is in the past (beyond the leeway).
        #[error("token has expired")]
        Expired => "expired",
        /// `nbf` is in the future (beyond the leeway).
        #[error("token is not yet valid")]
        NotYetValid => "not_yet_valid",
        /// `iat` is in the future (beyond the leeway).
        #[error("token was issued in the future")]
        IssuedInFuture => "issued_in_future",
        /// A required claim is absent.
        #[error("token lacks the {0} claim")]
        MissingClaim(&'static str) => "missing_claim",
        /// `iss` is not exactly the configured issuer.
        #[error("token issuer is not accepted")]
        InvalidIssuer => "invalid_issuer",
        /// `aud` names none of the accepted audiences.
        #[error("token audience is not accepted")]
        InvalidAudience => "invalid_audience",
        /// The authorization server says the token is not active (RFC 7662
        /// §2.2).
        #[error("token is not active")]
        Inactive => "inactive",
        /// Several issuers are trusted and the token's `iss` is none of them
        /// (refused before any key lookup or signature check).
        #[error("token issuer is not trusted")]
        UnknownIssuer => "unknown_issuer",

        // Scope error (RFC 6750 §3.1 `insufficient_scope`).
        /// The token is valid but lacks scopes the resource requires.
        #[error("token lacks the required scope")]
        InsufficientScope {
            /// Every scope the resource requires (not only the missing ones),
            /// as RFC 6750 §3 asks for the `scope` attribute.
            required: Vec<String>,
        } => "insufficient_scope",

        // The token could not be judged.
        /// The introspection endpoint could not be reached in time, or
        /// answered with a server error.
        #[error("introspection endpoint is unavailable")]
        IntrospectionUnavailable => "introspection_unavailable",
        /// The introspection endpoint answered, but not with a usable RFC 7662
        /// response (e.g. it refused our client credentials).
        #[error("introspection failed: {0}")]
        Introspection(&'static str) => "introspection",
        /// The signing keys could not be fetched, so the token's key could not
        /// be looked up.
        #[error("signing keys are unavailable")]
        Jwks(#[source] jwks::Error) => "jwks",
        /// The token's `kid` is not in the current key set, and the refresh
        /// that could have found it was suppressed by the JWKS kid-miss rate
        /// limit. The key may well exist (a rotation during a flood of random
        /// kids), so the token is not judged `invalid_token`: 503 with
        /// `Retry-After` until a refresh can run.
        #[error("signing key not yet known, key refresh rate-limited")]
        KeyRefreshSuppressed => "key_refresh_suppressed",
        /// The token needed the introspection endpoint (it could not be
        /// decided locally), and the global rate limit on those calls
        /// ([`crate::IntrospectionConfig::calls_per_sec`] and
        /// [`crate::IntrospectionConfig::burst`]) was spent. Nothing is known
        /// about the token, so it is not judged `invalid_token`: 503 with
        /// `Retry-After`, like an unreachable endpoint.
        #[error("introspection rate limit reached, token not judged")]
        IntrospectionRateLimited => "introspection_rate_limited",

        // Configuration.
        /// A constructor refused its configuration.
        #[error("invalid auth configuration: {0}")]
        Config(String) => "config",
    }
}

impl ErrorKind {
    /// A stable, low-cardinality label for metrics and logs (e.g. `"expired"`).
    #[must_use]
    pub fn label(&self) -> &'static str {
        Self::LABELS[self.index()]
    }
}

/// Shorthand used throughout the crate.
pub(crate) fn err<T>(kind: ErrorKind) -> Result<T, Error> {
    Err(Error::from(kind))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn labels_are_unique_snake_case() {
        let unique: HashSet<_> = ErrorKind::LABELS.iter().collect();
        assert_eq!(
            unique.len(),
            ErrorKind::LABELS.len(),
            "a label is duplicated"
        );
        for label in ErrorKind::LABELS {
            assert!(
                !label.is_empty() && label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
    }

    #[test]
    fn label_and_index_agree() {
        // Every variant is covered by the challenge table test; here a few
        // spot checks that `label` reads `LABELS` at `index`.
        for kind in [
            ErrorKind::MissingToken,
            ErrorKind::Malformed("x"),
            ErrorKind::InsufficientScope { required: vec![] },
            ErrorKind::Config(String::new()),
        ] {
            assert_eq!(kind.label(), ErrorKind::LABELS[kind.index()]);
        }
        assert_eq!(ErrorKind::MissingToken.index(), 0);
        assert_eq!(ErrorKind::Config(String::new()).label(), "config");
    }
}
