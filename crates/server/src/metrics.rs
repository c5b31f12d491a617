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

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
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
struct ToolLabels {
    tool: String,
    outcome: String,
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
    /// One optional label (`(key, value)`).
    pub label: Option<(&'static str, String)>,
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
                let encode = |m: prometheus_client::encoding::MetricEncoder<'_>| match sample.kind {
                    SampleKind::Counter => ConstCounter::new(sample.value).encode(m),
                    SampleKind::Gauge => {
                        ConstGauge::new(i64::try_from(sample.value).unwrap_or(i64::MAX)).encode(m)
                    }
                };
                match &sample.label {
                    Some((key, value)) => {
                        let labels = [(*key, value.as_str())];
                        encode(metric.encode_family(&labels)?)?;
                    }
                    None => {
                        let no_labels: [(&str, &str); 0] = [];
                        encode(metric.encode_family(&no_labels)?)?;
                    }
                }
            }
            i += group_len;
        }
        Ok(())
    }
}

/// The server's metrics registry.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<StatusLabels, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
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
        let tool_calls = Family::<ToolLabels, Counter>::default();
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
        self.tool_calls
            .get_or_create(&ToolLabels {
                tool: tool.name().to_owned(),
                outcome: outcome.label().to_owned(),
            })
            .inc();
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
