//! [`JwksCache`]: the lock-free key snapshot, single-flight refresh, kid-miss rate limit,
//! outage handling, background refresher, status and metrics.
//!
//! Concurrency shape: readers load an `ArcSwapOption<KeySet>` snapshot (no lock, no I/O).
//! Refreshes run in a spawned task whose result is a `futures::future::Shared`; the only lock
//! near I/O is a short `std::sync::Mutex` that decides whether to join the fetch in flight or
//! start one (and counts kid-miss fetches). It is never held across an `.await`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use futures::future::{BoxFuture, FutureExt, Shared};
use rand::Rng;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use url::Url;

use crate::config::{Config, Source};
use crate::error::{Error, ErrorKind};
use crate::fetch;
use crate::key::VerifyingKey;

/// Health of the cached key set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// No usable key set: never fetched, or dropped after `outage_window` (fail closed).
    Empty,
    /// The last refresh succeeded.
    Fresh {
        /// When the current set was fetched.
        fetched_at: SystemTime,
    },
    /// Refreshes are failing; the last good set is still served (within `outage_window`).
    Stale {
        /// When the first failure after the last success happened.
        since: SystemTime,
        /// The most recent failure.
        last_error: String,
    },
}

/// Counters since the cache was created (`keys` is a gauge).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Successful JWKS fetches.
    pub fetch_ok: u64,
    /// Failed fetches (discovery or JWKS, any reason).
    pub fetch_failed: u64,
    /// Fetches started because a kid was missing.
    pub kid_miss_refreshes: u64,
    /// Kid misses refused by the rate limit.
    pub refreshes_suppressed: u64,
    /// Keys in the current set.
    pub keys: u64,
}

#[derive(Default)]
struct Metrics {
    fetch_ok: AtomicU64,
    fetch_failed: AtomicU64,
    kid_miss_refreshes: AtomicU64,
    refreshes_suppressed: AtomicU64,
    keys: AtomicU64,
}

struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
    fetched_at: SystemTime,
    /// Monotonic twin of `fetched_at`, for the outage window.
    fetched: Instant,
}

struct Failure {
    since: SystemTime,
    last_error: String,
}

type SharedFetch = Shared<BoxFuture<'static, Result<(), Error>>>;

/// The single-flight gate and the kid-miss budget, guarded together.
#[derive(Default)]
pub(crate) struct Flight {
    current: Option<(SharedFetch, AbortHandle)>,
    miss_window_start: Option<Instant>,
    miss_fetches: u32,
}

impl Flight {
    /// Takes one kid-miss fetch from the current window's budget, if any is left.
    pub(crate) fn take_miss_budget(&mut self, now: Instant, cooldown: Duration, max: u32) -> bool {
        let expired = self
            .miss_window_start
            .is_none_or(|start| now.duration_since(start) >= cooldown);
        if expired {
            self.miss_window_start = Some(now);
            self.miss_fetches = 0;
        }
        if self.miss_fetches >= max {
            return false;
        }
        self.miss_fetches += 1;
        true
    }
}

struct Inner {
    config: Config,
    client: reqwest::Client,
    keys: ArcSwapOption<KeySet>,
    jwks_uri: ArcSwapOption<Url>,
    flight: Mutex<Flight>,
    failure: Mutex<Option<Failure>>,
    metrics: Metrics,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded sections cannot panic half-way; a poisoned lock still holds valid data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn within_outage_window(&self, set: &KeySet) -> bool {
        set.fetched.elapsed() <= self.config.outage_window
    }

    async fn resolve_jwks_uri(&self) -> Result<Url, Error> {
        match &self.config.source {
            Source::JwksUri(url) => Ok(url.clone()),
            Source::Discovery { issuer } => {
                if let Some(url) = self.jwks_uri.load_full() {
                    return Ok((*url).clone());
                }
                // Discovered once per cache: an issuer's jwks_uri does not move (go-oidc
                // makes the same assumption).
                let url = fetch::discover(&self.client, issuer, &self.config).await?;
                self.jwks_uri.store(Some(Arc::new(url.clone())));
                Ok(url)
            }
        }
    }

    /// One fetch, its bookkeeping and the outage rule. Runs in its own task.
    async fn fetch_and_store(&self) -> Result<(), Error> {
        let result = match self.resolve_jwks_uri().await {
            Ok(uri) => fetch::fetch_keys(&self.client, &uri, &self.config).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(keys) => {
                let count = keys.len() as u64;
                self.keys.store(Some(Arc::new(KeySet {
                    keys,
                    fetched_at: SystemTime::now(),
                    fetched: Instant::now(),
                })));
                *lock(&self.failure) = None;
                self.metrics.keys.store(count, Ordering::Relaxed);
                self.metrics.fetch_ok.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(keys = count, "jwks: key set refreshed");
                Ok(())
            }
            Err(error) => {
                self.metrics.fetch_failed.fetch_add(1, Ordering::Relaxed);
                {
                    let mut failure = lock(&self.failure);
                    let since = failure.as_ref().map_or_else(SystemTime::now, |f| f.since);
                    *failure = Some(Failure {
                        since,
                        last_error: error.to_string(),
                    });
                }
                let expired = self
                    .keys
                    .load()
                    .as_deref()
                    .is_some_and(|set| !self.within_outage_window(set));
                if expired {
                    // Fail closed: past the outage window the old keys are no longer trusted.
                    self.keys.store(None);
                    self.metrics.keys.store(0, Ordering::Relaxed);
                    tracing::error!(%error, "jwks: refresh failed past the outage window, key set dropped");
                } else {
                    tracing::warn!(%error, "jwks: refresh failed, keeping the last good key set");
                }
                Err(error)
            }
        }
    }
}

/// Cached signing keys of one issuer. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("source", &self.inner.config.source)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// Builds the cache and its hardened HTTP client (no redirects, connect and total
    /// timeouts of `http_timeout`). Does no I/O; call [`JwksCache::refresh`] or
    /// [`JwksCache::spawn_refresher`] to load keys.
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let client = fetch::build_client(&config)?;
        Self::with_client(config, client)
    }

    /// Like [`JwksCache::new`] with a caller-built client (proxies, custom roots). Redirects
    /// are refused even if the client follows them, and every request is still bounded by
    /// `http_timeout`.
    pub fn with_client(config: Config, client: reqwest::Client) -> Result<Self, Error> {
        config.validate()?;
        Ok(JwksCache {
            inner: Arc::new(Inner {
                config,
                client,
                keys: ArcSwapOption::empty(),
                jwks_uri: ArcSwapOption::empty(),
                flight: Mutex::new(Flight::default()),
                failure: Mutex::new(None),
                metrics: Metrics::default(),
            }),
        })
    }

    /// The configuration this cache runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Joins the fetch in flight or starts one. With `miss`, starting one spends kid-miss
    /// budget, and an exhausted budget fails fast.
    fn join_or_start(&self, miss: bool) -> Result<SharedFetch, Error> {
        let mut flight = lock(&self.inner.flight);
        if let Some((fetch, handle)) = &flight.current
            && !handle.is_finished()
        {
            return Ok(fetch.clone());
        }
        if miss {
            let config = &self.inner.config;
            if !flight.take_miss_budget(
                Instant::now(),
                config.miss_cooldown,
                config.miss_max_fetches,
            ) {
                self.inner
                    .metrics
                    .refreshes_suppressed
                    .fetch_add(1, Ordering::Relaxed);
                return Err(ErrorKind::RefreshSuppressed.into());
            }
            self.inner
                .metrics
                .kid_miss_refreshes
                .fetch_add(1, Ordering::Relaxed);
        }
        // Spawned, so the fetch completes (and is shared) even if the caller that started it
        // is cancelled.
        let inner = self.inner.clone();
        let task = tokio::spawn(async move { inner.fetch_and_store().await });
        let handle = task.abort_handle();
        let fetch = async move {
            task.await
                .unwrap_or_else(|_| Err(ErrorKind::FetchAborted.into()))
        }
        .boxed()
        .shared();
        flight.current = Some((fetch.clone(), handle));
        Ok(fetch)
    }

    /// Fetches the keys now (discovery first for [`Source::Discovery`]), joining a fetch
    /// already in flight. Not rate-limited: meant for start-up and the refresher.
    pub async fn refresh(&self) -> Result<(), Error> {
        self.join_or_start(false)?.await
    }

    /// Spawns the background refresher: an initial fetch, then one every
    /// `ttl - refresh_ahead ± jitter`; after a failure, retries with jittered exponential
    /// backoff from `retry_min` to `retry_max`. Dropping the handle stops it.
    pub fn spawn_refresher(&self) -> RefresherHandle {
        let cache = self.clone();
        let task = tokio::spawn(async move {
            let mut failures: u32 = 0;
            loop {
                let ok = cache.refresh().await.is_ok();
                failures = if ok { 0 } else { failures.saturating_add(1) };
                let config = &cache.inner.config;
                let delay = if ok {
                    refresh_delay(config, &mut rand::rng())
                } else {
                    retry_delay(config, failures, &mut rand::rng())
                };
                tokio::time::sleep(delay).await;
            }
        });
        RefresherHandle { task }
    }

    /// The key with this kid from the current snapshot: lock-free, never I/O. `None` when
    /// unknown, or when the set is older than `outage_window` (fail closed).
    pub fn get(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        let guard = self.inner.keys.load();
        let set = guard.as_deref()?;
        if !self.inner.within_outage_window(set) {
            return None;
        }
        set.keys.get(kid).cloned()
    }

    /// [`JwksCache::get`], and on a miss one refresh: joined if one is in flight, otherwise
    /// started if this `miss_cooldown` window has budget left, else
    /// [`ErrorKind::RefreshSuppressed`] at once. Still missing afterwards gives
    /// [`ErrorKind::UnknownKid`]; a failed fetch gives its error. A request therefore waits
    /// at most for one fetch (bounded by `http_timeout`, twice when discovery is still due).
    pub async fn get_or_refresh(&self, kid: &str) -> Result<Arc<VerifyingKey>, Error> {
        if let Some(key) = self.get(kid) {
            return Ok(key);
        }
        self.join_or_start(true)?.await?;
        self.get(kid).ok_or_else(|| ErrorKind::UnknownKid.into())
    }

    /// Health of the key set.
    pub fn status(&self) -> Status {
        let guard = self.inner.keys.load();
        let Some(set) = guard
            .as_deref()
            .filter(|set| self.inner.within_outage_window(set))
        else {
            return Status::Empty;
        };
        match lock(&self.inner.failure).as_ref() {
            Some(failure) => Status::Stale {
                since: failure.since,
                last_error: failure.last_error.clone(),
            },
            None => Status::Fresh {
                fetched_at: set.fetched_at,
            },
        }
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        let m = &self.inner.metrics;
        MetricsSnapshot {
            fetch_ok: m.fetch_ok.load(Ordering::Relaxed),
            fetch_failed: m.fetch_failed.load(Ordering::Relaxed),
            kid_miss_refreshes: m.kid_miss_refreshes.load(Ordering::Relaxed),
            refreshes_suppressed: m.refreshes_suppressed.load(Ordering::Relaxed),
            keys: m.keys.load(Ordering::Relaxed),
        }
    }

    /// The JWKS URL in use: the configured one, or the discovered one once discovery ran.
    pub fn jwks_uri(&self) -> Option<Url> {
        match &self.inner.config.source {
            Source::JwksUri(url) => Some(url.clone()),
            Source::Discovery { .. } => self.inner.jwks_uri.load_full().map(|url| (*url).clone()),
        }
    }
}

/// Delay until the next background refresh: `ttl - refresh_ahead`, moved by a uniformly
/// random amount in `[-jitter, +jitter]`, never below `retry_min`.
pub(crate) fn refresh_delay(config: &Config, rng: &mut impl Rng) -> Duration {
    let base = config.ttl.saturating_sub(config.refresh_ahead);
    let jitter = config.jitter.as_secs_f64();
    let offset = if jitter > 0.0 {
        rng.random_range(-jitter..=jitter)
    } else {
        0.0
    };
    let secs = (base.as_secs_f64() + offset).max(config.retry_min.as_secs_f64());
    Duration::from_secs_f64(secs)
}

/// Delay before retry number `failures` (1-based): `retry_min · 2^(failures-1)` capped at
/// `retry_max`, of which a random half is kept ("equal jitter") so failing replicas spread out.
pub(crate) fn retry_delay(config: &Config, failures: u32, rng: &mut impl Rng) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let ceiling = config
        .retry_min
        .saturating_mul(1 << exp)
        .min(config.retry_max);
    let half = ceiling / 2;
    half + half.mul_f64(rng.random_range(0.0..=1.0))
}

/// Owns the background refresher task; dropping it aborts the task.
#[derive(Debug)]
#[must_use = "dropping the handle stops the refresher"]
pub struct RefresherHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RefresherHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
