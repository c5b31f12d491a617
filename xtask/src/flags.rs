//! The command line of every task, parsed in one place (as rust-analyzer's
//! `xtask/src/flags.rs` does, here with clap's derive).
//!
//! [`Xtask::parse`] gives one [`XtaskCmd`] per task, each a plain struct of
//! that task's flags; the task's module implements `run(self, sh)` on it.
//! clap writes `--help` for every task and refuses an unknown flag, a
//! missing or malformed value, and a repeated single-value flag is taken as
//! the last one given (as the hand-written loops did). Checks that span
//! several flags, or that need the task's own constants, stay in the task.

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};

use crate::bench::Target;

/// `cargo xtask <task> [options]`.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Project automation: run `cargo xtask <task> --help` for a task's options",
    args_override_self = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub(crate) struct Xtask {
    #[command(subcommand)]
    pub(crate) subcommand: XtaskCmd,
}

/// The tasks, in the order `--help` lists them.
#[derive(Debug, Subcommand)]
pub(crate) enum XtaskCmd {
    /// fmt check, clippy (-D warnings) and every test of the workspace, then e2e
    Test(Test),
    /// Start Keycloak and the server with the embedded defaults
    RunDev(RunDev),
    /// PostgreSQL, Redis, N replicas behind HAProxy, and Keycloak, until Ctrl-C
    Cluster(Cluster),
    /// End-to-end scenarios against real Keycloak and real MCP clients
    E2e(E2e),
    /// Throughput and latency benchmarks
    Bench(Bench),
    /// Run the cargo-fuzz targets for a while
    Fuzz(Fuzz),
    /// Bounded load soak with many distinct tokens
    Soak(Soak),
    /// Start the dev Keycloak (realm mcp) and wait for Ctrl-C
    Keycloak(Keycloak),
    /// Print an access token from the dev Keycloak
    Token(Token),
    /// Install or self-test the pinned real MCP clients of e2e/clients/
    Clients(Clients),
    /// Check a live Keycloak realm against what the server needs, with fixes
    Doctor(Doctor),
}

/// `cargo xtask test [--no-e2e] [CARGO TEST ARGS...]`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub(crate) struct Test {
    /// Leave the end-to-end suite out (the run then says it was not run)
    #[arg(long)]
    no_e2e: bool,
    /// More arguments for `cargo test`, verbatim, e.g. `expired -- --nocapture`
    #[arg(value_name = "CARGO TEST ARGS", allow_hyphen_values = true)]
    cargo_args: Vec<String>,
    /// What follows a leading `--` (which clap takes as the end of the
    /// options): for `cargo test` after a `--` of its own
    #[arg(last = true, hide = true)]
    after_double_dash: Vec<String>,
}

impl Test {
    /// `--no-e2e` is ours wherever it stands, as before there was a parser:
    /// once a `cargo test` argument is seen, clap takes the rest verbatim.
    pub(crate) fn no_e2e(&self) -> bool {
        self.no_e2e || self.given().any(|a| a == "--no-e2e")
    }

    /// The arguments for `cargo test`, as given, without `--no-e2e`.
    pub(crate) fn cargo_test_args(&self) -> Vec<String> {
        self.given()
            .filter(|a| *a != "--no-e2e")
            .map(str::to_owned)
            .collect()
    }

    fn given(&self) -> impl Iterator<Item = &str> {
        let dash = (!self.after_double_dash.is_empty()).then_some("--");
        self.cargo_args
            .iter()
            .map(String::as_str)
            .chain(dash)
            .chain(self.after_double_dash.iter().map(String::as_str))
    }
}

/// `cargo xtask run-dev [options] [-- server flags...]`.
#[derive(Debug, PartialEq, Eq, Args)]
#[command(args_override_self = true)]
pub(crate) struct RunDev {
    /// Server port on 127.0.0.1
    #[arg(long, value_name = "N", default_value_t = crate::run_dev::DEFAULT_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: u16,
    /// Keycloak port (default 8080); the server gets the matching --issuer
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..),
          conflicts_with = "keycloak_url")]
    pub(crate) keycloak_port: Option<u16>,
    /// Use a running Keycloak (also KEYCLOAK_URL); the realm is imported if missing
    #[arg(long, value_name = "URL")]
    pub(crate) keycloak_url: Option<String>,
    /// Serve DIR (default: target/dev-templates, a copy of templates/)
    #[arg(long, value_name = "DIR")]
    pub(crate) templates: Option<PathBuf>,
    /// One more OAuth redirect URI for mcp-client (repeatable; new Keycloak only)
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub(crate) redirect_uris: Vec<String>,
    /// Build and run the release binary
    #[arg(long)]
    pub(crate) release: bool,
    /// More flags for the server, e.g. `-- --stateless` (see docs/configuration.md)
    #[arg(last = true, value_name = "SERVER FLAGS")]
    pub(crate) server_args: Vec<String>,
}

/// `cargo xtask cluster [--replicas N] [--port N] [--keycloak-port N] [--release]`.
#[derive(Debug, PartialEq, Eq, Args)]
#[command(args_override_self = true)]
pub(crate) struct Cluster {
    /// Server replicas behind the balancer
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u16).range(1..=32))]
    pub(crate) replicas: u16,
    /// The balancer's port on 127.0.0.1 (the public URL is http://localhost:N)
    #[arg(long, value_name = "N", default_value_t = crate::run_dev::DEFAULT_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: u16,
    /// Keycloak port (default 8080)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) keycloak_port: Option<u16>,
    /// Build and run the release binary
    #[arg(long)]
    pub(crate) release: bool,
}

/// `cargo xtask e2e [--only SUBSTRING]... [--keep-going | --fail-fast] [--list]`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub(crate) struct E2e {
    /// Run only the scenarios whose name contains SUBSTRING (repeatable)
    #[arg(long, value_name = "SUBSTRING")]
    pub(crate) only: Vec<String>,
    /// Run every scenario even after a failure (the default)
    #[arg(long, overrides_with = "fail_fast")]
    pub(crate) keep_going: bool,
    /// Stop after the first failed scenario
    #[arg(long, overrides_with = "keep_going")]
    pub(crate) fail_fast: bool,
    /// Print the scenario names, in run order, and exit
    #[arg(long)]
    pub(crate) list: bool,
}

/// `cargo xtask bench [options]`. An explicit `--duration`, `--warmup` or
/// `--rounds` wins over `--quick`, in any order.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub(crate) struct Bench {
    /// 1 s warm-up, 3 s measured, 1 round; docs/benchmarks.md untouched
    #[arg(long)]
    pub(crate) quick: bool,
    /// Measured window per run [default: 10]
    #[arg(long, value_name = "SECS")]
    pub(crate) duration: Option<u64>,
    /// Warm-up per run, a separate loadgen invocation [default: 3]
    #[arg(long, value_name = "SECS")]
    pub(crate) warmup: Option<u64>,
    /// Rounds, alternating forward/reverse order [default: 2]
    #[arg(long, value_name = "N")]
    pub(crate) rounds: Option<usize>,
    /// Loadgen connections
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub(crate) concurrency: usize,
    /// Loadgen threads; default: measure 1 and 2 on target A, keep the faster
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Targets to run: A,B,C,D,E,A-session,B-session,B-pg,B-session-redis [default: all]
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', value_parser = target)]
    pub(crate) only: Vec<Target>,
    /// Do not rewrite docs/benchmarks.md
    #[arg(long)]
    pub(crate) no_docs: bool,
    /// Use the release binaries already in target/release (a shared working
    /// tree that does not build right now)
    #[arg(long)]
    pub(crate) no_build: bool,
}

fn target(id: &str) -> Result<Target, String> {
    Target::parse(id.trim()).ok_or_else(|| {
        format!("unknown target {id:?} (targets: A, B, C, D, E, A-session, B-session)")
    })
}

/// `cargo xtask fuzz [--time SECS] [--target NAME]... [--sanitizer address|none]`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub(crate) struct Fuzz {
    /// Seconds per target
    #[arg(long = "time", value_name = "SECS", default_value_t = crate::fuzz::DEFAULT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) secs: u64,
    /// Run only this target (repeatable) [default: all]
    #[arg(long = "target", value_name = "NAME",
          value_parser = PossibleValuesParser::new(crate::fuzz::TARGETS))]
    pub(crate) targets: Vec<String>,
    /// The sanitizer the targets are built with
    #[arg(long, value_name = "SANITIZER", default_value = "none",
          value_parser = ["address", "none"])]
    pub(crate) sanitizer: String,
}

/// `cargo xtask soak [--quick] [--duration SECS] [--tokens N] [--cache-entries N] [--concurrency N]`.
/// An explicit `--duration` wins over `--quick`, in any order.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub(crate) struct Soak {
    /// A short run: 30 s of load
    #[arg(long)]
    pub(crate) quick: bool,
    /// Seconds of load [default: 600]
    #[arg(long, value_name = "SECS")]
    pub(crate) duration: Option<u64>,
    /// Distinct tokens, one subject each
    #[arg(long, value_name = "N", default_value_t = crate::soak::DEFAULT_TOKENS)]
    pub(crate) tokens: usize,
    /// The server's verified-token cache size [default: half the tokens]
    #[arg(long, value_name = "N")]
    pub(crate) cache_entries: Option<usize>,
    /// Loadgen connections
    #[arg(long, value_name = "N", default_value_t = crate::soak::DEFAULT_CONCURRENCY)]
    pub(crate) concurrency: usize,
}

/// `cargo xtask keycloak [options]`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub(crate) struct Keycloak {
    /// HTTP port on 127.0.0.1; 0 picks a free one
    #[arg(long, value_name = "N", default_value_t = crate::keycloak::DEV_PORT)]
    pub(crate) port: u16,
    /// Management (health) port on 127.0.0.1 [default: a free one]
    #[arg(long, value_name = "N")]
    pub(crate) management_port: Option<u16>,
    /// The audience the mcp:tools and templates:write scopes add
    #[arg(long, value_name = "URL", default_value = crate::keycloak::DEFAULT_AUDIENCE)]
    pub(crate) audience: String,
    /// One more redirect URI for mcp-client (repeatable)
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub(crate) redirect_uris: Vec<String>,
    /// More Keycloak features to enable, beside cimd and resource-indicators (comma-separated, repeatable)
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub(crate) features: Vec<String>,
    /// Verify the realm, tokens and key rotation, then stop
    #[arg(long)]
    pub(crate) check: bool,
}

/// `cargo xtask token [options]`: only the token goes to stdout.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub(crate) struct Token {
    /// Password grant for NAME; without it, the client credentials grant
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// The user's password [default: the dev realm's]
    #[arg(long, value_name = "P")]
    pub(crate) password: Option<String>,
    /// The client
    #[arg(long, value_name = "ID", default_value = "mcp-test")]
    pub(crate) client: String,
    /// The client's secret [default: the dev realm's]
    #[arg(long, value_name = "S")]
    pub(crate) secret: Option<String>,
    /// Space-separated scopes, e.g. "mcp:tools templates:write"
    #[arg(long, value_name = "SCOPES", default_value = "mcp:tools")]
    pub(crate) scope: String,
    /// Also print the decoded claims, to stderr
    #[arg(long)]
    pub(crate) claims: bool,
}

/// `cargo xtask doctor [--keycloak-url URL] [--realm NAME] [--resource URL]`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub(crate) struct Doctor {
    /// Keycloak's base URL, as its --hostname says (the issuer's prefix)
    #[arg(long, value_name = "URL", default_value = "http://localhost:8080")]
    pub(crate) keycloak_url: String,
    /// The realm the server trusts
    #[arg(long, value_name = "NAME", default_value = crate::keycloak::REALM)]
    pub(crate) realm: String,
    /// The MCP server's resource URL, which tokens must carry in `aud`
    #[arg(long, value_name = "URL", default_value = crate::keycloak::DEFAULT_AUDIENCE)]
    pub(crate) resource: String,
}

/// `cargo xtask clients install | selftest`.
#[derive(Debug, Args)]
pub(crate) struct Clients {
    #[command(subcommand)]
    pub(crate) command: ClientsCmd,
}

/// What `cargo xtask clients` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub(crate) enum ClientsCmd {
    /// Install the pinned MCP clients into target/e2e-tools (skipped when up to date)
    Install,
    /// Install, then run every client against the test-double server
    /// e2e/clients/python/fake_server.py (session and stateless modes)
    Selftest,
}
