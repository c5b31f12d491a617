//! Provisioning: [`StartOptions`], and a [`Keycloak`] that is an existing
//! server (`KEYCLOAK_URL`), a container, or the distribution (see
//! [`super::dist`]), waited on until the realm is served and stopped on
//! drop. The order of the paths is in the module docs of [`super`].

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use xshell::{Shell, cmd};

use super::{
    DEFAULT_AUDIENCE, DEV_FEATURES, REALM, SECOND_REALM, SECOND_REALM_USERS, dist, write_json,
};
use crate::http::Http;
use crate::process::{Guard, ProcessGroup, RemovePath, Stop};

/// The container image, pinned to [`super::VERSION`].
const IMAGE: &str = "quay.io/keycloak/keycloak:26.7.3";
/// The realm file, relative to the workspace root.
pub(crate) const REALM_FILE: &str = "dev/keycloak/realm.json";

/// How to start Keycloak. [`StartOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub(crate) struct StartOptions {
    /// The `aud` that the `mcp:tools` and `templates:write` scopes add: the
    /// MCP server's resource URL, e.g. `http://localhost:8000/mcp`.
    pub(crate) audience: String,
    /// More redirect URIs for the public `mcp-client`.
    pub(crate) extra_redirect_uris: Vec<String>,
    /// HTTP port on 127.0.0.1; `None` picks a free one.
    pub(crate) http_port: Option<u16>,
    /// Management port (health) on 127.0.0.1; `None` picks a free one.
    pub(crate) management_port: Option<u16>,
    /// How long to wait for readiness (a first start also builds Keycloak).
    pub(crate) ready_timeout: Duration,
    /// Keycloak features to enable (`--features`), e.g. `resource-indicators`.
    pub(crate) features: Vec<String>,
    /// Distribution path only: keep the database in the run directory
    /// (`--db=dev-file` instead of `dev-mem`), so [`Keycloak::restart`]
    /// comes back with the same realm state and signing keys.
    pub(crate) persistent: bool,
}

impl StartOptions {
    /// Free ports, no extra redirect URIs, the [`DEV_FEATURES`], and a readiness
    /// timeout of `KEYCLOAK_START_TIMEOUT` seconds (default 300: a first
    /// start on two cores spends about a minute building Keycloak, then a
    /// minute starting).
    pub(crate) fn new(audience: impl Into<String>) -> anyhow::Result<StartOptions> {
        let secs = match std::env::var("KEYCLOAK_START_TIMEOUT") {
            Ok(s) => s.parse::<u64>().with_context(|| {
                format!("KEYCLOAK_START_TIMEOUT={s:?} is not a number of seconds")
            })?,
            Err(_) => 300,
        };
        Ok(StartOptions {
            audience: audience.into(),
            extra_redirect_uris: Vec::new(),
            http_port: None,
            management_port: None,
            ready_timeout: Duration::from_secs(secs),
            features: DEV_FEATURES.iter().map(|f| (*f).to_owned()).collect(),
            persistent: false,
        })
    }
}

/// A Keycloak server: started by us (stopped on drop) or an existing one.
pub(crate) struct Keycloak {
    pub(super) base_url: String,
    pub(super) admin_user: String,
    pub(super) admin_password: String,
    pub(super) http: Http,
    pub(super) backend: Backend,
    pub(super) started_in: Duration,
    /// The health port of a Keycloak we started.
    pub(super) management_port: Option<u16>,
    pub(super) ready_timeout: Duration,
}

pub(super) enum Backend {
    /// `KEYCLOAK_URL` or a state file: not ours to stop.
    External,
    /// The guards stop the container, then remove its import directory
    /// (a `Vec` drops its elements in order).
    Container {
        engine: String,
        name: String,
        _guards: Vec<Guard>,
    },
    /// The guards stop the process group, then remove the run directory.
    Distribution {
        process: Arc<ProcessGroup>,
        /// The process guard first, then the run directory's.
        guards: Vec<Guard>,
        run_dir: PathBuf,
        launch: dist::Launch,
    },
}

impl Keycloak {
    /// Provisions Keycloak with the dev realm (see the module docs for the
    /// order) and waits until the realm's discovery document is served.
    pub(crate) fn start(sh: &Shell, opts: &StartOptions) -> anyhow::Result<Keycloak> {
        let root = sh.current_dir();
        let realm = realm_representation(&root.join(REALM_FILE), opts)?;
        let admin_user = std::env::var("KEYCLOAK_ADMIN").unwrap_or_else(|_| "admin".into());
        let admin_password =
            std::env::var("KEYCLOAK_ADMIN_PASSWORD").unwrap_or_else(|_| "admin".into());

        if let Ok(url) = std::env::var("KEYCLOAK_URL") {
            let kc = Keycloak::connect(&url, &admin_user, &admin_password);
            eprintln!(
                "keycloak: using the existing server at {} (KEYCLOAK_URL)",
                kc.base_url
            );
            kc.ensure_realm(&realm, &opts.audience)?;
            return Ok(kc);
        }
        let forced = std::env::var("KEYCLOAK_PROVISION").ok();
        let engine = match forced.as_deref() {
            Some("distribution") => None,
            Some("container") => Some(container_engine(sh).context(
                "KEYCLOAK_PROVISION=container: neither `docker info` nor `podman info` succeeds",
            )?),
            Some(other) => {
                bail!("KEYCLOAK_PROVISION={other:?}: expected `container` or `distribution`")
            }
            None => container_engine(sh),
        };
        let http_port = port_or_free(opts.http_port, "HTTP")?;
        let management_port = port_or_free(opts.management_port, "management")?;
        let started = Instant::now();
        let mut kc = match engine {
            Some(engine) => Keycloak::run_container(
                sh,
                &engine,
                &realm,
                opts,
                http_port,
                management_port,
                &admin_user,
                &admin_password,
            )?,
            None => {
                let (process, guards, run_dir, launch) = dist::launch(
                    sh,
                    &realm,
                    opts,
                    http_port,
                    management_port,
                    &admin_user,
                    &admin_password,
                )?;
                let mut kc = Keycloak::connect(
                    &format!("http://localhost:{http_port}"),
                    &admin_user,
                    &admin_password,
                );
                kc.backend = Backend::Distribution {
                    process,
                    guards,
                    run_dir,
                    launch,
                };
                kc
            }
        };
        kc.management_port = Some(management_port);
        kc.ready_timeout = opts.ready_timeout;
        kc.wait_ready(management_port, started + opts.ready_timeout)?;
        kc.started_in = started.elapsed();
        if let Backend::Distribution { run_dir, .. } = &kc.backend {
            // Later runs skip Keycloak's minute-long build step.
            dist::save_build(&root, run_dir, opts);
        }
        Ok(kc)
    }

    /// A handle on a running server, without provisioning; dropping it
    /// leaves the server running.
    pub(crate) fn connect(base_url: &str, admin_user: &str, admin_password: &str) -> Keycloak {
        Keycloak {
            base_url: base_url.trim_end_matches('/').to_owned(),
            admin_user: admin_user.to_owned(),
            admin_password: admin_password.to_owned(),
            http: Http::new(Duration::from_secs(30)),
            backend: Backend::External,
            started_in: Duration::ZERO,
            management_port: None,
            ready_timeout: Duration::ZERO,
        }
    }

    /// Stops a Keycloak we run from the distribution, keeping its run
    /// directory (and, with [`StartOptions::persistent`], its database) for
    /// [`Keycloak::restart`]. For outage tests.
    pub(crate) fn stop_server(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Distribution { process, .. } => {
                process.stop();
                Ok(())
            }
            _ => bail!("stopping Keycloak is only supported for a distribution run"),
        }
    }

    /// Starts a Keycloak stopped by [`Keycloak::stop_server`] again: same
    /// home, ports and hostname (so the same issuer), then waits until ready.
    pub(crate) fn restart(&mut self) -> anyhow::Result<()> {
        let Backend::Distribution {
            process,
            guards,
            launch,
            ..
        } = &mut self.backend
        else {
            bail!("restarting Keycloak is only supported for a distribution run");
        };
        let management_port = self
            .management_port
            .context("no management port recorded")?;
        process.stop();
        let started = Instant::now();
        let (new_process, guard) = launch.spawn()?;
        *process = new_process;
        // Replacing the old guard drops it: a no-op stop of the stopped
        // process. It stays first, so on drop the process stops before its
        // directory goes.
        match guards.first_mut() {
            Some(slot) => *slot = guard,
            None => guards.push(guard),
        }
        self.wait_ready(management_port, started + self.ready_timeout)?;
        self.started_in = started.elapsed();
        Ok(())
    }

    /// The server's base URL, e.g. `http://localhost:8080` (its pinned hostname).
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The issuer of `realm`: `{base_url}/realms/{realm}`.
    pub(crate) fn issuer(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.base_url)
    }

    /// `…/protocol/openid-connect/{endpoint}` of the dev realm, e.g. `token`, `certs`.
    pub(crate) fn oidc_url(&self, endpoint: &str) -> String {
        self.oidc_url_in(REALM, endpoint)
    }

    /// `…/protocol/openid-connect/{endpoint}` of `realm`.
    pub(crate) fn oidc_url_in(&self, realm: &str, endpoint: &str) -> String {
        format!("{}/protocol/openid-connect/{endpoint}", self.issuer(realm))
    }

    /// How long the start took until ready (zero for an existing server).
    pub(crate) fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The log file of a Keycloak we run from the distribution.
    pub(crate) fn log_file(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Distribution { launch, .. } => Some(&launch.log),
            _ => None,
        }
    }

    /// The process group of a Keycloak we run from the distribution.
    pub(crate) fn process_group(&self) -> Option<u32> {
        match &self.backend {
            Backend::Distribution { process, .. } => Some(process.pgid()),
            _ => None,
        }
    }

    /// `Some(status)` when a Keycloak we started has exited.
    pub(crate) fn exited(&self) -> Option<String> {
        match &self.backend {
            Backend::Distribution { process, .. } => process.exited(),
            _ => None,
        }
    }

    /// Creates [`SECOND_REALM`] on a running server through the Admin API
    /// (derived from the dev realm by [`second_realm_representation`]), or,
    /// when it exists already, points its audience mappers at
    /// `opts.audience`; then checks that its discovery document names the
    /// expected issuer. Keycloak generates the realm's own signing keys.
    pub(crate) fn ensure_second_realm(
        &self,
        sh: &Shell,
        opts: &StartOptions,
    ) -> anyhow::Result<()> {
        let realm = second_realm_representation(&sh.current_dir().join(REALM_FILE), opts)?;
        self.ensure_realm(&realm, &opts.audience)?;
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            self.issuer(SECOND_REALM)
        );
        let doc = self.http.get(&discovery, None)?.ok()?.json()?;
        if doc["issuer"] != self.issuer(SECOND_REALM) {
            bail!(
                "realm {SECOND_REALM}: discovery says issuer {}, expected {}",
                doc["issuer"],
                self.issuer(SECOND_REALM)
            );
        }
        Ok(())
    }

    /// Imports `realm` (a realm representation; its name in `realm`) into
    /// a running server when it is missing, or else sets its audience.
    fn ensure_realm(&self, realm: &Value, audience: &str) -> anyhow::Result<()> {
        let name = realm["realm"]
            .as_str()
            .context("the realm representation has no `realm` name")?;
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer(name));
        let reply = self
            .http
            .get(&discovery, None)
            .with_context(|| format!("is Keycloak running at {}?", self.base_url))?;
        if reply.status == 404 {
            eprintln!("keycloak: importing realm {name} through the Admin API");
            let admin = self.admin_token()?;
            let url = format!("{}/admin/realms", self.base_url);
            self.http
                .post_json(&url, admin.as_str(), realm)?
                .ok()
                .with_context(|| format!("importing the realm {name}"))?;
        } else {
            let doc = reply.ok()?.json()?;
            let issuer = doc["issuer"].as_str().unwrap_or_default();
            if issuer != self.issuer(name) {
                eprintln!(
                    "keycloak: warning: the realm's issuer is {issuer:?}, not {:?}: tokens will carry that `iss`; \
                     pin Keycloak's --hostname or set KEYCLOAK_URL to its hostname",
                    self.issuer(name)
                );
            }
            self.set_audience_in(name, audience)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run_container(
        sh: &Shell,
        engine: &str,
        realm: &Value,
        opts: &StartOptions,
        http_port: u16,
        management_port: u16,
        admin_user: &str,
        admin_password: &str,
    ) -> anyhow::Result<Keycloak> {
        let root = sh.current_dir();
        let name = format!("mcp-keycloak-{}-{http_port}", std::process::id());
        let run_dir = root.join("target/keycloak/runs").join(&name);
        let import = run_dir.join("import");
        std::fs::create_dir_all(&import)
            .with_context(|| format!("creating {}", import.display()))?;
        write_json(&import.join("mcp-realm.json"), realm)?;
        let publish_http = format!("127.0.0.1:{http_port}:8080");
        let publish_management = format!("127.0.0.1:{management_port}:9000");
        let user_env = format!("KC_BOOTSTRAP_ADMIN_USERNAME={admin_user}");
        let password_env = format!("KC_BOOTSTRAP_ADMIN_PASSWORD={admin_password}");
        let volume = format!("{}:/opt/keycloak/data/import:ro,Z", import.display());
        let hostname = format!("--hostname=http://localhost:{http_port}");
        let features = feature_args(opts);
        eprintln!("keycloak: starting {IMAGE} with {engine} as {name}");
        cmd!(sh, "{engine} run -d --rm --name {name} -p {publish_http} -p {publish_management} -e {user_env} -e {password_env} -v {volume} {IMAGE} start-dev {hostname} --health-enabled=true --db=dev-mem --import-realm {features...}")
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| format!("{engine} run {IMAGE}"))?;
        let stopper = Arc::new(ContainerStop {
            engine: engine.to_owned(),
            name: name.clone(),
        });
        let guards = vec![
            Guard::new(stopper)?,
            Guard::new(Arc::new(RemovePath(run_dir)))?,
        ];
        let mut kc = Keycloak::connect(
            &format!("http://localhost:{http_port}"),
            admin_user,
            admin_password,
        );
        kc.backend = Backend::Container {
            engine: engine.to_owned(),
            name,
            _guards: guards,
        };
        Ok(kc)
    }

    /// Waits for `/health/ready` on the management port, then for the
    /// realm's discovery document with the expected issuer.
    fn wait_ready(&self, management_port: u16, deadline: Instant) -> anyhow::Result<()> {
        let health = format!("http://127.0.0.1:{management_port}/health/ready");
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer(REALM));
        let probe = Http::new(Duration::from_secs(2));
        let started = Instant::now();
        let mut next_note = started + Duration::from_secs(20);
        loop {
            if let Some(status) = self.exited() {
                bail!(
                    "Keycloak exited ({status}) before it was ready\n{}",
                    self.log_tail(40)
                );
            }
            let ready = probe.get(&health, None).is_ok_and(|r| r.is_success())
                && probe.get(&discovery, None).is_ok_and(|r| {
                    r.is_success() && r.json().is_ok_and(|d| d["issuer"] == self.issuer(REALM))
                });
            if ready {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "Keycloak was not ready after {:?} (KEYCLOAK_START_TIMEOUT raises the limit)\n{}",
                    now - started,
                    self.log_tail(40)
                );
            }
            if now >= next_note {
                eprintln!("keycloak: still starting ({} s)", (now - started).as_secs());
                next_note = now + Duration::from_secs(20);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The last `lines` lines of Keycloak's log, for error messages.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = match &self.backend {
            Backend::External => return String::new(),
            Backend::Distribution { launch, .. } => {
                std::fs::read_to_string(&launch.log).unwrap_or_default()
            }
            Backend::Container { engine, name, .. } => std::process::Command::new(engine)
                .args(["logs", "--tail", &lines.to_string(), name])
                .output()
                .map(|o| {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_default(),
        };
        let all: Vec<&str> = text.lines().collect();
        let tail = all[all.len().saturating_sub(lines)..].join("\n");
        format!("--- last {lines} lines of the Keycloak log ---\n{tail}")
    }
}

struct ContainerStop {
    engine: String,
    name: String,
}

impl Stop for ContainerStop {
    fn stop(&self) {
        // `--rm` removes the container once stopped.
        let _ = std::process::Command::new(&self.engine)
            .args(["stop", "--time", "10", &self.name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// `docker` or `podman`, whichever answers `info`.
fn container_engine(sh: &Shell) -> Option<String> {
    ["docker", "podman"]
        .into_iter()
        .map(str::to_owned)
        .find(|engine| {
            cmd!(sh, "{engine} info")
                .quiet()
                .ignore_stdout()
                .ignore_stderr()
                .run()
                .is_ok()
        })
}

pub(super) fn feature_args(opts: &StartOptions) -> Vec<String> {
    if opts.features.is_empty() {
        return Vec::new();
    }
    vec![format!("--features={}", opts.features.join(","))]
}

/// `port`, checked to be free on 127.0.0.1, or a free one the OS picks.
fn port_or_free(port: Option<u16>, what: &str) -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0))).with_context(|| {
        format!(
            "the {what} port {} is in use (another Keycloak?); choose another",
            port.unwrap_or(0)
        )
    })?;
    Ok(listener.local_addr()?.port())
}

/// Reads the realm file and applies `opts`: the audience of every audience
/// mapper that carries [`DEFAULT_AUDIENCE`], the id and `resource_url` of the
/// resource client (see [`super::RESOURCE_CLIENT_SECRET`]), and extra
/// `mcp-client` redirects.
pub(super) fn realm_representation(path: &Path, opts: &StartOptions) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut realm: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    for scope in realm["clientScopes"].as_array_mut().into_iter().flatten() {
        for mapper in scope["protocolMappers"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if mapper["protocolMapper"] == "oidc-audience-mapper"
                && mapper["config"]["included.custom.audience"] == DEFAULT_AUDIENCE
            {
                mapper["config"]["included.custom.audience"] = json!(opts.audience);
            }
        }
    }
    let resource_client = realm["clients"]
        .as_array_mut()
        .and_then(|clients| {
            clients
                .iter_mut()
                .find(|c| c["clientId"] == DEFAULT_AUDIENCE)
        })
        .context("the realm file has no resource client (client id = the resource URL)")?;
    resource_client["clientId"] = json!(opts.audience);
    resource_client["attributes"]["resource_url"] = json!(opts.audience);
    if !opts.extra_redirect_uris.is_empty() {
        let client = realm["clients"]
            .as_array_mut()
            .and_then(|clients| clients.iter_mut().find(|c| c["clientId"] == "mcp-client"))
            .context("the realm file has no mcp-client")?;
        let uris = client["redirectUris"]
            .as_array_mut()
            .context("mcp-client has no redirectUris")?;
        uris.extend(opts.extra_redirect_uris.iter().map(|u| json!(u)));
    }
    Ok(realm)
}

/// The second realm, [`SECOND_REALM`]: the dev realm read from `path` with
/// `opts` applied (audience, redirect URIs), renamed, without any key
/// material or ids (Keycloak generates its own signing keys and ids), and
/// with its own users ([`SECOND_REALM_USERS`]) instead of alice and bob. The
/// clients, their (dev) secrets, the client scopes and their audience
/// mappers and the role gating are the dev realm's, so the two cannot drift.
pub(super) fn second_realm_representation(
    path: &Path,
    opts: &StartOptions,
) -> anyhow::Result<Value> {
    let mut realm = realm_representation(path, opts)?;
    if realm["realm"] != REALM {
        bail!(
            "{}: expected the realm {REALM}, found {}",
            path.display(),
            realm["realm"]
        );
    }
    let object = realm
        .as_object_mut()
        .context("the realm file is not a JSON object")?;
    // Key material and ids would make the two realms share keys or clash.
    for key in ["id", "keys", "components"] {
        object.remove(key);
    }
    object.insert("realm".into(), json!(SECOND_REALM));
    object.insert(
        "displayName".into(),
        json!("mcp-file-templates (dev, second issuer)"),
    );
    // Service accounts stay (client credentials need their roles); people
    // are replaced.
    let mut users: Vec<Value> = object
        .get("users")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|u| u.get("serviceAccountClientId").is_some())
        .cloned()
        .collect();
    for (name, password) in SECOND_REALM_USERS {
        let mut first = name.chars();
        let first_name: String = first
            .next()
            .map(|c| c.to_uppercase().chain(first).collect())
            .unwrap_or_default();
        users.push(json!({
            "username": name,
            "enabled": true,
            "email": format!("{name}@example.com"),
            "emailVerified": true,
            "firstName": first_name,
            "lastName": "Second",
            "credentials": [{ "type": "password", "value": password, "temporary": false }],
            "realmRoles": ["mcp-user"],
            "requiredActions": [],
        }));
    }
    object.insert("users".into(), Value::Array(users));
    Ok(realm)
}
