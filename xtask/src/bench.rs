//! `cargo xtask bench [--quick] [--duration SECS] [--warmup SECS] [--rounds N]
//! [--concurrency N] [--threads N] [--only A,B,…] [--no-docs] [--no-build]`: throughput,
//! latency, CPU and IdP traffic of our server against the Python design it
//! replaces (see `docs/benchmarks.md` and `bench/README.md`).
//!
//! One command: builds the release server and `loadgen` (`--locked`),
//! installs the Python baseline ([`crate::bench_tools`]), starts Keycloak
//! with the audience `http://127.0.0.1:PORT/mcp`, puts a counting proxy
//! ([`proxy`]) in front of it, and runs every target ([`target::Target`])
//! on that one port, one after another, in alternating order (forward in
//! odd rounds, reversed in even ones) so a slow drift of the shared machine
//! does not always favour the same targets.
//!
//! Each run: fresh tokens (alice and bob by password grant, the `mcp-test`
//! service account, two each) straight from Keycloak, a fresh target
//! process, a warm-up `loadgen` invocation, then snapshots (target CPU from
//! `/proc/PID/stat`, proxy counts, `/metrics`), the measured invocation,
//! and snapshots again. So every request, CPU tick and IdP request counted
//! belongs to the measured window.
//!
//! Before the rounds, target A is measured with `loadgen --threads 1` and
//! `--threads 2`; the better one is used for every run (`--threads N`
//! skips this).
//!
//! Output: the Markdown report on stdout; JSON in `target/bench/`
//! (`results.json` plus each loadgen report); the report replaces the
//! results section of `docs/benchmarks.md` unless `--quick` or `--no-docs`.
//! The task fails when any run failed or had request errors, after writing
//! the report.

mod measure;
mod proxy;
mod report;
mod target;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use xshell::{Shell, cmd};

use crate::flags;
use crate::http::Http;
use crate::keycloak::{Keycloak, REALM, StartOptions, client_secret, user_password};
use crate::process::{Guard, RemovePath};
use measure::Load;
use proxy::CountingProxy;
pub(crate) use target::Target;
use target::{Running, Setup};

/// Where results, logs and the per-run scratch directory go.
const OUT_DIR: &str = "target/bench";
/// Warm-up invocations tried before a target that completes no request is
/// given up.
const WARMUP_ATTEMPTS: usize = 5;

pub(crate) struct Options {
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) rounds: usize,
    pub(crate) concurrency: usize,
    pub(crate) threads: Option<usize>,
    pub(crate) targets: Vec<Target>,
    pub(crate) write_docs: bool,
    pub(crate) build: bool,
}

impl Options {
    /// The flags, with `--quick` and the defaults applied, checked.
    fn new(flags: flags::Bench) -> anyhow::Result<Options> {
        let (duration, warmup, rounds) = if flags.quick { (3, 1, 1) } else { (10, 3, 2) };
        let o = Options {
            duration: Duration::from_secs(flags.duration.unwrap_or(duration)),
            warmup: Duration::from_secs(flags.warmup.unwrap_or(warmup)),
            rounds: flags.rounds.unwrap_or(rounds),
            concurrency: flags.concurrency,
            threads: flags.threads,
            targets: if flags.only.is_empty() {
                Target::ALL.to_vec()
            } else {
                flags.only
            },
            write_docs: !flags.quick && !flags.no_docs,
            build: !flags.no_build,
        };
        ensure!(!o.duration.is_zero(), "--duration must be positive");
        ensure!(o.rounds >= 1, "--rounds must be at least 1");
        ensure!(o.concurrency >= 1, "--concurrency must be at least 1");
        ensure!(o.threads != Some(0), "--threads must be at least 1");
        Ok(o)
    }
}

/// One measured window of one target.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) target: Target,
    pub(crate) round: usize,
    pub(crate) threads: usize,
    /// The measured loadgen report.
    pub(crate) load: Value,
    pub(crate) server_cpu_s: f64,
    pub(crate) loadgen_cpu_s: f64,
    /// Keycloak's CPU in the window, when it runs from the distribution.
    pub(crate) idp_cpu_s: Option<f64>,
    /// IdP requests through the proxy during the window, by path.
    pub(crate) idp: proxy::Counts,
    /// `/metrics` counters during the window (ours only).
    pub(crate) metrics: BTreeMap<String, f64>,
    /// Tokens in the tokens file.
    pub(crate) tokens: usize,
}

impl Run {
    pub(crate) fn ok_per_s(&self) -> f64 {
        self.load["ok_per_s"].as_f64().unwrap_or(0.0)
    }

    pub(crate) fn ok(&self) -> u64 {
        self.load["ok"].as_u64().unwrap_or(0)
    }

    /// Request errors plus session set-up errors.
    pub(crate) fn errors(&self) -> u64 {
        self.load["errors"]["total"].as_u64().unwrap_or(u64::MAX)
            + self.load["setup_errors"].as_u64().unwrap_or(0)
    }

    /// A latency percentile of successful requests, in milliseconds.
    pub(crate) fn latency_ms(&self, p: &str) -> f64 {
        self.load["latency_us"][p].as_f64().unwrap_or(f64::NAN) / 1000.0
    }

    pub(crate) fn idp_total(&self) -> u64 {
        self.idp.values().sum()
    }

    /// Server CPU per successful request, in microseconds.
    pub(crate) fn cpu_us_per_ok(&self) -> f64 {
        self.server_cpu_s * 1e6 / self.ok().max(1) as f64
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "target": self.target.id(), "round": self.round, "threads": self.threads,
            "tokens": self.tokens,
            "ok_per_s": self.ok_per_s(), "errors": self.errors(),
            "server_cpu_s": self.server_cpu_s, "server_cpu_us_per_ok": self.cpu_us_per_ok(),
            "loadgen_cpu_s": self.loadgen_cpu_s, "idp_cpu_s": self.idp_cpu_s,
            "idp_requests": self.idp, "idp_requests_total": self.idp_total(),
            "metrics_delta": self.metrics, "loadgen": self.load,
        })
    }
}

/// A run that could not be measured.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) target: Target,
    pub(crate) round: usize,
    pub(crate) error: String,
}

/// Facts about the run for the report's header.
pub(crate) struct RunInfo {
    pub(crate) command: String,
    pub(crate) date: String,
    pub(crate) cores: String,
    pub(crate) cpu_model: String,
    pub(crate) kernel: String,
    pub(crate) load_at_start: String,
    pub(crate) versions: Vec<(String, String)>,
    pub(crate) concurrency: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) rounds: usize,
    pub(crate) threads: usize,
    pub(crate) order: Vec<Target>,
}

/// Everything shared by the runs.
struct Bench<'a> {
    kc: &'a Keycloak,
    proxy: &'a CountingProxy,
    setup: &'a Setup,
    loadgen: PathBuf,
    resource: String,
    out: PathBuf,
    loadgen_log: PathBuf,
    clk_tck: f64,
    http: Http,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
}

impl flags::Bench {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let args: Vec<String> = std::env::args().skip(2).collect();
        run(sh, Options::new(self)?, &args)
    }
}

/// The bench, step by step: binaries, scratch directories, Keycloak behind
/// the counting proxy, the loadgen thread count, the rounds, the report.
fn run(sh: &Shell, options: Options, args: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let root = sh.current_dir();
    let load_at_start = cmd!(sh, "uptime").quiet().read().unwrap_or_default();
    eprintln!("bench: load at start: {}", load_at_start.trim());

    let (server_bin, loadgen) = build_binaries(sh, &root, options.build)?;
    let tools = crate::bench_tools::ensure_installed(sh).context("installing target E")?;
    let out = root.join(OUT_DIR);
    let scratch = Scratch::create(&root, &out)?;

    // The port first: Keycloak's audience mappers carry the resource URL.
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let resource = format!("{base}/mcp");
    let (kc, proxy) = start_idp(sh, &resource)?;
    let oidc_path = |endpoint: &str| {
        format!(
            "{}/realms/{REALM}/protocol/openid-connect/{endpoint}",
            proxy.base_url()
        )
    };
    let backing = if options.targets.iter().any(|t| t.backed()) {
        eprintln!("bench: starting PostgreSQL and Redis for B-pg and B-session-redis");
        Some(
            crate::cluster::Backing::start(
                &scratch.run_dir.join("backing"),
                &server_bin,
                &scratch.templates,
            )
            .context("starting PostgreSQL and Redis")?,
        )
    } else {
        None
    };
    let setup = Setup {
        server_bin,
        python: tools.python.clone(),
        python_server: tools.server.clone(),
        port,
        base,
        issuer: kc.issuer(REALM),
        jwks_uri: oidc_path("certs"),
        introspection_endpoint: oidc_path("token/introspect"),
        templates: scratch.templates.clone(),
        run_dir: scratch.run_dir.clone(),
        logs: scratch.logs.clone(),
        backing,
    };
    let bench = Bench {
        kc: &kc,
        proxy: &proxy,
        setup: &setup,
        loadgen,
        resource,
        out: out.clone(),
        loadgen_log: setup.logs.join("loadgen.log"),
        clk_tck: clk_tck(sh)?,
        http: Http::new(Duration::from_secs(10)),
        concurrency: options.concurrency,
        warmup: options.warmup,
        duration: options.duration,
    };

    let (threads, calibration) = bench.choose_threads(options.threads)?;
    let (runs, failures) = bench.rounds(&options.targets, options.rounds, threads)?;
    let results = Results {
        calibration,
        runs,
        failures,
    };
    let context = run_info(
        sh,
        &options,
        args,
        &load_at_start,
        &bench,
        &tools.python,
        threads,
    )?;
    let written = results.write(&root, &out, &context, options.write_docs)?;
    eprintln!(
        "bench: results in {} ({:.0} s in all)",
        written.display(),
        started.elapsed().as_secs_f64()
    );
    results.verdict()
}

/// Builds the release server and `loadgen`, or with `--no-build` checks
/// they are there; returns their paths.
fn build_binaries(sh: &Shell, root: &Path, build: bool) -> anyhow::Result<(PathBuf, PathBuf)> {
    let server_bin = root.join("target/release/mcp-file-templates");
    let loadgen = root.join("target/release/loadgen");
    if build {
        eprintln!("bench: building the release server and loadgen");
        cmd!(
            sh,
            "cargo build --release --locked -p mcp-file-templates -p loadgen"
        )
        .run()
        .context("building the release server and loadgen")?;
    } else {
        for bin in [&server_bin, &loadgen] {
            ensure!(bin.is_file(), "--no-build: no {}", bin.display());
        }
        eprintln!("bench: --no-build: using the binaries in target/release");
    }
    Ok((server_bin, loadgen))
}

/// The run's directories: `logs/` (kept) and a per-run scratch directory
/// with a copy of `templates/`, removed when this value is dropped.
struct Scratch {
    logs: PathBuf,
    run_dir: PathBuf,
    templates: PathBuf,
    _guard: Guard,
}

impl Scratch {
    fn create(root: &Path, out: &Path) -> anyhow::Result<Scratch> {
        let logs = out.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let run_dir = out.join(format!("run-{}", std::process::id()));
        let guard = Guard::new(Arc::new(RemovePath(run_dir.clone())))?;
        let templates = run_dir.join("templates");
        crate::e2e::copy_templates(&root.join("templates"), &templates)?;
        Ok(Scratch {
            logs,
            run_dir,
            templates,
            _guard: guard,
        })
    }
}

/// Keycloak with `resource` as the audience, and the counting proxy in
/// front of it that the targets are given as their IdP.
fn start_idp(sh: &Shell, resource: &str) -> anyhow::Result<(Keycloak, CountingProxy)> {
    eprintln!("bench: starting Keycloak (audience {resource})");
    let kc = Keycloak::start(sh, &StartOptions::new(resource)?)
        .context("starting Keycloak for the bench")?;
    let upstream = kc
        .base_url()
        .strip_prefix("http://")
        .context("Keycloak's URL is not http://")?
        .to_owned();
    let proxy = CountingProxy::start(&upstream)?;
    Ok((kc, proxy))
}

/// Clock ticks per second, for the CPU times of `/proc`.
fn clk_tck(sh: &Shell) -> anyhow::Result<f64> {
    cmd!(sh, "getconf CLK_TCK")
        .quiet()
        .read()?
        .trim()
        .parse()
        .context("getconf CLK_TCK")
}

/// The report's header: the command, the machine, the versions, the settings.
fn run_info(
    sh: &Shell,
    options: &Options,
    args: &[String],
    load_at_start: &str,
    bench: &Bench<'_>,
    python: &Path,
    threads: usize,
) -> anyhow::Result<RunInfo> {
    let server_bin = &bench.setup.server_bin;
    let mut versions = versions(sh, server_bin, &bench.loadgen, python);
    let built = cmd!(sh, "date -u -r {server_bin} +%Y-%m-%dT%H:%M:%SZ")
        .quiet()
        .read()
        .unwrap_or_else(|_| "?".into());
    let how = if options.build {
        "built by this run"
    } else {
        "--no-build"
    };
    versions.insert(1, ("server binary".into(), format!("{how}, {built}")));
    Ok(RunInfo {
        command: command_line(args),
        date: cmd!(sh, "date -u +%Y-%m-%dT%H:%M:%SZ").quiet().read()?,
        cores: cmd!(sh, "nproc").quiet().read()?,
        cpu_model: cpu_model(),
        kernel: cmd!(sh, "uname -sr").quiet().read()?,
        load_at_start: load_average(load_at_start),
        versions,
        concurrency: options.concurrency,
        warmup: options.warmup,
        duration: options.duration,
        rounds: options.rounds,
        threads,
        order: options.targets.clone(),
    })
}

/// What the bench measured, and what it could not.
struct Results {
    /// Target A with one and two loadgen threads (empty with `--threads`).
    calibration: Vec<Run>,
    runs: Vec<Run>,
    failures: Vec<Failure>,
}

impl Results {
    /// Prints the Markdown report, writes it and `results.json` to `out`,
    /// and into `docs/benchmarks.md` when `write_docs`; returns the JSON's path.
    fn write(
        &self,
        root: &Path,
        out: &Path,
        context: &RunInfo,
        write_docs: bool,
    ) -> anyhow::Result<PathBuf> {
        let markdown = report::markdown(context, &self.calibration, &self.runs, &self.failures);
        println!("{markdown}");
        let json = json!({
            "context": {
                "command": context.command, "date": context.date, "cores": context.cores,
                "cpu_model": context.cpu_model, "kernel": context.kernel,
                "load_at_start": context.load_at_start,
                "versions": context.versions.iter().cloned().collect::<BTreeMap<_, _>>(),
                "concurrency": context.concurrency, "warmup_s": context.warmup.as_secs_f64(),
                "duration_s": context.duration.as_secs_f64(), "rounds": context.rounds,
                "threads": context.threads,
            },
            "calibration": self.calibration.iter().map(Run::to_json).collect::<Vec<_>>(),
            "runs": self.runs.iter().map(Run::to_json).collect::<Vec<_>>(),
            "failures": self.failures.iter().map(|f| json!({
                "target": f.target.id(), "round": f.round, "error": f.error,
            })).collect::<Vec<_>>(),
            "ratios": report::ratios_json(&self.runs),
        });
        let results = out.join("results.json");
        std::fs::write(&results, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", results.display()))?;
        std::fs::write(out.join("results.md"), &markdown)?;
        if write_docs {
            let docs = root.join("docs/benchmarks.md");
            report::update_docs(&docs, &markdown)?;
            eprintln!("bench: wrote {}", docs.display());
        } else {
            eprintln!("bench: docs/benchmarks.md left as it is (--quick or --no-docs)");
        }
        Ok(results)
    }

    /// Fails when any run failed or had request errors (after the report
    /// was written).
    fn verdict(&self) -> anyhow::Result<()> {
        let with_errors: Vec<String> = self
            .runs
            .iter()
            .filter(|r| r.errors() > 0 || r.ok() == 0)
            .map(|r| format!("{} round {}", r.target.id(), r.round))
            .collect();
        if !self.failures.is_empty() || !with_errors.is_empty() {
            bail!(
                "{} run(s) failed, {} run(s) had request errors ({}); see the report",
                self.failures.len(),
                with_errors.len(),
                with_errors.join(", ")
            );
        }
        Ok(())
    }
}

impl Bench<'_> {
    /// `--threads N`, or the better of one and two loadgen threads on
    /// target A; with those calibration runs.
    fn choose_threads(&self, threads: Option<usize>) -> anyhow::Result<(usize, Vec<Run>)> {
        let (threads, calibration) = match threads {
            Some(n) => (n, Vec::new()),
            None => {
                eprintln!("bench: loadgen --threads 1 vs 2 on target A");
                let calibration = self.calibrate()?;
                let best = calibration
                    .iter()
                    .max_by(|a, b| a.ok_per_s().total_cmp(&b.ok_per_s()))
                    .map_or(1, |r| r.threads);
                (best, calibration)
            }
        };
        eprintln!("bench: loadgen threads: {threads}");
        Ok((threads, calibration))
    }

    /// Every target in every round, forward in odd rounds and reversed in
    /// even ones. A failed run is recorded and the bench goes on; Keycloak
    /// exiting ends it.
    fn rounds(
        &self,
        targets: &[Target],
        rounds: usize,
        threads: usize,
    ) -> anyhow::Result<(Vec<Run>, Vec<Failure>)> {
        let mut runs: Vec<Run> = Vec::new();
        let mut failures: Vec<Failure> = Vec::new();
        for round in 1..=rounds {
            let mut order = targets.to_vec();
            if round % 2 == 0 {
                order.reverse();
            }
            for target in order {
                eprintln!(
                    "bench: round {round}: {} ({})",
                    target.id(),
                    target.describe()
                );
                match self.measure(target, round, threads) {
                    Ok(run) => {
                        eprintln!(
                            "bench:   {:.0} ok/s, p99 {:.2} ms, {} errors, server CPU {:.2} s, IdP {}",
                            run.ok_per_s(),
                            run.latency_ms("p99"),
                            run.errors(),
                            run.server_cpu_s,
                            run.idp_total()
                        );
                        runs.push(run);
                    }
                    Err(e) => {
                        eprintln!("bench:   FAILED: {e:#}");
                        failures.push(Failure {
                            target,
                            round,
                            error: format!("{e:#}"),
                        });
                    }
                }
                if let Some(status) = self.kc.exited() {
                    bail!(
                        "Keycloak exited during the bench ({status})\n{}",
                        self.kc.log_tail(40)
                    );
                }
            }
        }
        Ok((runs, failures))
    }

    /// Target A with one loadgen thread, then two, on one server process.
    fn calibrate(&self) -> anyhow::Result<Vec<Run>> {
        let label = "calibrate-A";
        let tokens = self.fetch_tokens(label)?;
        let server = target::start(self.setup, Target::A, label)?;
        self.warm_up(&server, Target::A, label, &tokens, 1)?;
        let mut runs = Vec::new();
        for threads in [1, 2] {
            runs.push(self.window(
                &server,
                Target::A,
                0,
                threads,
                &format!("{label}-t{threads}"),
                &tokens,
            )?);
        }
        Ok(runs)
    }

    fn measure(&self, target: Target, round: usize, threads: usize) -> anyhow::Result<Run> {
        let label = format!("{}-r{round}", target.id());
        let tokens = self.fetch_tokens(&label)?;
        let server = target::start(self.setup, target, &label)?;
        self.warm_up(&server, target, &label, &tokens, threads)?;
        self.window(&server, target, round, threads, &label, &tokens)
    }

    fn load<'b>(&'b self, label: &'b str, tokens: &'b Path, target: Target) -> Load<'b> {
        Load {
            bin: &self.loadgen,
            url: &self.resource,
            tokens: Some(tokens),
            session: target.session(),
            concurrency: self.concurrency,
            threads: 1,
            duration: self.duration,
            label,
            json_out: self.out.join(format!("{label}.json")),
            log: &self.loadgen_log,
        }
    }

    fn warm_up(
        &self,
        server: &Running,
        target: Target,
        label: &str,
        tokens: &Path,
        threads: usize,
    ) -> anyhow::Result<()> {
        if self.warmup.is_zero() {
            return Ok(());
        }
        let warm_label = format!("{label}-warmup");
        let mut load = self.load(&warm_label, tokens, target);
        load.duration = self.warmup;
        load.threads = threads;
        // A slow, cold target (E: about a second per request under load,
        // Keycloak's JIT) may complete nothing in a short warm-up: warm up
        // again for twice as long, a few times.
        for _ in 0..WARMUP_ATTEMPTS {
            let (report, _) = measure::run_load(&load, self.clk_tck)?;
            load.duration *= 2;
            if report["ok"].as_u64().unwrap_or(0) > 0 {
                return settle(server);
            }
            if report["errors"]["total"].as_u64().unwrap_or(0) > 0 {
                bail!(
                    "no request succeeded during the warm-up of {label}: {}\n{}",
                    report["first_error"],
                    server.log_tail(20)
                );
            }
        }
        bail!(
            "no request completed in {WARMUP_ATTEMPTS} warm-ups of {label}\n{}",
            server.log_tail(20)
        )
    }

    /// The measured window: snapshots, loadgen, snapshots.
    fn window(
        &self,
        server: &Running,
        target: Target,
        round: usize,
        threads: usize,
        label: &str,
        tokens: &Path,
    ) -> anyhow::Result<Run> {
        let mut load = self.load(label, tokens, target);
        load.threads = threads;

        let metrics_before = self.metrics(server, target)?;
        let idp_before = self.proxy.snapshot();
        let idp_group = self.kc.process_group();
        let kc_before = idp_group.map(measure::group_ticks).transpose()?;
        let cpu_before = server_ticks(server)?;
        let (report, loadgen_cpu_s) = measure::run_load(&load, self.clk_tck)?;
        let cpu_after = server_ticks(server)?;
        let kc_after = idp_group.map(measure::group_ticks).transpose()?;
        let idp_cpu_s = kc_before
            .zip(kc_after)
            .map(|(b, a)| a.saturating_sub(b) as f64 / self.clk_tck);
        let idp_after = self.proxy.snapshot();
        let metrics_after = self.metrics(server, target)?;
        if let Some(status) = server.exited() {
            bail!(
                "{} exited during the window ({status})\n{}",
                target.id(),
                server.log_tail(20)
            );
        }
        Ok(Run {
            target,
            round,
            threads,
            load: report,
            server_cpu_s: (cpu_after - cpu_before) as f64 / self.clk_tck,
            loadgen_cpu_s,
            idp_cpu_s,
            idp: proxy::difference(&idp_before, &idp_after),
            metrics: metrics_after
                .iter()
                .map(|(k, v)| (k.clone(), v - metrics_before.get(k).copied().unwrap_or(0.0)))
                .collect(),
            tokens: std::fs::read_to_string(tokens)?.lines().count(),
        })
    }

    /// The counters of `/metrics`, summed over a cluster's replicas.
    fn metrics(&self, server: &Running, target: Target) -> anyhow::Result<BTreeMap<String, f64>> {
        let mut sum = BTreeMap::new();
        if target.ours() {
            for base in server.metrics_bases(self.setup) {
                for (name, value) in measure::server_metrics(&self.http, &base)? {
                    *sum.entry(name).or_insert(0.0) += value;
                }
            }
        }
        Ok(sum)
    }

    /// Fresh tokens straight from Keycloak (not through the proxy), written
    /// one per line: alice and bob (password grant, `mcp-test`) and the
    /// `mcp-test` service account, two of each, all with `mcp:tools` and
    /// this run's audience. Fresh per run: the realm's tokens live 5 min.
    fn fetch_tokens(&self, label: &str) -> anyhow::Result<PathBuf> {
        let client = "mcp-test";
        let secret = client_secret(client).context("mcp-test secret")?;
        let mut tokens = Vec::new();
        for _ in 0..2 {
            for user in ["alice", "bob"] {
                let password = user_password(user).context("dev user password")?;
                tokens.push(self.kc.password_token(
                    client,
                    Some(secret),
                    user,
                    password,
                    "mcp:tools",
                )?);
            }
            tokens.push(
                self.kc
                    .client_credentials_token(client, secret, "mcp:tools")?,
            );
        }
        let mut text = String::new();
        for token in &tokens {
            let claims = token.claims()?;
            let aud_ok = match &claims["aud"] {
                Value::String(a) => a == &self.resource,
                Value::Array(a) => a.iter().any(|a| a == self.resource.as_str()),
                _ => false,
            };
            ensure!(
                aud_ok && token.scope().split(' ').any(|s| s == "mcp:tools"),
                "a bench token lacks aud {} or scope mcp:tools (aud {}, scope {:?})",
                self.resource,
                claims["aud"],
                token.scope()
            );
            text.push_str(token.as_str());
            text.push('\n');
        }
        let path = self.setup.run_dir.join(format!("{label}.tokens"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// Waits (at most 10 s) until the target's CPU time stops growing for
/// 300 ms: requests the warm-up left in flight are finished (or abandoned)
/// before the window opens, so their work is not counted in it.
fn settle(server: &Running) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = server_ticks(server)?;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        let now = server_ticks(server)?;
        if now == last {
            return Ok(());
        }
        last = now;
    }
    Ok(())
}

/// CPU time of every serving process of `server` (a cluster's balancer and
/// replicas), in clock ticks.
fn server_ticks(server: &Running) -> anyhow::Result<u64> {
    server.pids().into_iter().map(measure::process_ticks).sum()
}

/// A free port on 127.0.0.1 (the OS picks; released at once).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn command_line(args: &[String]) -> String {
    let mut line = String::from("cargo xtask bench");
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

/// `load average: 1.0, 2.0, 3.0` from `uptime`'s output.
fn load_average(uptime: &str) -> String {
    uptime
        .split_once("load average:")
        .map_or(uptime.trim(), |(_, l)| l.trim())
        .to_owned()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The versions the report names; `?` where a probe failed.
fn versions(sh: &Shell, server: &Path, loadgen: &Path, python: &Path) -> Vec<(String, String)> {
    let read = |c: xshell::Cmd<'_>| {
        c.quiet()
            .ignore_stderr()
            .read()
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".into())
    };
    let packages = read(cmd!(
        sh,
        "{python} -c 'import importlib.metadata as m, sys; print(sys.version.split()[0], *(m.version(p) for p in (\"mcp\", \"uvicorn\", \"starlette\", \"httpx\", \"jinja2\")))'"
    ));
    let mut py = packages.split_whitespace();
    let mut next = || py.next().unwrap_or("?").to_owned();
    let mut git = read(cmd!(sh, "git rev-parse --short HEAD"));
    if !read(cmd!(sh, "git status --porcelain --untracked-files=no")).is_empty() {
        git.push_str(" (with uncommitted changes in the working tree)");
    }
    vec![
        ("git commit".into(), git),
        ("rustc".into(), read(cmd!(sh, "rustc --version"))),
        (
            "mcp-file-templates".into(),
            read(cmd!(sh, "{server} --version")),
        ),
        ("loadgen".into(), read(cmd!(sh, "{loadgen} --version"))),
        ("Keycloak".into(), crate::keycloak::VERSION.into()),
        ("Python".into(), next()),
        ("mcp (Python SDK)".into(), next()),
        ("uvicorn".into(), next()),
        ("starlette".into(), next()),
        ("httpx".into(), next()),
        ("Jinja2".into(), next()),
    ]
}
