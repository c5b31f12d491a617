//! Server configuration, in two stages as ripgrep builds its arguments.
//!
//! 1. The raw layer (`config::raw`): clap parses flags and their `MCP_*`
//!    environment variables into [`Cli`], serde reads the optional TOML file
//!    into [`FileConfig`], and [`Env`] holds the few variables clap does not
//!    own. Nothing is checked or defaulted there.
//! 2. [`build`] merges them (flag > environment > file > default) and checks
//!    them, one function per section, into a [`Config`] whose parts are the
//!    libraries' own types: `jwks::Config`, `auth::ValidationConfig`,
//!    `auth::Mode` (carrying its introspection config),
//!    `auth::TokenCacheConfig`, `auth::ProtectedResourceMetadata`,
//!    `templates::StoreLimits` and the [`ToolPolicy`]. Each section starts from
//!    the library's constructor and overrides only what the user set, so each
//!    default and each invariant lives in the library that uses it, once.
//!
//! Every error names the key it is about ([`ConfigError`]). The layering is
//! written out by hand (`Option::or`, one line per key) rather than through
//! a layered-config crate: clap already owns the flag/environment layer, and
//! an error must name the file's dotted key, which a generic merge loses.
//!
//! **This is the only module of the workspace that reads environment
//! variables** (`RUST_LOG` included); the libraries receive plain structs.
//! Secrets (the introspection client secret) come from the environment or a
//! `*_file` key, never from a flag or the TOML file itself, and are wrapped in
//! `auth::Secret` so that `Debug` output and logs show `<redacted>`.
//!
//! The defaults follow the Python walkthrough this server replaces: bind
//! `127.0.0.1:8000`, public URL `http://localhost:8000`, path `/mcp`, issuer
//! `http://localhost:8080/realms/mcp`, required scope `mcp:tools`. Every key is
//! listed in `docs/configuration.md`.

mod raw;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser as _;
use url::Url;

pub use self::raw::{
    AuthMode, Cli, ClientAuth, ENV_ALLOW_INSECURE_BENCH, ENV_INTROSPECTION_CLIENT_SECRET,
    ENV_LOG_FILTER, ENV_SESSIONS_REDIS_URL, ENV_STORE_POSTGRES_URL, Env, FileConfig, LogFormat,
    SessionsBackendKind, StoreBackendKind, TemplatesAction, TemplatesCli, TypPolicy,
};
use self::raw::{
    FileAuth, FileIntrospection, FileIssuer, FileJwks, FileLimits, FileSessions, FileStore,
};
use crate::authz::{DEFAULT_BASE_SCOPE, ToolPolicy};
use crate::deps::DEFAULT_INDEX_REFRESH;
use crate::mcp::OffloadLimits;
use crate::sessions::SessionLimits;
use crate::tool::Tool;
pub use auth::Secret;
use templates::StoreLimits;

/// The log filter when `RUST_LOG` is unset.
const DEFAULT_LOG_FILTER: &str = "info,tower_http=info,rmcp=warn";

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Socket address the server listens on.
    pub bind: SocketAddr,
    /// Logging.
    pub log: LogConfig,
    /// Public base URL, no path (e.g. `https://mcp.example.com`).
    pub public_url: Url,
    /// Path of the MCP endpoint (e.g. `/mcp`), no trailing slash.
    pub path: String,
    /// The RFC 9728 document: the resource (public URL + path), the
    /// authorization servers and the supported scopes.
    pub metadata: auth::ProtectedResourceMetadata,
    /// Stateful (MCP sessions) or stateless.
    pub session: SessionMode,
    /// Where stateful mode keeps its sessions.
    pub sessions_backend: SessionsBackend,
    /// HTTP limits.
    pub http: HttpLimits,
    /// Browser origins allowed (CORS and rmcp's `Origin` check).
    pub allowed_origins: Vec<String>,
    /// `Host` values allowed (rmcp's DNS-rebinding guard).
    pub allowed_hosts: Vec<String>,
    /// The template store.
    pub store: StoreConfig,
    /// Scopes per tool and the online-checked tools.
    pub policy: ToolPolicy,
    /// Token validation.
    pub auth: AuthConfig,
    /// Authentication disabled for benchmarks (needs the env opt-in).
    pub insecure_bench: bool,
}

impl Config {
    /// The protected resource identifier: public URL + path.
    #[must_use]
    pub fn resource(&self) -> &str {
        self.metadata.resource()
    }
}

/// Logging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Output format.
    pub format: LogFormat,
    /// `tracing_subscriber::EnvFilter` directives (`RUST_LOG` or the default).
    pub filter: String,
}

/// Whether MCP sessions are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMode {
    /// `Mcp-Session-Id` sessions, SSE streams (rmcp's legacy session mode),
    /// within these limits.
    Stateful(SessionLimits),
    /// No sessions; every POST is answered with plain JSON.
    Stateless,
}

/// Where MCP sessions live (`sessions.backend`).
#[derive(Clone, Debug, Default)]
pub enum SessionsBackend {
    /// In this process: a session is served by the replica that created it.
    #[default]
    Memory,
    /// In Redis, shared by every replica (`crate::sessions::shared`).
    Redis {
        /// The `redis://` URL (`MCP_SESSIONS_REDIS_URL` or
        /// `sessions.redis_url_file`).
        url: Secret,
    },
}

/// HTTP limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest accepted request body (413 beyond).
    pub body_limit_bytes: usize,
    /// Time a request may take (408 beyond).
    pub request_timeout: Duration,
    /// Requests served at once (503 beyond).
    pub concurrency_limit: usize,
}

/// The template store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Which backend holds the templates.
    pub backend: StoreBackend,
    /// The directory holding `<name>.md` files, absolute (the `fs`
    /// backend's; with `postgres`, the default of `templates import`).
    pub dir: PathBuf,
    /// Size and count limits.
    pub limits: StoreLimits,
    /// How often the listing is refreshed from the directory
    /// (`crate::deps::spawn_index_refresher`).
    pub index_refresh: Duration,
    /// Renders and store calls at once, and the wait for a slot
    /// (`crate::mcp::Offload`).
    pub offload: OffloadLimits,
}

/// Where the templates live (`store.backend`).
#[derive(Clone, Debug)]
pub enum StoreBackend {
    /// The directory [`StoreConfig::dir`].
    Fs,
    /// A PostgreSQL database, shared by every replica.
    Postgres {
        /// The connection string (`MCP_STORE_POSTGRES_URL` or
        /// `store.postgres_url_file`).
        url: Secret,
        /// How often every version is compared with the database beside
        /// the notifications (`store.resync_secs`, default 60 s).
        resync: Duration,
    },
}

/// `store.resync_secs` when unset.
pub const DEFAULT_STORE_RESYNC: Duration = Duration::from_secs(60);

/// Everything the validator is built from, as the libraries take it.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The trusted issuers, in configuration order: one for `auth.issuer`,
    /// one per `[[auth.issuers]]` entry.
    pub issuers: Vec<IssuerAuth>,
    /// The verified-token cache.
    pub token_cache: auth::TokenCacheConfig,
}

impl AuthConfig {
    /// Every accepted `iss`, in configuration order (an Entra
    /// multi-tenant entry gives one per tenant): the default RFC 9728
    /// `authorization_servers`.
    #[must_use]
    pub fn accepted_issuers(&self) -> Vec<String> {
        self.issuers
            .iter()
            .flat_map(|i| i.validation.accepted_issuers())
            .collect()
    }

    /// Whether any issuer's keys or introspection may travel over plain
    /// http to a non-loopback host.
    #[must_use]
    pub fn allows_insecure_http(&self) -> bool {
        self.issuers.iter().any(|i| i.jwks.allow_insecure_http)
    }
}

/// One trusted issuer.
#[derive(Clone, Debug)]
pub struct IssuerAuth {
    /// Where its signing keys come from and how they are cached.
    pub jwks: jwks::Config,
    /// What its tokens must satisfy, including its `auth::Profile`.
    pub validation: auth::ValidationConfig,
    /// Local, local-then-introspection or introspection-only, with the
    /// introspection client where the mode needs one (the same kind for
    /// every issuer).
    pub mode: auth::Mode,
}

/// A configuration error naming the key it is about.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    /// The TOML key (dotted; `auth.issuers[N].key` in an issuer entry) the
    /// error is about.
    pub key: Cow<'static, str>,
    /// What is wrong with it.
    pub reason: String,
}

fn err(key: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

/// What `mcp-file-templates templates …` is to do.
#[derive(Debug)]
pub struct TemplatesCommand {
    /// Import or export, and the directory.
    pub action: TemplatesAction,
    /// Replace templates that differ at the target.
    pub overwrite: bool,
    /// The PostgreSQL connection string.
    pub postgres_url: Secret,
}

/// Parses `mcp-file-templates templates …` (`args` without the program
/// name's `templates` word) and finds the connection string the way the
/// server does: `MCP_STORE_POSTGRES_URL` or `--postgres-url-file`.
pub fn load_templates_command(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> anyhow::Result<TemplatesCommand> {
    let mut args = args.into_iter();
    args.next();
    let cli = TemplatesCli::parse_from(
        std::iter::once("mcp-file-templates templates".into()).chain(args),
    );
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot read the working directory: {e}"))?;
    let file = FileStore {
        backend: Some(StoreBackendKind::Postgres),
        postgres_url_file: cli.postgres_url_file,
        resync_secs: None,
    };
    let StoreBackend::Postgres { url, .. } = store_backend(
        Some(StoreBackendKind::Postgres),
        file,
        Env::from_process().store_postgres_url,
        &cwd,
    )
    .map_err(|e| anyhow::anyhow!("{e} (here: {ENV_STORE_POSTGRES_URL} or --postgres-url-file)"))?
    else {
        anyhow::bail!("the templates command copies to and from the postgres store only");
    };
    Ok(TemplatesCommand {
        action: cli.action,
        overwrite: cli.overwrite,
        postgres_url: url,
    })
}

/// Parses the command line and environment, reads the `--config` file and
/// builds the validated [`Config`].
pub fn load() -> anyhow::Result<Config> {
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => read_file(path)?,
        None => FileConfig::default(),
    };
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot read the working directory: {e}"))?;
    Ok(build(cli, file, Env::from_process(), &cwd)?)
}

/// Reads and parses a TOML configuration file.
pub fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("config: cannot read {}: {e}", path.display()))?;
    parse_file(&text).map_err(|e| anyhow::anyhow!("config: {}: {e}", path.display()))
}

/// Parses TOML text into a [`FileConfig`].
pub fn parse_file(text: &str) -> Result<FileConfig, toml::de::Error> {
    toml::from_str(text)
}

/// Merges flags (and their environment variables), the file and defaults into
/// a validated [`Config`]. `cwd` resolves a relative templates directory.
pub fn build(cli: Cli, mut file: FileConfig, env: Env, cwd: &Path) -> Result<Config, ConfigError> {
    if cli.dangerously_disable_auth_for_benchmarks && !env.allow_insecure_bench {
        return Err(err(
            "dangerously_disable_auth_for_benchmarks",
            format!("refused: also set {ENV_ALLOW_INSECURE_BENCH}=1 to run without authentication"),
        ));
    }
    let bind = cli.bind.clone().or(file.bind);
    let bind = parse_bind(bind.as_deref().unwrap_or("127.0.0.1:8000"))?;
    let public_url = parse_public_url(
        cli.public_url
            .clone()
            .or(file.public_url)
            .as_deref()
            .unwrap_or("http://localhost:8000"),
    )?;
    let path = normalise_path(cli.path.clone().or(file.path).as_deref().unwrap_or("/mcp"))?;
    let resource = format!("{}{path}", origin_of(&public_url));

    let policy = policy(&cli, &file.auth)?;
    let authorization_servers = file.auth.authorization_servers.take();
    let auth = auth_section(
        &cli,
        file.auth,
        file.jwks,
        file.introspection,
        &env,
        &resource,
    )?;
    let authorization_servers = authorization_servers.unwrap_or_else(|| auth.accepted_issuers());
    // MCP authorization (2025-11-25, "Scope selection strategy"): a client
    // without a `scope` hint requests `scopes_supported`, so it lists the
    // minimal set for basic use; more is asked for by the 403 step-up.
    let metadata = auth::ProtectedResourceMetadata::new(
        resource,
        authorization_servers,
        policy.base().to_vec(),
    )
    .map_err(|e| err("auth.authorization_servers", e.to_string()))?;

    let session = session_mode(&cli, file.stateless, &file.sessions)?;
    Ok(Config {
        bind,
        log: LogConfig {
            format: cli
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Pretty),
            filter: env
                .log_filter
                .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned()),
        },
        allowed_origins: allowed_origins(
            &public_url,
            cli.allowed_origins.clone(),
            file.allowed_origins,
        )?,
        allowed_hosts: allowed_hosts(&public_url, cli.allowed_hosts.clone(), file.allowed_hosts)?,
        public_url,
        path,
        metadata,
        session,
        sessions_backend: sessions_backend(
            cli.sessions_backend,
            session,
            &file.sessions,
            env.sessions_redis_url,
            cwd,
        )?,
        http: http_limits(&cli, &file.limits)?,
        store: store(
            cli.templates_dir.clone().or(file.templates_dir),
            store_backend(cli.store_backend, file.store, env.store_postgres_url, cwd)?,
            &file.limits,
            cwd,
        )?,
        policy,
        auth,
        insecure_bench: cli.dangerously_disable_auth_for_benchmarks,
    })
}

fn parse_bind(text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse()
        .map_err(|e| err("bind", format!("{text:?} is not a socket address: {e}")))
}

/// Stateless, or stateful within the `[sessions]` limits (which stateless
/// mode ignores: it keeps no sessions).
fn session_mode(
    cli: &Cli,
    stateless: Option<bool>,
    file: &FileSessions,
) -> Result<SessionMode, ConfigError> {
    if cli.stateless.or(stateless).unwrap_or(false) {
        return Ok(SessionMode::Stateless);
    }
    let mut limits = SessionLimits::default();
    if let Some(n) = cli.max_sessions_per_principal.or(file.max_per_principal) {
        limits.max_per_owner = positive("sessions.max_per_principal", n)?;
    }
    if let Some(n) = cli.max_sessions.or(file.max_total) {
        limits.max_total = positive("sessions.max_total", n)?;
    }
    if let Some(s) = cli.session_idle_timeout_secs.or(file.idle_timeout_secs) {
        limits.idle_timeout = secs("sessions.idle_timeout_secs", s)?;
    }
    Ok(SessionMode::Stateful(limits))
}

fn http_limits(cli: &Cli, limits: &FileLimits) -> Result<HttpLimits, ConfigError> {
    Ok(HttpLimits {
        body_limit_bytes: positive(
            "limits.body_limit_bytes",
            cli.body_limit_bytes
                .or(limits.body_limit_bytes)
                .unwrap_or(1024 * 1024),
        )?,
        request_timeout: secs(
            "limits.request_timeout_secs",
            cli.request_timeout_secs
                .or(limits.request_timeout_secs)
                .unwrap_or(30),
        )?,
        concurrency_limit: positive(
            "limits.concurrency_limit",
            cli.concurrency_limit
                .or(limits.concurrency_limit)
                .unwrap_or(512),
        )?,
    })
}

/// The backend from `--store-backend`, then `store.backend`; the postgres
/// connection string from exactly one of `MCP_STORE_POSTGRES_URL` and
/// `store.postgres_url_file` (a secret never comes from a flag or this file).
fn store_backend(
    flag: Option<StoreBackendKind>,
    file: FileStore,
    env_url: Option<Secret>,
    cwd: &Path,
) -> Result<StoreBackend, ConfigError> {
    let kind = flag.or(file.backend).unwrap_or_default();
    match kind {
        StoreBackendKind::Fs => {
            if file.postgres_url_file.is_some() {
                return Err(err(
                    "store.postgres_url_file",
                    "is set, but store.backend is fs: set store.backend = \"postgres\" or remove it",
                ));
            }
            if file.resync_secs.is_some() {
                return Err(err(
                    "store.resync_secs",
                    "applies to the postgres backend only",
                ));
            }
            Ok(StoreBackend::Fs)
        }
        StoreBackendKind::Postgres => {
            let url = backend_secret(
                SecretSource {
                    key: "store.postgres_url",
                    env: ENV_STORE_POSTGRES_URL,
                    what: "the postgres backend needs a connection string",
                },
                env_url,
                file.postgres_url_file,
                cwd,
            )?;
            let resync = match file.resync_secs {
                Some(s) => secs("store.resync_secs", s)?,
                None => DEFAULT_STORE_RESYNC,
            };
            Ok(StoreBackend::Postgres { url, resync })
        }
    }
}

/// Where a backend's secret URL may come from.
struct SecretSource {
    /// The configuration key, `<section>.<name>`; the file key adds `_file`.
    key: &'static str,
    /// The environment variable.
    env: &'static str,
    /// What is missing, for the error when neither is set.
    what: &'static str,
}

/// A backend's connection URL from exactly one of its environment variable
/// and its `…_file` key (a secret never comes from a flag or the
/// configuration file itself); a relative file is read from `cwd`.
fn backend_secret(
    source: SecretSource,
    env: Option<Secret>,
    file: Option<PathBuf>,
    cwd: &Path,
) -> Result<Secret, ConfigError> {
    let file_key = format!("{}_file", source.key);
    match (env, file) {
        (Some(_), Some(_)) => Err(err(
            file_key.clone(),
            format!("set either {} or {file_key}, not both", source.env),
        )),
        (Some(url), None) => Ok(url),
        (None, Some(path)) => {
            let path = if path.is_absolute() {
                path
            } else {
                cwd.join(path)
            };
            read_secret_file(&path, file_key.into())
        }
        (None, None) => Err(err(
            source.key,
            format!("{}: set {} or {file_key}", source.what, source.env),
        )),
    }
}

/// Where MCP sessions live: this process (`memory`) or Redis, shared by
/// every replica (`redis`, whose URL is a secret like the store's).
fn sessions_backend(
    flag: Option<SessionsBackendKind>,
    mode: SessionMode,
    file: &FileSessions,
    env_url: Option<Secret>,
    cwd: &Path,
) -> Result<SessionsBackend, ConfigError> {
    match flag.or(file.backend).unwrap_or_default() {
        SessionsBackendKind::Memory => {
            if file.redis_url_file.is_some() {
                return Err(err(
                    "sessions.redis_url_file",
                    "is set, but sessions.backend is memory: set sessions.backend = \"redis\" or remove it",
                ));
            }
            Ok(SessionsBackend::Memory)
        }
        SessionsBackendKind::Redis if mode == SessionMode::Stateless => Err(err(
            "sessions.backend",
            "redis keeps MCP sessions, and stateless mode keeps none: remove one of them",
        )),
        SessionsBackendKind::Redis => Ok(SessionsBackend::Redis {
            url: backend_secret(
                SecretSource {
                    key: "sessions.redis_url",
                    env: ENV_SESSIONS_REDIS_URL,
                    what: "the redis session backend needs a URL (redis://…)",
                },
                env_url,
                file.redis_url_file.clone(),
                cwd,
            )?,
        }),
    }
}

fn store(
    dir: Option<PathBuf>,
    backend: StoreBackend,
    limits: &FileLimits,
    cwd: &Path,
) -> Result<StoreConfig, ConfigError> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("templates"));
    let mut store_limits = StoreLimits::default();
    if let Some(bytes) = limits.max_template_bytes {
        store_limits.max_template_bytes = positive("limits.max_template_bytes", bytes)?;
    }
    if let Some(count) = limits.max_templates {
        store_limits.max_templates = positive("limits.max_templates", count)?;
    }
    let index_refresh = match limits.index_refresh_secs {
        Some(s) => secs("limits.index_refresh_secs", s)?,
        None => DEFAULT_INDEX_REFRESH,
    };
    let mut offload = OffloadLimits::for_this_machine();
    if let Some(ops) = limits.max_blocking_ops {
        offload.max_concurrent = positive("limits.max_blocking_ops", ops)?;
        if ops > OffloadLimits::MAX_SLOTS {
            return Err(err(
                "limits.max_blocking_ops",
                format!(
                    "must be at most {} (the blocking thread pool)",
                    OffloadLimits::MAX_SLOTS
                ),
            ));
        }
    }
    if let Some(ms) = limits.blocking_wait_ms {
        if ms == 0 {
            return Err(err("limits.blocking_wait_ms", "must be greater than 0"));
        }
        offload.max_wait = Duration::from_millis(ms);
    }
    Ok(StoreConfig {
        backend,
        dir: if dir.is_absolute() {
            dir
        } else {
            cwd.join(dir)
        },
        limits: store_limits,
        index_refresh,
        offload,
    })
}

fn allowed_origins(
    public_url: &Url,
    flags: Vec<String>,
    file: Option<Vec<String>>,
) -> Result<Vec<String>, ConfigError> {
    let mut origins = vec![origin_of(public_url)];
    for origin in non_empty_or(flags, file) {
        let parsed = Url::parse(&origin).map_err(|e| {
            err(
                "allowed_origins",
                format!("{origin:?} is not an origin: {e}"),
            )
        })?;
        if parsed.path() != "/" || parsed.query().is_some() || !parsed.has_host() {
            return Err(err(
                "allowed_origins",
                format!("{origin:?} must be scheme://host[:port] with no path"),
            ));
        }
        push_unique(&mut origins, origin_of(&parsed));
    }
    for loopback in ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"] {
        push_unique(&mut origins, loopback.to_owned());
    }
    Ok(origins)
}

fn allowed_hosts(
    public_url: &Url,
    flags: Vec<String>,
    file: Option<Vec<String>>,
) -> Result<Vec<String>, ConfigError> {
    let mut hosts = Vec::new();
    if let Some(host) = public_url.host_str() {
        push_unique(&mut hosts, host.to_owned());
    }
    for host in non_empty_or(flags, file) {
        if host.is_empty() || host.contains('/') {
            return Err(err("allowed_hosts", format!("{host:?} is not a host name")));
        }
        push_unique(&mut hosts, host);
    }
    for loopback in ["localhost", "127.0.0.1", "::1"] {
        push_unique(&mut hosts, loopback.to_owned());
    }
    Ok(hosts)
}

/// The tool policy: base scopes, extra scopes per tool, online-checked tools.
fn policy(cli: &Cli, fa: &FileAuth) -> Result<ToolPolicy, ConfigError> {
    let mut base = non_empty_or(cli.required_scopes.clone(), fa.required_scopes.clone());
    if base.is_empty() {
        base.push(DEFAULT_BASE_SCOPE.to_owned());
    }
    check_scopes("auth.required_scopes", &base)?;

    let per_tool = if !cli.tool_scopes.is_empty() {
        parse_tool_scope_flags(&cli.tool_scopes)?
    } else if let Some(map) = &fa.tool_scopes {
        map.iter()
            .map(|(tool, scopes)| Ok((tool_named("auth.tool_scopes", tool)?, scopes.clone())))
            .collect::<Result<BTreeMap<_, _>, ConfigError>>()?
    } else {
        ToolPolicy::default_tool_scopes()
    };
    for scopes in per_tool.values() {
        check_scopes("auth.tool_scopes", scopes)?;
    }

    let online = non_empty_or(
        cli.verify_online_tools.clone(),
        fa.verify_online_tools.clone(),
    );
    let verify_online = if online.is_empty() && fa.verify_online_tools.is_none() {
        ToolPolicy::default_verify_online()
    } else {
        online
            .iter()
            .map(|tool| tool_named("auth.verify_online_tools", tool))
            .collect::<Result<BTreeSet<_>, _>>()?
    };
    Ok(ToolPolicy::new(base, &per_tool, verify_online))
}

/// The validator's configuration: issuers (keys, claims, mode), token cache.
fn auth_section(
    cli: &Cli,
    mut fa: FileAuth,
    fj: FileJwks,
    fi: FileIntrospection,
    env: &Env,
    resource: &str,
) -> Result<AuthConfig, ConfigError> {
    // Plain http to a non-loopback IdP only when asked for; main.rs warns.
    let allow_insecure_http = cli
        .allow_insecure_http
        .or(fa.allow_insecure_http)
        .unwrap_or(false);
    let mode = cli.auth_mode.or(fa.mode).unwrap_or(AuthMode::Jwt);
    let mut audiences = non_empty_or(cli.audiences.clone(), fa.audiences.take());
    if audiences.is_empty() {
        audiences.push(resource.to_owned());
    }
    let defaults = IssuerDefaults {
        audiences,
        fa: &fa,
        fj: &fj,
        allow_insecure_http,
        mode,
    };
    let issuers = match &fa.issuers {
        None => vec![single_issuer(cli, &defaults, fi, env)?],
        Some(entries) => {
            if cli.issuer.is_some() || fa.issuer.is_some() || fa.profile.is_some() {
                return Err(err(
                    "auth.issuers",
                    "set either auth.issuer (and auth.profile) or [[auth.issuers]], not both",
                ));
            }
            if cli.jwks_uri.is_some() || fj.jwks_uri.is_some() {
                return Err(err(
                    "jwks.jwks_uri",
                    "with [[auth.issuers]], set jwks_uri in each entry",
                ));
            }
            if cli.introspection_endpoint.is_some() || fi.endpoint.is_some() {
                return Err(err(
                    "introspection.endpoint",
                    "with [[auth.issuers]], configure introspection in each entry ([auth.issuers.introspection])",
                ));
            }
            if entries.is_empty() {
                return Err(err("auth.issuers", "lists no issuer"));
            }
            if mode == AuthMode::Introspection && entries.len() > 1 {
                return Err(err(
                    "auth.mode",
                    "introspection mode trusts one issuer: an opaque token does not say who issued it",
                ));
            }
            let mut issuers = Vec::with_capacity(entries.len());
            for (n, entry) in entries.iter().enumerate() {
                issuers.push(issuer_entry(n, entry, &defaults)?);
            }
            let mut seen = BTreeSet::new();
            for (n, issuer) in issuers.iter().enumerate() {
                for iss in issuer.validation.accepted_issuers() {
                    if !seen.insert(iss.clone()) {
                        return Err(err(
                            format!("auth.issuers[{n}].issuer"),
                            format!("{iss:?} is configured twice"),
                        ));
                    }
                }
            }
            issuers
        }
    };
    let token_cache = match fa.token_cache_entries {
        None => auth::TokenCacheConfig::enabled(auth::TokenCacheConfig::DEFAULT_MAX_ENTRIES),
        Some(0) => auth::TokenCacheConfig::disabled(),
        Some(entries) => auth::TokenCacheConfig::enabled(entries),
    };
    Ok(AuthConfig {
        issuers,
        token_cache,
    })
}

/// What every issuer inherits from `[auth]` and `[jwks]`.
struct IssuerDefaults<'a> {
    audiences: Vec<String>,
    fa: &'a FileAuth,
    fj: &'a FileJwks,
    allow_insecure_http: bool,
    mode: AuthMode,
}

/// The one-issuer form: `auth.issuer`, `auth.profile`, `[jwks]`,
/// `[introspection]` and their flags, as before `[[auth.issuers]]`.
fn single_issuer(
    cli: &Cli,
    d: &IssuerDefaults<'_>,
    fi: FileIntrospection,
    env: &Env,
) -> Result<IssuerAuth, ConfigError> {
    let issuer = cli
        .issuer
        .clone()
        .or_else(|| d.fa.issuer.clone())
        .unwrap_or_else(|| "http://localhost:8080/realms/mcp".to_owned());
    let fields = IssuerFields {
        issuer,
        profile: d.fa.profile.clone(),
        jwks_uri: cli.jwks_uri.clone().or_else(|| d.fj.jwks_uri.clone()),
        audiences: None,
        algorithms: None,
        typ: None,
        leeway_secs: None,
        accept_azp_only: None,
        tenants: None,
        role_scopes: None,
    };
    let introspection = introspection_section(Some((cli, env)), fi, "introspection.")?;
    issuer_auth(&|key| single_key(key).into(), fields, introspection, d)
}

/// The `[auth]`/`[jwks]` key of a setting of the one-issuer form.
fn single_key(key: &'static str) -> &'static str {
    match key {
        "issuer" => "auth.issuer",
        "profile" => "auth.profile",
        "jwks_uri" => "jwks.jwks_uri",
        "audiences" => "auth.audiences",
        "algorithms" => "auth.algorithms",
        _ => "auth",
    }
}

/// One `[[auth.issuers]]` entry; its errors name `auth.issuers[N].key`.
fn issuer_entry(
    n: usize,
    entry: &FileIssuer,
    d: &IssuerDefaults<'_>,
) -> Result<IssuerAuth, ConfigError> {
    let key = |k: &'static str| -> Cow<'static, str> { format!("auth.issuers[{n}].{k}").into() };
    let Some(issuer) = entry.issuer.clone() else {
        return Err(err(key("issuer"), "required"));
    };
    let fields = IssuerFields {
        issuer,
        profile: entry.profile.clone(),
        jwks_uri: entry.jwks_uri.clone(),
        audiences: entry.audiences.clone(),
        algorithms: entry.algorithms.clone(),
        typ: entry.typ,
        leeway_secs: entry.leeway_secs,
        accept_azp_only: entry.accept_azp_only,
        tenants: entry.tenants.clone(),
        role_scopes: entry.role_scopes.clone(),
    };
    let introspection = match &entry.introspection {
        None => None,
        Some(fi) => introspection_section(
            None,
            fi.clone(),
            &format!("auth.issuers[{n}].introspection."),
        )?,
    };
    issuer_auth(&key, fields, introspection, d)
}

/// An issuer's own settings; `None` inherits from `[auth]`.
struct IssuerFields {
    issuer: String,
    profile: Option<String>,
    jwks_uri: Option<String>,
    audiences: Option<Vec<String>>,
    algorithms: Option<Vec<String>>,
    typ: Option<TypPolicy>,
    leeway_secs: Option<u64>,
    accept_azp_only: Option<bool>,
    tenants: Option<Vec<String>>,
    role_scopes: Option<BTreeMap<String, Vec<String>>>,
}

/// Checks one issuer's settings into the libraries' types.
fn issuer_auth(
    key: &dyn Fn(&'static str) -> Cow<'static, str>,
    f: IssuerFields,
    introspection: Option<auth::IntrospectionConfig>,
    d: &IssuerDefaults<'_>,
) -> Result<IssuerAuth, ConfigError> {
    let fa = d.fa;
    let profile = match &f.profile {
        None => auth::Profile::default(),
        Some(name) => name
            .parse::<auth::Profile>()
            .map_err(|e| err(key("profile"), e.to_string()))?,
    };
    // Discovery needs a URL; an Entra `{tenantid}` template is one only once
    // a tenant is in it, and then needs an explicit jwks_uri.
    let issuer_url = if f.issuer.contains(auth::TENANT_PLACEHOLDER) {
        None
    } else {
        Some(
            Url::parse(&f.issuer)
                .map_err(|e| err(key("issuer"), format!("{:?} is not a URL: {e}", f.issuer)))?,
        )
    };
    let audiences = f.audiences.unwrap_or_else(|| d.audiences.clone());
    // The exact `iss` string as configured (a trailing slash matters), not
    // the URL's serialisation.
    let mut validation = auth::ValidationConfig::new(f.issuer.clone(), audiences)
        .map_err(|e| err(key("audiences"), e.to_string()))?;
    if let Some(names) = f.algorithms.as_ref().or(fa.algorithms.as_ref()) {
        validation.algorithms = names
            .iter()
            .map(|name| auth::parse_algorithm(name))
            .collect::<Result<_, _>>()
            .map_err(|e| err(key("algorithms"), e.to_string()))?;
    }
    if let Some(secs) = f.leeway_secs.or(fa.leeway_secs) {
        validation.leeway = Duration::from_secs(secs);
    }
    if let Some(typ) = f.typ.or(fa.typ) {
        validation.typ = match typ {
            TypPolicy::Lenient => auth::TypPolicy::Lenient,
            TypPolicy::Rfc9068 => auth::TypPolicy::Rfc9068Strict,
        };
    }
    if let Some(bytes) = fa.max_token_bytes {
        validation.max_token_bytes = bytes;
    }
    if let Some(accept) = f.accept_azp_only.or(fa.accept_azp_only) {
        validation.accept_azp_only = accept;
    }
    validation.profile = profile;
    validation.tenants = f.tenants.unwrap_or_default();
    validation.role_scopes = f.role_scopes.unwrap_or_default().into_iter().collect();
    validation.check().map_err(|e| {
        let field = match e.kind() {
            auth::ErrorKind::Config(m) if m.starts_with("tenant") || m.ends_with("in tenants") => {
                "tenants"
            }
            auth::ErrorKind::Config(m) if m.starts_with("role_scopes") => "role_scopes",
            auth::ErrorKind::Config(m) if m.starts_with("algorithm") => "algorithms",
            _ => "issuer",
        };
        err(key(field), e.to_string())
    })?;

    let source = match (f.jwks_uri, issuer_url) {
        (Some(uri), _) => jwks::Source::JwksUri(
            Url::parse(&uri).map_err(|e| err(key("jwks_uri"), format!("{uri:?}: {e}")))?,
        ),
        (None, Some(issuer)) => jwks::Source::Discovery { issuer },
        (None, None) => {
            return Err(err(
                key("jwks_uri"),
                "an issuer with {tenantid} has no discovery document of its own: set jwks_uri (e.g. https://login.microsoftonline.com/common/discovery/v2.0/keys)",
            ));
        }
    };
    let jwks = jwks_config(source, d.fj, d.allow_insecure_http)?;
    let introspection = introspection.map(|mut i| {
        i.allow_insecure_http = d.allow_insecure_http;
        i
    });
    let mode = match (d.mode, introspection) {
        (AuthMode::Jwt, online) => auth::Mode::Jwt { online },
        (AuthMode::JwtThenIntrospection, Some(i)) => auth::Mode::JwtThenIntrospection(i),
        (AuthMode::Introspection, Some(i)) => auth::Mode::Introspection(i),
        (_, None) => {
            return Err(err(
                "auth.mode",
                "this mode needs introspection.endpoint, introspection.client_id and a client secret (for each issuer)",
            ));
        }
    };
    Ok(IssuerAuth {
        jwks,
        validation,
        mode,
    })
}

/// The key cache of one issuer: its source, with the `[jwks]` tuning every
/// issuer shares.
fn jwks_config(
    source: jwks::Source,
    fj: &FileJwks,
    allow_insecure_http: bool,
) -> Result<jwks::Config, ConfigError> {
    let mut config = jwks::Config::new(source);
    config.allow_insecure_http = allow_insecure_http;
    let secs = Duration::from_secs;
    if let Some(s) = fj.ttl_secs {
        config.ttl = secs(s);
    }
    if let Some(s) = fj.refresh_ahead_secs {
        config.refresh_ahead = secs(s);
    }
    if let Some(s) = fj.miss_cooldown_secs {
        config.miss_cooldown = secs(s);
    }
    if let Some(s) = fj.outage_window_secs {
        config.outage_window = secs(s);
    }
    if let Some(s) = fj.http_timeout_secs {
        config.http_timeout = secs(s);
    }
    if let Some(bytes) = fj.max_body_bytes {
        config.max_body_bytes = bytes;
    }
    config.validate().map_err(|e| err("jwks", e.to_string()))?;
    Ok(config)
}

/// RFC 7662 introspection of one issuer. The one-issuer form passes its
/// flags and environment (`flags`); an `[[auth.issuers]]` entry reads only
/// its own table, the secret only from `client_secret_file`. Keys are named
/// under `prefix` (`introspection.` or `auth.issuers[N].introspection.`).
fn introspection_section(
    flags: Option<(&Cli, &Env)>,
    fi: FileIntrospection,
    prefix: &str,
) -> Result<Option<auth::IntrospectionConfig>, ConfigError> {
    let key = |k: &str| -> Cow<'static, str> { format!("{prefix}{k}").into() };
    let cli = flags.map(|(cli, _)| cli);
    let Some(endpoint) = cli
        .and_then(|c| c.introspection_endpoint.clone())
        .or(fi.endpoint)
    else {
        return Ok(None);
    };
    let endpoint =
        Url::parse(&endpoint).map_err(|e| err(key("endpoint"), format!("{endpoint:?}: {e}")))?;
    let client_id = cli
        .and_then(|c| c.introspection_client_id.clone())
        .or(fi.client_id)
        .ok_or_else(|| {
            err(
                key("client_id"),
                "required when introspection.endpoint is set",
            )
        })?;
    let secret_file = cli
        .and_then(|c| c.introspection_client_secret_file.clone())
        .or(fi.client_secret_file);
    let env_secret = flags.and_then(|(_, env)| env.introspection_client_secret.as_ref());
    let client_secret = match (env_secret, secret_file) {
        (Some(secret), _) => secret.clone(),
        (None, Some(path)) => read_secret_file(&path, key("client_secret_file"))?,
        (None, None) if flags.is_some() => {
            return Err(err(
                key("client_secret_file"),
                format!(
                    "introspection needs a client secret: set {ENV_INTROSPECTION_CLIENT_SECRET} or introspection.client_secret_file"
                ),
            ));
        }
        (None, None) => {
            return Err(err(
                key("client_secret_file"),
                "introspection needs a client secret file",
            ));
        }
    };
    let mut config = auth::IntrospectionConfig::new(endpoint, client_id, client_secret);
    if let Some(client_auth) = fi.client_auth {
        config.client_auth = match client_auth {
            ClientAuth::Basic => auth::ClientAuth::Basic,
            ClientAuth::Post => auth::ClientAuth::Post,
        };
    }
    if let Some(s) = fi.positive_ttl_secs {
        config.positive_ttl = Duration::from_secs(s);
    }
    if let Some(s) = fi.negative_ttl_secs {
        config.negative_ttl = Duration::from_secs(s);
    }
    if let Some(s) = fi.timeout_secs {
        config.timeout = secs(key("timeout_secs"), s)?;
    }
    if let Some(entries) = fi.max_entries {
        config.max_entries = positive(key("max_entries"), entries)?;
    }
    let nonzero = |key, n| NonZeroU32::new(n).ok_or_else(|| err(key, "must be greater than 0"));
    if let Some(n) = fi.calls_per_sec {
        config.calls_per_sec = nonzero(key("calls_per_sec"), n)?;
    }
    if let Some(n) = fi.burst {
        config.burst = nonzero(key("burst"), n)?;
    }
    Ok(Some(config))
}

fn parse_public_url(text: &str) -> Result<Url, ConfigError> {
    let url =
        Url::parse(text).map_err(|e| err("public_url", format!("{text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err("public_url", "scheme must be http or https"));
    }
    if !url.has_host() || url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(err(
            "public_url",
            format!(
                "{text:?} must be scheme://host[:port] with no path; set `path` for the MCP endpoint"
            ),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err("public_url", "must not carry credentials"));
    }
    Ok(url)
}

/// `scheme://host[:port]` with the default port dropped (RFC 6454 serialisation).
fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn normalise_path(path: &str) -> Result<String, ConfigError> {
    let trimmed = path.trim_end_matches('/');
    if !trimmed.starts_with('/') {
        return Err(err(
            "path",
            format!("{path:?} must start with '/' and not be '/'"),
        ));
    }
    if trimmed.contains(['?', '#', ' ']) || trimmed.contains("//") {
        return Err(err("path", format!("{path:?} is not a plain path")));
    }
    Ok(trimmed.to_owned())
}

/// `tool=scope[ scope…]` entries of `--tool-scope`.
fn parse_tool_scope_flags(entries: &[String]) -> Result<BTreeMap<Tool, Vec<String>>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in entries {
        let (tool, scopes) = entry.split_once('=').ok_or_else(|| {
            err(
                "auth.tool_scopes",
                format!("{entry:?} must look like tool=scope[ scope…]"),
            )
        })?;
        let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        map.insert(tool_named("auth.tool_scopes", tool.trim())?, scopes);
    }
    Ok(map)
}

fn tool_named(key: &'static str, name: &str) -> Result<Tool, ConfigError> {
    name.parse()
        .map_err(|e: crate::tool::UnknownTool| err(key, e.to_string()))
}

/// RFC 6749 §3.3: scope tokens are printable ASCII without space, `"` or `\`.
fn check_scopes(key: &'static str, scopes: &[String]) -> Result<(), ConfigError> {
    for scope in scopes {
        let ok = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !ok {
            return Err(err(key, format!("{scope:?} is not a valid scope token")));
        }
    }
    Ok(())
}

fn read_secret_file(path: &Path, key: Cow<'static, str>) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(key.clone(), format!("cannot read {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(err(key, format!("{} is empty", path.display())));
    }
    Ok(Secret::new(secret))
}

fn positive(key: impl Into<Cow<'static, str>>, value: usize) -> Result<usize, ConfigError> {
    if value == 0 {
        Err(err(key, "must be greater than 0"))
    } else {
        Ok(value)
    }
}

fn secs(key: impl Into<Cow<'static, str>>, value: u64) -> Result<Duration, ConfigError> {
    if value == 0 {
        Err(err(key, "must be greater than 0"))
    } else {
        Ok(Duration::from_secs(value))
    }
}

/// The flag's list when given, else the file's, else empty.
fn non_empty_or(flags: Vec<String>, file: Option<Vec<String>>) -> Vec<String> {
    if flags.is_empty() {
        file.unwrap_or_default()
    } else {
        flags
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests;
