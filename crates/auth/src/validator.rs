//! [`Validator`]: bearer token in, [`Principal`] or a precise [`Error`] out.
//!
//! The JWT pipeline follows jsonwebtoken's `decode`, cheapest checks first, so
//! that garbage costs nanoseconds and only well-formed tokens from our issuer's
//! keys reach signature verification:
//!
//! 1. size cap (before any parsing);
//! 2. three segments (a JWE or an opaque token is not a JWS);
//! 3. header (jsonwebtoken's `Header`, from the first segment);
//! 4. `alg` in the allow-list (never `none` or `HS*`);
//! 5. `crit` present ⇒ reject: we understand no extension (RFC 7515 §4.1.11);
//! 6. `jku`, `x5u`, `jwk` and `x5c` are ignored, never fetched or trusted:
//!    keys come only from the configured JWKS;
//! 7. `typ` policy (RFC 9068 §2.1 `at+jwt` when strict);
//! 8. `kid` required, looked up lock-free, then at most one rate-limited JWKS
//!    refresh on a miss (the refresh policy lives in `jwks`); `UnknownKey`
//!    only when a successful refresh lacks the kid, 503-class errors when
//!    the refresh was suppressed or failed;
//! 9. key/algorithm binding (`VerifyingKey::permits`);
//! 10. signature, with the key aws-lc-rs parsed when the JWKS was fetched
//!     (`VerifyingKey::verify_signature`; `jsonwebtoken::decode` would rebuild
//!     an RSA key from `n` and `e` and parse the header twice more per token);
//! 11. claims, decoded once: under the strict `typ` policy the RFC 9068 §2.2
//!     claims present, then integer NumericDates for `exp` (required), `nbf`
//!     and `iat` with leeway (a present `null` is malformed), exact `iss`
//!     (required), canonical `aud`, scopes.
//!
//! Successes are cached under a keyed 128-bit SipHash-1-3 of the token (the
//! token itself is never stored; see `TokenKey` for why this hash); `exp`
//! is re-checked on every hit, failures are never cached (a refresh may make
//! an unknown `kid` valid a second later).

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering::Relaxed},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;

use crate::{
    bearer::BearerToken,
    claims::{ClaimRules, Claims, canonical_audience},
    config::{Mode, ModeKind, TokenCacheConfig, TypPolicy, ValidationConfig},
    error::{Error, ErrorKind, err},
    introspection::{Introspector, Purpose},
    metrics::{AuthMetrics, Metrics},
    principal::{Principal, PrincipalSource},
    token_key::{TokenHasher, TokenKey},
};

type TokenCache = quick_cache::sync::Cache<TokenKey, Arc<CachedToken>>;

/// A verified token in the cache: the principal, and the issuer and `kid`
/// of the key that verified it, so that a hit is refused once that key has
/// left its issuer's key set (a removed or compromised key must not keep
/// vouching for tokens it signed until they expire).
struct CachedToken {
    principal: Arc<Principal>,
    issuer: usize,
    kid: Box<str>,
}

/// One trusted issuer: its claim rules, key set and introspection client.
struct IssuerState {
    rules: ClaimRules,
    /// The allowed algorithms (never `none` or `HS*`).
    algorithms: Vec<Algorithm>,
    typ: TypPolicy,
    /// The issuer as configured (an Entra multi-tenant template stays one
    /// entry): the label of its key set in [`Validator::key_sets`].
    label: String,
    jwks: jwks::JwksCache,
    introspector: Option<Introspector>,
}

/// One trusted issuer for [`Validator::with_issuers`]: what its tokens must
/// satisfy, where its keys come from, and how they are checked.
#[derive(Debug)]
pub struct IssuerConfig {
    /// Claim rules, including the exact issuer and the [`crate::Profile`].
    pub validation: ValidationConfig,
    /// This issuer's own key cache: keys of one issuer never verify
    /// another's tokens.
    pub jwks: jwks::JwksCache,
    /// How this issuer's tokens are checked; every issuer of one validator
    /// uses the same [`ModeKind`].
    pub mode: Mode,
}

/// Validates bearer tokens for one resource, issued by one or several
/// trusted issuers.
///
/// Build it once at start-up and share it (`Arc<Validator>`); it is
/// `Send + Sync` and every method takes `&self`.
pub struct Validator {
    /// At least one.
    issuers: Vec<IssuerState>,
    /// Every accepted `iss` to its index in `issuers`; read only when there
    /// are several issuers (one issuer's rules check `iss` themselves).
    routes: HashMap<String, usize>,
    mode: ModeKind,
    max_token_bytes: usize,
    token_cache: Option<TokenCache>,
    /// The cache-key hasher under a per-`Validator` random key (see
    /// [`TokenKey`]); never printed.
    hasher: TokenHasher,
    pub(crate) metrics: Metrics,
    /// Seconds added to the system clock, so unit tests can test expiry and
    /// cache lifetimes without sleeping (`validator/tests.rs`). It exists
    /// only in test builds: nothing can move a real validator's clock.
    #[cfg(test)]
    pub(crate) clock_offset: std::sync::atomic::AtomicI64,
}

impl Validator {
    /// Builds a validator for one issuer. No I/O.
    ///
    /// Errors with [`ErrorKind::Config`] when the configuration breaks an
    /// invariant (empty issuer or audiences, an `HS*` algorithm, a zero size
    /// cap), or when the introspection HTTP client cannot be built.
    pub fn new(
        config: ValidationConfig,
        jwks: jwks::JwksCache,
        mode: Mode,
        cache: TokenCacheConfig,
    ) -> Result<Self, Error> {
        Self::with_issuers(
            vec![IssuerConfig {
                validation: config,
                jwks,
                mode,
            }],
            cache,
        )
    }

    /// Builds a validator trusting every issuer of `issuers`. No I/O.
    ///
    /// With several issuers, a token is routed to its issuer by its `iss`
    /// claim before any key lookup: an `iss` nobody configured is
    /// [`ErrorKind::UnknownIssuer`] without a key fetch or a signature
    /// check, and each issuer's tokens are verified with its own keys only.
    ///
    /// Errors with [`ErrorKind::Config`] for what [`Validator::new`] refuses,
    /// and for an empty list, an `iss` accepted by two entries, issuers of
    /// different [`ModeKind`]s, or [`Mode::Introspection`] with several
    /// issuers (an opaque token does not say who issued it).
    pub fn with_issuers(
        issuers: Vec<IssuerConfig>,
        cache: TokenCacheConfig,
    ) -> Result<Self, Error> {
        let config = |m: String| err(ErrorKind::Config(m));
        let Some(first) = issuers.first() else {
            return config("no issuer is configured".into());
        };
        let kind = first.mode.kind();
        if issuers.iter().any(|i| i.mode.kind() != kind) {
            return config("every issuer must use the same mode".into());
        }
        if kind == ModeKind::Introspection && issuers.len() > 1 {
            return config(
                "introspection mode trusts one issuer: an opaque token does not say who issued it"
                    .into(),
            );
        }
        let mut routes = HashMap::new();
        let mut max_token_bytes = 0;
        let mut states = Vec::with_capacity(issuers.len());
        for (
            index,
            IssuerConfig {
                validation,
                jwks,
                mode,
            },
        ) in issuers.into_iter().enumerate()
        {
            validation.check()?;
            let accepted = validation.accepted_issuers();
            for iss in &accepted {
                if routes.insert(iss.clone(), index).is_some() {
                    return config(format!("issuer {iss:?} is configured twice"));
                }
            }
            max_token_bytes = max_token_bytes.max(validation.max_token_bytes);
            let introspector = match mode {
                Mode::Jwt { online: None } => None,
                Mode::Jwt { online: Some(c) }
                | Mode::JwtThenIntrospection(c)
                | Mode::Introspection(c) => Some(Introspector::new(c)?),
            };
            let leeway = validation.leeway.as_secs();
            states.push(IssuerState {
                rules: ClaimRules {
                    issuers: accepted,
                    audiences: validation
                        .audiences
                        .iter()
                        .map(|a| canonical_audience(a))
                        .collect(),
                    leeway: i64::try_from(leeway).unwrap_or(i64::MAX),
                    accept_azp_only: validation.accept_azp_only,
                    require_rfc9068: validation.typ == TypPolicy::Rfc9068Strict,
                    profile: validation.profile,
                    role_scopes: validation.role_scopes,
                    audience_warned_at: AtomicI64::new(i64::MIN),
                },
                algorithms: validation.algorithms,
                typ: validation.typ,
                label: validation.issuer,
                jwks,
                introspector,
            });
        }
        let token_cache =
            (cache.enabled && cache.max_entries > 0).then(|| TokenCache::new(cache.max_entries));
        Ok(Validator {
            issuers: states,
            routes,
            mode: kind,
            max_token_bytes,
            token_cache,
            hasher: TokenHasher::random(),
            metrics: Metrics::default(),
            #[cfg(test)]
            clock_offset: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// Validates `token` according to the [`Mode`]. Scopes are not checked
    /// here: that is the caller's policy (see [`crate::AuthLayer`]).
    pub async fn validate(&self, token: &BearerToken) -> Result<Principal, Error> {
        self.validate_shared(token).await.map(Arc::unwrap_or_clone)
    }

    /// [`Validator::validate`] without copying the principal out of the
    /// cache: a cache hit costs a hash, a lookup and an `exp` check.
    pub async fn validate_shared(&self, token: &BearerToken) -> Result<Arc<Principal>, Error> {
        let result = self.validate_inner(token).await;
        if let Err(e) = &result {
            self.record_failure(e);
        }
        result
    }

    /// Asks the introspection endpoint now, bypassing cached answers (for
    /// revocation-sensitive operations); the answer refreshes the caches.
    ///
    /// Not subject to the rate limit on introspection calls
    /// ([`crate::IntrospectionConfig::calls_per_sec`]) and not shared with
    /// concurrent calls: this is meant for a token the caller has already
    /// validated and authorized, so its calls are bounded by authenticated
    /// traffic, and a flood of garbage tokens spending the shared budget
    /// must not deny revocation-sensitive operations.
    ///
    /// Errors with [`ErrorKind::Config`] when introspection is not configured.
    pub async fn introspect(&self, token: &BearerToken) -> Result<Principal, Error> {
        let result = self.introspect_inner(token, Purpose::VerifyOnline).await;
        if let Err(e) = &result {
            self.record_failure(e);
        }
        result.map(Arc::unwrap_or_clone)
    }

    /// Whether [`Validator::introspect`] can be used for some issuer.
    #[must_use]
    pub fn introspection_configured(&self) -> bool {
        self.issuers.iter().any(|i| i.introspector.is_some())
    }

    /// Whether [`Validator::introspect`] can be used for tokens of `issuer`
    /// (an exact `iss`, e.g. [`Principal::issuer`]).
    #[must_use]
    pub fn introspects(&self, issuer: &str) -> bool {
        self.issuer_of(issuer)
            .is_some_and(|i| self.issuers[i].introspector.is_some())
    }

    /// The first issuer's key cache: for a single-issuer validator, its only
    /// one. Several issuers: see [`Validator::key_sets`].
    #[must_use]
    pub fn jwks(&self) -> &jwks::JwksCache {
        &self.issuers[0].jwks
    }

    /// Every issuer's key cache (for readiness checks, metrics and the
    /// background refreshers), labelled with the issuer as configured (an
    /// Entra multi-tenant issuer is one entry, with its `{tenantid}`).
    pub fn key_sets(&self) -> impl Iterator<Item = (&str, &jwks::JwksCache)> {
        self.issuers.iter().map(|i| (i.label.as_str(), &i.jwks))
    }

    /// The kind of [`Mode`] this validator runs in (e.g.
    /// `validator.mode().uses_jwks()` to decide whether the key cache needs
    /// its refresher).
    #[must_use]
    pub fn mode(&self) -> ModeKind {
        self.mode
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn metrics(&self) -> AuthMetrics {
        self.metrics.snapshot()
    }

    /// Counts a failure decided outside `validate` (extraction, scopes).
    pub(crate) fn record_failure(&self, e: &Error) {
        self.metrics.record_failure(e);
    }

    /// Unix seconds: the `exp`/`nbf`/`iat` checks and every cache expiry read
    /// this one clock.
    pub(crate) fn now(&self) -> i64 {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        #[cfg(test)]
        let secs = secs.saturating_add(self.clock_offset.load(Relaxed));
        secs
    }

    fn cache_key(&self, token: &str) -> TokenKey {
        self.hasher.key(token)
    }

    /// The index of the issuer that accepts the exact `iss`.
    fn issuer_of(&self, iss: &str) -> Option<usize> {
        self.routes.get(iss).copied()
    }

    /// The issuer a token goes to: the payload's `iss`, read before any key
    /// lookup, so that a token of an issuer we do not trust (another realm,
    /// a typo in the configuration) costs neither a key fetch nor a
    /// signature check, and can never spend the kid-miss refresh budget.
    /// The decoded payload is returned for the claim checks, which compare
    /// `iss` again once the signature has verified.
    fn route(&self, raw: &str) -> Result<(usize, Vec<u8>), Error> {
        // Borrowed from the decoded payload: no allocation for the usual
        // `iss` without escapes.
        #[derive(serde::Deserialize)]
        struct IssOnly<'a> {
            #[serde(borrow)]
            iss: Option<std::borrow::Cow<'a, str>>,
        }
        let (_, payload, _) = segments(raw)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Error::from(ErrorKind::Malformed("base64")))?;
        let index = {
            let IssOnly { iss } = serde_json::from_slice(&payload)
                .map_err(|_| Error::from(ErrorKind::Malformed("claims")))?;
            let Some(iss) = iss else {
                return err(ErrorKind::MissingClaim("iss"));
            };
            self.routes.get(iss.as_ref()).copied()
        };
        match index {
            Some(index) => Ok((index, payload)),
            None => err(ErrorKind::UnknownIssuer),
        }
    }

    async fn validate_inner(&self, token: &BearerToken) -> Result<Arc<Principal>, Error> {
        let raw = token.as_str();
        if raw.len() > self.max_token_bytes {
            return err(ErrorKind::TokenTooLarge);
        }
        if self.mode == ModeKind::Introspection {
            // One issuer only (`with_issuers`).
            return self.introspect_at(0, token, Purpose::Decide).await;
        }

        let now = self.now();
        // Hashed only when there is a cache to look in.
        let cached = self
            .token_cache
            .as_ref()
            .map(|cache| (cache, self.cache_key(raw)));
        if let Some((cache, key)) = &cached {
            if let Some(entry) = cache.get(key) {
                if entry
                    .principal
                    .expires_at
                    .saturating_add(self.issuers[entry.issuer].rules.leeway)
                    >= now
                    && self.issuers[entry.issuer].jwks.get(&entry.kid).is_some()
                {
                    self.metrics.token_cache_hits.fetch_add(1, Relaxed);
                    return Ok(Arc::clone(&entry.principal));
                }
                // Expired while cached, or its key is gone from the set: drop
                // it and let validation say why.
                cache.remove(key);
            }
            self.metrics.token_cache_misses.fetch_add(1, Relaxed);
        }

        let (issuer, payload) = match self.route(raw) {
            Ok(routed) => routed,
            // An opaque token names no issuer; with one issuer, it is that
            // issuer's to judge.
            Err(e)
                if self.mode == ModeKind::JwtThenIntrospection
                    && self.issuers.len() == 1
                    && undecidable_locally(&e) =>
            {
                tracing::debug!(reason = %e, "token not decidable locally, introspecting");
                return self.introspect_at(0, token, Purpose::Decide).await;
            }
            Err(e) => return Err(e),
        };
        match self.validate_jwt(issuer, raw, payload, now).await {
            Ok((principal, kid)) => {
                let principal = Arc::new(principal);
                if let Some((cache, key)) = cached {
                    let entry = CachedToken {
                        principal: Arc::clone(&principal),
                        issuer,
                        kid: kid.into(),
                    };
                    cache.insert(key, Arc::new(entry));
                }
                Ok(principal)
            }
            // The single place that decides the introspection fallback.
            Err(e) if self.mode == ModeKind::JwtThenIntrospection && undecidable_locally(&e) => {
                tracing::debug!(reason = %e, "token not decidable locally, introspecting");
                self.introspect_at(issuer, token, Purpose::Decide).await
            }
            Err(e) => Err(e),
        }
    }

    async fn introspect_inner(
        &self,
        token: &BearerToken,
        purpose: Purpose,
    ) -> Result<Arc<Principal>, Error> {
        if token.as_str().len() > self.max_token_bytes {
            return err(ErrorKind::TokenTooLarge);
        }
        let issuer = match self.route(token.as_str()) {
            Ok((issuer, _)) => issuer,
            Err(_) if self.issuers.len() == 1 => 0,
            Err(e) => return Err(e),
        };
        self.introspect_at(issuer, token, purpose).await
    }

    async fn introspect_at(
        &self,
        issuer: usize,
        token: &BearerToken,
        purpose: Purpose,
    ) -> Result<Arc<Principal>, Error> {
        let state = &self.issuers[issuer];
        let Some(introspector) = &state.introspector else {
            return err(ErrorKind::Config("introspection is not configured".into()));
        };
        // Both callers checked the size cap already.
        let key = self.cache_key(token.as_str());
        introspector
            .introspect(token, key, self.now(), &state.rules, &self.metrics, purpose)
            .await
    }

    /// The local JWT pipeline for the token of `issuer`, whose payload
    /// routing decoded; on success also the `kid` of the verifying key.
    async fn validate_jwt(
        &self,
        issuer: usize,
        raw: &str,
        payload: Vec<u8>,
        now: i64,
    ) -> Result<(Principal, String), Error> {
        let state = &self.issuers[issuer];
        let (protected, payload_b64, signature) = segments(raw)?;
        let signing_input = &raw[..protected.len() + 1 + payload_b64.len()];
        // What `jsonwebtoken::decode_header` does, on the segment found above
        // (it would scan the whole token again, byte by byte).
        let header: jsonwebtoken::Header = URL_SAFE_NO_PAD
            .decode(protected)
            .map_err(|_| Error::from(ErrorKind::Malformed(BAD_HEADER)))
            .and_then(|json| serde_json::from_slice(&json).map_err(|_| header_error(&json)))?;
        if !state.algorithms.contains(&header.alg) {
            return err(ErrorKind::UnsupportedAlgorithm);
        }
        if header.crit.is_some() {
            return err(ErrorKind::UnknownCritical);
        }
        // `header.jku`, `x5u`, `jwk` and `x5c` are deliberately not read.
        if !typ_accepted(state.typ, header.typ.as_deref()) {
            return err(ErrorKind::InvalidType);
        }
        let Some(kid) = header.kid.as_deref() else {
            return err(ErrorKind::Malformed("kid"));
        };
        let key = match state.jwks.get(kid) {
            Some(key) => key,
            None => state.jwks.get_or_refresh(kid).await.map_err(jwks_error)?,
        };
        if !key.permits(header.alg) {
            return err(ErrorKind::KeyMismatch);
        }
        // The signature covers the first two segments as sent (RFC 7515
        // §5.2), so they are not re-encoded.
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Error::from(ErrorKind::Malformed("base64")))?;
        if !key.verify_signature(header.alg, signing_input.as_bytes(), &signature) {
            return err(ErrorKind::InvalidSignature);
        }
        // Only a payload whose signature verified is parsed as claims.
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|_| Error::from(ErrorKind::Malformed("claims")))?;
        let principal = state.rules.check(claims, now, PrincipalSource::Jwt)?;
        // `kid` was checked to be present above; moved, not cloned.
        Ok((principal, header.kid.unwrap_or_default()))
    }
}

/// The three segments of a JWS compact serialisation (RFC 7515 §7.1),
/// found with memchr-speed searches: a byte loop over a 1.3 KiB token costs
/// a microsecond.
fn segments(raw: &str) -> Result<(&str, &str, &str), Error> {
    let Some((signing_input, signature)) = raw.rsplit_once('.') else {
        return err(ErrorKind::Malformed(NOT_A_JWS));
    };
    let Some((protected, payload)) = signing_input.split_once('.') else {
        return err(ErrorKind::Malformed(NOT_A_JWS));
    };
    if payload.contains('.') {
        return err(ErrorKind::Malformed(NOT_A_JWS));
    }
    Ok((protected, payload, signature))
}

/// Whether the header `typ` passes the policy. Media types compare
/// case-insensitively; "application/" may be omitted (RFC 7515 §4.1.9,
/// RFC 9068 §2.1).
fn typ_accepted(policy: TypPolicy, typ: Option<&str>) -> bool {
    let typ = typ.map(|t| {
        t.get(..12)
            .filter(|p| p.eq_ignore_ascii_case("application/"))
            .map_or(t, |_| &t[12..])
    });
    let at_jwt = typ.is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"));
    match policy {
        TypPolicy::Rfc9068Strict => at_jwt,
        TypPolicy::Lenient => at_jwt || typ.is_none_or(|t| t.eq_ignore_ascii_case("jwt")),
    }
}

impl fmt::Debug for IssuerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuers", &self.rules.issuers)
            .field("profile", &self.rules.profile)
            .field("audiences", &self.rules.audiences)
            .field("algorithms", &self.algorithms)
            .field("typ", &self.typ)
            .field("introspection", &self.introspector)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("issuers", &self.issuers)
            .field("mode", &self.mode)
            .field("token_cache", &self.token_cache.is_some())
            .finish_non_exhaustive()
    }
}

const NOT_A_JWS: &str = "not a jws";
const BAD_HEADER: &str = "header";
/// A header with a known `alg` that does not deserialize (see `header_error`).
const BAD_HEADER_MEMBER: &str = "header member";

/// Whether local validation could not judge the token, so that
/// `JwtThenIntrospection` asks the authorization server: opaque tokens,
/// unknown keys after a successful refresh, and unreachable keys (each such
/// call shared by concurrent requests with the same token and taken from the
/// introspection rate limit). Not a suppressed key refresh: the kid-miss rate
/// limit exists so that random kids cannot make us call the IdP, and
/// introspecting them would do exactly that.
fn undecidable_locally(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Malformed(NOT_A_JWS | BAD_HEADER) | ErrorKind::UnknownKey | ErrorKind::Jwks(_)
    )
}

/// Why a decoded header did not deserialize: an `alg` jsonwebtoken does not
/// know (`none`, `None`, `HS1024`…) is an algorithm error, anything else is
/// malformed.
///
/// A header whose `alg` is a known algorithm failed on another member (a
/// numeric `kid`, a duplicate member, nesting past serde's recursion limit):
/// that is a broken JWS header, decided locally like any other broken JWT
/// ([`BAD_HEADER_MEMBER`]), not a header that may be no JWT at all.
fn header_error(json: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct AlgOnly {
        alg: Option<String>,
    }
    match serde_json::from_slice(json) {
        Ok(AlgOnly { alg: Some(alg) }) if alg.parse::<Algorithm>().is_err() => {
            Error::from(ErrorKind::UnsupportedAlgorithm)
        }
        Ok(AlgOnly { alg: Some(_) }) => Error::from(ErrorKind::Malformed(BAD_HEADER_MEMBER)),
        _ => Error::from(ErrorKind::Malformed(BAD_HEADER)),
    }
}

/// A failed key lookup: `UnknownKey` (401) only when the kid is absent from a
/// key set just fetched successfully; a suppressed refresh or a failed fetch
/// leaves the token unjudged (503), so that a key rotation racing a flood of
/// random kids, or an IdP outage, never invalidates good tokens.
fn jwks_error(e: jwks::Error) -> Error {
    match e.kind() {
        jwks::ErrorKind::UnknownKid => Error::from(ErrorKind::UnknownKey),
        jwks::ErrorKind::RefreshSuppressed => Error::from(ErrorKind::KeyRefreshSuppressed),
        _ => Error::from(ErrorKind::Jwks(e)),
    }
}

#[cfg(test)]
mod tests;
