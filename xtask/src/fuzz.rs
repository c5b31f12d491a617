//! `cargo xtask fuzz` (being built).

use xshell::Shell;

pub(crate) fn run(_sh: &Shell, _args: &[String]) -> anyhow::Result<()> {
    anyhow::bail!("`cargo xtask fuzz` is not available yet")
}
