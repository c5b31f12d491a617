//! Arbitrary bearer tokens through `auth::Validator` (JWT mode, default
//! limits, verified-token cache on), against a real JWKS served on loopback
//! by `test-issuer` and holding one ES256 key whose private half only this
//! target knows.
//!
//! Three shapes of input reach three depths of the pipeline:
//! - `Raw`: any string as the token (size cap, segment count, header);
//! - `Segments`: three base64url segments of arbitrary bytes (header JSON,
//!   `alg`/`crit`/`typ`/`kid` handling, payload decoding);
//! - `Signed`: a correctly signed ES256 token whose header fields and
//!   claims the fuzzer chooses, so that every claim rule (RFC 7519 §4.1,
//!   RFC 9068 §2.2) sees hostile values behind a valid signature.
//!
//! Oracles besides "no panic": nothing but `Signed` input is ever accepted;
//! an accepted token has our `iss` exactly, an `exp`/`nbf`/`iat` inside the
//! 60 s leeway, no `crit`, our `kid`, and a principal whose `expires_at` is
//! its `exp`; an error's text never contains the token.

#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value, json};
use test_issuer::TestIssuer;

const KID: &str = "fuzz-es256";
const RESOURCE: &str = "https://mcp.example/mcp";
const LEEWAY: i64 = 60;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    _issuer: TestIssuer,
    issuer: String,
    validator: auth::Validator,
    key: EncodingKey,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let issuer = runtime.block_on(TestIssuer::start());

    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .expect("generate ES256 key");
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::ES256).expect("jwk"))
        .expect("jwk json");
    jwk["kid"] = json!(KID);
    jwk["use"] = json!("sig");
    issuer.add_raw_jwk(jwk);

    let jwks = jwks::JwksCache::new(jwks::Config::new(jwks::Source::JwksUri(
        issuer.jwks_uri().parse().expect("jwks uri"),
    )))
    .expect("jwks cache");
    runtime.block_on(jwks.refresh()).expect("load the JWKS");
    let config = auth::ValidationConfig::new(issuer.issuer(), vec![RESOURCE.to_owned()])
        .expect("validation config");
    let validator = auth::Validator::new(
        config,
        jwks,
        auth::Mode::Jwt { online: None },
        auth::TokenCacheConfig::enabled(10_000),
    )
    .expect("validator");
    Fixture {
        runtime,
        issuer: issuer.issuer(),
        _issuer: issuer,
        validator,
        key,
    }
});

/// A JSON value of bounded depth.
#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    /// Our issuer, resource or "now", which random strings and numbers never hit.
    Special(Special),
    Array(Vec<Leaf>),
    Object(Vec<(String, Leaf)>),
}

#[derive(Arbitrary, Debug)]
enum Leaf {
    Int(i64),
    Str(String),
    Special(Special),
    Null,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Special {
    Issuer,
    IssuerWithSlash,
    Resource,
    /// Now plus an offset in seconds.
    Now(i16),
}

impl Special {
    fn value(self, issuer: &str, now: i64) -> Value {
        match self {
            Special::Issuer => json!(issuer),
            Special::IssuerWithSlash => json!(format!("{issuer}/")),
            Special::Resource => json!(RESOURCE),
            Special::Now(offset) => json!(now + i64::from(offset)),
        }
    }
}

impl Leaf {
    fn value(&self, issuer: &str, now: i64) -> Value {
        match self {
            Leaf::Int(i) => json!(i),
            Leaf::Str(s) => json!(s),
            Leaf::Special(s) => s.value(issuer, now),
            Leaf::Null => Value::Null,
        }
    }
}

impl Json {
    fn value(&self, issuer: &str, now: i64) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => json!(b),
            Json::Int(i) => json!(i),
            Json::UInt(u) => json!(u),
            Json::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Str(s) => json!(s),
            Json::Special(s) => s.value(issuer, now),
            Json::Array(items) => items.iter().map(|l| l.value(issuer, now)).collect(),
            Json::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, l)| (k.clone(), l.value(issuer, now)))
                    .collect(),
            ),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Claim {
    Iss,
    Sub,
    Aud,
    Exp,
    Nbf,
    Iat,
    Scope,
    Scp,
    Azp,
    ClientId,
    Other(String),
}

impl Claim {
    fn name(&self) -> &str {
        match self {
            Claim::Iss => "iss",
            Claim::Sub => "sub",
            Claim::Aud => "aud",
            Claim::Exp => "exp",
            Claim::Nbf => "nbf",
            Claim::Iat => "iat",
            Claim::Scope => "scope",
            Claim::Scp => "scp",
            Claim::Azp => "azp",
            Claim::ClientId => "client_id",
            Claim::Other(name) => name,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Set(Claim, Json),
    Remove(Claim),
}

#[derive(Arbitrary, Debug)]
enum Kid {
    Ours,
    None,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw(String),
    Segments {
        header: Vec<u8>,
        payload: Vec<u8>,
        signature: Vec<u8>,
    },
    Signed {
        typ: Option<String>,
        kid: Kid,
        crit: Option<Vec<String>>,
        jku: Option<String>,
        edits: Vec<Edit>,
    },
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn within(claims: &Map<String, Value>, name: &str, bound: impl Fn(f64) -> bool) -> bool {
    claims
        .get(name)
        .and_then(Value::as_f64)
        .is_some_and(bound)
}

fuzz_target!(|input: Input| {
    let fx = &*FIXTURE;
    let now = now();
    let (token, signed) = match &input {
        Input::Raw(token) => (token.clone(), None),
        Input::Segments {
            header,
            payload,
            signature,
        } => (
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload),
                URL_SAFE_NO_PAD.encode(signature)
            ),
            None,
        ),
        Input::Signed {
            typ,
            kid,
            crit,
            jku,
            edits,
        } => {
            let mut claims = json!({
                "iss": fx.issuer,
                "sub": "fuzz",
                "aud": RESOURCE,
                "exp": now + 300,
                "iat": now,
                "scope": "mcp:tools",
            });
            let Value::Object(map) = &mut claims else {
                return;
            };
            for edit in edits {
                match edit {
                    Edit::Set(claim, value) => {
                        map.insert(claim.name().to_owned(), value.value(&fx.issuer, now));
                    }
                    Edit::Remove(claim) => {
                        map.remove(claim.name());
                    }
                }
            }
            let mut header = Header::new(Algorithm::ES256);
            header.typ = typ.clone();
            header.kid = match kid {
                Kid::Ours => Some(KID.to_owned()),
                Kid::None => None,
                Kid::Other(kid) => Some(kid.clone()),
            };
            header.crit = crit.clone();
            header.jku = jku.clone();
            let Ok(token) = jsonwebtoken::encode(&header, &claims, &fx.key) else {
                return;
            };
            (token, Some((header, claims)))
        }
    };

    let bearer = auth::BearerToken::new(token.clone());
    let result = fx.runtime.block_on(fx.validator.validate(&bearer));
    match (result, signed) {
        (Ok(principal), Some((header, Value::Object(claims)))) => {
            assert_eq!(header.kid.as_deref(), Some(KID), "accepted a token with another kid");
            assert!(header.crit.is_none(), "accepted a token with crit");
            assert_eq!(
                claims.get("iss"),
                Some(&json!(fx.issuer)),
                "accepted a token from another issuer"
            );
            let exp_ok = within(&claims, "exp", |exp| exp + (LEEWAY as f64) + 1.0 >= now as f64);
            assert!(exp_ok, "accepted an expired token (or one without exp)");
            for name in ["nbf", "iat"] {
                // The validator reads a JSON null NumericDate as an absent
                // claim (serde's `Option`): both are optional (RFC 7519 §4.1.5, §4.1.6).
                if claims.get(name).is_some_and(|v| !v.is_null()) {
                    let ok = within(&claims, name, |t| t <= (now + LEEWAY + 1) as f64);
                    assert!(ok, "accepted a token with {name} in the future");
                }
            }
            assert!(!principal.audience.is_empty(), "accepted a token without aud");
            assert_eq!(
                Some(principal.expires_at as f64),
                claims.get("exp").and_then(Value::as_f64).map(f64::trunc),
                "principal expiry differs from exp"
            );
            assert_eq!(principal.issuer, fx.issuer);
        }
        (Ok(_), _) => panic!("accepted a token without a valid signature"),
        (Err(e), _) => {
            if token.len() >= 24 {
                let text = format!("{e} {e:?}");
                assert!(!text.contains(&token), "an error shows the token");
            }
        }
    }
});
