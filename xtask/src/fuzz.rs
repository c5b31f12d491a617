//! `cargo xtask fuzz [--time SECS] [--target NAME]... [--sanitizer address|none]`:
//! runs the cargo-fuzz targets of `fuzz/` one after the other for a bounded
//! time each and reports executions, corpus size and crashes per target.
//!
//! cargo-fuzz is installed (`cargo install cargo-fuzz --locked`) when
//! missing; the nightly toolchain must be installed already. Each run is
//! bounded by libFuzzer's `-max_total_time`, a per-input `-timeout` (fuel
//! must bound a render: a slow input is a finding) and `-rss_limit_mb`.
//! The growing corpus lives in `fuzz/corpus/<target>` (not committed);
//! `fuzz/seeds/<target>` holds committed seeds (the shipped templates for
//! `front_matter`, hand-written ones for `render`), `fuzz/dicts/` the
//! token dictionaries. A crash leaves its input in
//! `fuzz/artifacts/<target>/`; reproduce it with
//! `cargo +nightly fuzz run -s none <target> <file>` and turn it into a
//! regression test in the crate that owns the code.
//!
//! The default sanitizer is `none`: every workspace crate forbids `unsafe`,
//! and on a small shared machine AddressSanitizer would halve the
//! executions for findings that only unsafe dependency code could produce.
//! `--sanitizer address` is there for a deeper, slower run.

use std::path::Path;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::flags;

/// Every target in `fuzz/fuzz_targets`, in the order they run.
pub(crate) const TARGETS: &[&str] = &[
    "authorization_header",
    "validate_token",
    "front_matter",
    "render",
];

/// Seconds per target when `--time` is not given.
pub(crate) const DEFAULT_SECS: u64 = 60;

/// What one target's run amounted to.
struct Outcome {
    target: String,
    secs: u64,
    executions: Option<u64>,
    corpus: usize,
    crash: Option<String>,
}

impl flags::Fuzz {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let flags::Fuzz {
            secs,
            mut targets,
            sanitizer,
        } = self;
        if targets.is_empty() {
            targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
        }

        ensure_cargo_fuzz(sh)?;
        cmd!(sh, "cargo +nightly fuzz build -s {sanitizer}")
            .run()
            .context("build the fuzz targets")?;

        let mut outcomes = Vec::new();
        for target in &targets {
            outcomes.push(run_target(sh, target, secs, &sanitizer)?);
        }

        println!("\nfuzz summary ({secs} s per target, sanitizer {sanitizer}):");
        println!(
            "{:<22} {:>6} {:>12} {:>9} {:>7}  result",
            "target", "secs", "executions", "exec/s", "corpus"
        );
        for o in &outcomes {
            let execs = o
                .executions
                .map_or_else(|| "?".to_owned(), |n| n.to_string());
            let rate = o
                .executions
                .map_or_else(|| "?".to_owned(), |n| (n / o.secs.max(1)).to_string());
            println!(
                "{:<22} {:>6} {:>12} {:>9} {:>7}  {}",
                o.target,
                o.secs,
                execs,
                rate,
                o.corpus,
                o.crash.as_deref().unwrap_or("no crash")
            );
        }
        let crashed: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.crash.is_some())
            .map(|o| o.target.as_str())
            .collect();
        if !crashed.is_empty() {
            bail!(
                "crashes in {}: see fuzz/artifacts/ and fuzz/target/xtask-logs/",
                crashed.join(", ")
            );
        }
        Ok(())
    }
}

/// Installs cargo-fuzz when `cargo fuzz` is not available.
fn ensure_cargo_fuzz(sh: &Shell) -> anyhow::Result<()> {
    let toolchains = cmd!(sh, "rustup toolchain list")
        .read()
        .context("rustup is needed to find the nightly toolchain")?;
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        bail!("cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly");
    }
    let present = cmd!(sh, "cargo +nightly fuzz --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok();
    if !present {
        eprintln!("xtask fuzz: cargo-fuzz is missing; installing it");
        cmd!(sh, "cargo install cargo-fuzz --locked")
            .run()
            .context("install cargo-fuzz")?;
    }
    Ok(())
}

/// Runs one target for `secs` seconds and reads libFuzzer's final stats.
fn run_target(sh: &Shell, target: &str, secs: u64, sanitizer: &str) -> anyhow::Result<Outcome> {
    let corpus = format!("fuzz/corpus/{target}");
    let seeds = format!("fuzz/seeds/{target}");
    sh.create_dir(&corpus)?;
    sh.create_dir(&seeds)?;
    let logs = "fuzz/target/xtask-logs";
    sh.create_dir(logs)?;

    let mut libfuzzer = vec![
        format!("-max_total_time={secs}"),
        // Seconds one input may take: fuel and size caps must bound each
        // render and validation far below this.
        "-timeout=10".to_owned(),
        "-rss_limit_mb=2048".to_owned(),
        "-print_final_stats=1".to_owned(),
    ];
    let dict = format!("fuzz/dicts/{target}.dict");
    if Path::new(&dict).exists() {
        libfuzzer.push(format!("-dict={dict}"));
    }

    println!("xtask fuzz: {target} for {secs} s");
    let output = cmd!(
        sh,
        "cargo +nightly fuzz run -s {sanitizer} {target} {corpus} {seeds} -- {libfuzzer...}"
    )
    .ignore_status()
    .output()
    .with_context(|| format!("run fuzz target {target}"))?;
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    let log_path = format!("{logs}/{target}.log");
    sh.write_file(&log_path, &log)?;

    let executions = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok());
    let crash = if output.status.success() {
        None
    } else {
        let artifact = log
            .lines()
            .find_map(|l| l.split_once("Test unit written to ").map(|(_, p)| p.trim()))
            .unwrap_or("no artifact (see the log)");
        let reason = log
            .lines()
            .find(|l| l.contains("panicked at") || l.contains("==ERROR") || l.contains("ALARM"))
            .unwrap_or("libFuzzer failed");
        Some(format!("CRASH {artifact}: {reason} (log {log_path})"))
    };
    let corpus_len = sh.read_dir(&corpus).map_or(0, |entries| entries.len());
    Ok(Outcome {
        target: target.to_owned(),
        secs,
        executions,
        corpus: corpus_len,
        crash,
    })
}
