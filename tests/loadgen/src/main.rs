//! `loadgen`: a bench-only HTTP load generator for MCP `tools/call` over
//! Streamable HTTP.
//!
//! It owns the client side of `cargo xtask bench`: `--concurrency`
//! keep-alive HTTP/1.1 connections (bare hyper 1 connections, no pool), each
//! with one JSON-RPC `tools/call` in flight, bearer tokens rotated
//! round-robin from a file, an unmeasured warm-up, then a fixed measured
//! window; every response is classified (HTTP status, JSON-RPC error, tool
//! error, malformed, transport, timeout) and successful latencies go into an
//! HdrHistogram. The report is one line of JSON on stdout (and
//! `--json-out`), a summary on stderr.
//!
//! It knows nothing about the server under test, its crates or its auth: it
//! only speaks HTTP and MCP's wire format, so the same binary measures our
//! Rust server and the Python baseline alike. It never retries a request,
//! never prints a token, and stops by itself at the end of the window.

mod cli;
mod report;
mod response;
mod worker;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use anyhow::Context;
use clap::Parser;
use http::HeaderValue;

use crate::cli::Args;
use crate::report::{Report, RunInfo, Stats};
use crate::worker::Plan;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the load and prints the report; `Ok(false)` when nothing succeeded.
fn run(args: Args) -> anyhow::Result<bool> {
    args.check()?;
    let call_params = args.call_params()?;
    let target = cli::target(&args.url)?;
    let tokens = match &args.tokens_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read tokens file {}", path.display()))?;
            cli::bearer_values(&text)?
        }
        None => Vec::new(),
    };
    let protocol_version = HeaderValue::from_str(&args.protocol_version)
        .context("--protocol-version is not a header value")?;

    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let info = RunInfo {
        label: args.label.clone(),
        url: args.url.clone(),
        mode: args.mode,
        tool: args.tool.clone(),
        concurrency: args.concurrency,
        threads: args.threads,
        tokens: tokens.len(),
        duration_s: args.duration.as_secs_f64(),
        warmup_s: args.warmup.as_secs_f64(),
    };
    let stats = runtime.block_on(async {
        let start = tokio::time::Instant::now();
        let plan = Arc::new(Plan {
            addr: target.addr,
            host: target.host,
            path: target.path,
            protocol_version,
            call_params,
            tokens,
            mode: args.mode,
            timeout: args.timeout,
            measure_from: start + args.warmup,
            end: start + args.warmup + args.duration,
        });
        let rotation = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::with_capacity(args.concurrency);
        for index in 0..args.concurrency {
            workers.push(tokio::spawn(worker::run(
                Arc::clone(&plan),
                index,
                Arc::clone(&rotation),
                Stats::new()?,
            )));
        }
        let mut total = Stats::new()?;
        for worker in workers {
            total.merge(worker.await.context("a worker panicked")?);
        }
        anyhow::Ok(total)
    })?;
    // Connection tasks still parked on idle sockets must not delay the exit.
    runtime.shutdown_background();

    let report = Report::new(info, stats);
    let line = report.to_json_line()?;
    println!("{line}");
    eprintln!("{}", report.human());
    if let Some(path) = &args.json_out {
        std::fs::write(path, format!("{line}\n"))
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(report.succeeded())
}
