//! The bench targets and how each is started: our release server in four
//! configurations (A–D, plus session-mode A and B) and the Python baseline
//! E, all on the same port so the one audience Keycloak puts in every token
//! names each of them.
//!
//! Every target reaches Keycloak only through the counting proxy: our
//! server's `jwks.jwks_uri` (so no discovery call either) and
//! `introspection.endpoint`, E's `--introspection-endpoint`. The issuer stays
//! Keycloak's own URL, which is what tokens carry in `iss`.

use std::fmt::Write as _;
use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::http::Http;
use crate::keycloak::client_secret;
use crate::process::{Guard, ProcessGroup};

/// One bench target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Our server, authentication disabled (bench-only flag).
    A,
    /// Our server, `jwt` mode, verified-token cache on (the default 10 000).
    B,
    /// Our server, `jwt` mode, verified-token cache off.
    C,
    /// Our server, `introspection` mode with its default caches.
    D,
    /// The Python walkthrough: FastMCP, introspection on every request.
    E,
    /// A in session mode.
    ASession,
    /// B in session mode.
    BSession,
    /// B with the PostgreSQL template store (`store.backend = "postgres"`).
    BPostgres,
    /// B-session with the sessions in Redis (`sessions.backend = "redis"`).
    BSessionRedis,
    /// B-pg three times behind HAProxy ([`crate::cluster::Cluster`]).
    BCluster,
}

impl Target {
    /// The targets of one round, in the forward order.
    pub(crate) const ALL: [Target; 10] = [
        Target::A,
        Target::B,
        Target::C,
        Target::D,
        Target::E,
        Target::ASession,
        Target::BSession,
        Target::BPostgres,
        Target::BSessionRedis,
        Target::BCluster,
    ];

    pub(crate) fn id(self) -> &'static str {
        match self {
            Target::A => "A",
            Target::B => "B",
            Target::C => "C",
            Target::D => "D",
            Target::E => "E",
            Target::ASession => "A-session",
            Target::BSession => "B-session",
            Target::BPostgres => "B-pg",
            Target::BSessionRedis => "B-session-redis",
            Target::BCluster => "B-3x",
        }
    }

    pub(crate) fn parse(id: &str) -> Option<Target> {
        Target::ALL
            .into_iter()
            .find(|t| t.id().eq_ignore_ascii_case(id))
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Target::A => "ours, auth disabled, stateless",
            Target::B => "ours, jwt, token cache on, stateless",
            Target::C => "ours, jwt, token cache off, stateless",
            Target::D => "ours, introspection (cached 60 s), stateless",
            Target::E => "Python FastMCP, introspection per request",
            Target::ASession => "ours, auth disabled, sessions",
            Target::BSession => "ours, jwt, token cache on, sessions",
            Target::BPostgres => "ours, jwt, token cache on, stateless, PostgreSQL store",
            Target::BSessionRedis => "ours, jwt, token cache on, sessions in Redis",
            Target::BCluster => "B-pg, three replicas behind HAProxy",
        }
    }

    /// Whether loadgen runs it in session mode.
    pub(crate) fn session(self) -> bool {
        matches!(
            self,
            Target::ASession | Target::BSession | Target::BSessionRedis
        )
    }

    /// Whether it needs the PostgreSQL and Redis of [`Setup::backing`].
    pub(crate) fn backed(self) -> bool {
        matches!(self, Target::BPostgres | Target::BSessionRedis)
    }

    /// Whether it is our server (with `/metrics`).
    pub(crate) fn ours(self) -> bool {
        self != Target::E
    }

    /// Whether the issue requires zero IdP requests in the window.
    pub(crate) fn must_not_call_idp(self) -> bool {
        matches!(
            self,
            Target::A
                | Target::B
                | Target::C
                | Target::ASession
                | Target::BSession
                | Target::BPostgres
                | Target::BSessionRedis
                | Target::BCluster
        )
    }
}

/// What every target shares.
pub(crate) struct Setup {
    pub(crate) server_bin: PathBuf,
    pub(crate) python: PathBuf,
    pub(crate) python_server: PathBuf,
    pub(crate) port: u16,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// Keycloak's issuer, `http://localhost:K/realms/mcp`.
    pub(crate) issuer: String,
    /// The JWKS URL through the proxy.
    pub(crate) jwks_uri: String,
    /// The introspection URL through the proxy.
    pub(crate) introspection_endpoint: String,
    pub(crate) templates: PathBuf,
    pub(crate) run_dir: PathBuf,
    pub(crate) logs: PathBuf,
    /// PostgreSQL (templates imported) and Redis, when a selected target
    /// needs them ([`Target::backed`]).
    pub(crate) backing: Option<crate::cluster::Backing>,
}

/// A started target; stopped (process group, or the whole cluster) when
/// dropped.
pub(crate) enum Running {
    /// One server process.
    Process {
        process: Arc<ProcessGroup>,
        _guard: Guard,
        log: PathBuf,
    },
    /// [`Target::BCluster`].
    Cluster(Box<crate::cluster::Cluster>),
}

impl Running {
    /// The serving processes' ids (each leads its own process group).
    pub(crate) fn pids(&self) -> Vec<u32> {
        match self {
            Running::Process { process, .. } => vec![process.pgid()],
            Running::Cluster(cluster) => cluster.serving_pids(),
        }
    }

    /// Where `/metrics` is read: every replica of a cluster (summed).
    pub(crate) fn metrics_bases(&self, setup: &Setup) -> Vec<String> {
        match self {
            Running::Process { .. } => vec![setup.base.clone()],
            Running::Cluster(cluster) => cluster.replicas.iter().map(|r| r.base.clone()).collect(),
        }
    }

    pub(crate) fn exited(&self) -> Option<String> {
        match self {
            Running::Process { process, .. } => process.exited(),
            Running::Cluster(cluster) => cluster.exited(),
        }
    }

    pub(crate) fn log_tail(&self, lines: usize) -> String {
        match self {
            Running::Process { log, .. } => crate::process::log_tail(log, lines),
            Running::Cluster(cluster) => cluster
                .replicas
                .first()
                .map(|r| r.log_tail(lines))
                .unwrap_or_default(),
        }
    }
}

/// Starts `target` and waits until it serves.
pub(crate) fn start(setup: &Setup, target: Target, label: &str) -> anyhow::Result<Running> {
    if target == Target::BCluster {
        return start_cluster(setup, label);
    }
    let log_path = setup.logs.join(format!("{label}.log"));
    let log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let command = if target.ours() {
        ours(setup, target, label)?
    } else {
        python(setup)?
    };
    let name = if target.ours() {
        "mcp-file-templates"
    } else {
        "bench/python/server.py"
    };
    let (process, guard) = ProcessGroup::spawn(name, command, &log, Duration::from_secs(10))?;
    let running = Running::Process {
        process,
        _guard: guard,
        log: log_path,
    };
    wait_serving(setup, target, &running)?;
    Ok(running)
}

/// B-pg's configuration on three replicas behind HAProxy on the bench's
/// port, with PostgreSQL and Redis of their own.
fn start_cluster(setup: &Setup, label: &str) -> anyhow::Result<Running> {
    let cluster = crate::cluster::Cluster::start(&crate::cluster::ClusterOptions {
        replicas: 3,
        port: setup.port,
        public_url: setup.base.clone(),
        issuer: setup.issuer.clone(),
        introspection_client: (
            "mcp-server".to_owned(),
            client_secret("mcp-server")
                .context("mcp-server secret")?
                .to_owned(),
        ),
        server_bin: setup.server_bin.clone(),
        templates: setup.templates.clone(),
        dir: setup.run_dir.join(format!("cluster-{label}")),
        extra_toml: format!(
            "\n[jwks]\njwks_uri = {}\n",
            crate::toml_string(&setup.jwks_uri)
        ),
        stateless: true,
        // Per-request logs would be measured too: warnings only, as for B.
        log_filter: "warn".to_owned(),
    })?;
    Ok(Running::Cluster(Box::new(cluster)))
}

fn ours(setup: &Setup, target: Target, label: &str) -> anyhow::Result<Command> {
    let config_path = setup.run_dir.join(format!("{label}.toml"));
    std::fs::write(&config_path, config_toml(setup, target))
        .with_context(|| format!("writing {}", config_path.display()))?;
    let mut command = Command::new(&setup.server_bin);
    command.arg("--config").arg(&config_path);
    // The server reads MCP_* variables: keep the caller's out.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MCP_") {
            command.env_remove(&key);
        }
    }
    // Per-request logs would be measured too: warnings only, as for E.
    command.env("RUST_LOG", "warn");
    match target {
        Target::A | Target::ASession => {
            command
                .arg("--dangerously-disable-auth-for-benchmarks")
                .env("MCP_ALLOW_INSECURE_BENCH", "1");
        }
        Target::D => {
            command.env(
                "MCP_INTROSPECTION_CLIENT_SECRET",
                client_secret("mcp-server").context("mcp-server secret")?,
            );
        }
        Target::BPostgres | Target::BSessionRedis => {
            let backing = setup
                .backing
                .as_ref()
                .context("B-pg and B-session-redis need PostgreSQL and Redis")?;
            command
                .env("MCP_STORE_POSTGRES_URL", &backing.postgres_url)
                .env("MCP_SESSIONS_REDIS_URL", &backing.redis_url);
        }
        _ => {}
    }
    Ok(command)
}

/// The TOML configuration of our server as `target`.
pub(crate) fn config_toml(setup: &Setup, target: Target) -> String {
    let mode = if target == Target::D {
        "introspection"
    } else {
        "jwt"
    };
    let mut toml = String::new();
    let _ = writeln!(toml, "bind = \"127.0.0.1:{}\"", setup.port);
    let _ = writeln!(toml, "public_url = {}", crate::toml_string(&setup.base));
    let _ = writeln!(
        toml,
        "templates_dir = {}",
        crate::toml_string(&setup.templates.display().to_string())
    );
    let _ = writeln!(toml, "stateless = {}", !target.session());
    let _ = writeln!(toml, "log_format = \"json\"");
    let _ = writeln!(toml, "\n[auth]\nmode = \"{mode}\"");
    let _ = writeln!(toml, "issuer = {}", crate::toml_string(&setup.issuer));
    if target == Target::C {
        let _ = writeln!(toml, "token_cache_entries = 0");
    }
    if target == Target::BPostgres {
        let _ = writeln!(toml, "\n[store]\nbackend = \"postgres\"");
    }
    if target == Target::BSessionRedis {
        let _ = writeln!(toml, "\n[sessions]\nbackend = \"redis\"");
    }
    let _ = writeln!(
        toml,
        "\n[jwks]\njwks_uri = {}",
        crate::toml_string(&setup.jwks_uri)
    );
    if target == Target::D {
        // Default caches: active answers 60 s (capped by `exp`), inactive 10 s.
        let _ = writeln!(
            toml,
            "\n[introspection]\nendpoint = {}\nclient_id = \"mcp-server\"",
            crate::toml_string(&setup.introspection_endpoint)
        );
    }
    toml
}

fn python(setup: &Setup) -> anyhow::Result<Command> {
    let mut command = Command::new(&setup.python);
    command
        .arg(&setup.python_server)
        .args(["--port", &setup.port.to_string()])
        .arg("--templates-dir")
        .arg(&setup.templates)
        .args(["--template", "meeting-minutes"])
        .args(["--issuer", &setup.issuer])
        .args(["--introspection-endpoint", &setup.introspection_endpoint])
        .args(["--client-id", "mcp-server"])
        .args(["--log-level", "warning"])
        .env(
            "INTROSPECTION_CLIENT_SECRET",
            client_secret("mcp-server").context("mcp-server secret")?,
        )
        .env("PYTHONUNBUFFERED", "1");
    Ok(command)
}

/// Ours: `/readyz` 200 `ok`. E: any HTTP answer on `/mcp` (it has no
/// readiness endpoint; it listens before it prints its URL).
fn wait_serving(setup: &Setup, target: Target, running: &Running) -> anyhow::Result<()> {
    let http = Http::new(Duration::from_secs(2));
    let timeout = Duration::from_secs(60);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = running.exited() {
            bail!(
                "{} exited at start ({status})\n{}",
                target.id(),
                running.log_tail(20)
            );
        }
        let ready = if target.ours() {
            http.get(&format!("{}/readyz", setup.base), None)
                .is_ok_and(|r| r.status == 200 && r.json().is_ok_and(|b| b["status"] == "ok"))
        } else {
            http.get(&format!("{}/mcp", setup.base), None).is_ok()
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{} was not serving after {timeout:?}\n{}",
                target.id(),
                running.log_tail(20)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
