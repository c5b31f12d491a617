//! OAuth 2.1 resource-server authentication for axum/tower services.
//!
//! **API Boundary.** This crate turns a bearer token into a verified
//! [`Principal`] or a precise [`Error`], and an error into the one correct
//! HTTP answer. It owns:
//!
//! - [`extract_bearer`]: RFC 6750 §2.1 (header only; query tokens refused);
//! - [`Validator`]: local JWT validation against the issuer's JWKS (via the
//!   `jwks` crate), for one issuer or several ([`IssuerConfig`]: routed by
//!   exact `iss` before any key lookup, one key set each), read the way the
//!   issuer's identity provider shapes its tokens ([`Profile`]), optional
//!   RFC 7662 introspection ([`Mode`] carries its
//!   [`IntrospectionConfig`]), a bounded verified-token cache, counters
//!   ([`AuthMetrics`], one failure count per refused request);
//! - [`challenge`]: the single RFC 6750 §3 mapping to 400/401/403/503 with
//!   `WWW-Authenticate` and an absolute RFC 9728 `resource_metadata`;
//! - [`ProtectedResourceMetadata`] and [`metadata_router`]: RFC 9728;
//! - [`AuthLayer`]/[`AuthService`]: the tower layer applying all of the above,
//!   handing handlers the caller as `Extension<Arc<Principal>>`;
//! - [`dangerous`]: the benchmark bypass `InsecureAllowAll`, fenced off by
//!   name (it is compiled into every build).
//!
//! It must **not** know about rmcp or MCP methods, templates, environment
//! variables or config files: callers pass plain config structs
//! ([`ValidationConfig`], [`IntrospectionConfig`], [`TokenCacheConfig`]),
//! whose constructors fill every default from a documented `DEFAULT_*`
//! constant; algorithm names go through [`parse_algorithm`].
//! Tokens and secrets never appear in logs, `Debug` output or error bodies.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! let issuer = "https://idp.example.com/realms/mcp";
//! let jwks = jwks::JwksCache::new(jwks::Config::new(jwks::Source::Discovery {
//!     issuer: issuer.parse()?,
//! }))?;
//! let _refresher = jwks.spawn_refresher();
//!
//! let meta = auth::ProtectedResourceMetadata::new(
//!     "https://mcp.example.com/mcp",
//!     vec![issuer.into()],
//!     vec!["mcp:tools".into()],
//! )?;
//! let config = auth::ValidationConfig::new(issuer, vec![meta.resource().to_owned()])?;
//! let validator = auth::Validator::new(
//!     config,
//!     jwks,
//!     auth::Mode::Jwt { online: None },
//!     auth::TokenCacheConfig::enabled(10_000),
//! )?;
//! let layer = auth::AuthLayer::new(
//!     Arc::new(validator),
//!     vec!["mcp:tools".into()],
//!     auth::ChallengeContext {
//!         resource_metadata: meta.metadata_url(),
//!         realm: None,
//!         scope: Some("mcp:tools".into()),
//!     },
//! );
//! let app: axum::Router = axum::Router::new()
//!     .route("/mcp", axum::routing::post(|| async { "ok" }))
//!     .layer(layer)
//!     .merge(auth::metadata_router(meta));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod bearer;
mod challenge;
mod claims;
mod config;
pub mod dangerous;
mod error;
mod introspection;
mod layer;
mod metadata;
mod metrics;
mod principal;
mod profile;
mod rate_limit;
mod token_key;
mod validator;

pub use bearer::{BearerToken, extract_bearer};
pub use challenge::{ChallengeContext, RETRY_AFTER_SECS, challenge};
pub use config::{
    ClientAuth, IntrospectionConfig, Mode, ModeKind, Secret, TokenCacheConfig, TypPolicy,
    ValidationConfig, parse_algorithm,
};
pub use error::{Error, ErrorKind};
pub use layer::{AuthLayer, AuthService, ResponseFuture};
pub use metadata::{ProtectedResourceMetadata, metadata_router};
pub use metrics::AuthMetrics;
pub use principal::{Principal, PrincipalSource, Scopes};
pub use profile::{Profile, TENANT_PLACEHOLDER};
pub use validator::{IssuerConfig, Validator};

/// The JWS algorithm names of [`ValidationConfig::algorithms`], re-exported so
/// that users of this crate never depend on (or parse tokens with) the JWT
/// library themselves.
pub use jsonwebtoken::Algorithm;
