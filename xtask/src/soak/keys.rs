//! The soak's signing key and tokens, made with the `openssl` command-line
//! tool so that xtask needs no crypto crate: an RSA-2048 key, its public
//! JWK, and RS256 JWTs (RFC 7515 compact serialization, RFC 7518 §3.3).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use xshell::{Shell, cmd};

/// The kid of the soak key.
pub(crate) const KID: &str = "soak-rs256";

/// An RSA private key in a PEM file.
pub(crate) struct SigningKey {
    pem: PathBuf,
}

impl SigningKey {
    /// Generates a key into `dir/soak-key.pem`.
    pub(crate) fn generate(sh: &Shell, dir: &Path) -> anyhow::Result<SigningKey> {
        let pem = dir.join("soak-key.pem");
        cmd!(
            sh,
            "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {pem}"
        )
        .quiet()
        .ignore_stderr()
        .run()
        .context("generate the soak RSA key with openssl")?;
        Ok(SigningKey { pem })
    }

    /// The JWKS document holding the public half.
    pub(crate) fn jwks(&self, sh: &Shell) -> anyhow::Result<String> {
        let pem = &self.pem;
        let modulus = cmd!(sh, "openssl rsa -in {pem} -noout -modulus")
            .quiet()
            .read()
            .context("read the RSA modulus")?;
        let hex = modulus
            .trim()
            .strip_prefix("Modulus=")
            .context("unexpected `openssl rsa -modulus` output")?;
        let text = cmd!(sh, "openssl rsa -in {pem} -noout -text")
            .quiet()
            .read()
            .context("read the RSA exponent")?;
        if !text.contains("publicExponent: 65537") {
            bail!("the generated key's exponent is not 65537");
        }
        let n = decode_hex(hex)?;
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
            "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB",
        });
        Ok(json!({ "keys": [jwk] }).to_string())
    }

    /// An RS256 JWT over `claims` with header `{alg, typ: JWT, kid}`.
    pub(crate) fn sign(&self, sh: &Shell, claims: &Value) -> anyhow::Result<String> {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": KID });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let pem = &self.pem;
        let output = cmd!(sh, "openssl dgst -sha256 -sign {pem}")
            .quiet()
            .stdin(input.as_bytes())
            .output()
            .context("sign a soak token with openssl")?;
        ensure!(
            output.stdout.len() == 256,
            "openssl produced a {}-byte signature",
            output.stdout.len()
        );
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(&output.stdout)
        ))
    }
}

fn decode_hex(hex: &str) -> anyhow::Result<Vec<u8>> {
    ensure!(hex.len().is_multiple_of(2), "odd-length modulus");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).context("modulus is not hex"))
        .collect()
}
