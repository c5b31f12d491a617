//! The bench's Python baseline (target E): pinned extras on top of the e2e venv.
//!
//! `bench/python/server.py` is FastMCP (`mcp` 1.30) with per-request RFC 7662
//! introspection; it needs what the e2e clients' venv already has
//! (`e2e/clients/python/requirements.txt`: mcp, uvicorn, httpx, starlette)
//! plus the pins in `bench/python/requirements.txt` (Jinja2 and MarkupSafe).
//! Rather than a second venv, those extras are installed into
//! `target/e2e-tools/python` with the same flags as the clients
//! (`--no-deps --only-binary=:all:`, then `pip check`), after
//! [`crate::clients::ensure_installed`] has made the venv current.
//!
//! The extras have their own stamp, `target/e2e-tools/bench-stamp`: the
//! clients' stamp (so a rebuilt venv gets the extras again), the Python
//! version and the requirements file, compared as text.

use std::path::PathBuf;

use anyhow::Context;
use xshell::{Shell, cmd};

use crate::clients;

/// Bump to force a reinstall when the install procedure itself changes.
const STAMP_FORMAT: &str = "bench-tools/1";

/// Paths to the bench's Python baseline; all absolute.
#[derive(Debug, Clone)]
pub(crate) struct BenchTools {
    /// The venv's Python interpreter, with the bench extras installed.
    pub(crate) python: PathBuf,
    /// `bench/python/server.py`: target E.
    pub(crate) server: PathBuf,
}

/// Makes the e2e venv current, then installs the bench's extra pins into it
/// unless its stamp says they are there already.
pub(crate) fn ensure_installed(sh: &Shell) -> anyhow::Result<BenchTools> {
    let clients = clients::ensure_installed(sh)?;
    let root = sh.current_dir();
    let src = root.join("bench/python");
    let requirements = src.join("requirements.txt");
    let python = clients.python.clone();

    let clients_stamp = sh
        .read_file(clients.dir.join("stamp"))
        .context("read the e2e-tools stamp")?;
    let python_version = cmd!(sh, "{python} --version").quiet().read()?;
    let wanted = format!(
        "{STAMP_FORMAT}\n{}\n{}\n{}",
        clients_stamp.trim(),
        python_version.trim(),
        sh.read_file(&requirements)?
    );
    let stamp_file = clients.dir.join("bench-stamp");
    let current = sh.read_file(&stamp_file).ok();
    let importable = cmd!(sh, "{python} -c 'import jinja2, markupsafe'")
        .quiet()
        .ignore_stderr()
        .run()
        .is_ok();

    if current.as_deref() == Some(wanted.as_str()) && importable {
        eprintln!("bench-tools: up to date ({})", clients.dir.display());
    } else {
        eprintln!("bench-tools: installing the pinned Python baseline extras");
        sh.remove_path(&stamp_file)?;
        // Same flags as the e2e clients: the file pins every transitive
        // dependency, nothing unpinned may sneak in, no sdist is compiled.
        cmd!(
            sh,
            "{python} -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: -r {requirements}"
        )
        .run()
        .context("pip install the bench's python extras")?;
        cmd!(sh, "{python} -m pip check --disable-pip-version-check")
            .run()
            .context("the bench's python requirements are inconsistent with the e2e venv")?;
        sh.write_file(&stamp_file, &wanted)?;
    }

    Ok(BenchTools {
        python,
        server: src.join("server.py"),
    })
}
