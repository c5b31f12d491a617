//! Criterion micro-benchmarks of [`auth::Validator`] against raw crypto.
//!
//! One group, `validate`, so that one run shows the ratios that matter:
//!
//! - `cached/rs256` — a verified-token cache hit (`validate_shared`) for a
//!   Keycloak-shaped access token of about 1.3 KiB (target: ≤ 1 µs);
//! - `uncached/{rs256,es256,eddsa}` — full validation with the token cache
//!   disabled and the key already in the JWKS cache (target for RS256: ≤ 1.2×
//!   the bare signature verification);
//! - `introspection_hit/rs256` — `Mode::Introspection` with the answer cached;
//! - `overhead_over_verify/*` — `uncached` minus `verify_parsed`, the two
//!   interleaved call by call: what our checks add to the signature, robust
//!   to the drift of a shared machine (the ratio is
//!   `(verify_parsed + overhead) / verify_parsed`);
//! - `verify_parsed/*` — aws-lc-rs `ParsedPublicKey::verify_sig` on the
//!   signing input with a pre-parsed key and a pre-decoded signature: the
//!   floor no JWT library can go below;
//! - `verify_jwks_key/*` — `jwks::VerifyingKey::verify_signature`, the step
//!   the validator uses: the same check with the key the JWKS cache parsed;
//! - `verify_jwt/*` — `jsonwebtoken::crypto::verify` on the signing input with
//!   the JWKS cache's own `DecodingKey`: what jsonwebtoken pays for the
//!   signature alone (key conversion, base64 of the signature);
//! - `decode_min/*` — bare `jsonwebtoken::decode` with a minimal `Validation`
//!   (no required claims, no exp/nbf/aud) into `IgnoredAny`.
//!
//! A second group, `cache_key`, compares the candidate hashes for the
//! verified-token cache key over the same token.
//!
//! Keys and tokens come from the in-process `test-issuer`; the JWKS is fetched
//! (and the introspection answer cached) once before measuring, so no timed
//! iteration touches the network. Every measured path completes without
//! suspending, so futures are polled once (`now_or_never`) instead of going
//! through a runtime's `block_on`, which would dominate a sub-microsecond hit.
//!
//! Run: `cargo bench -p auth --bench validate -- --warm-up-time 1 --measurement-time 3`.

// A failed setup step should abort the benchmark loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::{
    hash::{BuildHasher, Hasher},
    hint::black_box,
    time::{SystemTime, UNIX_EPOCH},
};

use auth::{
    BearerToken, IntrospectionConfig, Mode, ModeKind, Secret, TokenCacheConfig, ValidationConfig,
    Validator,
};
use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt as _;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Value, json};
use test_issuer::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, INITIAL_KID, KeyAlg, TestIssuer};

const AUD: &str = "https://mcp.example.com/mcp";

/// One signed token and what the baselines need to verify it.
struct Case {
    name: &'static str,
    alg: Algorithm,
    kid: &'static str,
    token: BearerToken,
}

struct Fixture {
    /// Keeps the issuer's server task alive.
    _idp: TestIssuer,
    rt: tokio::runtime::Runtime,
    cases: Vec<Case>,
    cached: Validator,
    uncached: Validator,
    introspecting: Validator,
    public_der: Vec<(&'static str, Vec<u8>)>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims of a Keycloak 26 access token from the password grant with the
/// `roles`, `profile`, `email` and `mcp:tools` scopes: about 1 KiB of JSON.
/// `account` comes first in `aud`, as the `roles` scope's audience resolver
/// emits it, so the audience check has to look past a non-matching value.
fn keycloak_claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "jti": "onrtac:8d4b0c52-5f4e-4f0e-9a43-1f0b6c7f2a91",
        "iss": issuer,
        "aud": ["account", AUD],
        "sub": "f3c2a8e4-1b7d-4c9e-8a65-2d0f9b3e7c14",
        "typ": "Bearer",
        "azp": "mcp-inspector",
        "sid": "6a1f4e2b-9c3d-4b8a-a7e5-0c2d1f3b4e6a",
        "acr": "1",
        "allowed-origins": ["http://localhost:6274", "https://claude.ai"],
        "realm_access": {
            "roles": ["offline_access", "default-roles-mcp", "uma_authorization", "template-reader"]
        },
        "resource_access": {
            "account": { "roles": ["manage-account", "manage-account-links", "view-profile"] },
            "mcp-server": { "roles": ["templates:read", "templates:render"] }
        },
        "scope": "openid mcp:tools profile email",
        "email_verified": true,
        "name": "Alice Example",
        "preferred_username": "alice",
        "given_name": "Alice",
        "family_name": "Example",
        "email": "alice@example.com"
    })
}

fn validator(idp: &TestIssuer, jwks: jwks::JwksCache, mode: ModeKind, cache: bool) -> Validator {
    let mut config = ValidationConfig::new(idp.issuer(), vec![AUD.into()]).unwrap();
    config.algorithms = vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];
    let introspection = IntrospectionConfig::new(
        idp.introspection_endpoint().parse().unwrap(),
        DEFAULT_CLIENT_ID,
        Secret::new(DEFAULT_CLIENT_SECRET),
    );
    let mode = match mode {
        ModeKind::Jwt => Mode::Jwt { online: None },
        ModeKind::JwtThenIntrospection => Mode::JwtThenIntrospection(introspection),
        ModeKind::Introspection => Mode::Introspection(introspection),
    };
    let cache = if cache {
        TokenCacheConfig::enabled(10_000)
    } else {
        TokenCacheConfig::disabled()
    };
    Validator::new(config, jwks, mode, cache).unwrap()
}

fn fixture() -> Fixture {
    // One thread: the issuer only has to answer during set-up, and a worker
    // thread would compete with the measurement on a small machine.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (idp, cases, [cached, uncached, introspecting], public_der) = rt.block_on(async {
        let idp = TestIssuer::start().await;
        idp.add_key(KeyAlg::Es256, "ec-1");
        idp.add_key(KeyAlg::EdDsa, "ed-1");

        let mut cases = Vec::new();
        for (name, alg, kid) in [
            ("rs256", Algorithm::RS256, INITIAL_KID),
            ("es256", Algorithm::ES256, "ec-1"),
            ("eddsa", Algorithm::EdDSA, "ed-1"),
        ] {
            idp.set_signing_kid(kid);
            let token = idp.sign(&keycloak_claims(&idp.issuer()));
            cases.push(Case {
                name,
                alg,
                kid,
                token: BearerToken::new(token),
            });
        }

        let jwks = jwks::JwksCache::new(jwks::Config::new(jwks::Source::JwksUri(
            idp.jwks_uri().parse().unwrap(),
        )))
        .unwrap();
        jwks.refresh().await.unwrap();

        let cached = validator(&idp, jwks.clone(), ModeKind::Jwt, true);
        let uncached = validator(&idp, jwks.clone(), ModeKind::Jwt, false);
        let introspecting = validator(&idp, jwks, ModeKind::Introspection, true);
        for case in &cases {
            // Every case must validate, and the first call fills the caches.
            cached.validate_shared(&case.token).await.unwrap();
            uncached.validate_shared(&case.token).await.unwrap();
            introspecting.validate_shared(&case.token).await.unwrap();
        }
        let public_der: Vec<_> = cases
            .iter()
            .map(|c| (c.kid, idp.public_key_der(c.kid)))
            .collect();
        (idp, cases, [cached, uncached, introspecting], public_der)
    });
    Fixture {
        _idp: idp,
        rt,
        cases,
        cached,
        uncached,
        introspecting,
        public_der,
    }
}

/// Polls a future that must complete without suspending.
fn ready<T>(f: impl Future<Output = T>) -> T {
    f.now_or_never()
        .expect("the measured path must not suspend")
}

fn split_signature(token: &str) -> (&str, &str) {
    token.rsplit_once('.').unwrap()
}

fn aws_lc_algorithm(alg: Algorithm) -> &'static dyn aws_lc_rs::signature::VerificationAlgorithm {
    use aws_lc_rs::signature;
    match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        _ => unreachable!("not benchmarked"),
    }
}

fn bench_validate(c: &mut Criterion) {
    let fx = fixture();
    let _guard = fx.rt.enter();
    let rs256 = &fx.cases[0];
    eprintln!(
        "token sizes: {}",
        fx.cases
            .iter()
            .map(|c| format!("{} {} B", c.name, c.token.as_str().len()))
            .collect::<Vec<_>>()
            .join(", ")
    );

    eprintln!(
        "validate_shared future: {} B",
        std::mem::size_of_val(&fx.cached.validate_shared(&rs256.token))
    );

    let mut g = c.benchmark_group("validate");

    g.bench_function("cached/rs256", |b| {
        b.iter(|| ready(fx.cached.validate_shared(black_box(&rs256.token))).unwrap());
    });
    g.bench_function("introspection_hit/rs256", |b| {
        b.iter(|| ready(fx.introspecting.validate_shared(black_box(&rs256.token))).unwrap());
    });

    for case in &fx.cases {
        let raw = case.token.as_str();
        let (message, signature_b64) = split_signature(raw);
        let key = fx.uncached.jwks().get(case.kid).unwrap();
        let der = &fx
            .public_der
            .iter()
            .find(|(k, _)| *k == case.kid)
            .unwrap()
            .1;
        let parsed = match case.alg {
            // ParsedPublicKey takes SubjectPublicKeyInfo for RSA and EC; for
            // Ed25519 it takes the raw 32-byte key (the SPKI's last 32 bytes).
            Algorithm::EdDSA => aws_lc_rs::signature::ParsedPublicKey::new(
                aws_lc_algorithm(case.alg),
                &der[der.len() - 32..],
            ),
            _ => aws_lc_rs::signature::ParsedPublicKey::new(aws_lc_algorithm(case.alg), der),
        }
        .unwrap();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature_b64)
            .unwrap();
        let mut minimal = Validation::new(case.alg);
        minimal.required_spec_claims.clear();
        minimal.validate_exp = false;
        minimal.validate_nbf = false;
        minimal.validate_aud = false;

        g.bench_function(format!("uncached/{}", case.name), |b| {
            b.iter(|| ready(fx.uncached.validate_shared(black_box(&case.token))).unwrap());
        });
        // The cost of everything but the signature, measured as the difference
        // of the two, interleaved call by call so that the machine's drift
        // (this one is shared and noisy) hits both sides alike.
        g.bench_function(format!("overhead_over_verify/{}", case.name), |b| {
            b.iter_custom(|iters| {
                let mut validate = std::time::Duration::ZERO;
                let mut verify = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let t0 = std::time::Instant::now();
                    black_box(ready(fx.uncached.validate_shared(black_box(&case.token))).unwrap());
                    let t1 = std::time::Instant::now();
                    parsed
                        .verify_sig(black_box(message.as_bytes()), black_box(&signature))
                        .unwrap();
                    let t2 = std::time::Instant::now();
                    validate += t1 - t0;
                    verify += t2 - t1;
                }
                validate.saturating_sub(verify)
            });
        });
        g.bench_function(format!("verify_parsed/{}", case.name), |b| {
            b.iter(|| {
                parsed
                    .verify_sig(black_box(message.as_bytes()), black_box(&signature))
                    .unwrap();
            });
        });
        g.bench_function(format!("verify_jwks_key/{}", case.name), |b| {
            b.iter(|| {
                assert!(key.verify_signature(
                    case.alg,
                    black_box(message.as_bytes()),
                    black_box(&signature)
                ));
            });
        });
        g.bench_function(format!("verify_jwt/{}", case.name), |b| {
            b.iter(|| {
                assert!(
                    jsonwebtoken::crypto::verify(
                        black_box(signature_b64),
                        black_box(message.as_bytes()),
                        &key.decoding_key,
                        case.alg,
                    )
                    .unwrap()
                );
            });
        });
        g.bench_function(format!("decode_min/{}", case.name), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde::de::IgnoredAny>(
                    black_box(raw),
                    &key.decoding_key,
                    &minimal,
                )
                .unwrap()
            });
        });
    }
    g.finish();

    // Where jsonwebtoken's decode spends the time that is not the signature.
    let mut g = c.benchmark_group("parts");
    let raw = rs256.token.as_str();
    g.bench_function("decode_header/rs256", |b| {
        b.iter(|| jsonwebtoken::decode_header(black_box(raw)).unwrap());
    });
    g.bench_function("insecure_decode/rs256", |b| {
        b.iter(|| {
            jsonwebtoken::dangerous::insecure_decode::<serde::de::IgnoredAny>(black_box(raw))
                .unwrap()
        });
    });
    g.finish();

    let raw = rs256.token.as_str().as_bytes();
    let mut g = c.benchmark_group("cache_key");
    let blake3_key: [u8; 32] = rand::random();
    g.bench_function("blake3_keyed", |b| {
        b.iter(|| *blake3::keyed_hash(&blake3_key, black_box(raw)).as_bytes());
    });
    let sip_key: [u8; 16] = rand::random();
    g.bench_function("siphash13_128", |b| {
        b.iter(|| {
            let mut h = siphasher::sip128::SipHasher13::new_with_key(&sip_key);
            h.write(black_box(raw));
            siphasher::sip128::Hasher128::finish128(&h).as_bytes()
        });
    });
    g.bench_function("siphash24_128", |b| {
        b.iter(|| {
            let mut h = siphasher::sip128::SipHasher24::new_with_key(&sip_key);
            h.write(black_box(raw));
            siphasher::sip128::Hasher128::finish128(&h).as_bytes()
        });
    });
    g.bench_function("sha256_aws_lc", |b| {
        b.iter(|| {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, black_box(raw));
            <[u8; 32]>::try_from(d.as_ref()).unwrap()
        });
    });
    let fold = foldhash::quality::RandomState::default();
    let stored = raw.to_vec();
    g.bench_function("foldhash64_plus_memcmp", |b| {
        b.iter(|| {
            let mut h = fold.build_hasher();
            h.write(black_box(raw));
            (h.finish(), black_box(&stored[..]) == black_box(raw))
        });
    });
    g.finish();
}

criterion_group!(benches, bench_validate);
criterion_main!(benches);
