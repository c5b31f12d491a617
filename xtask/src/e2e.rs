//! `cargo xtask e2e` (being built).

use xshell::Shell;

pub(crate) fn run(_sh: &Shell, _args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("`cargo xtask e2e` is not available yet")
}
