//! Builds the runtime dependencies from the validated [`Config`]: the
//! template store, the JWKS cache (and its background refresher) and the
//! token validator. The configuration already holds the libraries' own
//! config types, so nothing here restates a default or a check.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::app::{AppDeps, Authentication};
use crate::config::{AuthConfig, Config};
use templates::FsStore;

/// Everything `main` has to keep alive while serving.
pub struct Runtime {
    /// What `build_app` takes.
    pub app: AppDeps,
    /// Aborts the JWKS background refresh when dropped.
    pub refresher: Option<jwks::RefresherHandle>,
}

/// Opens the store and, unless authentication is disabled for benchmarks,
/// builds the JWKS cache and validator and starts the background refresh.
/// Must run inside a Tokio runtime (the refresher is a task).
pub fn build(config: &Config, shutdown: CancellationToken) -> anyhow::Result<Runtime> {
    let store = FsStore::open(config.store.dir.clone(), config.store.limits.clone())
        .with_context(|| format!("open template store {}", config.store.dir.display()))?;
    for skipped in store.skipped() {
        tracing::warn!(?skipped, "template file skipped");
    }
    let (auth, refresher) = if config.insecure_bench {
        (Authentication::DangerouslyDisabledForBenchmarks, None)
    } else {
        let validator = validator(&config.auth)?;
        let refresher = validator
            .mode()
            .uses_jwks()
            .then(|| validator.jwks().spawn_refresher());
        (Authentication::Validator(Arc::new(validator)), refresher)
    };
    Ok(Runtime {
        app: AppDeps {
            store: Arc::new(store),
            auth,
            shutdown,
        },
        refresher,
    })
}

/// Builds the key cache and the validator (no I/O).
pub fn validator(config: &AuthConfig) -> anyhow::Result<auth::Validator> {
    let cache = jwks::JwksCache::new(config.jwks.clone()).context("jwks cache")?;
    auth::Validator::new(
        config.validation.clone(),
        cache,
        config.mode.clone(),
        config.token_cache,
    )
    .context("auth validator")
}
