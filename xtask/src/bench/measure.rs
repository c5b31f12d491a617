//! What is measured around a window, without trusting the target: CPU time
//! from `/proc`, `loadgen`'s report and CPU, the target's own `/metrics`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::http::Http;

/// The bench's tool arguments: `meeting-minutes` exercises `slug`, `split`,
/// `lines`, loops and conditionals. `date` is explicit: its default is
/// `{{ today }}`, and a run crossing midnight would render two documents.
pub(crate) const TOOL_ARGS: &str = r#"{"name":"meeting-minutes","variables":{"meeting":"Platform weekly sync","date":"2026-11-27","attendees":"Alice, Bob, Carol, Dave","facilitator":"Alice","agenda":"Release status\nIncident review\nQ3 roadmap","notes":"Discussed the release.","decisions":"Ship 1.4 on Friday\nFreeze the API","action_items":"Bob: write the release notes (due 2026-11-30)\nCarol: rotate the signing keys"}}"#;

/// The `/metrics` counters compared before and after a window.
pub(crate) const METRICS: [&str; 5] = [
    "mcp_jwks_fetches_total",
    "mcp_introspection_calls_total",
    "mcp_introspection_cache_hits_total",
    "mcp_token_cache_hits_total",
    "mcp_token_cache_misses_total",
];

/// `utime + stime` of a process, in clock ticks (`/proc/PID/stat` fields
/// 14 and 15).
pub(crate) fn process_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let (utime, stime, _, _) = stat_times(&stat)?;
    Ok(utime + stime)
}

/// `utime + stime` of every process in the process group `pgid` (field 5
/// of `/proc/PID/stat`), in clock ticks: Keycloak's JVM and its launcher.
/// Processes that exit between two readings take their ticks with them.
pub(crate) fn group_ticks(pgid: u32) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        // rest[0] is field 3: the process group is field 5.
        if rest.split_whitespace().nth(2) == Some(pgid.to_string().as_str())
            && let Ok((utime, stime, _, _)) = stat_times(&stat)
        {
            total += utime + stime;
        }
    }
    Ok(total)
}

/// `cutime + cstime` of this process, in clock ticks (fields 16 and 17):
/// the CPU of the children it has waited for. Read before and after
/// waiting for one child, the difference is that child's CPU.
pub(crate) fn waited_children_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    let (_, _, cutime, cstime) = stat_times(&stat)?;
    Ok(cutime + cstime)
}

/// `(utime, stime, cutime, cstime)` from a `/proc/PID/stat` line. The
/// command name (field 2) is in parentheses and may hold spaces or
/// parentheses itself, so fields are counted from the last `)`.
pub(crate) fn stat_times(stat: &str) -> anyhow::Result<(u64, u64, u64, u64)> {
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("no `)` in /proc stat")?;
    // rest[0] is field 3 (state): field n is rest[n - 3].
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n - 3)
            .context("short /proc stat line")?
            .parse()
            .with_context(|| format!("/proc stat field {n}"))
    };
    Ok((field(14)?, field(15)?, field(16)?, field(17)?))
}

/// The sum of every series of the counter `name` in OpenMetrics text
/// (`name{labels} value` and `name value`); 0 when absent.
pub(crate) fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = if rest.starts_with('{') {
                rest.rsplit_once('}')?.1
            } else if rest.starts_with(' ') {
                rest
            } else {
                return None;
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}

/// The [`METRICS`] counters of our server at `base`.
pub(crate) fn server_metrics(http: &Http, base: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = http.get(&format!("{base}/metrics"), None)?.ok()?.body;
    Ok(METRICS
        .iter()
        .map(|name| ((*name).to_owned(), metric_sum(&text, name)))
        .collect())
}

/// One `loadgen` invocation.
pub(crate) struct Load<'a> {
    pub(crate) bin: &'a Path,
    pub(crate) url: &'a str,
    pub(crate) tokens: Option<&'a Path>,
    pub(crate) session: bool,
    pub(crate) concurrency: usize,
    pub(crate) threads: usize,
    pub(crate) duration: Duration,
    pub(crate) label: &'a str,
    pub(crate) json_out: PathBuf,
    pub(crate) log: &'a Path,
}

/// Runs loadgen without its own warm-up (the caller warms up with a separate
/// invocation, so everything it sends is inside the window it measures) and
/// returns its report and its CPU seconds.
pub(crate) fn run_load(load: &Load<'_>, clk_tck: f64) -> anyhow::Result<(Value, f64)> {
    let mut command = Command::new(load.bin);
    command
        .args(["--url", load.url])
        .args(["--concurrency", &load.concurrency.to_string()])
        .args(["--threads", &load.threads.to_string()])
        .args(["--duration", &format!("{}ms", load.duration.as_millis())])
        .args(["--warmup", "0s", "--timeout", "10s"])
        .args(["--mode", if load.session { "session" } else { "stateless" }])
        .args(["--tool", "render_template", "--args", TOOL_ARGS])
        .args(["--label", load.label])
        .arg("--json-out")
        .arg(&load.json_out);
    if let Some(tokens) = load.tokens {
        command.arg("--tokens-file").arg(tokens);
    }
    let log = File::options()
        .create(true)
        .append(true)
        .open(load.log)
        .with_context(|| format!("opening {}", load.log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let before = waited_children_ticks()?;
    let status = command
        .status()
        .with_context(|| format!("running {}", load.bin.display()))?;
    let cpu = (waited_children_ticks()? - before) as f64 / clk_tck;
    // 0: some requests succeeded; 1: none did (the report says why).
    if !matches!(status.code(), Some(0 | 1)) {
        bail!(
            "loadgen {} failed ({status}); see {}",
            load.label,
            load.log.display()
        );
    }
    let text = std::fs::read_to_string(&load.json_out)
        .with_context(|| format!("loadgen {} left no report", load.label))?;
    let report = serde_json::from_str(&text)
        .with_context(|| format!("loadgen {}: report is not JSON", load.label))?;
    Ok((report, cpu))
}
