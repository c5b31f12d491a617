//! Project automation, run as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! Each task lives in its own module with a `run` function; `main` only
//! parses the command line and dispatches. This crate depends on no
//! workspace crate, and keeps its own dependencies few: it is compiled before
//! every task.

mod bench;
mod bench_tools;
mod clients;
mod e2e;
mod fuzz;
mod http;
mod keycloak;
mod process;
mod run_dev;
mod soak;
mod test;
mod token;

use std::path::PathBuf;

use anyhow::{Context, bail};
use xshell::Shell;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  test       fmt check, clippy (-D warnings) and every test of the workspace
  run-dev    start Keycloak and the server with the embedded defaults
  e2e        end-to-end scenarios against real Keycloak and real MCP clients
  bench      throughput and latency benchmarks
  fuzz       run the cargo-fuzz targets for a while (--time N seconds each)
  soak       bounded load soak with many distinct tokens (--quick for a short run)
  keycloak   start the dev Keycloak (realm mcp) and wait for Ctrl-C
  token      print an access token from the dev Keycloak (--user alice --scope mcp:tools)
";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(task) = args.next() else {
        eprint!("{USAGE}");
        bail!("no task given");
    };
    let rest: Vec<String> = args.collect();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match task.as_str() {
        "test" => test::run(&sh, &rest).context("xtask test"),
        "run-dev" => run_dev::run(&sh, &rest).context("xtask run-dev"),
        "e2e" => e2e::run(&sh, &rest).context("xtask e2e"),
        "bench" => bench::run(&sh, &rest).context("xtask bench"),
        "fuzz" => fuzz::run(&sh, &rest).context("xtask fuzz"),
        "soak" => soak::run(&sh, &rest).context("xtask soak"),
        "keycloak" => keycloak::run(&sh, &rest).context("xtask keycloak"),
        "token" => token::run(&sh, &rest).context("xtask token"),
        "clients" => clients::run(&sh, &rest).context("xtask clients"),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown task `{other}`")
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn project_root() -> PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    dir.parent().map(PathBuf::from).unwrap_or(dir)
}
