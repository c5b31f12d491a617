//! `cargo xtask soak [--quick] [--duration SECS] [--tokens N] [--cache-entries N] [--concurrency N]`:
//! a bounded load soak of the release server with many distinct tokens,
//! reporting the server's resident memory over time and every error.
//!
//! What runs, all on loopback:
//! - a static JWKS server in this process ([`jwks::JwksServer`]) holding
//!   one RSA key made with `openssl` ([`keys::SigningKey`]);
//! - the release server in `jwt` mode, stateless, with that JWKS as
//!   `--jwks-uri` and a verified-token cache of `--cache-entries` (default
//!   half the tokens, so entries are evicted all the time);
//! - `loadgen` (release), rotating through `--tokens` distinct RS256 tokens
//!   (default 500, one subject each) calling `render_template` for
//!   `--duration` seconds (default 600; `--quick` is 30).
//!
//! Why not Keycloak: in `jwt` mode the server makes no call to the issuer
//! per request, so who signed the tokens does not change what the soak
//! measures (memory and errors of the server under churn), while Keycloak
//! would add a JVM of ~0.7 GB and its CPU to a 2-core machine, tens of
//! seconds of start-up, and 500 token requests. Tokens signed here are
//! also valid for the whole run, whatever its length.
//!
//! `VmRSS` of the server is read from `/proc/PID/status` before the load,
//! every second during it and after it; the report gives start, quarter
//! points, end, peak and the drift from the middle to the end. The soak
//! fails on any request error, on a server exit, or when no request
//! succeeded. The report is printed and written to `target/soak/report.json`.

mod jwks;
mod keys;

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use xshell::{Shell, cmd};

use crate::flags;
use crate::http::Http;
use crate::process::{Guard, ProcessGroup, RemovePath};

const DEFAULT_SECS: u64 = 600;
const QUICK_SECS: u64 = 30;
pub(crate) const DEFAULT_TOKENS: usize = 500;
pub(crate) const DEFAULT_CONCURRENCY: usize = 16;
/// The shipped template every request renders, with its required variables.
const TOOL_ARGS: &str = r#"{"name":"meeting-minutes","variables":{"meeting":"Soak sync","attendees":"Alice, Bob, Carol","agenda":"Load\nMemory"}}"#;

struct Options {
    secs: u64,
    tokens: usize,
    cache_entries: Option<usize>,
    concurrency: usize,
}

impl Options {
    /// The flags, with `--quick` and the defaults applied, checked.
    fn new(flags: flags::Soak) -> anyhow::Result<Options> {
        let default_secs = if flags.quick {
            QUICK_SECS
        } else {
            DEFAULT_SECS
        };
        let options = Options {
            secs: flags.duration.unwrap_or(default_secs),
            tokens: flags.tokens,
            cache_entries: flags.cache_entries,
            concurrency: flags.concurrency,
        };
        ensure!(options.secs >= 5, "--duration must be at least 5 seconds");
        ensure!(options.tokens >= 1, "--tokens must be at least 1");
        ensure!(options.concurrency >= 1, "--concurrency must be at least 1");
        Ok(options)
    }
}

impl flags::Soak {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        run(sh, Options::new(self)?)
    }
}

fn run(sh: &Shell, options: Options) -> anyhow::Result<()> {
    let cache_entries = options.cache_entries.unwrap_or((options.tokens / 2).max(1));

    cmd!(sh, "cargo build --release -p mcp-file-templates -p loadgen")
        .run()
        .context("build the release server and loadgen")?;
    let root = sh.current_dir();
    let server_bin = root.join("target/release/mcp-file-templates");
    let loadgen_bin = root.join("target/release/loadgen");

    let soak_dir = root.join("target/soak");
    let run_dir = soak_dir.join(format!("run-{}", std::process::id()));
    sh.create_dir(&run_dir)?;
    let _cleanup = Guard::new(std::sync::Arc::new(RemovePath(run_dir.clone())))?;

    // The issuer: a key, its JWKS on loopback, and the tokens.
    let key = keys::SigningKey::generate(sh, &run_dir)?;
    let jwks = jwks::JwksServer::start(key.jwks(sh)?)?;
    let issuer = format!("{}/realms/soak", jwks.base_url());
    let jwks_uri = format!("{issuer}/protocol/openid-connect/certs");

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let resource = format!("{base}/mcp");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let exp = now + options.secs + 600;
    eprintln!("xtask soak: signing {} tokens", options.tokens);
    let mut tokens = String::new();
    for i in 0..options.tokens {
        let claims = json!({
            "iss": issuer, "sub": format!("soak-user-{i}"), "aud": resource,
            "exp": exp, "iat": now, "jti": format!("soak-{now}-{i}"),
            "typ": "Bearer", "azp": "soak", "scope": "mcp:tools",
        });
        tokens.push_str(&key.sign(sh, &claims)?);
        tokens.push('\n');
    }
    let tokens_file = run_dir.join("tokens.txt");
    sh.write_file(&tokens_file, tokens)?;

    // The server.
    let templates = run_dir.join("templates");
    sh.create_dir(&templates)?;
    for entry in sh.read_dir(root.join("templates"))? {
        if entry.extension().is_some_and(|e| e == "md")
            && let Some(name) = entry.file_name()
        {
            sh.copy_file(&entry, templates.join(name))?;
        }
    }
    let config = run_dir.join("soak.toml");
    sh.write_file(
        &config,
        format!("[auth]\ntoken_cache_entries = {cache_entries}\n"),
    )?;
    let log_path = run_dir.join("server.log");
    let log = File::create(&log_path).context("server log")?;
    let mut server_cmd = Command::new(&server_bin);
    server_cmd
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .args(["--config"])
        .arg(&config)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &base])
        .args(["--issuer", &issuer])
        .args(["--jwks-uri", &jwks_uri])
        .args(["--auth-mode", "jwt"])
        .arg("--templates-dir")
        .arg(&templates)
        .args(["--stateless", "--log-format", "json"]);
    let (server, _server_guard) =
        ProcessGroup::spawn("server", server_cmd, &log, Duration::from_secs(10))?;
    let pid = server.pgid();
    let http = Http::new(Duration::from_secs(5));
    wait_ready(&http, &format!("{base}/readyz"), &server, &log_path)?;
    let jwks_fetches_at_start = jwks.requests();

    // The load.
    let rss_start = rss_kib(pid)?;
    eprintln!(
        "xtask soak: {} s, {} tokens, token cache {cache_entries} entries, {} connections; server RSS {} MiB",
        options.secs,
        options.tokens,
        options.concurrency,
        mib(rss_start)
    );
    let report_path = run_dir.join("loadgen.json");
    let loadgen_log = File::create(run_dir.join("loadgen.log"))?;
    let mut loadgen = Command::new(&loadgen_bin)
        .args(["--url", &resource])
        .arg("--tokens-file")
        .arg(&tokens_file)
        .args(["--duration", &format!("{}s", options.secs)])
        .args(["--warmup", "1s"])
        .args(["--timeout", "10s"])
        .args(["--concurrency", &options.concurrency.to_string()])
        .args(["--mode", "stateless", "--tool", "render_template"])
        .args(["--args", TOOL_ARGS, "--label", "soak"])
        .arg("--json-out")
        .arg(&report_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(loadgen_log)
        .spawn()
        .context("start loadgen")?;
    let started = Instant::now();
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let status = loop {
        if let Some(status) = loadgen.try_wait()? {
            break status;
        }
        if let Some(exit) = server.exited() {
            let _ = loadgen.kill();
            let _ = loadgen.wait();
            bail!(
                "the server exited during the soak ({exit}); log: {}",
                tail(&log_path)
            );
        }
        samples.push((started.elapsed().as_secs(), rss_kib(pid)?));
        std::thread::sleep(Duration::from_secs(1));
    };
    let rss_end = rss_kib(pid)?;
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = rss_kib(pid)?;
    let metrics = http.get(&format!("{base}/metrics"), None)?.body;

    let report: Value = std::fs::read_to_string(&report_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .with_context(|| format!("loadgen left no report ({status})"))?;
    let at = |fraction: f64| -> u64 {
        let index = ((samples.len().saturating_sub(1)) as f64 * fraction).round() as usize;
        samples.get(index).map_or(rss_end, |s| s.1)
    };
    let peak = samples
        .iter()
        .map(|s| s.1)
        .chain([rss_end])
        .max()
        .unwrap_or(rss_end);
    let middle = at(0.5);
    let summary = json!({
        "duration_s": options.secs,
        "tokens": options.tokens,
        "token_cache_entries": cache_entries,
        "concurrency": options.concurrency,
        "requests": report["requests"],
        "ok": report["ok"],
        "errors": report["errors"],
        "setup_errors": report["setup_errors"],
        "ok_per_s": report["ok_per_s"],
        "latency_us": report["latency_us"],
        "rss_kib": {
            "start": rss_start, "q1": at(0.25), "middle": middle, "q3": at(0.75),
            "end": rss_end, "after": rss_after, "peak": peak,
            "middle_to_end": i128::from(rss_end) - i128::from(middle),
        },
        "token_cache_hits": metric(&metrics, "mcp_token_cache_hits_total"),
        "token_cache_misses": metric(&metrics, "mcp_token_cache_misses_total"),
        "jwks_fetches_during_load": jwks.requests() - jwks_fetches_at_start,
    });
    let text = serde_json::to_string_pretty(&summary)?;
    sh.write_file(soak_dir.join("report.json"), format!("{text}\n"))?;
    println!("{text}");
    println!(
        "server RSS MiB: start {} | middle {} | end {} | peak {} (middle->end {:+.1})",
        mib(rss_start),
        mib(middle),
        mib(rss_end),
        mib(peak),
        (i128::from(rss_end) - i128::from(middle)) as f64 / 1024.0
    );

    let errors = report["errors"]["total"].as_u64().unwrap_or(u64::MAX);
    let setup = report["setup_errors"].as_u64().unwrap_or(u64::MAX);
    let ok = report["ok"].as_u64().unwrap_or(0);
    if errors != 0 || setup != 0 || ok == 0 {
        bail!(
            "soak failed: {ok} ok, {errors} errors, {setup} setup errors; first error: {}",
            report["first_error"]
        );
    }
    Ok(())
}

/// A loopback port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits (at most 60 s) for `/readyz` to answer 200: the keys are loaded.
fn wait_ready(http: &Http, url: &str, server: &ProcessGroup, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(exit) = server.exited() {
            bail!("the server exited at start ({exit}); log: {}", tail(log));
        }
        if http.get(url, None).is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the server was not ready within 60 s; log: {}", tail(log))
}

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// An unlabelled counter from the Prometheus text, if present.
fn metric(metrics: &str, name: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The last lines of a log, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
