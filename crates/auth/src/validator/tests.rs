//! Unit tests for the cheap stages of the pipeline (everything decided before
//! a key is looked up, so no issuer or key is needed), and, against
//! `test-issuer`, the expiry of cached answers, which needs the test-only
//! clock offset (`Validator::clock_offset`) that integration tests cannot
//! reach. Signature, claims, caches and introspection are otherwise covered
//! in `tests/it`.

// A failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::*;

const ISS: &str = "https://idp.example.com/realms/test";

fn jwks() -> jwks::JwksCache {
    // No I/O happens at construction; these tests never reach a lookup.
    let uri = "http://127.0.0.1:9/certs".parse().unwrap();
    jwks::JwksCache::new(jwks::Config::new(jwks::Source::JwksUri(uri))).unwrap()
}

fn validator_with(edit: impl FnOnce(&mut ValidationConfig)) -> Validator {
    let mut config =
        ValidationConfig::new(ISS, vec!["https://mcp.example.com/mcp".into()]).unwrap();
    edit(&mut config);
    Validator::new(
        config,
        jwks(),
        Mode::Jwt { online: None },
        TokenCacheConfig::enabled(100),
    )
    .unwrap()
}

/// An unsigned token with the given header (the signature is never reached).
fn token(header: Value) -> BearerToken {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(json!({ "iss": ISS, "exp": 4_000_000_000_i64 }).to_string());
    BearerToken::new(format!("{h}.{p}.c2ln"))
}

#[track_caller]
fn label(v: &Validator, t: &BearerToken) -> &'static str {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    match rt.block_on(v.validate(t)) {
        Ok(p) => panic!("accepted: {p:?}"),
        Err(e) => e.kind().label(),
    }
}

#[test]
fn token_over_size_cap_rejected_before_parsing() {
    let v = validator_with(|c| c.max_token_bytes = 64);
    // Not even a JWT: the size check must come first.
    let big = BearerToken::new("a".repeat(65));
    assert_eq!(label(&v, &big), "token_too_large");
    assert_eq!(label(&v, &BearerToken::new("a".repeat(64))), "malformed");
    assert_eq!(v.metrics().failures_for("token_too_large"), 1);
}

#[test]
fn rejects_alg_none_all_casings() {
    let v = validator_with(|_| {});
    for alg in ["none", "None", "NONE", "nOnE"] {
        let t = token(json!({ "alg": alg, "typ": "JWT", "kid": "k" }));
        assert_eq!(label(&v, &t), "unsupported_algorithm", "{alg}");
    }
}

#[test]
fn rejects_alg_not_in_allow_list() {
    let v = validator_with(|c| c.algorithms = vec![jsonwebtoken::Algorithm::RS256]);
    for alg in ["ES256", "PS256", "EdDSA", "HS256", "HS512", "RS1", "XYZ"] {
        let t = token(json!({ "alg": alg, "kid": "k" }));
        assert_eq!(label(&v, &t), "unsupported_algorithm", "{alg}");
    }
}

#[test]
fn symmetric_algorithms_refused_at_construction() {
    for alg in [
        jsonwebtoken::Algorithm::HS256,
        jsonwebtoken::Algorithm::HS384,
        jsonwebtoken::Algorithm::HS512,
    ] {
        let mut config = ValidationConfig::new(ISS, vec!["aud".into()]).unwrap();
        config.algorithms.push(alg);
        let e = Validator::new(
            config,
            jwks(),
            Mode::Jwt { online: None },
            TokenCacheConfig::disabled(),
        )
        .unwrap_err();
        assert_eq!(e.kind().label(), "config");
    }
    assert!(ValidationConfig::new(ISS, vec![]).is_err());
    assert!(ValidationConfig::new("", vec!["aud".into()]).is_err());
}

#[test]
fn jwt_mode_has_no_introspection() {
    // `Mode::Jwt { online: None }` has no introspection client, and asking
    // it to introspect is a configuration error, not a silent pass.
    let v = validator_with(|_| {});
    assert_eq!(v.mode(), ModeKind::Jwt);
    assert!(v.mode().uses_jwks() && !v.mode().introspects());
    assert!(!v.introspection_configured());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let e = rt
        .block_on(v.introspect(&BearerToken::new("abc")))
        .unwrap_err();
    assert_eq!(e.kind().label(), "config");
}

#[test]
fn mode_kind_of_each_mode() {
    let c = crate::IntrospectionConfig::new(
        "http://127.0.0.1:9/introspect".parse().unwrap(),
        "id",
        crate::Secret::new("s"),
    );
    assert_eq!(Mode::Jwt { online: None }.kind(), ModeKind::Jwt);
    // Jwt with an online client: still decided locally, but `introspect`
    // (explicit online checks) is available.
    let m = Mode::Jwt {
        online: Some(c.clone()),
    };
    assert_eq!(m.kind(), ModeKind::Jwt);
    assert!(!m.kind().introspects() && m.introspection().is_some());
    let config = ValidationConfig::new(ISS, vec!["aud".into()]).unwrap();
    let v = Validator::new(config, jwks(), m, TokenCacheConfig::disabled()).unwrap();
    assert!(v.introspection_configured());
    let m = Mode::JwtThenIntrospection(c.clone());
    assert_eq!(m.kind(), ModeKind::JwtThenIntrospection);
    assert!(m.kind().uses_jwks() && m.kind().introspects());
    let m = Mode::Introspection(c);
    assert!(!m.kind().uses_jwks() && m.introspection().is_some());
}

#[test]
fn rejects_unknown_crit() {
    // RFC 7515 §4.1.11: an unknown critical extension must be refused.
    let v = validator_with(|_| {});
    let t = token(json!({ "alg": "RS256", "kid": "k", "crit": ["exp"], "exp": 1 }));
    assert_eq!(label(&v, &t), "unknown_critical");
    let t = token(json!({ "alg": "RS256", "kid": "k", "crit": ["b64"], "b64": false }));
    assert_eq!(label(&v, &t), "unknown_critical");
}

#[test]
fn broken_header_with_a_known_alg_is_malformed_not_an_algorithm_error() {
    // jsonwebtoken refuses these headers for a member other than `alg`; the
    // algorithm is fine, so the rule that fired is the malformed header.
    let v = validator_with(|_| {});
    for header in [
        r#"{"alg":"RS256","kid":5}"#,
        r#"{"alg":"RS256","typ":"JWT","kid":"k","kid":"k"}"#,
        r#"{"alg":"RS256","kid":"k","crit":"b64"}"#,
    ] {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(json!({ "iss": ISS }).to_string());
        let t = BearerToken::new(format!("{h}.{p}.c2ln"));
        assert_eq!(label(&v, &t), "malformed", "{header}");
    }
    // A broken JWS header is decided locally, unlike one that may be no JWT.
    let e = header_error(br#"{"alg":"RS256","kid":5}"#);
    assert!(matches!(e.kind(), ErrorKind::Malformed(BAD_HEADER_MEMBER)));
    assert!(!undecidable_locally(&e));
    // An unknown or duplicated `alg` is still the algorithm's (or the
    // header's) fault.
    let e = header_error(br#"{"alg":"HS1024","kid":"k"}"#);
    assert!(matches!(e.kind(), ErrorKind::UnsupportedAlgorithm));
    let e = header_error(br#"{"alg":"RS256","alg":"none","kid":"k"}"#);
    assert!(matches!(e.kind(), ErrorKind::Malformed(BAD_HEADER)));
}

#[test]
fn missing_kid_rejected() {
    let v = validator_with(|_| {});
    let t = token(json!({ "alg": "RS256", "typ": "JWT" }));
    assert_eq!(label(&v, &t), "malformed");
}

#[test]
fn rfc9068_strict_typ_requires_at_jwt() {
    let strict = validator_with(|c| c.typ = TypPolicy::Rfc9068Strict);
    for (typ, strict_ok, lenient_ok) in [
        (Some("at+jwt"), true, true),
        (Some("AT+JWT"), true, true),
        (Some("application/at+jwt"), true, true),
        (Some("JWT"), false, true),
        (Some("jwt"), false, true),
        (None, false, true),
        (Some("id_token+jwt"), false, false),
        (Some("JOSE"), false, false),
        (Some("application/"), false, false),
    ] {
        assert_eq!(
            typ_accepted(TypPolicy::Rfc9068Strict, typ),
            strict_ok,
            "strict {typ:?}"
        );
        assert_eq!(
            typ_accepted(TypPolicy::Lenient, typ),
            lenient_ok,
            "lenient {typ:?}"
        );
    }
    // And through the pipeline: refused before any key lookup.
    let t = token(json!({ "alg": "RS256", "typ": "JWT", "kid": "k" }));
    assert_eq!(label(&strict, &t), "invalid_type");
}

#[test]
fn opaque_and_jwe_tokens_are_malformed_not_a_jws() {
    let v = validator_with(|_| {});
    for t in ["opaque-token", "a.b", "a.b.c.d.e"] {
        assert_eq!(label(&v, &BearerToken::new(t)), "malformed", "{t}");
    }
    // Only "not a JWT at all" is handed to introspection in
    // JwtThenIntrospection mode; a broken JWT is decided locally.
    assert!(undecidable_locally(&ErrorKind::Malformed(NOT_A_JWS).into()));
    assert!(undecidable_locally(&ErrorKind::UnknownKey.into()));
    assert!(!undecidable_locally(&ErrorKind::InvalidSignature.into()));
    assert!(!undecidable_locally(&ErrorKind::Expired.into()));
}

#[test]
fn failures_are_counted_by_label() {
    let v = validator_with(|_| {});
    let t = token(json!({ "alg": "none" }));
    label(&v, &t);
    label(&v, &t);
    let m = v.metrics();
    assert_eq!(m.failures_for("unsupported_algorithm"), 2);
    assert_eq!(m.failures.len(), ErrorKind::LABELS.len());
    assert_eq!(m.token_cache_hits, 0);
}

#[test]
fn introspection_endpoint_must_be_https_unless_loopback() {
    // The endpoint receives our client secret and every token: plain http
    // is refused at construction, except to a loopback host.
    let introspection = |endpoint: &str| {
        crate::IntrospectionConfig::new(endpoint.parse().unwrap(), "id", crate::Secret::new("s"))
    };
    let build = |c: crate::IntrospectionConfig| {
        let config = ValidationConfig::new(ISS, vec!["aud".into()]).unwrap();
        Validator::new(
            config,
            jwks(),
            Mode::Introspection(c),
            TokenCacheConfig::disabled(),
        )
    };
    let url = "http://idp.example.com/introspect";
    let e = build(introspection(url)).unwrap_err();
    assert_eq!(e.kind().label(), "config");
    assert!(e.to_string().contains(url), "{e}");
    for ok in [
        "https://idp.example.com/introspect",
        "http://127.0.0.1:8080/introspect",
        "http://[::1]:8080/introspect",
        "http://localhost:8080/introspect",
    ] {
        assert!(build(introspection(ok)).is_ok(), "{ok}");
    }
    // The explicit opt-out.
    let mut insecure = introspection(url);
    insecure.allow_insecure_http = true;
    assert!(build(insecure).is_ok());
}

// --- Cache lifetimes, on the test-only clock ---------------------------------

const AUD: &str = "https://mcp.example.com/mcp";

/// Moves `v`'s clock `seconds` forward (cumulative): expiry without sleeping.
fn shift_clock(v: &Validator, seconds: i64) {
    v.clock_offset.fetch_add(seconds, Relaxed);
}

/// A validator in `mode` against a fresh in-process issuer.
async fn against_issuer(
    mode: ModeKind,
    edit: impl FnOnce(&mut crate::IntrospectionConfig),
) -> (test_issuer::TestIssuer, Validator) {
    let idp = test_issuer::TestIssuer::start().await;
    let source = jwks::Source::JwksUri(idp.jwks_uri().parse().unwrap());
    let keys = jwks::JwksCache::new(jwks::Config::new(source)).unwrap();
    keys.refresh().await.unwrap();
    let mut introspection = crate::IntrospectionConfig::new(
        idp.introspection_endpoint().parse().unwrap(),
        test_issuer::DEFAULT_CLIENT_ID,
        crate::Secret::new(test_issuer::DEFAULT_CLIENT_SECRET),
    );
    edit(&mut introspection);
    let mode = match mode {
        ModeKind::Jwt => Mode::Jwt { online: None },
        ModeKind::JwtThenIntrospection => Mode::JwtThenIntrospection(introspection),
        ModeKind::Introspection => Mode::Introspection(introspection),
    };
    let config = ValidationConfig::new(idp.issuer(), vec![AUD.into()]).unwrap();
    let v = Validator::new(config, keys, mode, TokenCacheConfig::enabled(1000)).unwrap();
    (idp, v)
}

/// A token from `idp` expiring `secs` from now (by `v`'s clock).
fn token_expiring_in(idp: &test_issuer::TestIssuer, v: &Validator, secs: i64) -> BearerToken {
    let mut claims = idp.claims("alice", AUD, "openid mcp:tools");
    claims["exp"] = json!(v.now() + secs);
    BearerToken::new(idp.sign(&claims))
}

#[tokio::test]
async fn token_cache_rechecks_exp_on_hit() {
    let (idp, v) = against_issuer(ModeKind::Jwt, |_| {}).await;
    let t = token_expiring_in(&idp, &v, 30);
    v.validate(&t).await.unwrap();
    v.validate(&t).await.unwrap();
    assert_eq!(v.metrics().token_cache_hits, 1);
    // 30 s to expiry + 60 s leeway: 120 s later the cached entry is stale.
    shift_clock(&v, 120);
    let e = v.validate(&t).await.unwrap_err();
    assert_eq!(e.kind().label(), "expired");
    assert_eq!(v.metrics().token_cache_hits, 1);
}

#[tokio::test]
async fn introspection_result_cached_until_exp() {
    let (idp, v) = against_issuer(ModeKind::Introspection, |i| {
        i.positive_ttl = std::time::Duration::from_secs(3600);
    })
    .await;
    let t = token_expiring_in(&idp, &v, 30);
    v.validate(&t).await.unwrap();
    v.validate(&t).await.unwrap();
    assert_eq!(idp.introspection_requests(), 1);
    assert_eq!(v.metrics().introspection_cache_hits, 1);
    // Past exp the cached answer is not used, however long positive_ttl is.
    shift_clock(&v, 31);
    let _ = v.validate(&t).await;
    assert_eq!(idp.introspection_requests(), 2);
}

#[tokio::test]
async fn introspection_positive_ttl_bounds_cache() {
    let (idp, v) = against_issuer(ModeKind::Introspection, |_| {}).await;
    let t = token_expiring_in(&idp, &v, 300);
    v.validate(&t).await.unwrap();
    shift_clock(&v, 61);
    v.validate(&t).await.unwrap();
    assert_eq!(idp.introspection_requests(), 2);
}
