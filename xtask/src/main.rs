//! Project automation, run as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! [`flags`] parses every task's command line; each task lives in its own
//! module, which implements `run(self, sh)` on its flags struct, and `main`
//! only dispatches. This crate depends on no workspace crate, and keeps its
//! own dependencies few: it is compiled before every task. The `tidy` module
//! is a test only: `cargo test -p xtask` checks the repository's conventions.

mod bench;
mod bench_tools;
mod clients;
mod cluster;
mod doctor;
mod e2e;
mod flags;
mod fuzz;
mod http;
mod keycloak;
mod process;
mod run_dev;
mod soak;
mod test;
#[cfg(test)]
mod tidy;
mod token;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser as _;
use xshell::Shell;

use flags::XtaskCmd;

fn main() -> anyhow::Result<()> {
    let flags = flags::Xtask::parse();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match flags.subcommand {
        XtaskCmd::Test(cmd) => cmd.run(&sh).context("xtask test"),
        XtaskCmd::RunDev(cmd) => cmd.run(&sh).context("xtask run-dev"),
        XtaskCmd::Cluster(cmd) => cmd.run(&sh).context("xtask cluster"),
        XtaskCmd::E2e(cmd) => cmd.run(&sh).context("xtask e2e"),
        XtaskCmd::Bench(cmd) => cmd.run(&sh).context("xtask bench"),
        XtaskCmd::Fuzz(cmd) => cmd.run(&sh).context("xtask fuzz"),
        XtaskCmd::Soak(cmd) => cmd.run(&sh).context("xtask soak"),
        XtaskCmd::Keycloak(cmd) => cmd.run(&sh).context("xtask keycloak"),
        XtaskCmd::Token(cmd) => cmd.run(&sh).context("xtask token"),
        XtaskCmd::Clients(cmd) => cmd.run(&sh).context("xtask clients"),
        XtaskCmd::Doctor(cmd) => cmd.run(&sh).context("xtask doctor"),
    }
}

/// A TOML basic string (the tasks write the server's configuration files).
pub(crate) fn toml_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The workspace root: the parent of this crate's manifest directory.
fn project_root() -> PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    dir.parent().map(PathBuf::from).unwrap_or(dir)
}
