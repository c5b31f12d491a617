//! Discovers, fetches, caches and rotates the signing keys of ONE OpenID Connect issuer.
//!
//! [`JwksCache`] owns everything between "the issuer is `https://idp/realms/r`" and "here is
//! the [`VerifyingKey`] for kid `abc`": OpenID Connect discovery with the exact issuer check,
//! the hardened JWKS download, conversion of JWKs into checked keys at fetch time (only
//! signing keys, unusable keys skipped one by one), a lock-free snapshot for readers,
//! background refresh, rate-limited single-flight refresh on unknown kids, and fail-closed
//! behaviour after a bounded outage.
//!
//! It must NOT know about claims, tokens, audiences, scopes, the HTTP requests our server
//! receives, or MCP. It hands out keys and says which algorithms each key permits
//! ([`VerifyingKey::permits`]) and checks a signature with a key parsed once at fetch time
//! ([`VerifyingKey::verify_signature`]); deciding whether a token is valid is the `auth`
//! crate's job.
//!
//! # Defaults, and where they come from
//!
//! [`Config::new`] fills these (each also a `Config::DEFAULT_*` constant), chosen from what
//! widely used JWKS clients (panva/jose, Nimbus JOSE+JWT, Envoy, keyfunc, go-oidc) do:
//!
//! | field | default | practice |
//! |---|---|---|
//! | `ttl` | 5 min | Nimbus 5 min, panva/jose `cacheMaxAge` 10 min |
//! | `refresh_ahead` | 30 s | Nimbus refresh-ahead 30 s |
//! | `jitter` | ±10 s | spreads a fleet's refreshes |
//! | `miss_cooldown` | 30 s | panva/jose `cooldownDuration` 30 s |
//! | `miss_max_fetches` | 2 per window | one for a real rotation, one spare; random kids cannot flood the IdP |
//! | `outage_window` | 24 h | Nimbus outage TTL (10× TTL); bounded so a revoked key is not trusted forever |
//! | `retry_min`..`retry_max` | 1 s doubling to 60 s, equal jitter | usual exponential backoff |
//! | `http_timeout` | 5 s connect and total | Envoy/Nimbus use 0.5–5 s; Keycloak can be slow under load |
//! | `max_body_bytes` | 256 KiB | Nimbus caps at 50 KiB; Keycloak's JWKS is 3–10 KiB |
//! | `allow_insecure_http` | `false` | keys only over https, plain http only to a loopback host |
//!
//! # Example
//!
//! ```no_run
//! # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = url::Url::parse("https://idp.example/realms/mcp")?;
//! let cache = jwks::JwksCache::new(jwks::Config::new(jwks::Source::Discovery { issuer }))?;
//! let _refresher = cache.spawn_refresher(); // keep it alive as long as the cache is used
//!
//! let header = jsonwebtoken::decode_header(token)?;
//! let key = cache.get_or_refresh(header.kid.as_deref().unwrap_or_default()).await?;
//! let (signing_input, signature) = token.rsplit_once('.').ok_or("not a JWS")?;
//! let signature = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)?;
//! // `false` also when the key does not permit `header.alg`.
//! if !key.verify_signature(header.alg, signing_input.as_bytes(), &signature) {
//!     return Err("bad signature".into());
//! }
//! // ... then the claims, in the caller's crate.
//! # Ok(())
//! # }
//! ```

mod cache;
mod config;
mod error;
mod fetch;
mod key;

pub use cache::{JwksCache, MetricsSnapshot, RefresherHandle, Status};
pub use config::{Config, Source, is_loopback};
pub use error::{Error, ErrorKind};
pub use key::{EcCurve, KeyFamily, OkpCurve, VerifyingKey};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
