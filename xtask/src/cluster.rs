//! `cargo xtask cluster`: the scale-out topology on one machine, until
//! Ctrl-C: PostgreSQL (templates), Redis (MCP sessions), N server replicas
//! and HAProxy in front of them (round-robin, health-checked on `/readyz`),
//! plus Keycloak as `run-dev` starts it. The e2e suite starts the same
//! [`Cluster`] (`e2e::scenarios::cluster`).
//!
//! Everything lives in one run directory under `target/cluster/` (the
//! database, the configuration files, the logs), removed when the cluster
//! stops: each run starts from `templates/`, imported with
//! `mcp-file-templates templates import`. PostgreSQL, Redis and HAProxy
//! come from Debian's packages (`postgresql`, `redis-server`, `haproxy`);
//! when one is missing the xtask installs it as root, or says in one line
//! what to install. Every process runs in its own group ([`crate::process`]):
//! the balancer and the replicas are stopped first, then Redis and
//! PostgreSQL.

use std::fmt::Write as _;
use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::http::Http;
use crate::process::{Guard, ProcessGroup, RemovePath};
use crate::run_dev;

/// How long each piece may take to accept connections or be ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What a cluster is made of and whom its replicas trust.
pub(crate) struct ClusterOptions {
    /// Server replicas behind the balancer.
    pub(crate) replicas: usize,
    /// The balancer's port on 127.0.0.1.
    pub(crate) port: u16,
    /// The public URL (the balancer's), no path: `http://127.0.0.1:PORT`.
    pub(crate) public_url: String,
    /// The issuer every replica trusts.
    pub(crate) issuer: String,
    /// Introspection for the verify-online tools: client id and secret.
    pub(crate) introspection_client: (String, String),
    /// The server binary.
    pub(crate) server_bin: PathBuf,
    /// Imported into the database at start.
    pub(crate) templates: PathBuf,
    /// The run directory (created; removed when the cluster stops).
    pub(crate) dir: PathBuf,
    /// More TOML tables for every replica's configuration file.
    pub(crate) extra_toml: String,
    /// Serve statelessly (no sessions, so no Redis in the replicas'
    /// configuration): the benchmark's B.
    pub(crate) stateless: bool,
    /// The replicas' `RUST_LOG`.
    pub(crate) log_filter: String,
}

/// One server replica.
pub(crate) struct Replica {
    process: Arc<ProcessGroup>,
    _guard: Guard,
    /// `http://127.0.0.1:PORT`, the replica itself (for diagnosis).
    pub(crate) base: String,
    log: PathBuf,
}

impl Replica {
    /// `SIGKILL` to the replica (the e2e's crash): nothing runs on exit.
    pub(crate) fn kill(&self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.process.pgid())])
            .status();
    }

    /// The last `lines` lines of its log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        crate::process::log_tail(&self.log, lines)
    }
}

/// What replicas share: PostgreSQL holding the imported templates, and
/// Redis; stopped (Redis, then PostgreSQL) and its directory removed when
/// dropped. The benchmarks start it alone.
pub(crate) struct Backing {
    redis: Option<(Arc<ProcessGroup>, Guard)>,
    postgres: Option<(Arc<ProcessGroup>, Guard)>,
    binaries: Binaries,
    pg_port: u16,
    redis_port: u16,
    _dir: Guard,
    /// The connection string of the template database.
    pub(crate) postgres_url: String,
    /// The `redis://` URL of the session store.
    pub(crate) redis_url: String,
    /// The run directory.
    pub(crate) dir: PathBuf,
    /// `dir/logs`.
    pub(crate) logs: PathBuf,
}

impl Backing {
    /// Starts PostgreSQL and Redis in `dir` (created, removed on drop) and
    /// imports `templates` with `server_bin templates import`.
    pub(crate) fn start(
        dir: &Path,
        server_bin: &Path,
        templates: &Path,
    ) -> anyhow::Result<Backing> {
        let binaries = Binaries::find_or_install()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir_guard = Guard::new(Arc::new(RemovePath(dir.to_owned())))?;
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)?;

        let pg_port = free_port()?;
        init_postgres(&binaries, dir)?;
        let redis_port = free_port()?;
        let mut backing = Backing {
            redis: None,
            postgres: None,
            binaries,
            pg_port,
            redis_port,
            _dir: dir_guard,
            postgres_url: format!("host=127.0.0.1 port={pg_port} user=mcp dbname=postgres"),
            redis_url: format!("redis://127.0.0.1:{redis_port}/0"),
            dir: dir.to_owned(),
            logs,
        };
        backing.start_postgres()?;
        backing.start_redis()?;
        import_templates(server_bin, templates, &backing.postgres_url, &backing.logs)?;
        Ok(backing)
    }

    /// `Some(what)` when PostgreSQL or Redis has exited (or is stopped).
    pub(crate) fn exited(&self) -> Option<String> {
        let pieces = [("PostgreSQL", &self.postgres), ("Redis", &self.redis)];
        pieces
            .into_iter()
            .find_map(|(name, process)| match process {
                None => Some(format!("{name} is stopped")),
                Some((process, _)) => process
                    .exited()
                    .map(|status| format!("{name} exited ({status})")),
            })
    }

    /// Stops PostgreSQL (fast shutdown: clients are disconnected); the data
    /// stays for [`Backing::start_postgres`].
    pub(crate) fn stop_postgres(&mut self) {
        if let Some((process, guard)) = self.postgres.take() {
            process.signal("INT");
            let deadline = Instant::now() + START_TIMEOUT;
            while process.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(guard);
        }
    }

    /// Starts PostgreSQL on its port and waits until it accepts queries.
    pub(crate) fn start_postgres(&mut self) -> anyhow::Result<()> {
        let log = self.logs.join("postgres.log");
        let mut cmd = postgres_tool(&self.binaries, "postgres");
        cmd.arg("-D")
            .arg(self.dir.join("postgres"))
            .args(["-p", &self.pg_port.to_string(), "-k"])
            .arg(self.dir.join("sockets"))
            .args(["-c", "listen_addresses=127.0.0.1"]);
        let postgres = spawn("postgres", cmd, &log)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = postgres.0.exited() {
                bail!(
                    "PostgreSQL exited ({status})\n{}",
                    crate::process::log_tail(&log, 20)
                );
            }
            let ready = Command::new(self.binaries.postgres.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.pg_port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                self.postgres = Some(postgres);
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "PostgreSQL not ready after {START_TIMEOUT:?}\n{}",
                    crate::process::log_tail(&log, 20)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills Redis and starts it again on the same port: with no
    /// persistence, every session record is gone.
    pub(crate) fn restart_redis(&mut self) -> anyhow::Result<()> {
        drop(self.redis.take());
        self.start_redis()
    }

    fn start_redis(&mut self) -> anyhow::Result<()> {
        let log = self.logs.join("redis.log");
        let mut redis = Command::new(&self.binaries.redis);
        redis
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.redis_port.to_string(),
            ])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir);
        let redis = spawn("redis-server", redis, &log)?;
        wait_listening("redis-server", self.redis_port, &redis.0, &log)?;
        self.redis = Some(redis);
        Ok(())
    }
}

/// A running cluster; stopped (balancer, replicas, then the [`Backing`]:
/// the fields' order) when dropped.
pub(crate) struct Cluster {
    balancer: (Arc<ProcessGroup>, Guard),
    /// The replicas, in balancer order.
    pub(crate) replicas: Vec<Replica>,
    /// PostgreSQL and Redis.
    pub(crate) backing: Backing,
}

impl Cluster {
    /// Starts the [`Backing`], the replicas and the balancer, and waits
    /// until the balancer answers `/readyz` with every replica up.
    pub(crate) fn start(opts: &ClusterOptions) -> anyhow::Result<Cluster> {
        let binaries = Binaries::find_or_install()?;
        let backing = Backing::start(&opts.dir, &opts.server_bin, &opts.templates)?;
        let logs = backing.logs.clone();
        let mut replicas = Vec::with_capacity(opts.replicas);
        for index in 1..=opts.replicas {
            replicas.push(start_replica(
                opts,
                index,
                &backing.postgres_url,
                &backing.redis_url,
                &logs,
            )?);
        }
        let balancer_config = opts.dir.join("haproxy.cfg");
        std::fs::write(
            &balancer_config,
            haproxy_config(opts.port, replicas.iter().map(|r| r.base.as_str())),
        )?;
        let mut haproxy = Command::new(&binaries.haproxy);
        haproxy.arg("-db").arg("-f").arg(&balancer_config);
        let balancer = spawn("haproxy", haproxy, &logs.join("haproxy.log"))?;
        let base = format!("http://127.0.0.1:{}", opts.port);
        wait_ready(&base, &balancer.0, &logs.join("haproxy.log"))?;
        Ok(Cluster {
            balancer,
            replicas,
            backing,
        })
    }

    /// The process ids of the balancer and the replicas (each leads its
    /// own group; the benchmark sums their CPU time).
    pub(crate) fn serving_pids(&self) -> Vec<u32> {
        std::iter::once(self.balancer.0.pgid())
            .chain(self.replicas.iter().map(|r| r.process.pgid()))
            .collect()
    }

    /// `Some(what)` when a process of the cluster has exited.
    pub(crate) fn exited(&self) -> Option<String> {
        if let Some(what) = self.backing.exited() {
            return Some(what);
        }
        self.replicas.iter().enumerate().find_map(|(i, r)| {
            r.process
                .exited()
                .map(|status| format!("replica {} exited ({status})\n{}", i + 1, r.log_tail(20)))
        })
    }
}

/// The Debian programs the cluster runs.
struct Binaries {
    /// `/usr/lib/postgresql/N/bin`.
    postgres: PathBuf,
    redis: PathBuf,
    haproxy: PathBuf,
}

impl Binaries {
    /// Finds the programs; installs the missing ones as root with apt-get,
    /// or says in one line what to install.
    fn find_or_install() -> anyhow::Result<Binaries> {
        let missing: Vec<&str> = [
            (postgres_bin().is_none(), "postgresql"),
            (which("redis-server").is_none(), "redis-server"),
            (which("haproxy").is_none(), "haproxy"),
        ]
        .into_iter()
        .filter_map(|(missing, package)| missing.then_some(package))
        .collect();
        if !missing.is_empty() {
            let list = missing.join(" ");
            if !is_root() || which("apt-get").is_none() {
                bail!(
                    "the cluster needs Debian's {list}: run `sudo apt-get install -y {list}` and try again"
                );
            }
            eprintln!("cluster: installing {list}");
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
            let ok = Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .context("running apt-get")?
                .success();
            if !ok {
                bail!("apt-get install {list} failed; install them and try again");
            }
        }
        Ok(Binaries {
            postgres: postgres_bin().context("no PostgreSQL server binaries after installing")?,
            redis: which("redis-server").context("no redis-server after installing")?,
            haproxy: which("haproxy").context("no haproxy after installing")?,
        })
    }
}

/// `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin` with `initdb`.
fn postgres_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `initdb` (superuser `mcp`, trust on loopback) into `dir/postgres`; as
/// root, run as the `postgres` user, because `initdb` refuses root, and so
/// is `postgres` itself ([`postgres_tool`]).
fn init_postgres(binaries: &Binaries, dir: &Path) -> anyhow::Result<()> {
    let data = dir.join("postgres");
    std::fs::create_dir_all(dir.join("sockets"))?;
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(dir)
            .status()
            .context("chown")?
            .success();
        if !ok {
            bail!("cannot hand {} to the postgres user", dir.display());
        }
    }
    let out = postgres_tool(binaries, "initdb")
        .args(["-A", "trust", "-U", "mcp", "-E", "UTF8", "--no-sync", "-D"])
        .arg(&data)
        .output()
        .context("running initdb")?;
    if !out.status.success() {
        bail!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `bin/NAME` of PostgreSQL, run as the `postgres` user when we are root.
fn postgres_tool(binaries: &Binaries, name: &str) -> Command {
    let path = binaries.postgres.join(name);
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(path);
        cmd
    } else {
        Command::new(path)
    }
}

/// `mcp-file-templates templates import DIR` into the fresh database (it
/// also applies the migrations).
fn import_templates(
    server_bin: &Path,
    templates: &Path,
    postgres_url: &str,
    logs: &Path,
) -> anyhow::Result<()> {
    let out = Command::new(server_bin)
        .args(["templates", "import"])
        .arg(templates)
        .env("MCP_STORE_POSTGRES_URL", postgres_url)
        .output()
        .context("running mcp-file-templates templates import")?;
    std::fs::write(
        logs.join("import.log"),
        [&out.stdout[..], &out.stderr[..]].concat(),
    )?;
    if !out.status.success() {
        bail!(
            "importing {} failed ({}): {}",
            templates.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn start_replica(
    opts: &ClusterOptions,
    index: usize,
    postgres_url: &str,
    redis_url: &str,
    logs: &Path,
) -> anyhow::Result<Replica> {
    let port = free_port()?;
    let config = opts.dir.join(format!("replica-{index}.toml"));
    std::fs::write(&config, replica_config(opts, port))?;
    let log = logs.join(format!("replica-{index}.log"));
    let mut cmd = Command::new(&opts.server_bin);
    cmd.arg("--config").arg(&config);
    // The server reads MCP_* variables: keep the caller's out.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MCP_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("MCP_STORE_POSTGRES_URL", postgres_url)
        .env("MCP_SESSIONS_REDIS_URL", redis_url)
        .env(
            "MCP_INTROSPECTION_CLIENT_SECRET",
            &opts.introspection_client.1,
        )
        .env("RUST_LOG", &opts.log_filter);
    let (process, guard) = spawn(&format!("replica-{index}"), cmd, &log)?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base, &process, &log)?;
    Ok(Replica {
        process,
        _guard: guard,
        base,
        log,
    })
}

/// One replica's configuration: the balancer's public URL, the shared
/// store and sessions, the issuer and introspection.
fn replica_config(opts: &ClusterOptions, port: u16) -> String {
    let mut toml = String::new();
    let _ = writeln!(toml, "bind = \"127.0.0.1:{port}\"");
    let _ = writeln!(
        toml,
        "public_url = {}",
        crate::toml_string(&opts.public_url)
    );
    if opts.stateless {
        let _ = writeln!(toml, "stateless = true");
    }
    let _ = writeln!(toml, "\n[store]\nbackend = \"postgres\"");
    if !opts.stateless {
        let _ = writeln!(toml, "\n[sessions]\nbackend = \"redis\"");
    }
    let _ = writeln!(
        toml,
        "\n[auth]\nissuer = {}",
        crate::toml_string(&opts.issuer)
    );
    let _ = writeln!(
        toml,
        "\n[introspection]\nendpoint = {}\nclient_id = {}",
        crate::toml_string(&format!(
            "{}/protocol/openid-connect/token/introspect",
            opts.issuer
        )),
        crate::toml_string(&opts.introspection_client.0)
    );
    toml.push_str(&opts.extra_toml);
    toml
}

/// HAProxy in HTTP mode: a load-balancing decision per request
/// (round-robin), replicas checked on `/readyz` every second (down after 2
/// failures, up after 2 successes), and a request whose connection to a
/// replica fails re-dispatched to another one (`retry-on conn-failure`:
/// nothing was sent, so nothing can be done twice).
fn haproxy_config<'a>(port: u16, replicas: impl Iterator<Item = &'a str>) -> String {
    let mut config = format!(
        "global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    option redispatch
    retries 3
    retry-on conn-failure

frontend mcp
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 1s fall 2 rise 2
"
    );
    for (i, base) in replicas.enumerate() {
        let address = base.trim_start_matches("http://");
        let _ = writeln!(config, "    server replica-{} {address}", i + 1);
    }
    config
}

fn spawn(name: &str, cmd: Command, log: &Path) -> anyhow::Result<(Arc<ProcessGroup>, Guard)> {
    let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    ProcessGroup::spawn(name, cmd, &file, Duration::from_secs(10))
}

fn wait_listening(name: &str, port: u16, process: &ProcessGroup, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = process.exited() {
            bail!(
                "{name} exited ({status})\n{}",
                crate::process::log_tail(log, 20)
            );
        }
        if Instant::now() > deadline {
            bail!("{name} did not listen on port {port} within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Polls `BASE/readyz` until 200.
fn wait_ready(base: &str, process: &ProcessGroup, log: &Path) -> anyhow::Result<()> {
    let http = Http::new(Duration::from_secs(2));
    let url = format!("{base}/readyz");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = process.exited() {
            bail!(
                "{base} exited ({status})\n{}",
                crate::process::log_tail(log, 20)
            );
        }
        if http.get(&url, None).is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{url} did not answer 200 within {START_TIMEOUT:?}\n{}",
                crate::process::log_tail(log, 20)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl crate::flags::Cluster {
    pub(crate) fn run(self, sh: &xshell::Shell) -> anyhow::Result<()> {
        run(sh, &self)
    }
}

/// The command: Keycloak as `run-dev` starts it, then the [`Cluster`], a
/// banner, and a watch until Ctrl-C or until a piece exits.
fn run(sh: &xshell::Shell, flags: &crate::flags::Cluster) -> anyhow::Result<()> {
    use crate::keycloak::{self, Keycloak, REALM, StartOptions};

    let root = sh.current_dir();
    run_dev::ensure_free(flags.port).with_context(|| {
        format!(
            "the balancer port {} is in use: stop whatever listens there, or pass --port N",
            flags.port
        )
    })?;
    let binary = run_dev::build_server(sh, &root, flags.release)?;
    let public_url = format!("http://localhost:{}", flags.port);
    let resource = format!("{public_url}/mcp");
    let mut kc_opts = StartOptions::new(resource.clone())?;
    kc_opts.http_port = Some(flags.keycloak_port.unwrap_or(keycloak::DEV_PORT));
    let kc = Keycloak::start(sh, &kc_opts)?;
    let _state = run_dev::write_state(&root, kc.base_url(), &resource)?;
    let issuer = kc.issuer(REALM);
    let cluster = Cluster::start(&ClusterOptions {
        replicas: usize::from(flags.replicas),
        port: flags.port,
        public_url: public_url.clone(),
        issuer: issuer.clone(),
        introspection_client: (
            resource.clone(),
            keycloak::RESOURCE_CLIENT_SECRET.to_owned(),
        ),
        server_bin: binary,
        templates: root.join("templates"),
        dir: root.join(format!("target/cluster/run-{}", std::process::id())),
        extra_toml: String::new(),
        stateless: false,
        log_filter: "info,tower_http=info,rmcp=warn".to_owned(),
    })?;
    let mut replicas = String::new();
    for (i, replica) in cluster.replicas.iter().enumerate() {
        let _ = writeln!(replicas, "  replica {}      {}/mcp", i + 1, replica.base);
    }
    println!(
        "
mcp-file-templates cluster is ready: {n} replicas behind HAProxy.

  MCP endpoint   {resource}   (HAProxy, round-robin, health-checked on /readyz)
{replicas}  templates      PostgreSQL {pg} (imported from templates/)
  sessions       Redis {redis}
  issuer         {issuer}   (admin console {kc}/admin/, admin / admin)
  files          {dir} (configs, logs/; removed on stop)

Token (alice / alice, lives 5 minutes):
  TOKEN=$(cargo xtask token --user alice --scope \"mcp:tools templates:write\")
Then the README's curl session against {resource}: each request may land on
another replica, and the session follows.

Ctrl-C stops the balancer, the replicas, Redis, PostgreSQL, then Keycloak.",
        n = cluster.replicas.len(),
        pg = cluster.backing.postgres_url,
        redis = cluster.backing.redis_url,
        kc = kc.base_url(),
        dir = cluster.backing.dir.display(),
    );
    loop {
        if let Some(what) = cluster.exited() {
            bail!("{what}; logs in {}", cluster.backing.logs.display());
        }
        if let Some(status) = kc.exited() {
            bail!("Keycloak exited ({status})\n{}", kc.log_tail(40));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A free port on 127.0.0.1 (the OS picks; released at once).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balancer_checks_readyz_and_retries_only_failed_connections() {
        let config = haproxy_config(
            8000,
            ["http://127.0.0.1:9001", "http://127.0.0.1:9002"].into_iter(),
        );
        for line in [
            "bind 127.0.0.1:8000",
            "balance roundrobin",
            "option httpchk GET /readyz",
            "retry-on conn-failure",
            "server replica-1 127.0.0.1:9001",
            "server replica-2 127.0.0.1:9002",
        ] {
            assert!(config.contains(line), "{line} missing:\n{config}");
        }
    }
}
