//! The Keycloak distribution path: fetch, unpack, find a JDK, and launch
//! `kc.sh start-dev` from a per-run home directory.
//!
//! Layout under `target/keycloak/`:
//! - `keycloak-VERSION/`: the unpacked distribution, shared and read-only
//!   once unpacked (fetched with `mvn dependency:copy`, which caches in
//!   `~/.m2`);
//! - `builds/KEY/`: Keycloak's build output (`lib/quarkus`) for one set of
//!   build options, saved after the first successful start so later starts
//!   skip the minute-long build;
//! - `runs/PID-PORT/`: one run's home: copies of `bin/kc.sh`, `conf/` and
//!   `lib/quarkus/`, symlinks to the shared jars, providers and themes, and
//!   `data/import/` with this run's realm. Runs therefore never write into
//!   the shared distribution, and concurrent runs (a dev Keycloak and an e2e
//!   one) do not interfere; `--db=dev-mem` keeps no database on disk, while
//!   [`StartOptions::persistent`] selects `--db=dev-file`, whose H2 files
//!   live in the run's `data/h2/` so a restart of the same run keeps realm
//!   changes and keys. Removed when the run stops.
//! - `logs/keycloak-PID-PORT.log`: each run's output, kept.

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

use super::provision::feature_args;
use super::{StartOptions, VERSION, write_json};
use crate::process::{Guard, ProcessGroup, RemovePath};

const ARTIFACT: &str = "org.keycloak:keycloak-quarkus-dist:26.7.3:zip";
/// How long Keycloak gets to shut down on `SIGTERM` before `SIGKILL`.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// What to install when no path works.
const INSTALL_HINT: &str = "to run Keycloak, either set KEYCLOAK_URL to a running Keycloak 26, or install \
     docker or podman, or install Maven and a JDK 21+ (e.g. `apt-get install maven openjdk-21-jdk-headless`)";

/// Build-time options: they select the `builds/` entry.
fn build_args(opts: &StartOptions) -> Vec<String> {
    let db = if opts.persistent {
        "dev-file"
    } else {
        "dev-mem"
    };
    let mut args = vec!["--health-enabled=true".to_owned(), format!("--db={db}")];
    args.extend(feature_args(opts));
    args
}

fn build_key(opts: &StartOptions) -> String {
    let mut hasher = DefaultHasher::new();
    build_args(opts).hash(&mut hasher);
    format!("{VERSION}-{:016x}", hasher.finish())
}

/// How to start one run's Keycloak, kept so the run can be restarted in
/// place ([`super::Keycloak::restart`]): same home, ports and database.
pub(super) struct Launch {
    run_dir: PathBuf,
    java_home: PathBuf,
    args: Vec<String>,
    admin_user: String,
    admin_password: String,
    /// The run's log; a restart appends to it.
    pub(super) log: PathBuf,
}

impl Launch {
    /// Spawns `kc.sh` in its own process group, output appended to the log.
    pub(super) fn spawn(&self) -> anyhow::Result<(Arc<ProcessGroup>, Guard)> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut command = Command::new(self.run_dir.join("bin/kc.sh"));
        command
            .current_dir(&self.run_dir)
            .args(&self.args)
            .env("JAVA_HOME", &self.java_home)
            .env("KC_BOOTSTRAP_ADMIN_USERNAME", &self.admin_user)
            .env("KC_BOOTSTRAP_ADMIN_PASSWORD", &self.admin_password);
        // Keycloak reads any KC_* variable as an option: keep the caller's out.
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("KC_") && !key_text.starts_with("KC_BOOTSTRAP_ADMIN_") {
                command.env_remove(&key);
            }
        }
        ProcessGroup::spawn("keycloak", command, &log, STOP_GRACE)
    }
}

/// Launches `kc.sh start-dev` for the realm; returns the process, the
/// guards that stop it and then remove the run directory, the run directory
/// and how to launch it again. Does not wait for readiness.
pub(super) fn launch(
    sh: &Shell,
    realm: &Value,
    opts: &StartOptions,
    http_port: u16,
    management_port: u16,
    admin_user: &str,
    admin_password: &str,
) -> anyhow::Result<(Arc<ProcessGroup>, Vec<Guard>, PathBuf, Launch)> {
    let root = sh.current_dir();
    let kc_dir = root.join("target/keycloak");
    let java_home = find_java()?;
    let dist = ensure_distribution(sh, &kc_dir, &java_home)?;

    let run_name = format!("{}-{http_port}", std::process::id());
    let runs = kc_dir.join("runs");
    remove_stale_runs(&runs);
    let run_dir = runs.join(&run_name);
    prepare_run_home(
        &dist,
        &kc_dir.join("builds").join(build_key(opts)),
        &run_dir,
    )?;
    write_json(&run_dir.join("data/import/mcp-realm.json"), realm)?;

    let logs = kc_dir.join("logs");
    fs::create_dir_all(&logs)?;
    let log_path = logs.join(format!("keycloak-{run_name}.log"));
    File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;

    let mut args = vec![
        "start-dev".to_owned(),
        "--http-host=127.0.0.1".to_owned(),
        format!("--http-port={http_port}"),
        format!("--hostname=http://localhost:{http_port}"),
        format!("--http-management-port={management_port}"),
    ];
    args.extend(build_args(opts));
    args.push("--import-realm".to_owned());
    let launch = Launch {
        run_dir: run_dir.clone(),
        java_home,
        args,
        admin_user: admin_user.to_owned(),
        admin_password: admin_password.to_owned(),
        log: log_path,
    };
    eprintln!(
        "keycloak: starting Keycloak {VERSION} on http://localhost:{http_port} (management {management_port}) \
         with {}; log: {}",
        launch.java_home.display(),
        launch.log.display()
    );
    // Registered in stop order: on a signal too, the process stops before its
    // directory goes.
    let (process, guard) = launch.spawn()?;
    let cleanup = Guard::new(Arc::new(RemovePath(run_dir.clone())))?;
    Ok((process, vec![guard, cleanup], run_dir, launch))
}

/// Removes run directories (`PID-PORT`, `mcp-keycloak-PID-PORT`) whose xtask
/// is gone: left by a `SIGKILL`ed run. Linux only (`/proc`); else a no-op.
fn remove_stale_runs(runs: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    for entry in fs::read_dir(runs).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .trim_start_matches("mcp-keycloak-")
            .split('-')
            .next()
            .unwrap_or("");
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Saves the run's build output for later runs with the same build options,
/// unless already saved. Best effort: a failure only costs time later.
pub(super) fn save_build(root: &Path, run_dir: &Path, opts: &StartOptions) {
    let builds = root.join("target/keycloak/builds");
    let target = builds.join(build_key(opts));
    if target.exists() {
        return;
    }
    let tmp = builds.join(format!(".tmp-{}", std::process::id()));
    let saved = fs::create_dir_all(&tmp)
        .and_then(|()| copy_dir(&run_dir.join("lib/quarkus"), &tmp.join("quarkus")))
        .and_then(|()| fs::rename(&tmp, &target));
    if saved.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
}

/// The unpacked distribution, fetched and unpacked on first use.
fn ensure_distribution(sh: &Shell, kc_dir: &Path, java_home: &Path) -> anyhow::Result<PathBuf> {
    let dist = kc_dir.join(format!("keycloak-{VERSION}"));
    if dist.join("bin/kc.sh").is_file() {
        return Ok(dist);
    }
    fs::create_dir_all(kc_dir).with_context(|| format!("creating {}", kc_dir.display()))?;
    let zip = kc_dir.join(format!("keycloak-quarkus-dist-{VERSION}.zip"));
    if !zip.is_file() {
        if cmd!(sh, "mvn --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_err()
        {
            bail!("Maven (`mvn`) is not installed; {INSTALL_HINT}");
        }
        eprintln!("keycloak: fetching {ARTIFACT} with Maven (once; about 180 MB)");
        let out = format!("-DoutputDirectory={}", kc_dir.display());
        cmd!(sh, "mvn -q -B dependency:copy -Dartifact={ARTIFACT} {out}")
            .env("JAVA_HOME", java_home)
            .run()
            .context("mvn dependency:copy of the Keycloak distribution")?;
    }

    eprintln!("keycloak: unpacking {}", zip.display());
    let tmp = kc_dir.join(format!(".unpack-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    unzip(sh, &zip, &tmp, java_home)?;
    let unpacked = tmp.join(format!("keycloak-{VERSION}"));
    // `jar` and Python's zipfile drop the executable bits.
    for script in ["kc.sh", "kcadm.sh", "kcreg.sh"] {
        let path = unpacked.join("bin").join(script);
        if path.is_file() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
    }
    if let Err(e) = fs::rename(&unpacked, &dist) {
        // Another run may have unpacked it meanwhile.
        if !dist.join("bin/kc.sh").is_file() {
            return Err(e)
                .with_context(|| format!("moving the distribution to {}", dist.display()));
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    // ~/.m2 keeps a copy; the unpacked tree is all we use.
    let _ = fs::remove_file(&zip);
    Ok(dist)
}

/// Unpacks with `unzip`, else the JDK's `jar`, else Python's `zipfile`.
fn unzip(sh: &Shell, zip: &Path, into: &Path, java_home: &Path) -> anyhow::Result<()> {
    if cmd!(sh, "unzip -v")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
    {
        return cmd!(sh, "unzip -q {zip} -d {into}")
            .quiet()
            .run()
            .context("unzip");
    }
    let jar = java_home.join("bin/jar");
    if jar.is_file() {
        let _dir = sh.push_dir(into);
        return cmd!(sh, "{jar} xf {zip}").quiet().run().context("jar xf");
    }
    cmd!(sh, "python3 -m zipfile -e {zip} {into}")
        .quiet()
        .run()
        .context("no `unzip`, no `jar`, and python3 -m zipfile failed: install unzip")
}

/// Builds a run's home directory (see the module docs).
fn prepare_run_home(dist: &Path, build: &Path, run: &Path) -> anyhow::Result<()> {
    let _ = fs::remove_dir_all(run);
    for dir in ["bin", "lib", "data/import"] {
        fs::create_dir_all(run.join(dir))
            .with_context(|| format!("creating {}", run.join(dir).display()))?;
    }
    // kc.sh derives the home directory from its own resolved path: a copy, not a symlink.
    fs::copy(dist.join("bin/kc.sh"), run.join("bin/kc.sh"))?;
    fs::copy(
        dist.join("lib/quarkus-run.jar"),
        run.join("lib/quarkus-run.jar"),
    )?;
    copy_dir(&dist.join("conf"), &run.join("conf"))?;
    let quarkus = if build.join("quarkus").is_dir() {
        build.join("quarkus")
    } else {
        dist.join("lib/quarkus")
    };
    copy_dir(&quarkus, &run.join("lib/quarkus"))?;
    symlink(dist.join("lib/lib"), run.join("lib/lib"))?;
    symlink(dist.join("lib/app"), run.join("lib/app"))?;
    symlink(dist.join("providers"), run.join("providers"))?;
    symlink(dist.join("themes"), run.join("themes"))?;
    Ok(())
}

/// Copies a directory tree of plain files.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A JDK for Keycloak: `JAVA_HOME` if it is 21 or newer, else the best of
/// `/usr/lib/jvm/*` (21, else the newest above 21), the `java` on `PATH`,
/// and as a last resort (deprecated by Keycloak, with a warning) 17.
fn find_java() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME").map(PathBuf::from) {
        match java_major(&home) {
            Some(v) if v >= 21 => return Ok(home),
            Some(v) => eprintln!("keycloak: JAVA_HOME is Java {v}; looking for Java 21 or newer"),
            None => eprintln!(
                "keycloak: JAVA_HOME={} has no working bin/java",
                home.display()
            ),
        }
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    for dir in ["/usr/lib/jvm", "/usr/java", "/opt/java"] {
        if let Ok(entries) = fs::read_dir(dir) {
            candidates.extend(entries.flatten().map(|e| e.path()));
        }
    }
    if let Ok(entries) = fs::read_dir("/Library/Java/JavaVirtualMachines") {
        candidates.extend(entries.flatten().map(|e| e.path().join("Contents/Home")));
    }
    // The `java` on PATH, resolved to its home (`…/bin/java` → `…`).
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(java) = std::env::split_paths(&path)
        .map(|d| d.join("java"))
        .find(|j| j.is_file())
        && let Some(home) = fs::canonicalize(java)
            .ok()
            .and_then(|j| j.parent()?.parent().map(Path::to_path_buf))
    {
        candidates.push(home);
    }
    let mut found: Vec<(u32, PathBuf)> = candidates
        .into_iter()
        .filter_map(|home| java_major(&home).map(|v| (v, home)))
        .collect();
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    let pick = found
        .iter()
        .find(|(v, _)| *v == 21)
        .or_else(|| found.iter().rev().find(|(v, _)| *v > 21))
        .or_else(|| found.iter().rev().find(|(v, _)| *v >= 17));
    match pick {
        Some((v, home)) if *v < 21 => {
            eprintln!(
                "keycloak: warning: only Java {v} found ({}); Keycloak 26 deprecates 17, install 21+",
                home.display()
            );
            Ok(home.clone())
        }
        Some((_, home)) => Ok(home.clone()),
        None => bail!("no JDK 17+ found (JAVA_HOME, /usr/lib/jvm, PATH); {INSTALL_HINT}"),
    }
}

/// The major version `home/bin/java -version` reports (`"17.0.15"` → 17,
/// `"1.8.0_392"` → 8).
fn java_major(home: &Path) -> Option<u32> {
    let java = home.join("bin/java");
    if !java.is_file() {
        return None;
    }
    let out = Command::new(java).arg("-version").output().ok()?;
    parse_java_version(&String::from_utf8_lossy(&out.stderr))
}

pub(super) fn parse_java_version(text: &str) -> Option<u32> {
    let quoted = text.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '_', '-', '+']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        parts.next()?.parse().ok()
    } else {
        Some(first)
    }
}
