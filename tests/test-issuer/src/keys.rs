//! Key generation with aws-lc-rs and export to the two shapes tests need: a jsonwebtoken
//! `EncodingKey` for signing and a public JWK (RFC 7517 / RFC 7518 §6, RFC 8037 for OKP).

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// The signature algorithms the test issuer can generate keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit key (Keycloak's default).
    Rs256,
    /// RSASSA-PSS with SHA-256, 2048-bit key.
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// EdDSA on Ed25519 (RFC 8037).
    EdDsa,
}

impl KeyAlg {
    /// The JOSE algorithm this key signs with.
    pub fn algorithm(self) -> Algorithm {
        match self {
            KeyAlg::Rs256 => Algorithm::RS256,
            KeyAlg::Ps256 => Algorithm::PS256,
            KeyAlg::Es256 => Algorithm::ES256,
            KeyAlg::Es384 => Algorithm::ES384,
            KeyAlg::EdDsa => Algorithm::EdDSA,
        }
    }

    fn jose_name(self) -> &'static str {
        match self {
            KeyAlg::Rs256 => "RS256",
            KeyAlg::Ps256 => "PS256",
            KeyAlg::Es256 => "ES256",
            KeyAlg::Es384 => "ES384",
            KeyAlg::EdDsa => "EdDSA",
        }
    }
}

/// One generated key pair as the issuer holds it.
pub(crate) struct TestKey {
    pub(crate) kid: String,
    /// `None` for the `enc` key: it is published but never signs.
    pub(crate) signing: Option<(KeyAlg, EncodingKey)>,
    /// The public JWK exactly as it appears in the JWKS document.
    pub(crate) jwk: Value,
    /// SubjectPublicKeyInfo DER of the public key (empty for raw JWKs added by tests).
    pub(crate) public_der: Vec<u8>,
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Wraps DER in a PEM block with 64-column lines (RFC 7468).
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn rsa_key_pair() -> RsaKeyPair {
    RsaKeyPair::generate(KeySize::Rsa2048).expect("generate an RSA-2048 key pair")
}

fn rsa_public(kp: &RsaKeyPair) -> (Value, Vec<u8>) {
    let public = kp.public_key();
    let jwk = json!({
        "kty": "RSA",
        "n": b64url(public.modulus().big_endian_without_leading_zero()),
        "e": b64url(public.exponent().big_endian_without_leading_zero()),
    });
    let der: PublicKeyX509Der<'static> = public.as_der().expect("RSA public key DER");
    (jwk, der.as_ref().to_vec())
}

fn ec_key(alg: &'static EcdsaSigningAlgorithm, crv: &str) -> (EncodingKey, Value, Vec<u8>) {
    let kp = EcdsaKeyPair::generate(alg).expect("generate an EC key pair");
    let pkcs8 = kp.to_pkcs8v1().expect("EC private key PKCS#8");
    // The public key is the uncompressed SEC1 point: 0x04 || x || y.
    let point = kp.public_key().as_ref();
    let coord = (point.len() - 1) / 2;
    let jwk = json!({
        "kty": "EC",
        "crv": crv,
        "x": b64url(&point[1..=coord]),
        "y": b64url(&point[1 + coord..]),
    });
    let der: PublicKeyX509Der<'static> = kp.public_key().as_der().expect("EC public key DER");
    (
        EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk,
        der.as_ref().to_vec(),
    )
}

/// Generates a signing key and its public JWK (`kid`, `use: "sig"`, `alg` set).
pub(crate) fn generate(alg: KeyAlg, kid: &str) -> TestKey {
    let (encoding, mut jwk, public_der) = match alg {
        KeyAlg::Rs256 | KeyAlg::Ps256 => {
            let kp = rsa_key_pair();
            let pkcs8: Pkcs8V1Der<'static> = kp.as_der().expect("RSA private key PKCS#8");
            // jsonwebtoken's aws-lc RSA signer wants PKCS#1; its PEM reader unwraps PKCS#8 for us.
            let encoding = EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
                .expect("RSA PKCS#8 PEM accepted by jsonwebtoken");
            let (jwk, der) = rsa_public(&kp);
            (encoding, jwk, der)
        }
        KeyAlg::Es256 => ec_key(&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
        KeyAlg::Es384 => ec_key(&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
        KeyAlg::EdDsa => {
            let kp = Ed25519KeyPair::generate().expect("generate an Ed25519 key pair");
            let pkcs8 = kp.to_pkcs8v1().expect("Ed25519 private key PKCS#8");
            let jwk =
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64url(kp.public_key().as_ref()) });
            let der: PublicKeyX509Der<'static> =
                kp.public_key().as_der().expect("Ed25519 public key DER");
            (
                EncodingKey::from_ed_der(pkcs8.as_ref()),
                jwk,
                der.as_ref().to_vec(),
            )
        }
    };
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(alg.jose_name());
    TestKey {
        kid: kid.to_owned(),
        signing: Some((alg, encoding)),
        jwk,
        public_der,
    }
}

/// Generates an RSA key published as Keycloak publishes its RSA-OAEP key: `use: "enc"`.
pub(crate) fn generate_encryption(kid: &str) -> TestKey {
    let kp = rsa_key_pair();
    let (mut jwk, public_der) = rsa_public(&kp);
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("enc");
    jwk["alg"] = json!("RSA-OAEP");
    TestKey {
        kid: kid.to_owned(),
        signing: None,
        jwk,
        public_der,
    }
}
