//! Builds the runtime dependencies from the validated [`Config`]: the
//! template store (the directory, with the task that refreshes its index,
//! or PostgreSQL, which keeps itself current), the JWKS cache
//! (and its background refresher) and the token validator. The
//! configuration already holds the libraries' own config types, so nothing
//! here restates a default or a check.
//!
//! The store answers `list` from its in-memory index, which its own saves
//! and deletes keep current; files changed behind its back (by hand, or by
//! another process sharing the directory) reach the listing when
//! [`spawn_index_refresher`] next calls `FsStore::refresh`, at most one
//! period ([`DEFAULT_INDEX_REFRESH`] unless configured) plus one scan
//! later. `get`, and so rendering, sees such edits at once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::app::{AppDeps, Authentication};
use crate::config::{AuthConfig, Config, Secret, StoreBackend};
use templates::{FsStore, PgOptions, PgStore, TemplateStore};

/// How often the store's index is refreshed from the directory: a listing
/// shows an edit made by hand within about this long, and a directory of
/// 10 000 templates costs one `stat` per file per period on one blocking
/// thread.
pub const DEFAULT_INDEX_REFRESH: Duration = Duration::from_secs(5);

/// Everything `main` has to keep alive while serving.
pub struct Runtime {
    /// What `build_app` takes.
    pub app: AppDeps,
    /// Abort the JWKS background refreshes (one per issuer) when dropped.
    pub refreshers: Vec<jwks::RefresherHandle>,
    /// The directory store's index refresher (none for PostgreSQL, whose
    /// listener thread the store owns); it ends when `shutdown` is cancelled.
    pub index_refresher: Option<JoinHandle<()>>,
}

/// Opens the store and starts its index refresher and, unless
/// authentication is disabled for benchmarks, builds the JWKS cache and
/// validator and starts the background refresh. Must run inside a Tokio
/// runtime (the refreshers are tasks).
pub fn build(config: &Config, shutdown: CancellationToken) -> anyhow::Result<Runtime> {
    let (store, index_refresher): (Arc<dyn TemplateStore>, _) = match &config.store.backend {
        StoreBackend::Fs => {
            let store = FsStore::open(config.store.dir.clone(), config.store.limits.clone())
                .with_context(|| format!("open template store {}", config.store.dir.display()))?;
            for skipped in store.skipped() {
                tracing::warn!(?skipped, "template file skipped");
            }
            let store = Arc::new(store);
            let refresher = spawn_index_refresher(
                Arc::clone(&store),
                config.store.index_refresh,
                shutdown.clone(),
            );
            (store, Some(refresher))
        }
        StoreBackend::Postgres { url, resync } => {
            let store = open_postgres(url, *resync, config.store.limits.clone())?;
            (Arc::new(store), None)
        }
    };
    let (auth, refreshers) = if config.insecure_bench {
        (Authentication::DangerouslyDisabledForBenchmarks, Vec::new())
    } else {
        let validator = validator(&config.auth)?;
        let refreshers = if validator.mode().uses_jwks() {
            validator
                .key_sets()
                .map(|(_, keys)| keys.spawn_refresher())
                .collect()
        } else {
            Vec::new()
        };
        (Authentication::Validator(Arc::new(validator)), refreshers)
    };
    Ok(Runtime {
        app: AppDeps {
            store,
            auth,
            shutdown,
        },
        refreshers,
        index_refresher,
    })
}

/// Opens the PostgreSQL store (migrations, the first load, its listener
/// thread) on a thread of its own: the `postgres` client runs a runtime of
/// its own per connection, which may not start on one of Tokio's threads.
pub fn open_postgres(
    url: &Secret,
    resync: Duration,
    limits: templates::StoreLimits,
) -> anyhow::Result<PgStore> {
    let mut options = PgOptions::new(url.expose(), limits);
    options.resync_interval = resync;
    std::thread::scope(|scope| scope.spawn(|| PgStore::open(options)).join())
        .map_err(|_| anyhow::anyhow!("opening the postgres template store panicked"))?
        .context("open the postgres template store (store.backend = \"postgres\")")
}

/// Calls `store.refresh()` every `period` on a blocking thread until
/// `shutdown` is cancelled; a failed refresh is logged and the listing stays
/// as it was.
///
/// One refresh at a time, one blocking thread at most, and outside the
/// render/store concurrency limit of `crate::mcp` on purpose: when requests
/// hold every slot, the listing must still catch up with the directory.
pub fn spawn_index_refresher(
    store: Arc<FsStore>,
    period: Duration,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick is immediate, and `FsStore::open` has just scanned.
        ticks.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let store = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || store.refresh()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "template index refresh failed; the listing is unchanged");
                }
                Err(error) => {
                    tracing::error!(%error, "template index refresh panicked; the listing is unchanged");
                }
            }
        }
    })
}

/// Builds each issuer's key cache and the validator (no I/O).
pub fn validator(config: &AuthConfig) -> anyhow::Result<auth::Validator> {
    let issuers = config
        .issuers
        .iter()
        .map(|issuer| {
            let keys = jwks::JwksCache::new(issuer.jwks.clone())
                .with_context(|| format!("jwks cache of {}", issuer.validation.issuer))?;
            Ok(auth::IssuerConfig {
                validation: issuer.validation.clone(),
                jwks: keys,
                mode: issuer.mode.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    auth::Validator::with_issuers(issuers, config.token_cache).context("auth validator")
}

#[cfg(test)]
mod tests;
