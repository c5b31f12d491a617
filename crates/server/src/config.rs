//! Server configuration: one typed [`Config`] built from a TOML file, `MCP_*`
//! environment variables and command-line flags.
//!
//! Configuration flows low to high, as in ripgrep: clap parses flags and their
//! environment variables into [`Cli`], the optional TOML file is read into
//! [`FileConfig`], and one [`build`] call merges them (flag > environment >
//! file > default) and validates the result into [`Config`]. Every error names
//! the key it is about. **This is the only module of the workspace that reads
//! environment variables**; the libraries (`jwks`, `auth`) receive plain
//! structs built from [`Config`] in `crate::deps`.
//!
//! Secrets (the introspection client secret) come from the environment or a
//! `*_file` key, never from a flag or the TOML file itself, and are wrapped in
//! [`Secret`] so that `Debug` output and logs show `<redacted>`.
//!
//! The defaults follow the Python walkthrough this server replaces: bind
//! `127.0.0.1:8000`, public URL `http://localhost:8000`, path `/mcp`, issuer
//! `http://localhost:8080/realms/mcp`, required scope `mcp:tools`. Every key is
//! listed in `docs/configuration.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde::Deserialize;
use url::Url;

/// Environment variable holding the introspection client secret.
pub const ENV_INTROSPECTION_CLIENT_SECRET: &str = "MCP_INTROSPECTION_CLIENT_SECRET";
/// Environment variable that must be `1` for the benchmark-only auth bypass.
pub const ENV_ALLOW_INSECURE_BENCH: &str = "MCP_ALLOW_INSECURE_BENCH";

/// The tools whose calls change templates; they need `templates:write` by default.
const DEFAULT_WRITE_TOOLS: [&str; 2] = ["save_template", "delete_template"];

/// Command-line flags. Each flag also reads an `MCP_*` environment variable;
/// a flag given on the command line wins over the variable, and both win over
/// the `--config` file.
#[derive(Debug, Default, Parser)]
#[command(
    name = "mcp-file-templates",
    version,
    about = "An MCP server that serves file templates over Streamable HTTP, protected as an OAuth 2.1 resource server",
    long_about = None,
    after_help = "Precedence: flag > MCP_* environment variable > --config file > default.\n\
                  The introspection client secret is read only from MCP_INTROSPECTION_CLIENT_SECRET\n\
                  or from the file named by --introspection-client-secret-file.\n\
                  See docs/configuration.md for every key."
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, env = "MCP_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Socket address to listen on [default: 127.0.0.1:8000].
    #[arg(long, env = "MCP_BIND", value_name = "ADDR")]
    pub bind: Option<String>,

    /// Public base URL clients use to reach this server [default: http://localhost:8000].
    #[arg(long, env = "MCP_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Path the MCP endpoint is mounted at; the protected resource is public URL + path [default: /mcp].
    #[arg(long, env = "MCP_PATH", value_name = "PATH")]
    pub path: Option<String>,

    /// Directory holding the `<name>.md` templates, relative to the working directory [default: templates].
    #[arg(long, env = "MCP_TEMPLATES_DIR", value_name = "DIR")]
    pub templates_dir: Option<PathBuf>,

    /// Serve statelessly: no MCP sessions, plain JSON responses [default: false].
    #[arg(long, env = "MCP_STATELESS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub stateless: Option<bool>,

    /// Log output format [default: pretty].
    #[arg(long, env = "MCP_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// Browser origins allowed besides the public URL's own origin and loopback (comma-separated).
    #[arg(
        long = "allowed-origin",
        env = "MCP_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub allowed_origins: Vec<String>,

    /// Extra `Host` values accepted besides the public URL's host and loopback (comma-separated).
    #[arg(
        long = "allowed-host",
        env = "MCP_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub allowed_hosts: Vec<String>,

    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "MCP_BODY_LIMIT_BYTES", value_name = "BYTES")]
    pub body_limit_bytes: Option<usize>,

    /// Seconds a request may take before it is answered with 408 [default: 30].
    #[arg(long, env = "MCP_REQUEST_TIMEOUT_SECS", value_name = "SECS")]
    pub request_timeout_secs: Option<u64>,

    /// Requests served at once; more are shed with 503 [default: 512].
    #[arg(long, env = "MCP_CONCURRENCY_LIMIT", value_name = "N")]
    pub concurrency_limit: Option<usize>,

    /// How bearer tokens are checked [default: jwt].
    #[arg(long, env = "MCP_AUTH_MODE", value_enum)]
    pub auth_mode: Option<AuthMode>,

    /// Expected `iss` of access tokens, exact match [default: http://localhost:8080/realms/mcp].
    #[arg(long, env = "MCP_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,

    /// Accepted token audiences (comma-separated) [default: the resource URL].
    #[arg(
        long = "audience",
        env = "MCP_AUDIENCE",
        value_delimiter = ',',
        value_name = "AUD"
    )]
    pub audiences: Vec<String>,

    /// Scopes every MCP request needs (comma-separated) [default: mcp:tools].
    #[arg(
        long = "required-scope",
        env = "MCP_REQUIRED_SCOPES",
        value_delimiter = ',',
        value_name = "SCOPE"
    )]
    pub required_scopes: Vec<String>,

    /// Extra scopes per tool, `tool=scope[ scope…]` (comma-separated) [default: save_template=templates:write,delete_template=templates:write].
    #[arg(
        long = "tool-scope",
        env = "MCP_TOOL_SCOPES",
        value_delimiter = ',',
        value_name = "TOOL=SCOPES"
    )]
    pub tool_scopes: Vec<String>,

    /// Tools whose calls re-check the token online by introspection (comma-separated) [default: delete_template].
    #[arg(
        long = "verify-online-tool",
        env = "MCP_VERIFY_ONLINE_TOOLS",
        value_delimiter = ',',
        value_name = "TOOL"
    )]
    pub verify_online_tools: Vec<String>,

    /// JWKS URL; when unset the keys are found through the issuer's OpenID discovery document.
    #[arg(long, env = "MCP_JWKS_URI", value_name = "URL")]
    pub jwks_uri: Option<String>,

    /// RFC 7662 introspection endpoint; enables introspection.
    #[arg(long, env = "MCP_INTROSPECTION_ENDPOINT", value_name = "URL")]
    pub introspection_endpoint: Option<String>,

    /// Client id this server authenticates to the introspection endpoint with.
    #[arg(long, env = "MCP_INTROSPECTION_CLIENT_ID", value_name = "ID")]
    pub introspection_client_id: Option<String>,

    /// File holding the introspection client secret (trailing newline ignored).
    #[arg(
        long,
        env = "MCP_INTROSPECTION_CLIENT_SECRET_FILE",
        value_name = "PATH"
    )]
    pub introspection_client_secret_file: Option<PathBuf>,

    /// BENCHMARKS ONLY: accept every request without a token. Refused unless MCP_ALLOW_INSECURE_BENCH=1.
    #[arg(long)]
    pub dangerously_disable_auth_for_benchmarks: bool,
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// How bearer tokens are checked (maps to `auth::Mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Local JWT validation against the cached JWKS only.
    #[default]
    Jwt,
    /// Local JWT validation; tokens that are not JWTs go to introspection.
    JwtThenIntrospection,
    /// Every token is introspected (cached).
    Introspection,
}

/// How the server authenticates to the introspection endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    #[default]
    Basic,
    /// Form parameters (`client_secret_post`).
    Post,
}

/// The `typ` header policy (maps to `auth::TypPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypPolicy {
    /// `JWT`, `at+jwt` or absent (what Keycloak issues by default).
    #[default]
    Lenient,
    /// RFC 9068 §2.1: `at+jwt` only.
    Rfc9068,
}

/// The TOML file, as written. Every field is optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    bind: Option<String>,
    public_url: Option<String>,
    path: Option<String>,
    templates_dir: Option<PathBuf>,
    stateless: Option<bool>,
    log_format: Option<LogFormat>,
    allowed_origins: Option<Vec<String>>,
    allowed_hosts: Option<Vec<String>>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    auth: FileAuth,
    #[serde(default)]
    jwks: FileJwks,
    #[serde(default)]
    introspection: FileIntrospection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    body_limit_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    concurrency_limit: Option<usize>,
    max_template_bytes: Option<usize>,
    max_templates: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    mode: Option<AuthMode>,
    issuer: Option<String>,
    audiences: Option<Vec<String>>,
    required_scopes: Option<Vec<String>>,
    tool_scopes: Option<BTreeMap<String, Vec<String>>>,
    verify_online_tools: Option<Vec<String>>,
    authorization_servers: Option<Vec<String>>,
    algorithms: Option<Vec<String>>,
    leeway_secs: Option<u64>,
    typ: Option<TypPolicy>,
    max_token_bytes: Option<usize>,
    token_cache_entries: Option<usize>,
    accept_azp_only: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJwks {
    jwks_uri: Option<String>,
    ttl_secs: Option<u64>,
    refresh_ahead_secs: Option<u64>,
    miss_cooldown_secs: Option<u64>,
    outage_window_secs: Option<u64>,
    http_timeout_secs: Option<u64>,
    max_body_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIntrospection {
    endpoint: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    client_auth: Option<ClientAuth>,
    positive_ttl_secs: Option<u64>,
    negative_ttl_secs: Option<u64>,
    timeout_secs: Option<u64>,
    max_entries: Option<usize>,
}

/// Secrets are the auth crate's redacting [`auth::Secret`]: one type from
/// the config file to the introspection client.
pub use auth::Secret;

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Socket address the server listens on.
    pub bind: SocketAddr,
    /// Public base URL, no path (e.g. `https://mcp.example.com`).
    pub public_url: Url,
    /// Path of the MCP endpoint (starts with `/`, no trailing slash).
    pub path: String,
    /// The protected resource URL: public URL + path (RFC 9728 `resource`).
    pub resource: String,
    /// Template directory (absolute, resolved against the working directory).
    pub templates_dir: PathBuf,
    /// Largest template file accepted by the store.
    pub max_template_bytes: usize,
    /// Most templates the store holds.
    pub max_templates: usize,
    /// Stateful sessions or stateless JSON.
    pub session: SessionMode,
    /// Log output format.
    pub log_format: LogFormat,
    /// HTTP limits.
    pub http: HttpLimits,
    /// Browser origins allowed on `/mcp` and by CORS (scheme://host:port).
    pub allowed_origins: Vec<String>,
    /// `Host` header values accepted (DNS-rebinding guard).
    pub allowed_hosts: Vec<String>,
    /// Token validation and authorization policy.
    pub auth: AuthSettings,
    /// JWKS cache tuning.
    pub jwks: JwksSettings,
    /// Introspection client, when configured.
    pub introspection: Option<IntrospectionSettings>,
    /// Benchmark-only: no token checks at all (see `auth::dangerous`).
    pub insecure_bench: bool,
}

/// Session handling of the Streamable HTTP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMode {
    /// `Mcp-Session-Id` sessions, SSE responses (rmcp `legacy_session_mode = true`).
    Stateful,
    /// No sessions, `application/json` responses (`legacy_session_mode = false`, `json_response = true`).
    Stateless,
}

/// HTTP-level limits.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Largest request body in bytes.
    pub body_limit_bytes: usize,
    /// Time allowed to produce a response.
    pub request_timeout: Duration,
    /// Requests served concurrently before shedding with 503.
    pub concurrency_limit: usize,
}

/// Token validation and authorization policy.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// How tokens are checked.
    pub mode: AuthMode,
    /// Exact expected `iss`.
    pub issuer: String,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// Scopes every request to `/mcp` needs.
    pub required_scopes: Vec<String>,
    /// Additional scopes per tool name.
    pub tool_scopes: BTreeMap<String, Vec<String>>,
    /// Tools whose calls are re-checked online by introspection.
    pub verify_online_tools: BTreeSet<String>,
    /// Authorization servers advertised in the RFC 9728 metadata.
    pub authorization_servers: Vec<String>,
    /// Accepted JWS algorithms (names as in the JOSE registry, e.g. `RS256`).
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp`/`nbf`/`iat`.
    pub leeway: Duration,
    /// `typ` header policy.
    pub typ: TypPolicy,
    /// Largest token accepted, in bytes.
    pub max_token_bytes: usize,
    /// Entries of the verified-token cache; 0 disables it.
    pub token_cache_entries: usize,
    /// Accept a token whose `azp` (but not `aud`) names this resource.
    pub accept_azp_only: bool,
}

impl AuthSettings {
    /// Every scope a call of `tool` needs: the base scopes, then the tool's own.
    pub fn scopes_for_tool(&self, tool: &str) -> Vec<String> {
        let mut scopes = self.required_scopes.clone();
        for scope in self.tool_scopes.get(tool).into_iter().flatten() {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        scopes
    }
}

/// JWKS cache tuning (maps to `jwks::Config`).
#[derive(Clone, Debug)]
pub struct JwksSettings {
    /// Explicit JWKS URL; `None` means OpenID discovery from the issuer.
    pub jwks_uri: Option<Url>,
    /// Background refresh period.
    pub ttl: Duration,
    /// Refresh this long before the TTL elapses.
    pub refresh_ahead: Duration,
    /// Window that rate-limits refreshes on unknown `kid`.
    pub miss_cooldown: Duration,
    /// How long the last good key set is served while refreshes fail.
    pub outage_window: Duration,
    /// Connect + read timeout of one fetch.
    pub http_timeout: Duration,
    /// Largest JWKS document accepted.
    pub max_body_bytes: usize,
}

/// Introspection client settings (maps to `auth::IntrospectionConfig`).
#[derive(Clone, Debug)]
pub struct IntrospectionSettings {
    /// RFC 7662 endpoint.
    pub endpoint: Url,
    /// Client id of this resource server.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Client authentication method.
    pub client_auth: ClientAuth,
    /// How long an active answer is cached (capped by the token's `exp`).
    pub positive_ttl: Duration,
    /// How long an inactive answer is cached.
    pub negative_ttl: Duration,
    /// Timeout of one introspection call.
    pub timeout: Duration,
    /// Entries of the introspection cache.
    pub max_entries: usize,
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

/// Values this module takes from the process environment outside clap.
#[derive(Debug, Default)]
pub struct Env {
    /// `MCP_INTROSPECTION_CLIENT_SECRET`.
    pub introspection_client_secret: Option<Secret>,
    /// `MCP_ALLOW_INSECURE_BENCH == "1"`.
    pub allow_insecure_bench: bool,
}

impl Env {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Self {
        Self {
            introspection_client_secret: std::env::var(ENV_INTROSPECTION_CLIENT_SECRET)
                .ok()
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            allow_insecure_bench: std::env::var(ENV_ALLOW_INSECURE_BENCH).as_deref() == Ok("1"),
        }
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
pub fn build(cli: Cli, file: FileConfig, env: Env, cwd: &Path) -> Result<Config, ConfigError> {
    let bind = cli
        .bind
        .or(file.bind)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let bind: SocketAddr = bind
        .parse()
        .map_err(|e| err("bind", format!("{bind:?} is not a socket address: {e}")))?;

    let public_url_text = cli
        .public_url
        .or(file.public_url)
        .unwrap_or_else(|| "http://localhost:8000".to_owned());
    let public_url = parse_public_url(&public_url_text)?;

    let path = normalise_path(&cli.path.or(file.path).unwrap_or_else(|| "/mcp".to_owned()))?;
    let resource = format!("{}{}", origin_of(&public_url), path);

    let templates_dir = cli
        .templates_dir
        .or(file.templates_dir)
        .unwrap_or_else(|| PathBuf::from("templates"));
    let templates_dir = if templates_dir.is_absolute() {
        templates_dir
    } else {
        cwd.join(templates_dir)
    };

    let session = if cli.stateless.or(file.stateless).unwrap_or(false) {
        SessionMode::Stateless
    } else {
        SessionMode::Stateful
    };

    let limits = file.limits;
    let http = HttpLimits {
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
    };
    let max_template_bytes = positive(
        "limits.max_template_bytes",
        limits.max_template_bytes.unwrap_or(256 * 1024),
    )?;
    let max_templates = positive(
        "limits.max_templates",
        limits.max_templates.unwrap_or(10_000),
    )?;

    let allowed_origins = {
        let extra = non_empty_or(
            cli.allowed_origins,
            file.allowed_origins.unwrap_or_default(),
        );
        let mut origins = vec![origin_of(&public_url)];
        for origin in extra {
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
        origins
    };

    let allowed_hosts = {
        let mut hosts = Vec::new();
        if let Some(host) = public_url.host_str() {
            push_unique(&mut hosts, host.to_owned());
        }
        for host in non_empty_or(cli.allowed_hosts, file.allowed_hosts.unwrap_or_default()) {
            if host.is_empty() || host.contains('/') {
                return Err(err("allowed_hosts", format!("{host:?} is not a host name")));
            }
            push_unique(&mut hosts, host);
        }
        for loopback in ["localhost", "127.0.0.1", "::1"] {
            push_unique(&mut hosts, loopback.to_owned());
        }
        hosts
    };

    let fa = file.auth;
    let issuer = cli
        .issuer
        .or(fa.issuer)
        .unwrap_or_else(|| "http://localhost:8080/realms/mcp".to_owned());
    Url::parse(&issuer).map_err(|e| err("auth.issuer", format!("{issuer:?} is not a URL: {e}")))?;
    let audiences = non_empty_or(cli.audiences, fa.audiences.unwrap_or_default());
    let audiences = if audiences.is_empty() {
        vec![resource.clone()]
    } else {
        audiences
    };
    let required_scopes = non_empty_or(cli.required_scopes, fa.required_scopes.unwrap_or_default());
    let required_scopes = if required_scopes.is_empty() {
        vec!["mcp:tools".to_owned()]
    } else {
        required_scopes
    };
    check_scopes("auth.required_scopes", &required_scopes)?;
    let tool_scopes = if !cli.tool_scopes.is_empty() {
        parse_tool_scopes(&cli.tool_scopes)?
    } else if let Some(map) = fa.tool_scopes {
        map
    } else {
        DEFAULT_WRITE_TOOLS
            .iter()
            .map(|tool| ((*tool).to_owned(), vec!["templates:write".to_owned()]))
            .collect()
    };
    for (tool, scopes) in &tool_scopes {
        check_tool("auth.tool_scopes", tool)?;
        check_scopes("auth.tool_scopes", scopes)?;
    }
    let verify_online_tools: BTreeSet<String> = if !cli.verify_online_tools.is_empty() {
        cli.verify_online_tools.into_iter().collect()
    } else {
        fa.verify_online_tools
            .unwrap_or_else(|| vec!["delete_template".to_owned()])
            .into_iter()
            .collect()
    };
    for tool in &verify_online_tools {
        check_tool("auth.verify_online_tools", tool)?;
    }
    let authorization_servers = fa
        .authorization_servers
        .unwrap_or_else(|| vec![issuer.clone()]);
    let algorithms = fa.algorithms.unwrap_or_else(|| {
        ["RS256", "PS256", "ES256", "EdDSA"]
            .map(str::to_owned)
            .to_vec()
    });
    if algorithms.is_empty() {
        return Err(err("auth.algorithms", "at least one algorithm is needed"));
    }
    for alg in &algorithms {
        if alg.eq_ignore_ascii_case("none") || alg.to_ascii_uppercase().starts_with("HS") {
            return Err(err(
                "auth.algorithms",
                format!("{alg} is refused: only asymmetric signature algorithms are allowed"),
            ));
        }
    }
    let mode = cli.auth_mode.or(fa.mode).unwrap_or_default();
    let auth = AuthSettings {
        mode,
        issuer: issuer.clone(),
        audiences,
        required_scopes,
        tool_scopes,
        verify_online_tools,
        authorization_servers,
        algorithms,
        leeway: Duration::from_secs(fa.leeway_secs.unwrap_or(60)),
        typ: fa.typ.unwrap_or_default(),
        max_token_bytes: positive(
            "auth.max_token_bytes",
            fa.max_token_bytes.unwrap_or(8 * 1024),
        )?,
        token_cache_entries: fa.token_cache_entries.unwrap_or(10_000),
        accept_azp_only: fa.accept_azp_only.unwrap_or(false),
    };

    let fj = file.jwks;
    let jwks_uri = cli
        .jwks_uri
        .or(fj.jwks_uri)
        .map(|uri| Url::parse(&uri).map_err(|e| err("jwks.jwks_uri", format!("{uri:?}: {e}"))))
        .transpose()?;
    let jwks = JwksSettings {
        jwks_uri,
        ttl: secs("jwks.ttl_secs", fj.ttl_secs.unwrap_or(300))?,
        refresh_ahead: Duration::from_secs(fj.refresh_ahead_secs.unwrap_or(30)),
        miss_cooldown: secs(
            "jwks.miss_cooldown_secs",
            fj.miss_cooldown_secs.unwrap_or(30),
        )?,
        outage_window: secs(
            "jwks.outage_window_secs",
            fj.outage_window_secs.unwrap_or(24 * 3600),
        )?,
        http_timeout: secs("jwks.http_timeout_secs", fj.http_timeout_secs.unwrap_or(5))?,
        max_body_bytes: positive(
            "jwks.max_body_bytes",
            fj.max_body_bytes.unwrap_or(256 * 1024),
        )?,
    };
    if jwks.refresh_ahead >= jwks.ttl {
        return Err(err(
            "jwks.refresh_ahead_secs",
            "must be shorter than jwks.ttl_secs",
        ));
    }

    let fi = file.introspection;
    let introspection = match cli.introspection_endpoint.or(fi.endpoint) {
        None => None,
        Some(endpoint) => {
            let endpoint = Url::parse(&endpoint)
                .map_err(|e| err("introspection.endpoint", format!("{endpoint:?}: {e}")))?;
            let client_id = cli
                .introspection_client_id
                .or(fi.client_id)
                .ok_or_else(|| {
                    err(
                        "introspection.client_id",
                        "required when introspection.endpoint is set",
                    )
                })?;
            let secret_file = cli
                .introspection_client_secret_file
                .or(fi.client_secret_file);
            let client_secret = match (env.introspection_client_secret, secret_file) {
                (Some(secret), _) => secret,
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
            Some(IntrospectionSettings {
                endpoint,
                client_id,
                client_secret,
                client_auth: fi.client_auth.unwrap_or_default(),
                positive_ttl: Duration::from_secs(fi.positive_ttl_secs.unwrap_or(60)),
                negative_ttl: Duration::from_secs(fi.negative_ttl_secs.unwrap_or(10)),
                timeout: secs("introspection.timeout_secs", fi.timeout_secs.unwrap_or(5))?,
                max_entries: positive(
                    "introspection.max_entries",
                    fi.max_entries.unwrap_or(10_000),
                )?,
            })
        }
    };
    if mode != AuthMode::Jwt && introspection.is_none() {
        return Err(err(
            "auth.mode",
            "this mode needs introspection.endpoint, introspection.client_id and a client secret",
        ));
    }

    if cli.dangerously_disable_auth_for_benchmarks && !env.allow_insecure_bench {
        return Err(err(
            "dangerously_disable_auth_for_benchmarks",
            format!("refused: also set {ENV_ALLOW_INSECURE_BENCH}=1 to run without authentication"),
        ));
    }

    Ok(Config {
        bind,
        public_url,
        path,
        resource,
        templates_dir,
        max_template_bytes,
        max_templates,
        session,
        log_format: cli.log_format.or(file.log_format).unwrap_or_default(),
        http,
        allowed_origins,
        allowed_hosts,
        auth,
        jwks,
        introspection,
        insecure_bench: cli.dangerously_disable_auth_for_benchmarks,
    })
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

fn parse_tool_scopes(entries: &[String]) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in entries {
        let (tool, scopes) = entry.split_once('=').ok_or_else(|| {
            err(
                "auth.tool_scopes",
                format!("{entry:?} must look like tool=scope[ scope…]"),
            )
        })?;
        let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        map.insert(tool.trim().to_owned(), scopes);
    }
    Ok(map)
}

fn check_tool(key: &'static str, tool: &str) -> Result<(), ConfigError> {
    if tool.parse::<crate::tool::Tool>().is_ok() {
        Ok(())
    } else {
        Err(err(
            key,
            format!(
                "unknown tool {tool:?}; tools are {}",
                crate::tool::Tool::names()
            ),
        ))
    }
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

fn non_empty_or(first: Vec<String>, second: Vec<String>) -> Vec<String> {
    if first.is_empty() { second } else { first }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests;
