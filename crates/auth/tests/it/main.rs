//! Integration tests: the validator, introspection and the layer against the
//! in-process `test-issuer` (loopback, ephemeral port). Each test names the
//! rule it proves.

// A failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod issuers;

use std::{
    num::NonZeroU32,
    sync::Arc,
    time::{Instant, SystemTime},
};

use auth::{
    AuthLayer, BearerToken, ChallengeContext, ClientAuth, IntrospectionConfig, Mode, ModeKind,
    Principal, PrincipalSource, Secret, TokenCacheConfig, TypPolicy, ValidationConfig, Validator,
    dangerous,
};
use axum::{Extension, Router, body::Body, routing::any};
use futures::StreamExt as _;
use http::{Request, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use test_issuer::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, INITIAL_KID, KeyAlg, TestIssuer};
use tower::ServiceExt;

const AUD: &str = "https://mcp.example.com/mcp";
const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

struct Env {
    idp: TestIssuer,
    validator: Arc<Validator>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn env_with(
    mode: ModeKind,
    edit: impl FnOnce(&mut ValidationConfig, &mut IntrospectionConfig),
) -> Env {
    env_with_jwks(mode, |_| {}, edit).await
}

async fn env_with_jwks(
    mode: ModeKind,
    edit_jwks: impl FnOnce(&mut jwks::Config),
    edit: impl FnOnce(&mut ValidationConfig, &mut IntrospectionConfig),
) -> Env {
    let idp = TestIssuer::start().await;
    let mut jwks_config = jwks::Config::new(jwks::Source::JwksUri(idp.jwks_uri().parse().unwrap()));
    edit_jwks(&mut jwks_config);
    let jwks = jwks::JwksCache::new(jwks_config).unwrap();
    jwks.refresh().await.unwrap();
    let mut config = ValidationConfig::new(idp.issuer(), vec![AUD.into()]).unwrap();
    let mut introspection = IntrospectionConfig::new(
        idp.introspection_endpoint().parse().unwrap(),
        DEFAULT_CLIENT_ID,
        Secret::new(DEFAULT_CLIENT_SECRET),
    );
    edit(&mut config, &mut introspection);
    let mode = match mode {
        ModeKind::Jwt => Mode::Jwt { online: None },
        ModeKind::JwtThenIntrospection => Mode::JwtThenIntrospection(introspection),
        ModeKind::Introspection => Mode::Introspection(introspection),
    };
    let validator = Validator::new(config, jwks, mode, TokenCacheConfig::enabled(1000)).unwrap();
    Env {
        idp,
        validator: Arc::new(validator),
    }
}

async fn env() -> Env {
    env_with(ModeKind::Jwt, |_, _| {}).await
}

impl Env {
    fn claims(&self, extra: Value) -> Value {
        let mut c = self.idp.claims("alice", AUD, "openid mcp:tools");
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn token(&self, extra: Value) -> BearerToken {
        BearerToken::new(self.idp.sign(&self.claims(extra)))
    }

    fn header(&self, alg: Algorithm, kid: &str) -> Header {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        h.typ = Some("JWT".into());
        h
    }

    async fn label(&self, token: &BearerToken) -> &'static str {
        match self.validator.validate(token).await {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => e.kind().label(),
        }
    }

    fn app(&self, scopes: &[&str]) -> Router {
        let layer = AuthLayer::new(
            Arc::clone(&self.validator),
            scopes.iter().map(|s| s.to_string()).collect(),
            ChallengeContext {
                resource_metadata: METADATA.into(),
                realm: None,
                scope: Some("mcp:tools".into()),
            },
        );
        Router::new()
            .route(
                "/mcp",
                any(
                    |p: Option<Extension<Arc<Principal>>>, t: Option<Extension<BearerToken>>| async move {
                        format!(
                            "{}|{}",
                            p.and_then(|p| p.0.subject.clone())
                                .unwrap_or_else(|| "anonymous".into()),
                            t.map_or(0, |t| t.0.as_str().len())
                        )
                    },
                ),
            )
            .layer(layer)
    }

    async fn call(&self, scopes: &[&str], req: Request<Body>) -> (StatusCode, String, String) {
        let resp = self.app(scopes).oneshot(req).await.unwrap();
        let status = resp.status();
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        (
            status,
            challenge,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }
}

fn bearer(token: &BearerToken) -> Request<Body> {
    Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {}", token.as_str()))
        .body(Body::empty())
        .unwrap()
}

// --- The JWT pipeline -------------------------------------------------------

#[tokio::test]
async fn valid_keycloak_shaped_token_accepted() {
    let env = env().await;
    let p = env.validator.validate(&env.token(json!({}))).await.unwrap();
    assert_eq!(p.issuer, env.idp.issuer());
    assert_eq!(p.subject.as_deref(), Some("alice"));
    assert_eq!(p.client_id.as_deref(), Some(test_issuer::TOKEN_AZP));
    assert!(p.scopes.contains("mcp:tools"));
    assert_eq!(p.source, PrincipalSource::Jwt);
}

#[tokio::test]
async fn every_supported_key_type_verifies() {
    let env = env_with(ModeKind::Jwt, |c, _| {
        c.algorithms.push(Algorithm::ES384);
    })
    .await;
    for (alg, kid) in [
        (KeyAlg::Ps256, "ps"),
        (KeyAlg::Es256, "es256"),
        (KeyAlg::Es384, "es384"),
        (KeyAlg::EdDsa, "ed"),
    ] {
        env.idp.add_key(alg, kid);
        env.idp.set_signing_kid(kid);
        // Kid-miss refreshes are rate-limited; refresh explicitly instead.
        env.validator.jwks().refresh().await.unwrap();
        let t = env.token(json!({}));
        assert!(env.validator.validate(&t).await.is_ok(), "{kid}");
    }
}

#[tokio::test]
async fn rejects_hs256_signed_with_rsa_public_key() {
    // The classic confusion: HS256 with the RSA public key as the HMAC secret.
    let env = env().await;
    let claims = env.claims(json!({}));
    let header = env.header(Algorithm::HS256, INITIAL_KID);
    for secret in [
        env.idp.public_key_pem(INITIAL_KID).into_bytes(),
        env.idp.public_key_der(INITIAL_KID),
    ] {
        let t = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(
            env.label(&BearerToken::new(t)).await,
            "unsupported_algorithm"
        );
    }
}

#[tokio::test]
async fn rejects_es256_header_with_rsa_key() {
    // The header names the RSA key but claims ES256: key/alg binding fails
    // before any signature work.
    let env = env().await;
    env.idp.add_key(KeyAlg::Es256, "ec-1");
    let t = env.idp.sign_with(
        env.header(Algorithm::ES256, INITIAL_KID),
        &env.claims(json!({})),
        "ec-1",
    );
    assert_eq!(env.label(&BearerToken::new(t)).await, "key_mismatch");
}

#[tokio::test]
async fn rejects_unknown_crit() {
    let env = env().await;
    let mut h = env.header(Algorithm::RS256, INITIAL_KID);
    h.crit = Some(vec!["urn:example:ext".into()]);
    let t = env.idp.sign_with(h, &env.claims(json!({})), INITIAL_KID);
    assert_eq!(env.label(&BearerToken::new(t)).await, "unknown_critical");
}

#[tokio::test]
async fn ignores_jku_header() {
    // jku/x5u point at attacker keys; they are never fetched or trusted.
    let env = env().await;
    let before = env.idp.jwks_requests();
    let mut h = env.header(Algorithm::RS256, INITIAL_KID);
    h.jku = Some("http://127.0.0.1:1/evil-jwks".into());
    h.x5u = Some("http://127.0.0.1:1/evil-cert".into());
    let t = env.idp.sign_with(h, &env.claims(json!({})), INITIAL_KID);
    assert!(env.validator.validate(&BearerToken::new(t)).await.is_ok());
    assert_eq!(env.idp.jwks_requests(), before);
}

#[tokio::test]
async fn rfc9068_strict_typ_requires_at_jwt() {
    let env = env_with(ModeKind::Jwt, |c, _| c.typ = TypPolicy::Rfc9068Strict).await;
    let claims = env.claims(json!({ "client_id": test_issuer::TOKEN_AZP }));
    assert_eq!(env.label(&env.token(json!({}))).await, "invalid_type");
    let mut h = env.header(Algorithm::RS256, INITIAL_KID);
    h.typ = Some("at+jwt".into());
    let t = env.idp.sign_with(h, &claims, INITIAL_KID);
    assert!(env.validator.validate(&BearerToken::new(t)).await.is_ok());
}

#[tokio::test]
async fn rfc9068_section_2_2_claims_required_when_strict() {
    // RFC 9068 §2.2: `iss`, `exp`, `aud`, `sub`, `client_id`, `iat` and `jti`
    // are REQUIRED in a JWT access token; the strict policy enforces it.
    let env = env_with(ModeKind::Jwt, |c, _| c.typ = TypPolicy::Rfc9068Strict).await;
    let mut h = env.header(Algorithm::RS256, INITIAL_KID);
    h.typ = Some("at+jwt".into());
    let full = env.claims(json!({ "client_id": test_issuer::TOKEN_AZP }));
    let t = BearerToken::new(env.idp.sign_with(h.clone(), &full, INITIAL_KID));
    assert!(env.validator.validate(&t).await.is_ok());
    for claim in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        let mut c = full.clone();
        c.as_object_mut().unwrap().remove(claim);
        let t = BearerToken::new(env.idp.sign_with(h.clone(), &c, INITIAL_KID));
        let e = env.validator.validate(&t).await.unwrap_err();
        assert_eq!(e.to_string(), format!("token lacks the {claim} claim"));
    }
    // The lenient policy (Keycloak's default `typ: JWT`) keeps `sub`,
    // `client_id` and `jti` optional.
    let lenient = env_with(ModeKind::Jwt, |_, _| {}).await;
    let t = lenient.token(json!({ "sub": null, "jti": null }));
    assert!(lenient.validator.validate(&t).await.is_ok());
}

#[tokio::test]
async fn missing_kid_rejected() {
    let env = env().await;
    let mut h = env.header(Algorithm::RS256, INITIAL_KID);
    h.kid = None;
    let t = env.idp.sign_with(h, &env.claims(json!({})), INITIAL_KID);
    assert_eq!(env.label(&BearerToken::new(t)).await, "malformed");
}

#[tokio::test]
async fn tampered_payload_fails_signature() {
    let env = env().await;
    let t = env.token(json!({}));
    let other = env.token(json!({ "sub": "mallory" }));
    let parts: Vec<&str> = t.as_str().split('.').collect();
    let other_parts: Vec<&str> = other.as_str().split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert_eq!(
        env.label(&BearerToken::new(forged)).await,
        "invalid_signature"
    );
}

#[tokio::test]
async fn expired_token_yields_invalid_token() {
    let env = env().await;
    let t = env.token(json!({ "exp": now() - 120, "iat": now() - 400 }));
    assert_eq!(env.label(&t).await, "expired");
    let (status, challenge, _) = env.call(&[], bearer(&t)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn exp_within_leeway_accepted() {
    let env = env().await;
    let t = env.token(json!({ "exp": now() - 30 }));
    assert!(env.validator.validate(&t).await.is_ok());
}

#[tokio::test]
async fn exp_as_string_rejected() {
    // CVE-2026-25537 class: a mistyped `exp` must never skip the check.
    // RFC 7519 §2: a NumericDate is a JSON number; we require an integer, so
    // a string and a float are both malformed, and only null or no `exp` at
    // all is missing.
    let env = env().await;
    let exp = now() + 300;
    let t = env.token(json!({ "exp": exp.to_string() }));
    assert_eq!(env.label(&t).await, "malformed");
    let t = env.token(json!({ "exp": exp as f64 + 0.5 }));
    assert_eq!(env.label(&t).await, "malformed");
    let t = env.token(json!({ "exp": null }));
    assert_eq!(env.label(&t).await, "missing_claim");
}

#[tokio::test]
async fn nbf_in_future_rejected() {
    let env = env().await;
    assert_eq!(
        env.label(&env.token(json!({ "nbf": now() + 600 }))).await,
        "not_yet_valid"
    );
}

#[tokio::test]
async fn iat_in_future_rejected() {
    let env = env().await;
    assert_eq!(
        env.label(&env.token(json!({ "iat": now() + 600 }))).await,
        "issued_in_future"
    );
}

#[tokio::test]
async fn iss_must_match_exactly() {
    // OpenID Connect Discovery §3 / RFC 8414 §3.3: exact comparison. A
    // near-miss `iss` is an issuer we do not trust, refused before the key
    // lookup: a foreign realm's token (its own `kid`s) must neither fetch
    // keys nor spend the kid-miss refresh budget.
    let env = env().await;
    let fetches = env.idp.jwks_requests();
    let slash = format!("{}/", env.idp.issuer());
    let upper = env.idp.issuer().to_uppercase();
    for iss in [slash, upper] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("a-kid-nobody-published".into());
        let claims = json!({ "iss": iss, "sub": "u", "aud": AUD, "exp": now() + 300 });
        let t = BearerToken::new(env.idp.sign_with(header, &claims, test_issuer::INITIAL_KID));
        assert_eq!(env.label(&t).await, "unknown_issuer", "{iss}");
    }
    assert_eq!(
        env.idp.jwks_requests(),
        fetches,
        "an unknown issuer fetched keys"
    );
}

#[tokio::test]
async fn aud_matches_after_rfc8707_normalisation() {
    let env = env().await;
    let t = env.token(json!({ "aud": "HTTPS://MCP.Example.com:443/mcp" }));
    assert!(env.validator.validate(&t).await.is_ok());
    let t = env.token(json!({ "aud": "https://mcp.example.com/mcp/other" }));
    assert_eq!(env.label(&t).await, "invalid_audience");
}

#[tokio::test]
async fn aud_array_containing_ours_accepted() {
    let env = env().await;
    let t = env.token(json!({ "aud": ["account", AUD] }));
    assert!(env.validator.validate(&t).await.is_ok());
    let t = env.token(json!({ "aud": ["account", "broker"] }));
    assert_eq!(env.label(&t).await, "invalid_audience");
}

#[tokio::test]
async fn azp_only_rejected_by_default() {
    let env = env().await;
    let t = env.token(json!({ "aud": "account", "azp": AUD }));
    assert_eq!(env.label(&t).await, "invalid_audience");
}

#[tokio::test]
async fn scopes_from_scope_and_scp() {
    let env = env().await;
    let t = env.token(json!({ "scope": "openid", "scp": ["mcp:tools", "mcp:admin"] }));
    let p = env.validator.validate(&t).await.unwrap();
    assert_eq!(
        p.scopes.iter().collect::<Vec<_>>(),
        ["openid", "mcp:tools", "mcp:admin"]
    );
}

// --- Keys and caches --------------------------------------------------------

#[tokio::test]
async fn rotated_key_accepted_after_one_refresh() {
    let env = env().await;
    let before = env.idp.jwks_requests();
    env.idp.add_key(KeyAlg::Rs256, "rsa-2");
    env.idp.set_signing_kid("rsa-2");
    let t = env.token(json!({}));
    assert!(env.validator.validate(&t).await.is_ok());
    assert_eq!(env.idp.jwks_requests(), before + 1);
    // Steady state: no further JWKS traffic.
    let t2 = env.token(json!({ "sub": "bob" }));
    assert!(env.validator.validate(&t2).await.is_ok());
    assert_eq!(env.idp.jwks_requests(), before + 1);
}

#[tokio::test]
async fn failures_are_not_cached() {
    // The same token fails while the JWKS endpoint is down and passes once
    // it is back: the failure was not remembered.
    let env = env().await;
    env.idp.add_key(KeyAlg::Rs256, "rsa-late");
    let t = BearerToken::new(env.idp.sign_with(
        env.header(Algorithm::RS256, "rsa-late"),
        &env.claims(json!({})),
        "rsa-late",
    ));
    env.idp
        .set_jwks_fault(Some(test_issuer::JwksFault::Status(500)));
    assert_eq!(env.label(&t).await, "jwks");
    env.idp.set_jwks_fault(None);
    assert!(env.validator.validate(&t).await.is_ok());
    let m = env.validator.metrics();
    assert_eq!(m.failures_for("jwks"), 1);
    assert_eq!(m.token_cache_hits, 0);
}

#[tokio::test]
async fn token_cache_hit_skips_verification() {
    let env = env().await;
    let t = env.token(json!({}));
    let a = env.validator.validate_shared(&t).await.unwrap();
    let b = env.validator.validate_shared(&t).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let m = env.validator.metrics();
    assert_eq!((m.token_cache_misses, m.token_cache_hits), (1, 1));
}

#[tokio::test]
async fn cached_token_refused_once_its_key_leaves_the_set() {
    // A key removed from the issuer's JWKS (rotated out, or compromised) must
    // stop vouching for tokens at once after the next refresh, cached or not.
    let env = env().await;
    env.idp.add_key(KeyAlg::Rs256, "rsa-2");
    env.idp.set_signing_kid("rsa-2");
    let t = env.token(json!({}));
    env.validator.validate(&t).await.unwrap();
    env.validator.validate(&t).await.unwrap();
    assert_eq!(env.validator.metrics().token_cache_hits, 1);

    env.idp.remove_key("rsa-2");
    env.validator.jwks().refresh().await.unwrap();
    assert!(env.validator.jwks().get("rsa-2").is_none());
    // Refused because the key is gone from a fresh, successful fetch.
    assert_eq!(env.label(&t).await, "unknown_key");
    assert_eq!(env.validator.metrics().token_cache_hits, 1);
}

impl Env {
    /// Presents tokens with random kids until the kid-miss refresh budget is
    /// spent (the flood a key-rotation starvation attack sends).
    async fn exhaust_kid_miss_budget(&self) {
        let metrics = self.validator.jwks().metrics();
        let (base, round) = (metrics.refreshes_suppressed, metrics.kid_miss_refreshes);
        for i in 0.. {
            if self.validator.jwks().metrics().refreshes_suppressed > base {
                return;
            }
            assert!(i < 10, "kid-miss refreshes never suppressed");
            let flood = BearerToken::new(self.idp.sign_with(
                self.header(Algorithm::RS256, &format!("random-{round}-{i}")),
                &self.claims(json!({})),
                INITIAL_KID,
            ));
            let _ = self.validator.validate(&flood).await;
        }
    }

    /// The status and `Retry-After` of one request through the layer.
    async fn status_and_retry_after(&self, token: &BearerToken) -> (StatusCode, Option<String>) {
        let resp = self.app(&[]).oneshot(bearer(token)).await.unwrap();
        let retry = resp
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        (resp.status(), retry)
    }
}

#[tokio::test]
async fn rotated_key_behind_suppressed_refresh_is_503_not_401() {
    // Key-rotation starvation: random kids spend the kid-miss refresh budget,
    // then the issuer rotates. A token signed by the new key is not invalid,
    // it just cannot be judged yet: RFC 6750 `invalid_token` (401) would make
    // the client throw a good token away, so the answer is 503 with
    // Retry-After until a refresh can run, then the token is accepted.
    let cooldown = std::time::Duration::from_secs(2);
    let env = env_with_jwks(ModeKind::Jwt, |j| j.miss_cooldown = cooldown, |_, _| {}).await;
    let suppressed = || {
        env.validator
            .metrics()
            .failures_for("key_refresh_suppressed")
    };
    // The budget is per cooldown window: on a loaded machine the window may
    // end between the flood and the request, and then the refresh runs and
    // the token is accepted. Retry until the request lands inside a
    // suppressed window; whichever happens, the answer is never 401.
    let mut rotated = None;
    for attempt in 0..5 {
        env.exhaust_kid_miss_budget().await;
        let before = suppressed();
        let kid = format!("rsa-rotated-{attempt}");
        env.idp.add_key(KeyAlg::Rs256, &kid);
        env.idp.set_signing_kid(&kid);
        let t = env.token(json!({}));
        let (status, retry) = env.status_and_retry_after(&t).await;
        if suppressed() - before == 1 {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(retry.as_deref(), Some("5"));
            rotated = Some(t);
            break;
        }
        assert_eq!(
            status,
            StatusCode::OK,
            "a refresh ran, so the new key is known"
        );
    }
    let t = rotated.expect("no request landed inside a suppressed window in 5 attempts");

    tokio::time::sleep(cooldown + std::time::Duration::from_millis(100)).await;
    let (status, _) = env.status_and_retry_after(&t).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn suppressed_key_refresh_is_never_introspected() {
    // In JwtThenIntrospection a flood of random kids must not become a flood
    // of introspection calls once the refresh budget is spent.
    let env = env_with(ModeKind::JwtThenIntrospection, |_, _| {}).await;
    env.exhaust_kid_miss_budget().await;
    let before = env.idp.introspection_requests();
    env.idp.add_key(KeyAlg::Rs256, "rsa-rotated");
    env.idp.set_signing_kid("rsa-rotated");
    let (status, retry) = env.status_and_retry_after(&env.token(json!({}))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry.is_some());
    assert_eq!(env.idp.introspection_requests(), before);
}

// --- Introspection (RFC 7662) -----------------------------------------------

#[tokio::test]
async fn rfc7662_inactive_token_rejected() {
    let env = env_with(ModeKind::Introspection, |_, _| {}).await;
    let t = env.token(json!({}));
    assert_eq!(
        env.validator.validate(&t).await.unwrap().source,
        PrincipalSource::Introspection
    );
    env.idp.revoke(t.as_str());
    // `introspect` always asks: revocation is seen at once.
    let e = env.validator.introspect(&t).await.unwrap_err();
    assert_eq!(e.kind().label(), "inactive");
    let unknown = BearerToken::new("never-issued");
    assert_eq!(env.label(&unknown).await, "inactive");
}

#[tokio::test]
async fn rfc7662_client_secret_basic_and_post() {
    // RFC 6749 §2.3.1: the id and secret are form-urlencoded inside Basic.
    let secret = "s3cr:t &+=%";
    for auth in [ClientAuth::Basic, ClientAuth::Post] {
        let env = env_with(ModeKind::Introspection, |_, i| {
            i.client_secret = Secret::new(secret);
            i.client_auth = auth;
        })
        .await;
        env.idp.set_introspection_client(DEFAULT_CLIENT_ID, secret);
        let t = env.token(json!({}));
        assert!(env.validator.validate(&t).await.is_ok(), "{auth:?}");

        // Wrong credentials: the token cannot be judged (503), not "invalid".
        env.idp.set_introspection_client(DEFAULT_CLIENT_ID, "other");
        let e = env.validator.introspect(&t).await.unwrap_err();
        assert_eq!(e.kind().label(), "introspection", "{auth:?}");
        assert_eq!(env.validator.metrics().introspection_errors, 1);
    }
}

#[tokio::test]
async fn rfc7662_audience_and_issuer_checked() {
    let env = env_with(ModeKind::Introspection, |_, _| {}).await;
    let t = env.token(json!({ "aud": "https://other.example.com/" }));
    assert_eq!(env.label(&t).await, "invalid_audience");
}

#[tokio::test]
async fn jwt_then_introspection_introspects_opaque_tokens() {
    let env = env_with(ModeKind::JwtThenIntrospection, |_, _| {}).await;
    let opaque = "opaque-token-123";
    env.idp.register_opaque(
        opaque,
        json!({
            "iss": env.idp.issuer(), "sub": "svc", "aud": AUD,
            "exp": now() + 300, "scope": "mcp:tools", "client_id": "batch",
        }),
    );
    let p = env
        .validator
        .validate(&BearerToken::new(opaque))
        .await
        .unwrap();
    assert_eq!(p.source, PrincipalSource::Introspection);
    assert_eq!(p.client_id.as_deref(), Some("batch"));
    assert_eq!(env.idp.introspection_requests(), 1);

    // JWTs are decided locally, valid or not.
    let p = env.validator.validate(&env.token(json!({}))).await.unwrap();
    assert_eq!(p.source, PrincipalSource::Jwt);
    let expired = env.token(json!({ "exp": now() - 600 }));
    assert_eq!(env.label(&expired).await, "expired");
    assert_eq!(env.idp.introspection_requests(), 1);
}

#[tokio::test]
async fn introspection_unreachable_is_503() {
    let env = env_with(ModeKind::Introspection, |_, i| {
        i.endpoint = "http://127.0.0.1:1/introspect".parse().unwrap();
    })
    .await;
    let t = env.token(json!({}));
    // 503 with Retry-After (the token could not be judged), not 401: the
    // client keeps its token and retries.
    let (status, retry) = env.status_and_retry_after(&t).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(
        env.validator
            .metrics()
            .failures_for("introspection_unavailable"),
        1
    );
}

// --- Introspection amplification (issue 11) ---------------------------------

/// Sends `token` `n` times at once through the layer: every request is
/// polled before any introspection answer can arrive.
async fn concurrently(env: &Env, token: &BearerToken, n: usize) -> Vec<StatusCode> {
    let app = env.app(&[]);
    let requests = (0..n).map(|_| app.clone().oneshot(bearer(token)));
    futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect()
}

#[tokio::test]
async fn rfc7662_garbage_flood_calls_bounded_by_the_rate_limit_and_refused_503_not_401() {
    // RFC 7662: a token local validation cannot decide costs one call to the
    // authorization server, and a garbage string costs its sender nothing.
    // 10 000 distinct garbage tokens in JwtThenIntrospection with the default
    // bucket: the calls the endpoint receives are at most burst + rate ×
    // elapsed (elapsed measured, nothing timed), and every request refused a
    // call is 503 with Retry-After, not 401: RFC 6750 §3.1's `invalid_token`
    // would tell the client its token is bad, which nobody has checked (a
    // real opaque token caught in the flood must be retried, not discarded).
    const FLOOD: usize = 10_000;
    let env = env_with(ModeKind::JwtThenIntrospection, |_, _| {}).await;
    let rate = u128::from(IntrospectionConfig::DEFAULT_CALLS_PER_SEC.get());
    let burst = IntrospectionConfig::DEFAULT_BURST.get() as usize;
    let app = env.app(&[]);

    let start = Instant::now();
    let answers: Vec<(StatusCode, Option<String>)> = futures::stream::iter(0..FLOOD)
        .map(|i| {
            let req = bearer(&BearerToken::new(format!("garbage-{i}")));
            let app = app.clone();
            async move {
                let resp = app.oneshot(req).await.unwrap();
                let retry = resp
                    .headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.to_str().unwrap().to_owned());
                (resp.status(), retry)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = start.elapsed();

    let calls = env.idp.introspection_requests();
    let bound =
        burst + usize::try_from((rate * elapsed.as_nanos()).div_ceil(1_000_000_000)).unwrap();
    eprintln!("{FLOOD} garbage tokens in {elapsed:?}: {calls} introspection calls (bound {bound})");
    assert!(calls <= bound, "{calls} calls > {bound} in {elapsed:?}");
    assert!(calls >= burst, "the full bucket admits its burst: {calls}");
    // The ones admitted were judged (inactive: 401); the rest were not (503).
    let judged = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(judged, calls);
    assert_eq!(refused.len(), FLOOD - calls);
    assert!(
        refused
            .iter()
            .all(|(_, retry)| retry.as_deref() == Some("5"))
    );
    let m = env.validator.metrics();
    assert_eq!(m.introspection_calls, calls as u64);
    assert_eq!(
        m.failures_for("introspection_rate_limited"),
        refused.len() as u64
    );
    assert_eq!(m.failures_total(), FLOOD as u64);
}

#[tokio::test]
async fn rfc7662_concurrent_requests_with_one_undecidable_token_make_one_call() {
    // Single-flight: N concurrent requests with the same token that local
    // validation cannot decide share one RFC 7662 call, whatever the answer.
    const N: usize = 16;
    let env = env_with(ModeKind::JwtThenIntrospection, |_, _| {}).await;
    // Hold each call in flight while the other requests arrive.
    env.idp
        .set_introspection_delay(std::time::Duration::from_millis(200));
    let opaque = "opaque-shared";
    env.idp.register_opaque(
        opaque,
        json!({
            "iss": env.idp.issuer(), "sub": "svc", "aud": AUD,
            "exp": now() + 300, "scope": "mcp:tools",
        }),
    );
    // A JWT whose kid is still unknown after a refresh.
    let unknown_kid = BearerToken::new(env.idp.sign_with(
        env.header(Algorithm::RS256, "not-published"),
        &env.claims(json!({})),
        INITIAL_KID,
    ));
    let cases = [
        (BearerToken::new(opaque), StatusCode::OK),
        (unknown_kid, StatusCode::OK),
        (BearerToken::new("never-issued"), StatusCode::UNAUTHORIZED),
    ];
    for (calls, (token, want)) in (1..).zip(cases) {
        let statuses = concurrently(&env, &token, N).await;
        assert!(statuses.iter().all(|s| *s == want), "{statuses:?}");
        assert_eq!(env.idp.introspection_requests(), calls);
    }
    assert_eq!(env.validator.metrics().introspection_calls, 3);
}

#[tokio::test]
async fn rfc7662_verify_online_checks_are_exempt_from_the_rate_limit() {
    // `Validator::introspect` checks a token the layer already accepted (a
    // revocation-sensitive tool): its calls are bounded by authenticated
    // traffic, and a garbage flood that emptied the bucket must not turn a
    // revoked token's check into 503, or a live token's into a refusal.
    let env = env_with(ModeKind::JwtThenIntrospection, |_, i| {
        i.calls_per_sec = NonZeroU32::MIN;
        i.burst = NonZeroU32::MIN;
    })
    .await;
    let t = env.token(json!({}));
    env.validator.validate(&t).await.unwrap();
    for i in 0.. {
        assert!(i < 10, "the bucket never ran dry");
        let garbage = BearerToken::new(format!("garbage-{i}"));
        if env.label(&garbage).await == "introspection_rate_limited" {
            break;
        }
    }
    let before = env.idp.introspection_requests();
    let p = env.validator.introspect(&t).await.unwrap();
    assert_eq!(p.source, PrincipalSource::Introspection);
    env.idp.revoke(t.as_str());
    let e = env.validator.introspect(&t).await.unwrap_err();
    assert_eq!(e.kind().label(), "inactive");
    assert_eq!(env.idp.introspection_requests(), before + 2);
}

#[tokio::test]
async fn each_refusal_counts_exactly_one_failure() {
    // One refused request is one increment of one `failures` counter, however
    // many stages (JWT pipeline, introspection fallback, layer) it crossed.
    let env = env_with(ModeKind::JwtThenIntrospection, |_, _| {}).await;
    let total = || env.validator.metrics().failures_total();

    // JWT with an unknown kid after a fresh fetch -> introspection -> the
    // authorization server says inactive (revoked), through the layer.
    let unknown = BearerToken::new(env.idp.sign_with(
        env.header(Algorithm::RS256, "not-published"),
        &env.claims(json!({})),
        INITIAL_KID,
    ));
    env.idp.revoke(unknown.as_str());
    let before = total();
    let (status, _, _) = env.call(&[], bearer(&unknown)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(total() - before, 1);
    assert_eq!(env.validator.metrics().failures_for("inactive"), 1);

    // Opaque token, the introspection endpoint refuses our credentials.
    env.idp
        .set_introspection_client(DEFAULT_CLIENT_ID, "rotated");
    let before = total();
    let (status, _, _) = env.call(&[], bearer(&BearerToken::new("opaque"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(total() - before, 1);

    // A verify-online check (`introspect`) refusing a token the layer let in.
    env.idp
        .set_introspection_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
    let t = env.token(json!({}));
    env.validator.validate(&t).await.unwrap();
    env.idp.revoke(t.as_str());
    let before = total();
    assert_eq!(
        env.validator
            .introspect(&t)
            .await
            .unwrap_err()
            .kind()
            .label(),
        "inactive"
    );
    assert_eq!(total() - before, 1);

    // Refusals decided by the layer itself: no token, a missing scope.
    let before = total();
    env.call(&[], Request::post("/mcp").body(Body::empty()).unwrap())
        .await;
    env.call(&["mcp:admin"], bearer(&env.token(json!({ "sub": "bob" }))))
        .await;
    assert_eq!(total() - before, 2);
}

#[tokio::test]
async fn secret_never_in_debug_output() {
    let secret = "hunter2-very-secret";
    let env = env_with(ModeKind::Introspection, |_, i| {
        i.client_secret = Secret::new(secret)
    })
    .await;
    let config = IntrospectionConfig::new(
        "https://idp/introspect".parse().unwrap(),
        "id",
        Secret::new(secret),
    );
    for shown in [
        format!("{:?}", Secret::new(secret)),
        format!("{config:?}"),
        format!("{:?}", env.validator),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let t = env.token(json!({}));
    assert!(!format!("{t:?} {t}").contains(t.as_str()));
}

// --- The layer --------------------------------------------------------------

#[tokio::test]
async fn layer_inserts_principal() {
    let env = env().await;
    let t = env.token(json!({}));
    let (status, _, body) = env.call(&["mcp:tools"], bearer(&t)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("alice|{}", t.as_str().len()));
}

#[tokio::test]
async fn layer_shares_the_cached_principal() {
    // The layer hands the handler the `Arc` the verified-token cache holds,
    // not a deep copy of the claims.
    let env = env().await;
    let t = env.token(json!({}));
    let cached = env.validator.validate_shared(&t).await.unwrap();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let app = {
        let seen = Arc::clone(&seen);
        Router::new()
            .route(
                "/mcp",
                any(move |p: Extension<Arc<Principal>>| async move {
                    *seen.lock().unwrap() = Some(p.0);
                }),
            )
            .layer(AuthLayer::new(
                Arc::clone(&env.validator),
                vec![],
                ChallengeContext {
                    resource_metadata: METADATA.into(),
                    realm: None,
                    scope: Some("mcp:tools".into()),
                },
            ))
    };
    let resp = app.oneshot(bearer(&t)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = seen.lock().unwrap().take().unwrap();
    assert!(Arc::ptr_eq(&seen, &cached));
}

#[tokio::test]
async fn rfc6750_no_error_without_credentials() {
    let env = env().await;
    let (status, challenge, _) = env
        .call(&[], Request::post("/mcp").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge,
        // No `error` (RFC 6750 §3.1); the scope to request (MCP
        // authorization, scope selection) and where to discover the rest.
        format!("Bearer scope=\"mcp:tools\", resource_metadata=\"{METADATA}\"")
    );
}

#[tokio::test]
async fn rfc6750_insufficient_scope_is_403_with_scope() {
    let env = env().await;
    let t = env.token(json!({ "scope": "openid" }));
    let (status, challenge, _) = env.call(&["mcp:tools", "openid"], bearer(&t)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"mcp:tools openid\""),
        "{challenge}"
    );
    assert!(challenge.contains(&format!("resource_metadata=\"{METADATA}\"")));
    assert_eq!(
        env.validator.metrics().failures_for("insufficient_scope"),
        1
    );
}

#[tokio::test]
async fn expired_and_missing_scope_is_401_not_403() {
    let env = env().await;
    let t = env.token(json!({ "scope": "openid", "exp": now() - 600 }));
    let (status, challenge, _) = env.call(&["mcp:tools"], bearer(&t)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn rfc6750_query_token_is_invalid_request() {
    let env = env().await;
    let t = env.token(json!({}));
    let req = Request::post(format!("/mcp?access_token={}", t.as_str()))
        .body(Body::empty())
        .unwrap();
    let (status, challenge, _) = env.call(&[], req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn options_preflight_passes_unauthenticated() {
    let env = env().await;
    let req = Request::options("/mcp")
        .header(header::ORIGIN, "http://localhost:6274")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let (status, challenge, body) = env.call(&["mcp:tools"], req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(challenge.is_empty());
    assert_eq!(body, "anonymous|0");
}

#[tokio::test]
async fn challenge_body_never_contains_the_token() {
    let env = env().await;
    let t = env.token(json!({ "exp": now() - 600 }));
    let (_, challenge, body) = env.call(&[], bearer(&t)).await;
    assert!(!challenge.contains(t.as_str()) && !body.contains(t.as_str()));
}

#[tokio::test]
async fn dangerous_allow_all_inserts_fixed_principal() {
    let principal = Principal {
        issuer: "bench".into(),
        subject: Some("bench-user".into()),
        client_id: None,
        scopes: auth::Scopes::from_space_delimited("mcp:tools"),
        audience: vec![AUD.into()],
        expires_at: i64::MAX,
        source: PrincipalSource::Jwt,
    };
    let app =
        Router::new()
            .route(
                "/mcp",
                any(|p: Extension<Arc<Principal>>| async move {
                    p.0.subject.clone().unwrap_or_default()
                }),
            )
            .layer(dangerous::InsecureAllowAll::new(principal));
    let resp = app
        .oneshot(Request::post("/mcp").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"bench-user");
}
