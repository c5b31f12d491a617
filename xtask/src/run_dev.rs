//! `cargo xtask run-dev` (being built).

use xshell::Shell;

pub(crate) fn run(_sh: &Shell, _args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("`cargo xtask run-dev` is not available yet")
}
