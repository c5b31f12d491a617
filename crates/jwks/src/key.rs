//! Conversion of JWKs (RFC 7517) into [`VerifyingKey`]s at fetch time, the key/algorithm
//! binding ([`VerifyingKey::permits`]) that `jsonwebtoken::DecodingKey::from_jwk` does not do,
//! and signature verification with keys parsed once ([`VerifyingKey::verify_signature`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

/// The key type and curve of a verifying key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFamily {
    /// `kty: "RSA"` (RS256/384/512, PS256/384/512).
    Rsa,
    /// `kty: "EC"` on a supported curve.
    Ec(EcCurve),
    /// `kty: "OKP"` (RFC 8037) on a supported curve.
    Okp(OkpCurve),
}

/// Supported `crv` values of EC keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EcCurve {
    /// `P-256`, for ES256.
    P256,
    /// `P-384`, for ES384.
    P384,
}

/// Supported `crv` values of OKP keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OkpCurve {
    /// `Ed25519`, for EdDSA.
    Ed25519,
}

/// A public signing key of the issuer, checked and converted when the JWKS was fetched.
#[derive(Clone)]
pub struct VerifyingKey {
    /// The JWK's `kid` (keys without one are skipped).
    pub kid: String,
    /// Key type and curve.
    pub family: KeyFamily,
    /// The JWK's own `alg`, when it had one; it then pins the only algorithm the key permits.
    pub alg: Option<Algorithm>,
    /// The key in the form `jsonwebtoken::decode` takes.
    pub decoding_key: DecodingKey,
    /// The key parsed by aws-lc-rs once per algorithm it permits, so a verification does not
    /// rebuild it (`jsonwebtoken::crypto::verify` rebuilds an RSA key from `n` and `e` on every
    /// call, which costs about as much as the signature check itself).
    parsed: Arc<[(Algorithm, ParsedPublicKey)]>,
}

impl VerifyingKey {
    /// Whether a token whose header says `alg` may be verified with this key: `alg` must fit
    /// the key type and curve (RFC 7518 §3.1) and equal the JWK's `alg` when it has one
    /// (RFC 7517 §4.4). HMAC algorithms are never permitted: these are public keys, and a
    /// public key used as an HMAC secret is the classic algorithm-confusion attack.
    pub fn permits(&self, alg: Algorithm) -> bool {
        if self.alg.is_some_and(|pinned| pinned != alg) {
            return false;
        }
        family_fits(self.family, alg)
    }

    /// Whether `signature` (the decoded JWS signature) is valid over `message` (the JWS signing
    /// input, `header.payload` as sent) under algorithm `alg`, with the key parsed at fetch
    /// time. `false` too when the key does not permit `alg` ([`VerifyingKey::permits`]).
    pub fn verify_signature(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }
}

/// The aws-lc-rs algorithm of an EC or OKP `alg`, as jsonwebtoken's `aws_lc_rs` backend uses
/// it (fixed-size ECDSA signatures, as RFC 7518 §3.4 says).
fn curve_algorithm(alg: Algorithm) -> Option<&'static dyn sig::VerificationAlgorithm> {
    Some(match alg {
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &sig::ED25519,
        _ => return None,
    })
}

/// The aws-lc-rs parameters of an RSA `alg`, as jsonwebtoken's `aws_lc_rs` backend uses them
/// (moduli of 2048 to 8192 bits).
fn rsa_parameters(alg: Algorithm) -> Option<&'static sig::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// Every signature algorithm, in the order a key's parsed forms are kept.
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES384,
];

/// The key material aws-lc-rs parses.
enum PublicMaterial {
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed SEC1 point (`0x04 || x || y`) or a raw Ed25519 key.
    Bytes(Vec<u8>),
}

/// Parses the key once for every algorithm it permits.
fn parse_for_algorithms(
    family: KeyFamily,
    pinned: Option<Algorithm>,
    material: &PublicMaterial,
) -> Result<Arc<[(Algorithm, ParsedPublicKey)]>, Skip> {
    let mut parsed = Vec::new();
    for alg in ALGORITHMS {
        if pinned.is_some_and(|p| p != alg) || !family_fits(family, alg) {
            continue;
        }
        let key = match material {
            PublicMaterial::Rsa { n, e } => rsa_parameters(alg)
                .map(|params| RsaPublicKeyComponents { n, e }.to_parsed_public_key(params)),
            PublicMaterial::Bytes(bytes) => {
                curve_algorithm(alg).map(|v| ParsedPublicKey::new(v, bytes))
            }
        };
        match key {
            Some(Ok(key)) => parsed.push((alg, key)),
            Some(Err(e)) => {
                return Err(Skip::Unusable(format!("key rejected by aws-lc-rs: {e}")));
            }
            None => {}
        }
    }
    if parsed.is_empty() {
        return Err(Skip::Unusable(
            "no supported algorithm fits the key".to_owned(),
        ));
    }
    Ok(parsed.into())
}

fn family_fits(family: KeyFamily, alg: Algorithm) -> bool {
    use Algorithm::{ES256, ES384, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512};
    matches!(
        (family, alg),
        (
            KeyFamily::Rsa,
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512
        ) | (KeyFamily::Ec(EcCurve::P256), ES256)
            | (KeyFamily::Ec(EcCurve::P384), ES384)
            | (KeyFamily::Okp(OkpCurve::Ed25519), EdDSA)
    )
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The members of a JWK this crate reads; everything else (x5c, x5t, …) is ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// Why one JWK did not become a [`VerifyingKey`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Not meant for verifying signatures (`use: "enc"`, `key_ops` without `verify`): expected,
    /// Keycloak always publishes an RSA-OAEP encryption key.
    NotForSignatures,
    /// Meant for signatures but unusable here: malformed, unsupported or inconsistent.
    Unusable(String),
}

fn member<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, Skip> {
    value
        .as_deref()
        .ok_or_else(|| Skip::Unusable(format!("missing `{name}`")))
}

fn b64(value: &str, name: &str) -> Result<Vec<u8>, Skip> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| Skip::Unusable(format!("`{name}` is not base64url")))
}

fn fixed_len(value: &Option<String>, name: &str, len: usize) -> Result<Vec<u8>, Skip> {
    let bytes = b64(member(value, name)?, name)?;
    if bytes.len() != len {
        return Err(Skip::Unusable(format!("`{name}` must be {len} bytes")));
    }
    Ok(bytes)
}

fn bad(err: jsonwebtoken::errors::Error) -> Skip {
    Skip::Unusable(err.to_string())
}

/// Converts one JWK, checking what `DecodingKey::from_jwk` does not: `use`/`key_ops`, `kid`,
/// component sizes, and that `alg` (when present) is a supported signature algorithm that
/// fits `kty`/`crv`.
pub(crate) fn parse_jwk(value: &Value) -> Result<VerifyingKey, Skip> {
    let raw = RawJwk::deserialize(value).map_err(|e| Skip::Unusable(e.to_string()))?;
    // RFC 7517 §4.2/§4.3: keep keys meant for signatures only.
    if raw.use_.as_deref().is_some_and(|u| u != "sig")
        || raw
            .key_ops
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return Err(Skip::NotForSignatures);
    }
    let kid = match raw.kid.as_deref() {
        Some(kid) if !kid.is_empty() => kid.to_owned(),
        _ => return Err(Skip::Unusable("missing `kid`".to_owned())),
    };
    let (family, decoding_key, material) = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("RSA", _) => {
            let n = b64(member(&raw.n, "n")?, "n")?;
            let e = b64(member(&raw.e, "e")?, "e")?;
            // aws-lc-rs verifies RSA signatures for 2048..=8192-bit moduli only; refuse other
            // sizes here rather than at every verification.
            let n_digits = n.iter().skip_while(|b| **b == 0).count();
            if !(256..=1024).contains(&n_digits) {
                return Err(Skip::Unusable(
                    "rsa modulus must be 2048 to 8192 bits".to_owned(),
                ));
            }
            if e.is_empty() || e.len() > 8 || e.last().is_some_and(|b| b % 2 == 0) {
                return Err(Skip::Unusable("rsa exponent is invalid".to_owned()));
            }
            let key = DecodingKey::from_rsa_raw_components(&n, &e);
            (KeyFamily::Rsa, key, PublicMaterial::Rsa { n, e })
        }
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let (curve, len) = if crv == "P-256" {
                (EcCurve::P256, 32)
            } else {
                (EcCurve::P384, 48)
            };
            let x = fixed_len(&raw.x, "x", len)?;
            let y = fixed_len(&raw.y, "y", len)?;
            let key = DecodingKey::from_ec_components(member(&raw.x, "x")?, member(&raw.y, "y")?)
                .map_err(bad)?;
            // SEC1 uncompressed point, the form aws-lc-rs parses for ECDSA keys.
            let point = [&[0x04][..], &x, &y].concat();
            (KeyFamily::Ec(curve), key, PublicMaterial::Bytes(point))
        }
        ("OKP", Some("Ed25519")) => {
            let x = fixed_len(&raw.x, "x", 32)?;
            let key = DecodingKey::from_ed_components(member(&raw.x, "x")?).map_err(bad)?;
            (
                KeyFamily::Okp(OkpCurve::Ed25519),
                key,
                PublicMaterial::Bytes(x),
            )
        }
        (kty, crv) => {
            return Err(Skip::Unusable(format!(
                "unsupported key type {kty}{}",
                crv.map(|c| format!(" on curve {c}")).unwrap_or_default()
            )));
        }
    };
    let alg = match raw.alg.as_deref() {
        None => None,
        Some(name) => {
            let alg: Algorithm = name
                .parse()
                .map_err(|_| Skip::Unusable(format!("unsupported alg {name}")))?;
            if !family_fits(family, alg) {
                return Err(Skip::Unusable(format!(
                    "alg {name} does not fit the key type"
                )));
            }
            Some(alg)
        }
    };
    let parsed = parse_for_algorithms(family, alg, &material)?;
    Ok(VerifyingKey {
        kid,
        family,
        alg,
        decoding_key,
        parsed,
    })
}

/// Converts a JWKS `keys` array, skipping unusable keys one by one (logged at warn) and
/// keeping the first of duplicate kids.
pub(crate) fn parse_key_set(keys: &[Value]) -> HashMap<String, Arc<VerifyingKey>> {
    let mut out = HashMap::with_capacity(keys.len());
    for (index, value) in keys.iter().enumerate() {
        let kid = value.get("kid").and_then(Value::as_str).unwrap_or("");
        match parse_jwk(value) {
            Ok(key) => match out.entry(key.kid.clone()) {
                Entry::Occupied(_) => {
                    tracing::warn!(kid, index, "jwks: duplicate kid, keeping the first key");
                }
                Entry::Vacant(slot) => {
                    slot.insert(Arc::new(key));
                }
            },
            Err(Skip::NotForSignatures) => {
                tracing::debug!(kid, index, "jwks: skipping key not meant for signatures");
            }
            Err(Skip::Unusable(reason)) => {
                tracing::warn!(kid, index, %reason, "jwks: skipping unusable key");
            }
        }
    }
    out
}
