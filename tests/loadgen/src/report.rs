//! Counting outcomes per worker, merging them, and the final report: one
//! line of JSON (stdout, and `--json-out`) plus a human summary (stderr).
//!
//! Latency is recorded for successful requests only, in microseconds, in an
//! HdrHistogram with 3 significant digits (values up to 60 s; longer ones
//! saturate at the top). A fast `401` would otherwise pull the percentiles
//! down and flatter a target that is failing.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::response::Outcome;
use crate::worker::Mode;

/// Largest latency the histogram tracks exactly, in microseconds.
const MAX_LATENCY_US: u64 = 60_000_000;

/// One worker's counts; merged into one at the end.
#[derive(Debug)]
pub(crate) struct Stats {
    /// Latencies of successful requests, µs.
    pub(crate) latency: Histogram<u64>,
    /// Successful requests.
    pub(crate) ok: u64,
    /// Non-200 responses by status code.
    pub(crate) http_status: BTreeMap<u16, u64>,
    /// JSON-RPC error responses.
    pub(crate) jsonrpc: u64,
    /// Results with `isError: true`.
    pub(crate) tool: u64,
    /// 200 responses without a usable JSON-RPC response to our request.
    pub(crate) malformed: u64,
    /// Connect, write or read failures.
    pub(crate) transport: u64,
    /// Requests without a complete response within `--timeout`.
    pub(crate) timeout: u64,
    /// Workers that could not open their MCP session (session mode).
    pub(crate) setup_errors: u64,
    /// TCP connections opened (one per worker unless the server closes them).
    pub(crate) connects: u64,
    /// The first error seen, as a short text (never a token: only our own
    /// messages and the start of a response body).
    pub(crate) first_error: Option<String>,
}

impl Stats {
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            ok: 0,
            http_status: BTreeMap::new(),
            jsonrpc: 0,
            tool: 0,
            malformed: 0,
            transport: 0,
            timeout: 0,
            setup_errors: 0,
            connects: 0,
            first_error: None,
        })
    }

    /// Counts one classified response.
    pub(crate) fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Ok => {
                self.ok += 1;
                let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.latency.saturating_record(us.clamp(1, MAX_LATENCY_US));
            }
            Outcome::HttpStatus(code) => *self.http_status.entry(code).or_default() += 1,
            Outcome::JsonRpcError => self.jsonrpc += 1,
            Outcome::ToolError => self.tool += 1,
            Outcome::Malformed => self.malformed += 1,
        }
    }

    /// Keeps `describe()` as the first error, unless one is kept already.
    pub(crate) fn note_error(&mut self, describe: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(describe());
        }
    }

    /// Adds another worker's counts.
    pub(crate) fn merge(&mut self, other: Stats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        for (code, n) in other.http_status {
            *self.http_status.entry(code).or_default() += n;
        }
        self.jsonrpc += other.jsonrpc;
        self.tool += other.tool;
        self.malformed += other.malformed;
        self.transport += other.transport;
        self.timeout += other.timeout;
        self.setup_errors += other.setup_errors;
        self.connects += other.connects;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn errors(&self) -> u64 {
        self.http_status.values().sum::<u64>()
            + self.jsonrpc
            + self.tool
            + self.malformed
            + self.transport
            + self.timeout
    }
}

/// The run's parameters, echoed in the report.
#[derive(Debug, Serialize)]
pub(crate) struct RunInfo {
    /// `--label`, e.g. the bench target's letter.
    pub(crate) label: Option<String>,
    /// Target URL.
    pub(crate) url: String,
    /// Stateless or session.
    pub(crate) mode: Mode,
    /// Tool called.
    pub(crate) tool: String,
    /// Connections (= requests in flight).
    pub(crate) concurrency: usize,
    /// Runtime threads of the load generator.
    pub(crate) threads: usize,
    /// Distinct tokens rotated through.
    pub(crate) tokens: usize,
    /// Measured window, seconds.
    pub(crate) duration_s: f64,
    /// Unmeasured warm-up before it, seconds.
    pub(crate) warmup_s: f64,
}

/// The JSON report, one object on one line.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    #[serde(flatten)]
    run: RunInfo,
    /// Requests completed in the measured window (successes and errors).
    requests: u64,
    /// Successful requests.
    ok: u64,
    /// Error counts by class.
    errors: Errors,
    /// Workers that could not open their MCP session.
    setup_errors: u64,
    /// TCP connections opened over the whole run.
    connects: u64,
    /// `requests / duration_s`.
    req_per_s: f64,
    /// `ok / duration_s`.
    ok_per_s: f64,
    /// Latency of successful requests, microseconds.
    latency_us: Latency,
    /// The first error seen, if any.
    first_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Errors {
    total: u64,
    http_status: BTreeMap<String, u64>,
    jsonrpc: u64,
    tool: u64,
    malformed: u64,
    transport: u64,
    timeout: u64,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    mean: f64,
}

impl Report {
    /// Builds the report from the merged counts of a finished run.
    pub(crate) fn new(run: RunInfo, stats: Stats) -> Self {
        let errors = stats.errors();
        let requests = stats.ok + errors;
        let secs = run.duration_s.max(f64::MIN_POSITIVE);
        let h = &stats.latency;
        let empty = h.is_empty();
        let q = |quantile: f64| {
            if empty {
                0
            } else {
                h.value_at_quantile(quantile)
            }
        };
        Self {
            requests,
            ok: stats.ok,
            errors: Errors {
                total: errors,
                http_status: stats
                    .http_status
                    .iter()
                    .map(|(code, n)| (code.to_string(), *n))
                    .collect(),
                jsonrpc: stats.jsonrpc,
                tool: stats.tool,
                malformed: stats.malformed,
                transport: stats.transport,
                timeout: stats.timeout,
            },
            setup_errors: stats.setup_errors,
            connects: stats.connects,
            req_per_s: round1(requests as f64 / secs),
            ok_per_s: round1(stats.ok as f64 / secs),
            latency_us: Latency {
                p50: q(0.50),
                p90: q(0.90),
                p99: q(0.99),
                p999: q(0.999),
                max: if empty { 0 } else { h.max() },
                mean: if empty { 0.0 } else { round1(h.mean()) },
            },
            first_error: stats.first_error,
            run,
        }
    }

    /// Whether any request succeeded in the measured window.
    pub(crate) fn succeeded(&self) -> bool {
        self.ok > 0
    }

    /// The report as one line of JSON.
    pub(crate) fn to_json_line(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// A few lines for people.
    pub(crate) fn human(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let l = &self.latency_us;
        let e = &self.errors;
        let mut out = format!(
            "{label}{url} ({mode}, {tool}, {c} connections, {t} thread(s), {k} token(s), {d} s after {w} s warm-up)\n\
             requests {req}  ok {ok}  errors {err}  ->  {rps:.1} req/s ({okps:.1} ok/s)\n\
             latency ok: p50 {p50:.2} ms  p90 {p90:.2} ms  p99 {p99:.2} ms  p99.9 {p999:.2} ms  max {max:.2} ms  mean {mean:.2} ms",
            label = self
                .run
                .label
                .as_deref()
                .map(|l| format!("[{l}] "))
                .unwrap_or_default(),
            url = self.run.url,
            mode = self.run.mode.as_str(),
            tool = self.run.tool,
            c = self.run.concurrency,
            t = self.run.threads,
            k = self.run.tokens,
            d = self.run.duration_s,
            w = self.run.warmup_s,
            req = self.requests,
            ok = self.ok,
            err = e.total,
            rps = self.req_per_s,
            okps = self.ok_per_s,
            p50 = ms(l.p50),
            p90 = ms(l.p90),
            p99 = ms(l.p99),
            p999 = ms(l.p999),
            max = ms(l.max),
            mean = l.mean / 1000.0,
        );
        if e.total > 0 || self.setup_errors > 0 {
            out.push_str(&format!(
                "\nerrors: http {:?}  jsonrpc {}  tool {}  malformed {}  transport {}  timeout {}  setup {}",
                e.http_status, e.jsonrpc, e.tool, e.malformed, e.transport, e.timeout, self.setup_errors
            ));
        }
        if let Some(first) = &self.first_error {
            out.push_str(&format!("\nfirst error: {first}"));
        }
        out
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
