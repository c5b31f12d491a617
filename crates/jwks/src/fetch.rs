//! Hardened HTTP: OpenID Connect discovery and the JWKS download.
//!
//! Every request: no redirects (a redirect could point the key fetch anywhere), a total
//! deadline of `http_timeout` around the whole exchange, status 200 only, and a body read
//! chunk by chunk against a running cap (`Content-Length` is only used to fail early).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::config::{Config, check_transport};
use crate::error::{Error, ErrorKind};
use crate::key::{VerifyingKey, parse_key_set};

/// The client [`JwksCache::new`](crate::JwksCache::new) uses.
pub(crate) fn build_client(config: &Config) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // reqwest follows HTTP(S)_PROXY/ALL_PROXY from the environment by
        // default; the key fetch must go where the config says, not wherever
        // a stray variable in the service's environment points. A deployment
        // that needs a proxy builds its client and uses `with_client`.
        .no_proxy()
        .connect_timeout(config.http_timeout)
        .timeout(config.http_timeout)
        .user_agent(concat!("jwks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ErrorKind::Config(format!("http client: {}", error_chain(&e))).into())
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn transport(err: reqwest::Error) -> Error {
    if err.is_timeout() {
        return ErrorKind::Timeout.into();
    }
    ErrorKind::Http(error_chain(&err)).into()
}

/// GETs `url` and returns the body of a 200 answer, at most `config.max_body_bytes` long.
async fn get_capped(
    client: &reqwest::Client,
    url: &Url,
    config: &Config,
) -> Result<Vec<u8>, Error> {
    let limit = config.max_body_bytes;
    let exchange = async {
        let mut resp = client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(ErrorKind::Redirect {
                status: status.as_u16(),
            }
            .into());
        }
        // A caller-supplied client (`with_client`) may follow redirects; refuse the result.
        if resp.url() != url {
            return Err(ErrorKind::Redirect {
                status: status.as_u16(),
            }
            .into());
        }
        if status != reqwest::StatusCode::OK {
            return Err(ErrorKind::Status(status.as_u16()).into());
        }
        if resp.content_length().is_some_and(|len| len > limit as u64) {
            return Err(ErrorKind::BodyTooLarge { limit }.into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                return Err(ErrorKind::BodyTooLarge { limit }.into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    // The client has its own timeouts, but a caller-supplied one may not: bound it here too.
    tokio::time::timeout(config.http_timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(ErrorKind::Timeout.into()))
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

/// OpenID Connect Discovery 1.0 §4: fetch `{issuer}/.well-known/openid-configuration`,
/// require its `issuer` to be identical to ours (§4.3) and return its `jwks_uri`.
pub(crate) async fn discover(
    client: &reqwest::Client,
    issuer: &Url,
    config: &Config,
) -> Result<Url, Error> {
    let expected = issuer.as_str();
    let url = Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        expected.trim_end_matches('/')
    ))
    .map_err(|e| ErrorKind::Config(format!("discovery url: {e}")))?;
    let body = get_capped(client, &url, config).await?;
    let doc: DiscoveryDocument =
        serde_json::from_slice(&body).map_err(|e| ErrorKind::InvalidJson(e.to_string()))?;
    if !issuer_matches(issuer, &doc.issuer) {
        let expected = expected.to_owned();
        return Err(ErrorKind::IssuerMismatch {
            expected,
            found: doc.issuer,
        }
        .into());
    }
    let jwks_uri = Url::parse(&doc.jwks_uri)
        .map_err(|e| ErrorKind::InvalidDiscovery(format!("jwks_uri: {e}")))?;
    check_discovered_jwks_uri(issuer, &jwks_uri, config.allow_insecure_http)?;
    Ok(jwks_uri)
}

/// The discovered `jwks_uri` obeys the same transport rule as the configured
/// URLs, and an `https` issuer may never announce a plain `http` one (a
/// downgrade, whatever the host and `allow_insecure_http`).
pub(crate) fn check_discovered_jwks_uri(
    issuer: &Url,
    jwks_uri: &Url,
    allow_insecure_http: bool,
) -> Result<(), Error> {
    if issuer.scheme() == "https" && jwks_uri.scheme() != "https" {
        return Err(ErrorKind::InvalidDiscovery(format!(
            "jwks_uri {jwks_uri} is not https for the https issuer {issuer}"
        ))
        .into());
    }
    check_transport(jwks_uri, allow_insecure_http)
        .map_err(|e| ErrorKind::InvalidDiscovery(format!("jwks_uri: {e}")).into())
}

/// §4.3: the announced issuer MUST be identical to the configured one. `Url` serialises an
/// empty path as `/`, so it cannot tell `https://idp.example` from `https://idp.example/`;
/// for that one case both spellings are accepted. Nothing else is normalised.
pub(crate) fn issuer_matches(configured: &Url, announced: &str) -> bool {
    let expected = configured.as_str();
    if announced == expected {
        return true;
    }
    configured.path() == "/"
        && configured.query().is_none()
        && configured.fragment().is_none()
        && announced == expected.trim_end_matches('/')
}

#[derive(Deserialize)]
struct JwkSetDocument {
    keys: Vec<Value>,
}

/// Downloads and converts the JWKS; zero usable signing keys is [`ErrorKind::NoUsableKeys`].
pub(crate) async fn fetch_keys(
    client: &reqwest::Client,
    jwks_uri: &Url,
    config: &Config,
) -> Result<HashMap<String, Arc<VerifyingKey>>, Error> {
    let body = get_capped(client, jwks_uri, config).await?;
    // RFC 7517 §5: a JSON object with a `keys` array; anything else is refused whole.
    let doc: JwkSetDocument =
        serde_json::from_slice(&body).map_err(|e| ErrorKind::InvalidJson(e.to_string()))?;
    let keys = parse_key_set(&doc.keys);
    if keys.is_empty() {
        return Err(ErrorKind::NoUsableKeys.into());
    }
    Ok(keys)
}
