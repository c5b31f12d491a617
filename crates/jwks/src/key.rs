//! Conversion of JWKs (RFC 7517) into [`VerifyingKey`]s at fetch time, and the key/algorithm
//! binding ([`VerifyingKey::permits`]) that `jsonwebtoken::DecodingKey::from_jwk` does not do.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

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

fn fixed_len(value: &Option<String>, name: &str, len: usize) -> Result<(), Skip> {
    let bytes = b64(member(value, name)?, name)?;
    if bytes.len() != len {
        return Err(Skip::Unusable(format!("`{name}` must be {len} bytes")));
    }
    Ok(())
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
    let (family, decoding_key) = match (raw.kty.as_str(), raw.crv.as_deref()) {
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
            (KeyFamily::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let (curve, len) = if crv == "P-256" {
                (EcCurve::P256, 32)
            } else {
                (EcCurve::P384, 48)
            };
            fixed_len(&raw.x, "x", len)?;
            fixed_len(&raw.y, "y", len)?;
            let key = DecodingKey::from_ec_components(member(&raw.x, "x")?, member(&raw.y, "y")?)
                .map_err(bad)?;
            (KeyFamily::Ec(curve), key)
        }
        ("OKP", Some("Ed25519")) => {
            fixed_len(&raw.x, "x", 32)?;
            let key = DecodingKey::from_ed_components(member(&raw.x, "x")?).map_err(bad)?;
            (KeyFamily::Okp(OkpCurve::Ed25519), key)
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
    Ok(VerifyingKey {
        kid,
        family,
        alg,
        decoding_key,
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
