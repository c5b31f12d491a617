//! Prometheus metrics, one registry per [`Metrics`] (no global registry).
//!
//! The server's own counters (HTTP responses by status, authorization
//! failures decided by the server, tool calls by tool and outcome) live here
//! as `prometheus-client` families. The library crates keep their counters as
//! atomics of their own; a [`SnapshotSource`] turns their snapshots into
//! [`Sample`]s on every scrape, so no number is copied twice and the
//! libraries stay free of any metrics crate.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::mcp::Outcome;
use crate::tool::Tool;

/// The `Content-Type` of the exposition format [`Metrics::encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// Whether a library sample is a counter or a gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    /// Monotonic.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One value read from a library snapshot at scrape time.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Metric name without the `_total` suffix (added for counters).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: SampleKind,
    /// Labels (`(key, value)`), in the order they are printed.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: u64,
}

/// Produces the library samples on each scrape.
pub type SnapshotSource = Arc<dyn Fn() -> Vec<Sample> + Send + Sync>;

struct SnapshotCollector {
    source: SnapshotSource,
}

impl fmt::Debug for SnapshotCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SnapshotCollector")
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut samples = (self.source)();
        samples.sort_by_key(|s| s.name);
        // Samples of one name share one descriptor, as the format requires.
        let mut i = 0;
        while i < samples.len() {
            let first = &samples[i];
            let group_len = samples[i..]
                .iter()
                .take_while(|s| s.name == first.name)
                .count();
            let group = &samples[i..i + group_len];
            let metric_type = match first.kind {
                SampleKind::Counter => ConstCounter::new(0u64).metric_type(),
                SampleKind::Gauge => ConstGauge::new(0i64).metric_type(),
            };
            let mut metric =
                encoder.encode_descriptor(first.name, first.help, None, metric_type)?;
            for sample in group {
                let encode = |m: MetricEncoder<'_>| match sample.kind {
                    SampleKind::Counter => ConstCounter::new(sample.value).encode(m),
                    SampleKind::Gauge => {
                        ConstGauge::new(i64::try_from(sample.value).unwrap_or(i64::MAX)).encode(m)
                    }
                };
                let labels: Vec<(&str, &str)> = sample
                    .labels
                    .iter()
                    .map(|(key, value)| (*key, value.as_str()))
                    .collect();
                encode(metric.encode_family(&labels)?)?;
            }
            i += group_len;
        }
        Ok(())
    }
}

/// Tool calls by `(Tool, Outcome)`: one atomic per pair, indexed by
/// [`Tool::index`] and [`Outcome::index`], so counting a call is one
/// `fetch_add` with no lookup, lock or allocation. Encodes like the
/// `Family<{tool, outcome}, Counter>` it replaces: only the pairs counted at
/// least once, and no descriptor at all before the first call.
#[derive(Clone, Default)]
struct ToolCalls(Arc<[[AtomicU64; Outcome::ALL.len()]; Tool::ALL.len()]>);

impl ToolCalls {
    fn inc(&self, tool: Tool, outcome: Outcome) {
        self.0[tool.index()][outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The pairs counted at least once, with their counts.
    fn counted(&self) -> impl Iterator<Item = (Tool, Outcome, u64)> + '_ {
        Tool::ALL.into_iter().flat_map(move |tool| {
            Outcome::ALL.into_iter().filter_map(move |outcome| {
                let n = self.0[tool.index()][outcome.index()].load(Ordering::Relaxed);
                (n > 0).then_some((tool, outcome, n))
            })
        })
    }
}

impl fmt::Debug for ToolCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ToolCalls")
    }
}

impl EncodeMetric for ToolCalls {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        for (tool, outcome, n) in self.counted() {
            let labels = [("tool", tool.name()), ("outcome", outcome.label())];
            ConstCounter::new(n).encode(encoder.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn is_empty(&self) -> bool {
        self.counted().next().is_none()
    }
}

/// The server's metrics registry.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<StatusLabels, Counter>,
    tool_calls: ToolCalls,
    authz_failures: Family<ReasonLabels, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry; `source` supplies the library counters at scrape time.
    pub fn new(source: SnapshotSource) -> Self {
        let mut registry = Registry::with_prefix("mcp");
        let http_requests = Family::<StatusLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP responses by status code",
            http_requests.clone(),
        );
        let tool_calls = ToolCalls::default();
        registry.register(
            "tool_calls",
            "MCP tool calls by tool and outcome",
            tool_calls.clone(),
        );
        let authz_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "authz_failures",
            "Requests refused by the server's per-tool authorization and session binding, by reason",
            authz_failures.clone(),
        );
        registry.register_collector(Box::new(SnapshotCollector { source }));
        Self {
            registry,
            http_requests,
            tool_calls,
            authz_failures,
        }
    }

    /// Counts one HTTP response.
    pub fn http_response(&self, status: u16) {
        self.http_requests
            .get_or_create(&StatusLabels { status })
            .inc();
    }

    /// Counts one tool call.
    pub fn tool_call(&self, tool: Tool, outcome: Outcome) {
        self.tool_calls.inc(tool, outcome);
    }

    /// Counts one request refused by the server's own authorization.
    pub fn authz_failure(&self, reason: &str) {
        self.authz_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
