//! A throwaway PostgreSQL cluster for tests.
//!
//! [`TestPostgres::start`] runs `initdb` into a temporary directory and
//! `pg_ctl start` on a free loopback port (`fsync` off: the data dies with
//! the test), and [`Drop`] stops the server and deletes the directory. The
//! server binaries come from `PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` packages). As root
//! (CI), the binaries run as the `postgres` user, because `initdb` refuses
//! root.
//!
//! Without the binaries every test using this panics and says how to
//! install them: a database test that cannot reach a database has proven
//! nothing, so it must not pass.
//!
//! What it must not know: the stores or the server; it hands out a
//! connection string and can stop and start its server.

// Test support: a failed setup step should abort the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

/// A PostgreSQL cluster of its own, stopped and deleted on drop. Its
/// superuser is `mcp` (trust authentication on loopback), its database
/// `postgres`.
pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Run the server binaries as the `postgres` user (`initdb` refuses root).
    as_postgres: bool,
}

impl TestPostgres {
    /// Creates and starts the cluster (about two seconds).
    pub fn start() -> Self {
        let bin = server_binaries();
        let dir = tempfile::tempdir().expect("tempdir");
        let as_postgres = is_root();
        if as_postgres {
            checked(
                Command::new("chown")
                    .arg("-R")
                    .arg("postgres:")
                    .arg(dir.path()),
                "chown the cluster directory to postgres",
            );
        }
        let pg = Self {
            port: free_port(),
            dir,
            bin,
            as_postgres,
        };
        checked(
            pg.tool("initdb")
                .args(["-A", "trust", "-U", "mcp", "-E", "UTF8", "--no-sync", "-D"])
                .arg(pg.data()),
            "initdb",
        );
        pg.start_server();
        pg
    }

    /// `host=127.0.0.1 port=… user=mcp dbname=postgres`.
    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=mcp dbname=postgres", self.port)
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server again after [`stop_server`](Self::stop_server)
    /// (same port, same data).
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        checked(
            self.tool("pg_ctl")
                .args(["-w", "-t", "60", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .args(["-o", &options, "start"]),
            "pg_ctl start",
        );
    }

    /// Stops the server (fast shutdown: sessions are disconnected).
    pub fn stop_server(&self) {
        checked(
            self.tool("pg_ctl")
                .args(["-w", "-m", "fast", "-D"])
                .arg(self.data())
                .arg("stop"),
            "pg_ctl stop",
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `bin/NAME`, run as the `postgres` user when we are root.
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .output();
    }
}

/// Runs `cmd` to its end; panics with its output unless it succeeded.
fn checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin` with `initdb`.
fn server_binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries: install the Debian package `postgresql` \
             (.ci/run does) or point PG_BIN at the directory holding initdb and pg_ctl"
        )
    })
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
