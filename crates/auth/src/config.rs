//! Plain configuration structs with documented public fields.
//!
//! Security-relevant settings have no `Default`: the constructors take what
//! must be chosen (issuer, audiences, endpoint, credentials) and fill the rest
//! with the defaults documented on each field. [`crate::Validator::new`]
//! checks the final values again, so editing the public fields after
//! construction cannot smuggle in `HS256` or an empty audience list.

use std::{fmt, time::Duration};

use jsonwebtoken::Algorithm;

use crate::error::{Error, ErrorKind, err};

/// How a [`crate::Validator`] decides about a token. The modes that
/// introspect carry their [`IntrospectionConfig`], so a mode that needs
/// introspection cannot be built without it.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Local JWT validation only; zero calls to the authorization server per
    /// request at steady state.
    Jwt,
    /// Local JWT validation first. Tokens that are not JWTs (opaque tokens),
    /// JWTs whose signing key is still unknown after a successful JWKS
    /// refresh, and JWTs whose keys cannot be fetched are introspected. Every
    /// other verdict is final locally: a JWT with a bad signature, an expired
    /// JWT, or one whose key refresh was suppressed by the kid-miss rate limit
    /// (a flood of random kids must not become a flood of introspection
    /// calls) is never sent to introspection.
    JwtThenIntrospection(IntrospectionConfig),
    /// RFC 7662 introspection for every token (results cached).
    Introspection(IntrospectionConfig),
}

impl Mode {
    /// The mode without its configuration.
    #[must_use]
    pub fn kind(&self) -> ModeKind {
        match self {
            Mode::Jwt => ModeKind::Jwt,
            Mode::JwtThenIntrospection(_) => ModeKind::JwtThenIntrospection,
            Mode::Introspection(_) => ModeKind::Introspection,
        }
    }

    /// The introspection configuration, when the mode introspects.
    #[must_use]
    pub fn introspection(&self) -> Option<&IntrospectionConfig> {
        match self {
            Mode::Jwt => None,
            Mode::JwtThenIntrospection(c) | Mode::Introspection(c) => Some(c),
        }
    }
}

/// Which [`Mode`] a validator runs in, without its configuration: cheap to
/// copy and compare (see [`crate::Validator::mode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModeKind {
    /// [`Mode::Jwt`].
    Jwt,
    /// [`Mode::JwtThenIntrospection`].
    JwtThenIntrospection,
    /// [`Mode::Introspection`].
    Introspection,
}

impl ModeKind {
    /// Whether tokens are validated locally against the JWKS, i.e. whether
    /// the key cache needs its background refresher and decides readiness.
    #[must_use]
    pub fn uses_jwks(self) -> bool {
        self != ModeKind::Introspection
    }

    /// Whether an introspection endpoint is configured (and
    /// [`crate::Validator::introspect`] can be used).
    #[must_use]
    pub fn introspects(self) -> bool {
        self != ModeKind::Jwt
    }
}

/// The RFC 9068 `typ` header policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypPolicy {
    /// `typ` absent, `JWT`, `at+jwt` or `application/at+jwt` (case-insensitive).
    /// Keycloak issues `typ: JWT` unless the client asks for RFC 9068 headers.
    Lenient,
    /// Only `at+jwt` or `application/at+jwt` (RFC 9068 §2.1, §4): refuses ID
    /// tokens and other JWTs presented as access tokens.
    Rfc9068Strict,
}

/// What a JWT must satisfy.
#[derive(Clone, Debug)]
pub struct ValidationConfig {
    /// The exact `iss` (no normalisation: a trailing slash matters).
    pub issuer: String,
    /// Accepted audiences; a token's `aud` (string or array) must contain one.
    /// Compared as RFC 8707 resource URIs after RFC 3986 §6.2.2/§6.2.3
    /// normalisation (scheme and host lower-case, default port dropped, an
    /// empty path is `/`); values that are not absolute URIs (a client id such
    /// as `mcp-server`) compare exactly. Must not be empty.
    pub audiences: Vec<String>,
    /// Allowed `alg` values. Default RS256, PS256, ES256, EdDSA (Keycloak's
    /// signing algorithms that aws-lc-rs verifies fastest). `HS*` is refused:
    /// a resource server holding a shared secret could mint tokens, and HS
    /// with a public key as the secret is the classic confusion attack.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 60 s, the
    /// common choice (jsonwebtoken, Nimbus, Envoy).
    pub leeway: Duration,
    /// The `typ` header policy. Default [`TypPolicy::Lenient`] (Keycloak).
    pub typ: TypPolicy,
    /// Tokens longer than this are refused before any parsing. Default 8 KiB:
    /// Keycloak access tokens are 1–2 KiB even with many roles.
    pub max_token_bytes: usize,
    /// Accept a token whose `aud` lacks us when its `azp` is one of our
    /// audiences. Default `false`: `azp` names the client the token was
    /// issued to, not the resource it is for.
    pub accept_azp_only: bool,
}

impl ValidationConfig {
    /// The issuer and audiences, with the documented defaults for the rest.
    ///
    /// Errors with [`ErrorKind::Config`] when the issuer or the audience list
    /// is empty.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Result<Self, Error> {
        let config = ValidationConfig {
            issuer: issuer.into(),
            audiences,
            algorithms: vec![
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::ES256,
                Algorithm::EdDSA,
            ],
            leeway: Duration::from_secs(60),
            typ: TypPolicy::Lenient,
            max_token_bytes: 8 * 1024,
            accept_azp_only: false,
        };
        config.check()?;
        Ok(config)
    }

    /// The invariants [`crate::Validator::new`] relies on.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.issuer.is_empty() {
            return err(ErrorKind::Config("issuer is empty".into()));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return err(ErrorKind::Config(
                "audiences must be a non-empty list of non-empty values".into(),
            ));
        }
        if self.algorithms.is_empty() {
            return err(ErrorKind::Config("algorithms is empty".into()));
        }
        if let Some(alg) = self
            .algorithms
            .iter()
            .find(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return err(ErrorKind::Config(format!(
                "algorithm {alg:?} is not allowed: symmetric algorithms are refused"
            )));
        }
        if self.max_token_bytes == 0 {
            return err(ErrorKind::Config("max_token_bytes is zero".into()));
        }
        Ok(())
    }
}

/// A client secret. `Debug` prints `<redacted>`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that sends it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the resource server authenticates to the introspection endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and
    /// secret (RFC 6749 §2.3.1). The default.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// RFC 7662 token introspection.
#[derive(Clone, Debug)]
pub struct IntrospectionConfig {
    /// The introspection endpoint (Keycloak:
    /// `{issuer}/protocol/openid-connect/token/introspect`).
    pub endpoint: url::Url,
    /// The resource server's client id at the authorization server.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: Secret,
    /// How to send the credentials. Default [`ClientAuth::Basic`].
    pub client_auth: ClientAuth,
    /// How long an active result is reused, capped by the token's `exp`.
    /// Default 60 s: bounds how long a revoked token keeps working.
    pub positive_ttl: Duration,
    /// How long an inactive result is reused. Default 10 s: absorbs retry
    /// storms of a bad token without pinning a verdict for long.
    pub negative_ttl: Duration,
    /// Connect-plus-response timeout for one call. Default 5 s.
    pub timeout: Duration,
    /// Bound of each result cache (active and inactive). Default 10 000.
    pub max_entries: usize,
}

impl IntrospectionConfig {
    /// The endpoint and credentials, with the documented defaults for the rest.
    #[must_use]
    pub fn new(endpoint: url::Url, client_id: impl Into<String>, client_secret: Secret) -> Self {
        IntrospectionConfig {
            endpoint,
            client_id: client_id.into(),
            client_secret,
            client_auth: ClientAuth::Basic,
            positive_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            max_entries: 10_000,
        }
    }
}

/// The verified-token cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenCacheConfig {
    /// Bound on cached tokens. Default 10 000: about 3 MB at the worst, and
    /// more distinct live tokens than one MCP server sees in a token lifetime.
    pub max_entries: usize,
    /// Whether verified tokens are cached at all. Default `true`.
    pub enabled: bool,
}

impl TokenCacheConfig {
    /// A cache of `max_entries` verified tokens.
    #[must_use]
    pub fn enabled(max_entries: usize) -> Self {
        TokenCacheConfig {
            max_entries,
            enabled: true,
        }
    }

    /// No caching: every request verifies the signature.
    #[must_use]
    pub fn disabled() -> Self {
        TokenCacheConfig {
            max_entries: 0,
            enabled: false,
        }
    }
}
