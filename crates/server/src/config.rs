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

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser as _;
use url::Url;

pub use self::raw::{
    AuthMode, Cli, ClientAuth, ENV_ALLOW_INSECURE_BENCH, ENV_INTROSPECTION_CLIENT_SECRET,
    ENV_LOG_FILTER, Env, FileConfig, LogFormat, TypPolicy,
};
use self::raw::{FileAuth, FileIntrospection, FileJwks, FileLimits, FileSessions};
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The directory holding `<name>.md` files, absolute.
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

/// Everything the validator is built from, as the libraries take it.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Where the signing keys come from and how they are cached.
    pub jwks: jwks::Config,
    /// What a token must satisfy.
    pub validation: auth::ValidationConfig,
    /// Local, local-then-introspection or introspection-only, with the
    /// introspection client where the mode needs one.
    pub mode: auth::Mode,
    /// The verified-token cache.
    pub token_cache: auth::TokenCacheConfig,
}

/// A configuration error naming the key it is about.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    /// The TOML key (dotted) the error is about.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn err(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        reason: reason.into(),
    }
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
    let authorization_servers =
        authorization_servers.unwrap_or_else(|| vec![auth.validation.issuer.clone()]);
    let metadata = auth::ProtectedResourceMetadata::new(
        resource,
        authorization_servers,
        policy.supported().to_vec(),
    )
    .map_err(|e| err("auth.authorization_servers", e.to_string()))?;

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
        session: session_mode(&cli, file.stateless, &file.sessions)?,
        http: http_limits(&cli, &file.limits)?,
        store: store(
            cli.templates_dir.clone().or(file.templates_dir),
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

fn store(
    dir: Option<PathBuf>,
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

/// The validator's configuration: keys, claims, mode, token cache.
fn auth_section(
    cli: &Cli,
    fa: FileAuth,
    fj: FileJwks,
    fi: FileIntrospection,
    env: &Env,
    resource: &str,
) -> Result<AuthConfig, ConfigError> {
    let issuer_text = cli.issuer.clone().or(fa.issuer);
    let issuer_text = issuer_text
        .as_deref()
        .unwrap_or("http://localhost:8080/realms/mcp");
    let issuer = Url::parse(issuer_text)
        .map_err(|e| err("auth.issuer", format!("{issuer_text:?} is not a URL: {e}")))?;

    let mut audiences = non_empty_or(cli.audiences.clone(), fa.audiences);
    if audiences.is_empty() {
        audiences.push(resource.to_owned());
    }
    // The exact `iss` string as configured (a trailing slash matters), not
    // the URL's serialisation.
    let mut validation = auth::ValidationConfig::new(issuer_text, audiences)
        .map_err(|e| err("auth.audiences", e.to_string()))?;
    if let Some(names) = fa.algorithms {
        validation.algorithms = names
            .iter()
            .map(|name| auth::parse_algorithm(name))
            .collect::<Result<_, _>>()
            .map_err(|e| err("auth.algorithms", e.to_string()))?;
    }
    if let Some(secs) = fa.leeway_secs {
        validation.leeway = Duration::from_secs(secs);
    }
    if let Some(typ) = fa.typ {
        validation.typ = match typ {
            TypPolicy::Lenient => auth::TypPolicy::Lenient,
            TypPolicy::Rfc9068 => auth::TypPolicy::Rfc9068Strict,
        };
    }
    if let Some(bytes) = fa.max_token_bytes {
        validation.max_token_bytes = bytes;
    }
    if let Some(accept) = fa.accept_azp_only {
        validation.accept_azp_only = accept;
    }
    validation.check().map_err(|e| err("auth", e.to_string()))?;

    // Plain http to a non-loopback IdP only when asked for; main.rs warns.
    let allow_insecure_http = cli
        .allow_insecure_http
        .or(fa.allow_insecure_http)
        .unwrap_or(false);
    let jwks = jwks_section(cli, fj, issuer, allow_insecure_http)?;
    let mut introspection = introspection_section(cli, fi, env)?;
    if let Some(introspection) = &mut introspection {
        introspection.allow_insecure_http = allow_insecure_http;
    }
    let mode = match (
        cli.auth_mode.or(fa.mode).unwrap_or(AuthMode::Jwt),
        introspection,
    ) {
        (AuthMode::Jwt, online) => auth::Mode::Jwt { online },
        (AuthMode::JwtThenIntrospection, Some(i)) => auth::Mode::JwtThenIntrospection(i),
        (AuthMode::Introspection, Some(i)) => auth::Mode::Introspection(i),
        (_, None) => {
            return Err(err(
                "auth.mode",
                "this mode needs introspection.endpoint, introspection.client_id and a client secret",
            ));
        }
    };
    let token_cache = match fa.token_cache_entries {
        None => auth::TokenCacheConfig::enabled(auth::TokenCacheConfig::DEFAULT_MAX_ENTRIES),
        Some(0) => auth::TokenCacheConfig::disabled(),
        Some(entries) => auth::TokenCacheConfig::enabled(entries),
    };
    Ok(AuthConfig {
        jwks,
        validation,
        mode,
        token_cache,
    })
}

fn jwks_section(
    cli: &Cli,
    fj: FileJwks,
    issuer: Url,
    allow_insecure_http: bool,
) -> Result<jwks::Config, ConfigError> {
    let source = match cli.jwks_uri.clone().or(fj.jwks_uri) {
        Some(uri) => jwks::Source::JwksUri(
            Url::parse(&uri).map_err(|e| err("jwks.jwks_uri", format!("{uri:?}: {e}")))?,
        ),
        None => jwks::Source::Discovery { issuer },
    };
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

fn introspection_section(
    cli: &Cli,
    fi: FileIntrospection,
    env: &Env,
) -> Result<Option<auth::IntrospectionConfig>, ConfigError> {
    let Some(endpoint) = cli.introspection_endpoint.clone().or(fi.endpoint) else {
        return Ok(None);
    };
    let endpoint = Url::parse(&endpoint)
        .map_err(|e| err("introspection.endpoint", format!("{endpoint:?}: {e}")))?;
    let client_id = cli
        .introspection_client_id
        .clone()
        .or(fi.client_id)
        .ok_or_else(|| {
            err(
                "introspection.client_id",
                "required when introspection.endpoint is set",
            )
        })?;
    let secret_file = cli
        .introspection_client_secret_file
        .clone()
        .or(fi.client_secret_file);
    let client_secret = match (&env.introspection_client_secret, secret_file) {
        (Some(secret), _) => secret.clone(),
        (None, Some(path)) => read_secret_file(&path)?,
        (None, None) => {
            return Err(err(
                "introspection.client_secret_file",
                format!(
                    "introspection needs a client secret: set {ENV_INTROSPECTION_CLIENT_SECRET} or introspection.client_secret_file"
                ),
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
        config.timeout = secs("introspection.timeout_secs", s)?;
    }
    if let Some(entries) = fi.max_entries {
        config.max_entries = positive("introspection.max_entries", entries)?;
    }
    let nonzero = |key, n| NonZeroU32::new(n).ok_or_else(|| err(key, "must be greater than 0"));
    if let Some(n) = fi.calls_per_sec {
        config.calls_per_sec = nonzero("introspection.calls_per_sec", n)?;
    }
    if let Some(n) = fi.burst {
        config.burst = nonzero("introspection.burst", n)?;
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

fn read_secret_file(path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(
            "introspection.client_secret_file",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(err(
            "introspection.client_secret_file",
            format!("{} is empty", path.display()),
        ));
    }
    Ok(Secret::new(secret))
}

fn positive(key: &'static str, value: usize) -> Result<usize, ConfigError> {
    if value == 0 {
        Err(err(key, "must be greater than 0"))
    } else {
        Ok(value)
    }
}

fn secs(key: &'static str, value: u64) -> Result<Duration, ConfigError> {
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
