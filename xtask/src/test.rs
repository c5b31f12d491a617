//! `cargo xtask test`: the one command CI runs.
//!
//! Formatting, lints as errors, then every test of the workspace. Stops at the
//! first failing step and says which one failed.

use anyhow::Context;
use xshell::{Shell, cmd};

pub(crate) fn run(sh: &Shell, args: &[String]) -> anyhow::Result<()> {
    step("cargo fmt --check");
    cmd!(sh, "cargo fmt --all --check")
        .run()
        .context("formatting differs: run `cargo fmt --all`")?;

    step("cargo clippy");
    cmd!(
        sh,
        "cargo clippy --workspace --all-targets --locked -- -D warnings"
    )
    .run()
    .context("clippy found warnings")?;

    step("cargo test");
    cmd!(sh, "cargo test --workspace --locked {args...}")
        .run()
        .context("tests failed")?;

    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> xtask test: {name}");
}
