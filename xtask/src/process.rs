//! Long-lived child processes that never outlive xtask: spawned in their own
//! process group, stopped (the whole group) on drop, on panic, and on
//! Ctrl-C, `SIGTERM` or `SIGHUP`.
//!
//! A child in its own process group does not get the terminal's `SIGINT`, so
//! Ctrl-C would otherwise kill xtask and leave the child (a JVM, a container)
//! running. The first [`Guard`] therefore installs one signal thread for the
//! whole process: on `SIGINT`, `SIGTERM` or `SIGHUP` it stops every
//! registered child, then exits with `128 + signal`. The registry is
//! process-wide state on purpose: signals are process-wide too, and each
//! guard must be stopped before the process exits, whichever guard's owner
//! is running at the time.
//!
//! Stopping a group sends `SIGTERM`, waits up to a grace period for the
//! child to exit, then sends `SIGKILL` to the group. `SIGKILL` of xtask
//! itself cannot be caught: then the group outlives it (`pgrep -f keycloak`
//! finds it; `kill -- -PGID` ends it).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Something that can be stopped from any thread, at most once.
pub(crate) trait Stop: Send + Sync {
    fn stop(&self);
}

/// Stops its [`Stop`] on drop, and on a terminating signal meanwhile.
pub(crate) struct Guard {
    id: u64,
    target: Arc<dyn Stop>,
}

impl Guard {
    /// Registers `target` with the signal thread (installed on first use).
    pub(crate) fn new(target: Arc<dyn Stop>) -> anyhow::Result<Guard> {
        let registry = registry()?;
        let id = registry.next.fetch_add(1, Ordering::Relaxed);
        lock(&registry.entries).push((id, Arc::clone(&target)));
        Ok(Guard { id, target })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.target.stop();
        if let Some(registry) = REGISTRY.get() {
            lock(&registry.entries).retain(|(id, _)| *id != self.id);
        }
    }
}

struct Registry {
    next: AtomicU64,
    entries: Mutex<Vec<(u64, Arc<dyn Stop>)>>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

fn registry() -> anyhow::Result<&'static Registry> {
    if let Some(registry) = REGISTRY.get() {
        return Ok(registry);
    }
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    let registry = REGISTRY.get_or_init(|| Registry {
        next: AtomicU64::new(0),
        entries: Mutex::new(Vec::new()),
    });
    std::thread::Builder::new()
        .name("xtask-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("\nxtask: signal {signal}: stopping child processes");
                let entries: Vec<_> = lock(&registry.entries)
                    .iter()
                    .map(|(_, t)| Arc::clone(t))
                    .collect();
                for target in entries {
                    target.stop();
                }
                std::process::exit(128 + signal);
            }
        })
        .context("spawning the signal thread")?;
    Ok(registry)
}

/// Locks a mutex, ignoring poisoning: the data are plain lists and handles.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a file or a directory tree (a run directory, a state file).
pub(crate) struct RemovePath(pub(crate) PathBuf);

impl Stop for RemovePath {
    fn stop(&self) {
        let _ = if self.0.is_dir() {
            std::fs::remove_dir_all(&self.0)
        } else {
            std::fs::remove_file(&self.0)
        };
    }
}

/// A child process leading its own process group.
pub(crate) struct ProcessGroup {
    name: String,
    pgid: u32,
    grace: Duration,
    child: Mutex<Option<Child>>,
}

impl ProcessGroup {
    /// Spawns `cmd` as the leader of a new process group, stdin closed and
    /// stdout+stderr appended to `log`, and guards it.
    pub(crate) fn spawn(
        name: &str,
        mut cmd: Command,
        log: &File,
        grace: Duration,
    ) -> anyhow::Result<(Arc<ProcessGroup>, Guard)> {
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("log file")?)
            .stderr(log.try_clone().context("log file")?);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {name}: {cmd:?}"))?;
        let group = Arc::new(ProcessGroup {
            name: name.to_owned(),
            pgid: child.id(),
            grace,
            child: Mutex::new(Some(child)),
        });
        let guard = Guard::new(Arc::clone(&group) as Arc<dyn Stop>)?;
        Ok((group, guard))
    }

    pub(crate) fn pgid(&self) -> u32 {
        self.pgid
    }

    /// Sends `SIGNAME` (e.g. `INT`) to the whole group while its leader
    /// lives (a reaped leader's group id could be reused).
    pub(crate) fn signal(&self, signal: &str) {
        let mut slot = lock(&self.child);
        if let Some(child) = slot.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            signal_group(self.pgid, signal);
        }
    }

    /// `Some(description)` once the group leader has exited.
    pub(crate) fn exited(&self) -> Option<String> {
        let mut slot = lock(&self.child);
        let child = slot.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown state: {e}")),
        }
    }
}

impl Stop for ProcessGroup {
    fn stop(&self) {
        // Taking the child out makes the stop happen once; the group id is
        // never signalled after its leader was reaped (it could be reused).
        let Some(mut child) = lock(&self.child).take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            signal_group(self.pgid, "KILL");
            return;
        }
        signal_group(self.pgid, "TERM");
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !matches!(child.try_wait(), Ok(Some(_))) {
            eprintln!(
                "xtask: {} ignored SIGTERM for {:?}: killing it",
                self.name, self.grace
            );
        }
        // Also takes down any member of the group that outlived its leader.
        signal_group(self.pgid, "KILL");
        let _ = child.wait();
    }
}

/// `kill -SIG -- -PGID`: the standard tool, since `kill(2)` needs `unsafe`.
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last `lines` lines of a child's log file, headed by its path, for
/// error messages (empty when the file cannot be read).
pub(crate) fn log_tail(log: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    format!("--- last {lines} lines of {} ---\n{tail}", log.display())
}
