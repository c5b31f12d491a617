//! A throwaway Redis server for tests.
//!
//! [`TestRedis::start`] runs `redis-server` (Debian's `redis-server`
//! package, or `REDIS_SERVER`) on a free loopback port with persistence
//! off and its working directory in a temporary folder; [`Drop`] kills it.
//! [`TestRedis::restart`] stops and starts it on the same port, which, with
//! no persistence, is what losing a Redis node looks like to the server.
//!
//! Without the binary every test using this panics and says how to install
//! it: a shared-session test that cannot reach Redis has proven nothing,
//! so it must not pass.
//!
//! What it must not know: the server or its sessions; it hands out a URL
//! and can stop and start its server.

// Test support: a failed setup step should abort the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A Redis server of its own, killed on drop.
pub struct TestRedis {
    dir: tempfile::TempDir,
    binary: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
}

impl TestRedis {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Self {
        let redis = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            binary: server_binary(),
            port: free_port(),
            child: Mutex::new(None),
        };
        redis.start_server();
        redis
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server (again, after [`stop_server`](Self::stop_server)):
    /// same port, empty data.
    pub fn start_server(&self) {
        let child = Command::new(&self.binary)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {} within 20 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server: every key is gone (no persistence).
    pub fn stop_server(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// [`stop_server`](Self::stop_server), then
    /// [`start_server`](Self::start_server).
    pub fn restart(&self) {
        self.stop_server();
        self.start_server();
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// `REDIS_SERVER`, else `redis-server` on `PATH`, else Debian's path.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("redis-server"))
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "no redis-server: install the Debian package `redis-server` \
                 (.ci/run does) or point REDIS_SERVER at the binary"
            )
        })
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
