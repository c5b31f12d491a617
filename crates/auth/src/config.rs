//! Plain configuration structs with documented public fields.
//!
//! Security-relevant settings have no `Default`: the constructors take what
//! must be chosen (issuer, audiences, endpoint, credentials) and fill the rest
//! with the defaults documented on each field. [`crate::Validator::new`]
//! checks the final values again, so editing the public fields after
//! construction cannot smuggle in `HS256` or an empty audience list.

use std::{fmt, num::NonZeroU32, str::FromStr, time::Duration};

use jsonwebtoken::Algorithm;

use crate::error::{Error, ErrorKind, err};
use crate::profile::{Profile, TENANT_PLACEHOLDER, entra_issuer, is_tenant_id};

/// How a [`crate::Validator`] decides about a token. The modes that
/// introspect carry their [`IntrospectionConfig`], so a mode that needs
/// introspection cannot be built without it.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Local JWT validation only; zero calls to the authorization server per
    /// request at steady state. `online`, when set, is used only for the
    /// explicit online checks a caller asks for ([`crate::Validator::introspect`],
    /// e.g. before a revocation-sensitive operation), never to decide a token.
    Jwt {
        /// The introspection client for explicit online checks.
        online: Option<IntrospectionConfig>,
    },
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
            Mode::Jwt { .. } => ModeKind::Jwt,
            Mode::JwtThenIntrospection(_) => ModeKind::JwtThenIntrospection,
            Mode::Introspection(_) => ModeKind::Introspection,
        }
    }

    /// The introspection configuration, when the mode has one.
    #[must_use]
    pub fn introspection(&self) -> Option<&IntrospectionConfig> {
        match self {
            Mode::Jwt { online } => online.as_ref(),
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

    /// Whether tokens may be decided by introspection (every token, or as
    /// the fallback). Whether [`crate::Validator::introspect`] can be used
    /// for explicit online checks is
    /// [`crate::Validator::introspection_configured`] (also true for
    /// `Mode::Jwt { online: Some(_) }`).
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
    /// tokens and other JWTs presented as access tokens. Also requires the
    /// RFC 9068 §2.2 claims (`iss`, `exp`, `aud`, `sub`, `client_id`, `iat`,
    /// `jti`) in JWTs; introspection answers are not JWT access tokens and
    /// keep the usual rules.
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
    /// Allowed `alg` values. Default [`ValidationConfig::DEFAULT_ALGORITHMS`].
    /// `HS*` is refused: a resource server holding a shared secret could mint
    /// tokens, and HS with a public key as the secret is the classic
    /// confusion attack. Parse names with [`parse_algorithm`].
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default
    /// [`ValidationConfig::DEFAULT_LEEWAY`].
    pub leeway: Duration,
    /// The `typ` header policy. Default [`ValidationConfig::DEFAULT_TYP`].
    pub typ: TypPolicy,
    /// Tokens longer than this are refused before any parsing. Default
    /// [`ValidationConfig::DEFAULT_MAX_TOKEN_BYTES`].
    pub max_token_bytes: usize,
    /// Accept a token whose `aud` lacks us when its `azp` is one of our
    /// audiences. Default `false`: `azp` names the client the token was
    /// issued to, not the resource it is for.
    pub accept_azp_only: bool,
    /// Where the issuer puts scopes, the client and the subject. Default
    /// [`Profile::Generic`].
    pub profile: Profile,
    /// [`Profile::Entra`] multi-tenant applications: the tenant ids (GUIDs)
    /// substituted for [`TENANT_PLACEHOLDER`] in `issuer`, one trusted issuer
    /// each. Required exactly when `issuer` contains the placeholder: a
    /// tenant is never trusted because a token names it. Default empty.
    pub tenants: Vec<String>,
    /// [`Profile::Entra`]: application roles (the `roles` claim of
    /// app-only tokens) mapped to the scopes they grant; unmapped roles
    /// grant nothing. Default empty.
    pub role_scopes: Vec<(String, Vec<String>)>,
}

impl ValidationConfig {
    /// RS256, PS256, ES256, EdDSA: Keycloak's signing algorithms that
    /// aws-lc-rs verifies fastest.
    pub const DEFAULT_ALGORITHMS: [Algorithm; 4] = [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ];
    /// [`ValidationConfig::DEFAULT_ALGORITHMS`] as JOSE registry names (RFC
    /// 7518 §3.1, RFC 8037 §3.1), in the same order, for config files and
    /// their documentation; [`parse_algorithm`] reads them back.
    pub const DEFAULT_ALGORITHM_NAMES: [&'static str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];
    /// 60 s, the common choice (jsonwebtoken, Nimbus, Envoy).
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
    /// [`TypPolicy::Lenient`]: Keycloak issues `typ: JWT` by default.
    pub const DEFAULT_TYP: TypPolicy = TypPolicy::Lenient;
    /// 8 KiB: Keycloak access tokens are 1–2 KiB even with many roles.
    pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

    /// The issuer and audiences, with the documented defaults for the rest.
    ///
    /// Errors with [`ErrorKind::Config`] when the issuer or the audience list
    /// is empty.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Result<Self, Error> {
        let config = ValidationConfig {
            issuer: issuer.into(),
            audiences,
            algorithms: Self::DEFAULT_ALGORITHMS.to_vec(),
            leeway: Self::DEFAULT_LEEWAY,
            typ: Self::DEFAULT_TYP,
            max_token_bytes: Self::DEFAULT_MAX_TOKEN_BYTES,
            accept_azp_only: false,
            profile: Profile::Generic,
            tenants: Vec::new(),
            role_scopes: Vec::new(),
        };
        config.check_required()?;
        Ok(config)
    }

    /// The invariants [`crate::Validator::new`] relies on.
    pub fn check(&self) -> Result<(), Error> {
        self.check_required()?;
        if self.algorithms.is_empty() {
            return err(ErrorKind::Config("algorithms is empty".into()));
        }
        if let Some(alg) = self.algorithms.iter().copied().find(is_symmetric) {
            return err(symmetric_refused(alg));
        }
        if self.max_token_bytes == 0 {
            return err(ErrorKind::Config("max_token_bytes is zero".into()));
        }
        self.check_profile()
    }

    /// What [`ValidationConfig::new`] is given: an issuer and audiences.
    /// The rest is checked by [`ValidationConfig::check`], once the caller
    /// has set the profile and its fields (an Entra `{tenantid}` issuer is
    /// valid only with its tenants).
    fn check_required(&self) -> Result<(), Error> {
        if self.issuer.is_empty() {
            return err(ErrorKind::Config("issuer is empty".into()));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return err(ErrorKind::Config(
                "audiences must be a non-empty list of non-empty values".into(),
            ));
        }
        Ok(())
    }

    /// The exact `iss` values this configuration accepts: `issuer`, or one
    /// per tenant when it contains [`TENANT_PLACEHOLDER`].
    #[must_use]
    pub fn accepted_issuers(&self) -> Vec<String> {
        if self.issuer.contains(TENANT_PLACEHOLDER) {
            self.tenants
                .iter()
                .map(|t| self.issuer.replace(TENANT_PLACEHOLDER, t))
                .collect()
        } else {
            vec![self.issuer.clone()]
        }
    }

    fn check_profile(&self) -> Result<(), Error> {
        let config = |m: String| err(ErrorKind::Config(m));
        let templated = self.issuer.contains(TENANT_PLACEHOLDER);
        let entra = self.profile == Profile::Entra;
        if templated && !entra {
            return config(format!(
                "issuer contains {TENANT_PLACEHOLDER}, which only the entra profile expands"
            ));
        }
        if !self.tenants.is_empty() && !templated {
            return config(format!(
                "tenants are listed but the issuer has no {TENANT_PLACEHOLDER} to put them in"
            ));
        }
        if templated && self.tenants.is_empty() {
            return config(format!(
                "the issuer contains {TENANT_PLACEHOLDER}: list the trusted tenant ids in tenants"
            ));
        }
        if let Some(t) = self.tenants.iter().find(|t| !is_tenant_id(t)) {
            return config(format!(
                "tenant {t:?} is not a tenant id (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47)"
            ));
        }
        if !self.role_scopes.is_empty() && !entra {
            return config("role_scopes is read only by the entra profile".into());
        }
        if entra {
            for issuer in self.accepted_issuers() {
                if entra_issuer(&issuer).is_none() {
                    return config(format!(
                        "{issuer:?} is not an Entra issuer (https://login.microsoftonline.com/TENANT/v2.0 or https://sts.windows.net/TENANT/)"
                    ));
                }
            }
        }
        if self.profile == Profile::Auth0 && !self.issuer.ends_with('/') {
            return config(format!(
                "Auth0 issuers end with '/': {:?} would never match a token's iss",
                self.issuer
            ));
        }
        Ok(())
    }
}

/// Parses a JOSE algorithm name (`"RS256"`, `"EdDSA"`, case-sensitive as in
/// the registry) for [`ValidationConfig::algorithms`].
///
/// This is the one place algorithm names are vetted: errors with
/// [`ErrorKind::Config`] naming the value for an unknown name, for `none`,
/// and for the symmetric `HS256`/`HS384`/`HS512`, which
/// [`crate::Validator::new`] would refuse anyway.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, Error> {
    let Ok(alg) = Algorithm::from_str(name) else {
        return err(ErrorKind::Config(format!(
            "unknown or unsupported algorithm {name:?}"
        )));
    };
    if is_symmetric(&alg) {
        return err(symmetric_refused(alg));
    }
    Ok(alg)
}

fn is_symmetric(alg: &Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn symmetric_refused(alg: Algorithm) -> ErrorKind {
    ErrorKind::Config(format!(
        "algorithm {alg:?} is not allowed: symmetric algorithms are refused"
    ))
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
    /// How to send the credentials. Default
    /// [`IntrospectionConfig::DEFAULT_CLIENT_AUTH`].
    pub client_auth: ClientAuth,
    /// How long an active result is reused, capped by the token's `exp`.
    /// Default [`IntrospectionConfig::DEFAULT_POSITIVE_TTL`].
    pub positive_ttl: Duration,
    /// How long an inactive result is reused. Default
    /// [`IntrospectionConfig::DEFAULT_NEGATIVE_TTL`].
    pub negative_ttl: Duration,
    /// Connect-plus-response timeout for one call. Default
    /// [`IntrospectionConfig::DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Bound of each result cache (active and inactive), and of the
    /// introspections in flight that concurrent requests for the same token
    /// share. Default [`IntrospectionConfig::DEFAULT_MAX_ENTRIES`].
    pub max_entries: usize,
    /// Sustained rate of calls to the endpoint for tokens that local
    /// validation cannot decide (every token in [`Mode::Introspection`];
    /// opaque tokens, unknown keys and unreachable key sets in
    /// [`Mode::JwtThenIntrospection`]), per validator. A call the bucket
    /// refuses is [`crate::ErrorKind::IntrospectionRateLimited`] (503 with
    /// `Retry-After`). Cached answers and requests that share a call already
    /// in flight for the same token take nothing from it; explicit online
    /// checks ([`crate::Validator::introspect`]) are exempt. Default
    /// [`IntrospectionConfig::DEFAULT_CALLS_PER_SEC`].
    pub calls_per_sec: NonZeroU32,
    /// How many such calls may go out at once above the sustained rate (the
    /// token bucket's size). Default [`IntrospectionConfig::DEFAULT_BURST`].
    pub burst: NonZeroU32,
    /// Accept a plain `http` endpoint on any host. Default `false`: the
    /// endpoint receives our client secret and every token, so it must be
    /// `https` unless its host is loopback (`127.0.0.0/8`, `::1`,
    /// `localhost`); [`crate::Validator::new`] refuses anything else.
    pub allow_insecure_http: bool,
}

impl IntrospectionConfig {
    /// [`ClientAuth::Basic`] (`client_secret_basic`, RFC 6749 §2.3.1).
    pub const DEFAULT_CLIENT_AUTH: ClientAuth = ClientAuth::Basic;
    /// 60 s: bounds how long a revoked token keeps working.
    pub const DEFAULT_POSITIVE_TTL: Duration = Duration::from_secs(60);
    /// 10 s: absorbs retry storms of a bad token without pinning a verdict
    /// for long.
    pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(10);
    /// 5 s connect plus response.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// 10 000 entries per result cache.
    pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
    /// 50 calls per second per validator: every distinct token is
    /// introspected at most once per [`IntrospectionConfig::DEFAULT_POSITIVE_TTL`],
    /// so this sustains 3 000 distinct live tokens per minute in
    /// introspection mode, far more than the opaque tokens and fresh keys
    /// the fallback sees. One introspection cost Keycloak 10–14 ms of CPU in
    /// our benchmarks (`docs/benchmarks.md`, target E), so this caps what one
    /// instance can make Keycloak spend at about half a core (0.5–0.7 of
    /// one), whatever garbage it is sent.
    pub const DEFAULT_CALLS_PER_SEC: NonZeroU32 = nonzero(50);
    /// 100 calls at once: two seconds' worth, so a restart with cold caches
    /// or a burst of new clients is not refused while the sustained rate
    /// still bounds a flood.
    pub const DEFAULT_BURST: NonZeroU32 = nonzero(100);

    /// The endpoint and credentials, with the documented defaults for the rest.
    #[must_use]
    pub fn new(endpoint: url::Url, client_id: impl Into<String>, client_secret: Secret) -> Self {
        IntrospectionConfig {
            endpoint,
            client_id: client_id.into(),
            client_secret,
            client_auth: Self::DEFAULT_CLIENT_AUTH,
            positive_ttl: Self::DEFAULT_POSITIVE_TTL,
            negative_ttl: Self::DEFAULT_NEGATIVE_TTL,
            timeout: Self::DEFAULT_TIMEOUT,
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            calls_per_sec: Self::DEFAULT_CALLS_PER_SEC,
            burst: Self::DEFAULT_BURST,
            allow_insecure_http: false,
        }
    }
}

/// A `NonZeroU32` constant; zero fails the build.
const fn nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("zero"),
    }
}

/// The verified-token cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenCacheConfig {
    /// Bound on cached tokens. Default (what a server passes to
    /// [`TokenCacheConfig::enabled`] when the user sets nothing)
    /// [`TokenCacheConfig::DEFAULT_MAX_ENTRIES`].
    pub max_entries: usize,
    /// Whether verified tokens are cached at all. Default `true`.
    pub enabled: bool,
}

impl TokenCacheConfig {
    /// 10 000: about 3 MB at the worst, and more distinct live tokens than
    /// one MCP server sees in a token lifetime.
    pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

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

#[cfg(test)]
mod tests {
    // A failed unwrap is a failed test, with the error in the panic message.
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn default_algorithm_names_parse_to_the_defaults() {
        let parsed: Vec<Algorithm> = ValidationConfig::DEFAULT_ALGORITHM_NAMES
            .iter()
            .map(|n| parse_algorithm(n).unwrap())
            .collect();
        assert_eq!(parsed, ValidationConfig::DEFAULT_ALGORITHMS);
        let config = ValidationConfig::new("https://idp", vec!["aud".into()]).unwrap();
        assert_eq!(config.algorithms, ValidationConfig::DEFAULT_ALGORITHMS);
    }

    #[test]
    fn parse_algorithm_refuses_symmetric_none_and_unknown() {
        for name in [
            "HS256", "HS384", "HS512", "none", "None", "rs256", "RS1", "",
        ] {
            let e = parse_algorithm(name).unwrap_err();
            assert_eq!(e.kind().label(), "config", "{name}");
        }
        assert_eq!(parse_algorithm("ES384").unwrap(), Algorithm::ES384);
    }
}
