//! `cargo xtask e2e`: end-to-end scenarios against a REAL Keycloak (the dev
//! realm `mcp`, see `docs/keycloak.md`, plus a second realm `mcp-second`
//! created through the Admin API for the multi-issuer scenarios), the REAL release binary
//! `mcp-file-templates`, and real third-party MCP clients (see
//! `e2e/clients/README.md`).
//!
//! Order of work: build the server in release, install the pinned clients,
//! pick the server's port (the token audience is its resource URL, so it must
//! be known before Keycloak imports the realm), start Keycloak once with a
//! persistent database (the outage scenario restarts it and needs the same
//! keys back), then run the scenarios of [`scenarios::ALL`] in order. Each
//! scenario starts its own server process with the configuration it needs
//! ([`server`]) and prints `PASS name (Ns)` or `FAIL name: reason`; the
//! last line is `N passed, N failed`. Anything that keeps the suite from
//! starting fails the task, loudly, with Keycloak's log tail: nothing is
//! skipped.
//!
//! Every scenario runs, whatever failed before it (`--keep-going` is the
//! default; `--fail-fast` stops at the first failure). `--only SUBSTRING`
//! (repeatable) runs the scenarios whose name contains one of them;
//! `--list` prints the names.

mod mcp;
mod oauth;
mod prometheus;
mod scenarios;
mod server;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::clients::{self, ClientTools};
use crate::flags;
use crate::keycloak::{Keycloak, REALM, SECOND_REALM, StartOptions};
use crate::process::{Guard, RemovePath};

/// Where the suite writes: server logs in `logs/`, and a per-run directory
/// (templates copy, server config files) removed at the end.
const OUT_DIR: &str = "target/e2e";

/// Everything a scenario gets: Keycloak, the clients, the server binary and
/// the one port every server of this run listens on.
pub(crate) struct Env {
    pub(crate) sh: Shell,
    pub(crate) kc: Keycloak,
    pub(crate) tools: ClientTools,
    pub(crate) server_bin: PathBuf,
    /// The server's port on 127.0.0.1 (the same for every scenario).
    pub(crate) port: u16,
    /// `http://127.0.0.1:PORT`: the server's public URL.
    pub(crate) base: String,
    /// `http://127.0.0.1:PORT/mcp`: the protected resource and the audience.
    pub(crate) resource: String,
    /// The redirect URI registered for `mcp-client` in this run.
    pub(crate) redirect_uri: String,
    /// The per-run copy of `templates/`.
    pub(crate) templates: PathBuf,
    /// This run's scratch directory (server config files).
    pub(crate) run_dir: PathBuf,
    /// `target/e2e/logs`: one server log per scenario.
    pub(crate) logs: PathBuf,
}

impl Env {
    /// The realm's issuer, `http://localhost:K/realms/mcp`.
    pub(crate) fn issuer(&self) -> String {
        self.kc.issuer(REALM)
    }

    /// The second realm's issuer, `http://localhost:K/realms/mcp-second`.
    pub(crate) fn second_issuer(&self) -> String {
        self.kc.issuer(SECOND_REALM)
    }
}

impl flags::E2e {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        if self.list {
            for (name, _) in scenarios::ALL {
                println!("{name}");
            }
            return Ok(());
        }
        let flags::E2e {
            only, fail_fast, ..
        } = self;
        let keep_going = !fail_fast;
        let selected: Vec<_> = scenarios::ALL
            .iter()
            .filter(|(name, _)| only.is_empty() || only.iter().any(|o| name.contains(o.as_str())))
            .collect();
        if selected.is_empty() {
            bail!("no scenario matches --only {only:?} (see --list)");
        }

        let suite_started = Instant::now();
        let root = sh.current_dir();
        eprintln!("e2e: building the server (release)");
        cmd!(sh, "cargo build --release -p mcp-file-templates --locked")
            .run()
            .context("building the release server binary")?;
        let server_bin = root.join("target/release/mcp-file-templates");
        if !server_bin.is_file() {
            bail!("no server binary at {}", server_bin.display());
        }
        let tools = clients::ensure_installed(sh).context("installing the pinned MCP clients")?;

        let out = root.join(OUT_DIR);
        let logs = out.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let run_dir = out.join(format!("run-{}", std::process::id()));
        let _run_dir_guard = Guard::new(Arc::new(RemovePath(run_dir.clone())))?;
        let templates = run_dir.join("templates");
        copy_templates(&root.join("templates"), &templates)?;

        // The server's port first: Keycloak's audience mappers carry its URL.
        let port = free_port()?;
        let callback_port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let resource = format!("{base}/mcp");
        let redirect_uri = format!("http://127.0.0.1:{callback_port}/callback");
        let mut opts = StartOptions::new(resource.clone())?;
        opts.extra_redirect_uris.push(redirect_uri.clone());
        opts.persistent = true;
        eprintln!("e2e: starting Keycloak (audience {resource})");
        let kc = Keycloak::start(sh, &opts).context("starting Keycloak for the e2e suite")?;
        eprintln!(
            "e2e: Keycloak ready at {} in {:.0} s",
            kc.base_url(),
            kc.started_in().as_secs_f64()
        );
        // The multi-issuer scenarios' second realm, with its own keys.
        kc.ensure_second_realm(sh, &opts)
            .with_context(|| format!("creating the realm {SECOND_REALM}"))?;

        let mut env = Env {
            sh: Shell::new()?,
            kc,
            tools,
            server_bin,
            port,
            base,
            resource,
            redirect_uri,
            templates,
            run_dir,
            logs,
        };
        env.sh.change_dir(&root);

        let mut passed = 0usize;
        let mut failed: Vec<&str> = Vec::new();
        for (name, scenario) in selected {
            eprintln!("e2e: --- {name}");
            let started = Instant::now();
            match scenario(&mut env) {
                Ok(()) => {
                    println!("PASS {name} ({:.1}s)", started.elapsed().as_secs_f64());
                    passed += 1;
                }
                Err(e) => {
                    println!("FAIL {name}: {}", one_line(&format!("{e:#}")));
                    failed.push(name);
                }
            }
            if let Some(status) = env.kc.exited() {
                println!("FAIL keycloak: exited during {name} ({status})");
                eprintln!("{}", env.kc.log_tail(40));
                failed.push("keycloak");
                break;
            }
            if !keep_going && !failed.is_empty() {
                break;
            }
        }
        eprintln!(
            "e2e: total {:.0} s (server logs in {})",
            suite_started.elapsed().as_secs_f64(),
            env.logs.display()
        );
        println!("{passed} passed, {} failed", failed.len());
        if !failed.is_empty() {
            bail!("failed: {}", failed.join(", "));
        }
        Ok(())
    }
}

/// A multi-line error on one line, for the `FAIL` line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A free port on 127.0.0.1 (the OS picks; released at once).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Copies the shipped `*.md` templates (flat directory) into `to`.
pub(crate) fn copy_templates(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
