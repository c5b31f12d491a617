//! The counters of a [`crate::Validator`]: live atomics ([`Metrics`]) and
//! their snapshot for a metrics endpoint ([`AuthMetrics`]). No global
//! registry: each validator owns its counters.
//!
//! Each refused request increments exactly one `failures` counter, in the one
//! place that decides the final answer: `Validator::validate_shared`,
//! `Validator::introspect`, or the layer for extraction and scope failures.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::error::{Error, ErrorKind};

/// The live counters (atomics, no global registry).
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) token_cache_hits: AtomicU64,
    pub(crate) token_cache_misses: AtomicU64,
    pub(crate) introspection_calls: AtomicU64,
    pub(crate) introspection_cache_hits: AtomicU64,
    pub(crate) introspection_errors: AtomicU64,
    pub(crate) failures: [AtomicU64; ErrorKind::LABELS.len()],
}

impl Metrics {
    /// Counts one refused request under its error's label.
    pub(crate) fn record_failure(&self, e: &Error) {
        self.failures[e.kind().index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> AuthMetrics {
        AuthMetrics {
            token_cache_hits: self.token_cache_hits.load(Relaxed),
            token_cache_misses: self.token_cache_misses.load(Relaxed),
            introspection_calls: self.introspection_calls.load(Relaxed),
            introspection_cache_hits: self.introspection_cache_hits.load(Relaxed),
            introspection_errors: self.introspection_errors.load(Relaxed),
            failures: ErrorKind::LABELS
                .iter()
                .zip(&self.failures)
                .map(|(label, n)| (*label, n.load(Relaxed)))
                .collect(),
        }
    }
}

/// A snapshot of a [`crate::Validator`]'s counters, for a metrics endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthMetrics {
    /// Tokens answered from the verified-token cache.
    pub token_cache_hits: u64,
    /// Tokens not found (or found expired) in the verified-token cache.
    pub token_cache_misses: u64,
    /// HTTP calls to the introspection endpoint. Requests that shared a call
    /// in flight for the same token, and requests the rate limit refused,
    /// made none (a refusal counts once, in `failures` under
    /// `introspection_rate_limited`).
    pub introspection_calls: u64,
    /// Introspection answers reused from the introspection caches.
    pub introspection_cache_hits: u64,
    /// Introspection calls that failed (unreachable, 5xx, bad response).
    /// Counts calls, not refused requests: a request refused because of such
    /// a call is also counted once in `failures`.
    pub introspection_errors: u64,
    /// Failures per [`ErrorKind::label`], every label listed (zero included),
    /// in [`ErrorKind::LABELS`] order.
    pub failures: Vec<(&'static str, u64)>,
}

impl AuthMetrics {
    /// The failure count for one label (zero for an unknown label).
    #[must_use]
    pub fn failures_for(&self, label: &str) -> u64 {
        self.failures
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(0, |(_, n)| *n)
    }

    /// The failure count summed over every label.
    #[must_use]
    pub fn failures_total(&self) -> u64 {
        self.failures.iter().map(|(_, n)| n).sum()
    }
}
