//! Unit tests for the pure parts: JWK conversion, key/alg binding, the issuer comparison,
//! the kid-miss budget, refresh and retry delays, and config validation.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use crate::cache::{Flight, refresh_delay, retry_delay};
use crate::fetch::{check_discovered_jwks_uri, issuer_matches};
use crate::key::{Skip, parse_jwk, parse_key_set};
use crate::{Config, EcCurve, ErrorKind, KeyFamily, OkpCurve, Source, VerifyingKey};

// RFC 7517 Appendix A.1 (RSA 2048 and EC P-256) and RFC 8037 Appendix A.2 (Ed25519).
const RSA_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
const EC_X: &str = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
const EC_Y: &str = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn rsa(kid: &str) -> Value {
    json!({ "kty": "RSA", "kid": kid, "n": RSA_N, "e": "AQAB" })
}

fn ec256(kid: &str) -> Value {
    json!({ "kty": "EC", "kid": kid, "crv": "P-256", "x": EC_X, "y": EC_Y })
}

/// A freshly generated P-384 key (the RFCs give no P-384 example).
fn ec384(kid: &str) -> Value {
    use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    let pair = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    // SEC1 uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    let (x, y) = point[1..].split_at(48);
    json!({
        "kty": "EC", "kid": kid, "crv": "P-384",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    })
}

fn ed25519(kid: &str) -> Value {
    json!({ "kty": "OKP", "kid": kid, "crv": "Ed25519", "x": ED_X })
}

fn with(mut jwk: Value, member: &str, value: Value) -> Value {
    jwk[member] = value;
    jwk
}

#[track_caller]
fn key(jwk: Value) -> VerifyingKey {
    match parse_jwk(&jwk) {
        Ok(key) => key,
        Err(skip) => panic!("expected a usable key from {jwk}, got {skip:?}"),
    }
}

#[track_caller]
fn unusable(jwk: Value) {
    assert!(
        matches!(parse_jwk(&jwk), Err(Skip::Unusable(_))),
        "expected {jwk} to be unusable"
    );
}

const ALL_ALGS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[track_caller]
fn check_permits(key: &VerifyingKey, permitted: &[Algorithm]) {
    for alg in ALL_ALGS {
        assert_eq!(
            key.permits(alg),
            permitted.contains(&alg),
            "kid {} with {alg:?}",
            key.kid
        );
    }
}

/// RFC 7518 §3.1 family fit, RFC 7517 §4.4 `alg` pinning, never HMAC with a public key.
#[test]
fn permits_matrix() {
    use Algorithm::*;
    let rsa_key = key(rsa("r"));
    assert_eq!(rsa_key.family, KeyFamily::Rsa);
    check_permits(&rsa_key, &[RS256, RS384, RS512, PS256, PS384, PS512]);
    // The JWK's `alg` pins the algorithm: an RS256 key does not verify PS256 tokens.
    check_permits(&key(with(rsa("r"), "alg", json!("RS256"))), &[RS256]);
    check_permits(&key(with(rsa("r"), "alg", json!("PS256"))), &[PS256]);

    let p256 = key(ec256("e"));
    assert_eq!(p256.family, KeyFamily::Ec(EcCurve::P256));
    check_permits(&p256, &[ES256]);
    let p384 = key(ec384("e"));
    assert_eq!(p384.family, KeyFamily::Ec(EcCurve::P384));
    check_permits(&p384, &[ES384]);

    let ed = key(ed25519("o"));
    assert_eq!(ed.family, KeyFamily::Okp(OkpCurve::Ed25519));
    check_permits(&ed, &[EdDSA]);
    check_permits(&key(with(ed25519("o"), "alg", json!("EdDSA"))), &[EdDSA]);
}

/// An EC public key must be a point on its curve (SEC 1 §3.2.2; the invalid-curve attack):
/// such a key is skipped when the JWKS is fetched, not discovered at every verification.
#[test]
fn ec_point_not_on_the_curve_is_unusable() {
    let coord = URL_SAFE_NO_PAD.encode([7u8; 48]);
    unusable(json!({ "kty": "EC", "kid": "e", "crv": "P-384", "x": coord, "y": coord }));
    let coord = URL_SAFE_NO_PAD.encode([7u8; 32]);
    unusable(json!({ "kty": "EC", "kid": "e", "crv": "P-256", "x": coord, "y": coord }));
}

/// `verify_signature` checks with the key parsed at fetch time, for the algorithm asked and
/// only if the key permits it (RFC 7518 §3.1 family, RFC 7517 §4.4 pinned `alg`).
#[tokio::test]
async fn verify_signature_with_the_parsed_key() {
    let issuer = test_issuer::TestIssuer::start().await;
    let claims = json!({ "sub": "alice", "exp": 4_000_000_000u64 });
    for alg in [
        test_issuer::KeyAlg::Rs256,
        test_issuer::KeyAlg::Ps256,
        test_issuer::KeyAlg::Es256,
        test_issuer::KeyAlg::Es384,
        test_issuer::KeyAlg::EdDsa,
    ] {
        let kid = format!("k-{alg:?}");
        issuer.add_key(alg, &kid);
        issuer.set_signing_kid(&kid);
        let token = issuer.sign(&claims);
        let (message, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let verifying = key(issuer.public_jwk(&kid));
        let jose = alg.algorithm();
        assert!(
            verifying.verify_signature(jose, message.as_bytes(), &signature),
            "{alg:?}: a genuine signature must verify"
        );
        let mut tampered = message.as_bytes().to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(
            !verifying.verify_signature(jose, &tampered, &signature),
            "{alg:?}: a changed message must not verify"
        );
        let mut forged = signature.clone();
        forged[0] ^= 1;
        assert!(
            !verifying.verify_signature(jose, message.as_bytes(), &forged),
            "{alg:?}: a changed signature must not verify"
        );
        // Another algorithm of the same family or another family: never.
        for other in ALL_ALGS.into_iter().filter(|a| *a != jose) {
            assert!(
                !verifying.verify_signature(other, message.as_bytes(), &signature),
                "{alg:?} signature accepted as {other:?}"
            );
        }
    }
    // A JWK pinned to PS256 does not verify an RS256 signature made with the same RSA key.
    let kid = "k-Rs256";
    issuer.set_signing_kid(kid);
    let token = issuer.sign(&claims);
    let (message, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let pinned = key(with(issuer.public_jwk(kid), "alg", json!("PS256")));
    assert!(!pinned.verify_signature(Algorithm::RS256, message.as_bytes(), &signature));
    let unpinned = key(with(issuer.public_jwk(kid), "alg", json!("RS256")));
    assert!(unpinned.verify_signature(Algorithm::RS256, message.as_bytes(), &signature));
}

#[test]
fn jwk_alg_must_fit_the_key_type() {
    unusable(with(rsa("r"), "alg", json!("ES256")));
    unusable(with(ec256("e"), "alg", json!("ES384")));
    unusable(with(ed25519("o"), "alg", json!("RS256")));
    unusable(with(rsa("r"), "alg", json!("HS256")));
    unusable(with(rsa("r"), "alg", json!("none")));
}

#[test]
fn keeps_only_signing_keys() {
    assert!(parse_jwk(&with(rsa("r"), "use", json!("sig"))).is_ok());
    let enc = with(
        with(rsa("enc"), "use", json!("enc")),
        "alg",
        json!("RSA-OAEP"),
    );
    assert_eq!(parse_jwk(&enc).err(), Some(Skip::NotForSignatures));
    let encrypt_ops = with(rsa("r"), "key_ops", json!(["encrypt"]));
    assert_eq!(parse_jwk(&encrypt_ops).err(), Some(Skip::NotForSignatures));
    assert!(parse_jwk(&with(rsa("r"), "key_ops", json!(["verify"]))).is_ok());
}

#[test]
fn skips_unparsable_key_keeps_others() {
    let keys = [
        rsa("good-rsa"),
        json!({ "kty": "RSA", "kid": "no-e", "n": RSA_N }),
        json!({ "kty": "RSA", "kid": "bad-b64", "n": "!!", "e": "AQAB" }),
        json!({ "kty": "RSA", "kid": "short", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB" }),
        json!({ "kty": "EC", "kid": "short-x", "crv": "P-256", "x": "AAAA", "y": EC_Y }),
        json!({ "kty": "EC", "kid": "p521", "crv": "P-521", "x": EC_X, "y": EC_Y }),
        json!({ "kty": "OKP", "kid": "x25519", "crv": "X25519", "x": ED_X }),
        json!({ "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" }),
        json!({ "kty": "RSA", "n": RSA_N, "e": "AQAB" }),
        json!("not an object"),
        ed25519("good-ed"),
        // A duplicate kid keeps the first key.
        ec256("good-rsa"),
    ];
    let set = parse_key_set(&keys);
    let mut kids: Vec<&str> = set.keys().map(String::as_str).collect();
    kids.sort_unstable();
    assert_eq!(kids, ["good-ed", "good-rsa"]);
    assert_eq!(set["good-rsa"].family, KeyFamily::Rsa);
}

/// OpenID Connect Discovery 1.0 §4.3: identical, except the one slash `Url` cannot represent.
#[test]
fn discovery_issuer_must_match_exactly() {
    let realm = Url::parse("https://idp.example/realms/mcp").unwrap();
    assert!(issuer_matches(&realm, "https://idp.example/realms/mcp"));
    assert!(!issuer_matches(&realm, "https://idp.example/realms/mcp/"));
    assert!(!issuer_matches(&realm, "https://IDP.example/realms/mcp"));
    assert!(!issuer_matches(&realm, "http://idp.example/realms/mcp"));
    assert!(!issuer_matches(&realm, "https://idp.example/realms/other"));
    let root = Url::parse("https://idp.example").unwrap();
    assert!(issuer_matches(&root, "https://idp.example"));
    assert!(issuer_matches(&root, "https://idp.example/"));
    assert!(!issuer_matches(&root, "https://idp.example:443/x"));
}

#[test]
fn kid_miss_budget_is_per_cooldown_window() {
    let cooldown = Duration::from_secs(30);
    let mut flight = Flight::default();
    let t0 = Instant::now();
    assert!(flight.take_miss_budget(t0, cooldown, 2));
    assert!(flight.take_miss_budget(t0 + Duration::from_secs(1), cooldown, 2));
    assert!(!flight.take_miss_budget(t0 + Duration::from_secs(29), cooldown, 2));
    // A new window starts once the cooldown has passed.
    assert!(flight.take_miss_budget(t0 + cooldown, cooldown, 2));
    assert!(flight.take_miss_budget(t0 + cooldown, cooldown, 2));
    assert!(!flight.take_miss_budget(t0 + cooldown, cooldown, 2));
    // A zero budget disables kid-miss refreshes.
    assert!(!Flight::default().take_miss_budget(t0, cooldown, 0));
}

fn config() -> Config {
    Config::new(Source::JwksUri(
        Url::parse("https://idp.example/certs").unwrap(),
    ))
}

#[test]
fn refresh_delay_is_ttl_minus_refresh_ahead_within_jitter() {
    let config = config();
    let mut rng = StdRng::seed_from_u64(7);
    let base = config.ttl - config.refresh_ahead;
    for _ in 0..1000 {
        let delay = refresh_delay(&config, &mut rng);
        assert!(
            delay >= base - config.jitter && delay <= base + config.jitter,
            "{delay:?}"
        );
    }
    let mut tiny = config;
    tiny.ttl = Duration::from_millis(10);
    tiny.refresh_ahead = Duration::ZERO;
    assert!(
        refresh_delay(&tiny, &mut rng) >= tiny.retry_min,
        "never below retry_min"
    );
}

#[test]
fn retry_delay_doubles_with_equal_jitter_up_to_retry_max() {
    let config = config();
    let mut rng = StdRng::seed_from_u64(7);
    for failures in 1..=40u32 {
        let ceiling = config
            .retry_min
            .saturating_mul(1 << (failures - 1).min(30))
            .min(config.retry_max);
        for _ in 0..100 {
            let delay = retry_delay(&config, failures, &mut rng);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "failure {failures}: {delay:?}"
            );
        }
    }
}

#[test]
fn config_new_fills_documented_defaults() {
    let c = config();
    assert_eq!(c.ttl, Duration::from_secs(300));
    assert_eq!(c.refresh_ahead, Duration::from_secs(30));
    assert_eq!(c.jitter, Duration::from_secs(10));
    assert_eq!(c.miss_cooldown, Duration::from_secs(30));
    assert_eq!(c.miss_max_fetches, 2);
    assert_eq!(c.outage_window, Duration::from_secs(86_400));
    assert_eq!(
        (c.retry_min, c.retry_max),
        (Duration::from_secs(1), Duration::from_secs(60))
    );
    assert_eq!(c.http_timeout, Duration::from_secs(5));
    assert_eq!(c.max_body_bytes, 256 * 1024);
}

#[test]
fn inconsistent_config_is_refused() {
    let cases: [fn(&mut Config); 6] = [
        |c| c.refresh_ahead = c.ttl,
        |c| c.ttl = Duration::ZERO,
        |c| c.retry_min = c.retry_max + Duration::from_secs(1),
        |c| c.http_timeout = Duration::ZERO,
        |c| c.max_body_bytes = 0,
        |c| c.source = Source::JwksUri(Url::parse("file:///etc/jwks.json").unwrap()),
    ];
    for (i, mutate) in cases.into_iter().enumerate() {
        let mut c = config();
        mutate(&mut c);
        let err = crate::JwksCache::new(c).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Config(_)),
            "case {i}: {err}"
        );
    }
}

#[test]
fn error_display_is_lowercase_without_trailing_period() {
    let kinds = [
        ErrorKind::Config("x".into()),
        ErrorKind::Http("x".into()),
        ErrorKind::Timeout,
        ErrorKind::Redirect { status: 302 },
        ErrorKind::Status(500),
        ErrorKind::BodyTooLarge { limit: 1 },
        ErrorKind::InvalidJson("x".into()),
        ErrorKind::InvalidDiscovery("x".into()),
        ErrorKind::IssuerMismatch {
            expected: "a".into(),
            found: "b".into(),
        },
        ErrorKind::NoUsableKeys,
        ErrorKind::UnknownKid,
        ErrorKind::RefreshSuppressed,
        ErrorKind::FetchAborted,
    ];
    for kind in kinds {
        let text = crate::Error::from(kind).to_string();
        assert!(text.starts_with(|c: char| c.is_ascii_lowercase()), "{text}");
        assert!(!text.ends_with('.'), "{text}");
    }
}

#[test]
fn discovery_never_downgrades_an_https_issuer() {
    let https = Url::parse("https://idp.example/realms/r").unwrap();
    let local = Url::parse("http://127.0.0.1:8080/realms/r").unwrap();
    let check = |issuer: &Url, jwks: &str, allow| {
        check_discovered_jwks_uri(issuer, &Url::parse(jwks).unwrap(), allow)
            .map_err(|e| e.into_kind())
    };
    // An https issuer announcing http keys: refused even for loopback and
    // even with allow_insecure_http.
    for jwks in ["http://idp.example/certs", "http://127.0.0.1/certs"] {
        for allow in [false, true] {
            assert!(
                matches!(
                    check(&https, jwks, allow),
                    Err(ErrorKind::InvalidDiscovery(_))
                ),
                "{jwks} {allow}"
            );
        }
    }
    assert!(check(&https, "https://keys.idp.example/certs", false).is_ok());
    // A loopback http issuer (tests, a local IdP) may use loopback http keys,
    // but not send the fetch to another host in the clear.
    assert!(check(&local, "http://localhost:8080/certs", false).is_ok());
    assert!(matches!(
        check(&local, "http://idp.example/certs", false),
        Err(ErrorKind::InvalidDiscovery(_))
    ));
    assert!(check(&local, "http://idp.example/certs", true).is_ok());
    assert!(matches!(
        check(&local, "ftp://idp.example/certs", true),
        Err(ErrorKind::InvalidDiscovery(_))
    ));
}
