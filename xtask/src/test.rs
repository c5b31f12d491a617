//! `cargo xtask test`: the one command CI runs.
//!
//! Formatting, lints as errors, every test of the workspace, then the
//! end-to-end suite against real Keycloak and real MCP clients
//! (`cargo xtask e2e`), which installs and starts what it needs itself. Stops
//! at the first failing step and says which one failed.
//!
//! `--no-e2e` leaves the end-to-end suite out for a quick local loop; the run
//! then ends by saying so, never as if everything had passed. Every other
//! argument goes to `cargo test`, verbatim.

use anyhow::Context;
use xshell::{Shell, cmd};

use crate::flags;

impl flags::Test {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let test_args = self.cargo_test_args();

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
        cmd!(sh, "cargo test --workspace --locked {test_args...}")
            .run()
            .context("tests failed")?;

        if self.no_e2e() {
            eprintln!("\n==> xtask test: end-to-end suite NOT run (--no-e2e)");
            return Ok(());
        }
        step("cargo xtask e2e");
        let e2e = flags::E2e {
            only: Vec::new(),
            keep_going: false,
            fail_fast: false,
            list: false,
        };
        e2e.run(sh).context("end-to-end suite failed")
    }
}

fn step(name: &str) {
    eprintln!("\n==> xtask test: {name}");
}
