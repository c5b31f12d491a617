//! The raw configuration layer: what the user wrote, before any check.
//!
//! [`Cli`] holds the flags and their `MCP_*` environment variables (clap),
//! [`FileConfig`] the TOML file (serde, unknown keys refused), and [`Env`] the
//! few variables clap does not own (the introspection secret, the benchmark
//! opt-in, `RUST_LOG`). Every value here is optional or as typed; defaults and
//! checks belong to the build step in the parent module, which starts from the
//! libraries' own constructors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use serde::Deserialize;

use auth::Secret;

/// Environment variable holding the introspection client secret.
pub const ENV_INTROSPECTION_CLIENT_SECRET: &str = "MCP_INTROSPECTION_CLIENT_SECRET";
/// Environment variable that must be `1` for the benchmark-only auth bypass.
pub const ENV_ALLOW_INSECURE_BENCH: &str = "MCP_ALLOW_INSECURE_BENCH";
/// Environment variable with the log filter (`tracing_subscriber` syntax).
pub const ENV_LOG_FILTER: &str = "RUST_LOG";
/// The PostgreSQL connection string of the `postgres` template store (a
/// secret: it may carry a password).
pub const ENV_STORE_POSTGRES_URL: &str = "MCP_STORE_POSTGRES_URL";
/// The `redis://` URL of the `redis` session backend (a secret: it may
/// carry a password).
pub const ENV_SESSIONS_REDIS_URL: &str = "MCP_SESSIONS_REDIS_URL";

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

    /// Where the templates live: `fs` (the templates directory) or `postgres` (shared by every replica; the connection string from MCP_STORE_POSTGRES_URL or store.postgres_url_file) [default: fs].
    #[arg(long, env = "MCP_STORE_BACKEND", value_name = "BACKEND", value_enum)]
    pub store_backend: Option<StoreBackendKind>,

    /// Serve statelessly: no MCP sessions, plain JSON responses [default: false].
    #[arg(long, env = "MCP_STATELESS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub stateless: Option<bool>,

    /// Where MCP sessions live: `memory` (this process) or `redis` (shared by every replica, so a session survives a change of replica; the URL from MCP_SESSIONS_REDIS_URL or sessions.redis_url_file) [default: memory].
    #[arg(long, env = "MCP_SESSIONS_BACKEND", value_name = "BACKEND", value_enum)]
    pub sessions_backend: Option<SessionsBackendKind>,

    /// Live MCP sessions one caller (issuer + subject) may hold; more are refused with 429 [default: 100].
    #[arg(long, env = "MCP_MAX_SESSIONS_PER_PRINCIPAL", value_name = "N")]
    pub max_sessions_per_principal: Option<usize>,

    /// Live MCP sessions in all; more are refused with 503 [default: 10000].
    #[arg(long, env = "MCP_MAX_SESSIONS", value_name = "N")]
    pub max_sessions: Option<usize>,

    /// Seconds an MCP session may idle before it is closed [default: 300].
    #[arg(long, env = "MCP_SESSION_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub session_idle_timeout_secs: Option<u64>,

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

    /// Allow plain-http issuer, JWKS and introspection URLs on non-loopback hosts (keys and secrets then travel unencrypted) [default: false].
    #[arg(long, env = "MCP_ALLOW_INSECURE_HTTP", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_insecure_http: Option<bool>,

    /// BENCHMARKS ONLY: accept every request without a token. Refused unless MCP_ALLOW_INSECURE_BENCH=1.
    #[arg(long)]
    pub dangerously_disable_auth_for_benchmarks: bool,
}

/// `mcp-file-templates templates import|export DIR`: copies every template
/// between a directory and the PostgreSQL store.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-file-templates templates",
    about = "Copy templates between a directory and the PostgreSQL store",
    after_help = "The connection string is read from MCP_STORE_POSTGRES_URL or from the file\n\
                  named by --postgres-url-file, never from a flag.\n\
                  Templates missing at the target are created, identical ones skipped;\n\
                  ones that differ are replaced only with --overwrite, else reported\n\
                  (exit status 1)."
)]
pub struct TemplatesCli {
    /// What to copy, and where.
    #[command(subcommand)]
    pub action: TemplatesAction,
    /// A file holding the PostgreSQL connection string.
    #[arg(long, global = true, value_name = "PATH")]
    pub postgres_url_file: Option<PathBuf>,
    /// Replace templates that differ at the target.
    #[arg(long, global = true)]
    pub overwrite: bool,
}

/// The direction of `templates`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TemplatesAction {
    /// Directory → database: seed the store from `templates/`.
    Import {
        /// The directory holding `<name>.md` files.
        dir: PathBuf,
    },
    /// Database → directory (created if missing).
    Export {
        /// The directory to write `<name>.md` files into.
        dir: PathBuf,
    },
}

/// Which template store backend (`store.backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackendKind {
    /// The templates directory (`templates_dir`).
    #[default]
    Fs,
    /// A PostgreSQL database shared by every replica.
    Postgres,
}

/// Which session backend (`sessions.backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SessionsBackendKind {
    /// This process's memory.
    #[default]
    Memory,
    /// Redis, shared by every replica.
    Redis,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Local JWT validation against the cached JWKS only (the default).
    Jwt,
    /// Local JWT validation; tokens that are not JWTs go to introspection.
    JwtThenIntrospection,
    /// Every token is introspected (cached).
    Introspection,
}

/// How the server authenticates to the introspection endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    Basic,
    /// Form parameters (`client_secret_post`).
    Post,
}

/// The `typ` header policy (maps to `auth::TypPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypPolicy {
    /// `JWT`, `at+jwt` or absent (what Keycloak issues by default).
    Lenient,
    /// RFC 9068 §2.1: `at+jwt` only.
    Rfc9068,
}

/// The TOML file, as written. Every field is optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub(super) bind: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) path: Option<String>,
    pub(super) templates_dir: Option<PathBuf>,
    pub(super) stateless: Option<bool>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) allowed_origins: Option<Vec<String>>,
    pub(super) allowed_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub(super) limits: FileLimits,
    #[serde(default)]
    pub(super) auth: FileAuth,
    #[serde(default)]
    pub(super) jwks: FileJwks,
    #[serde(default)]
    pub(super) introspection: FileIntrospection,
    #[serde(default)]
    pub(super) sessions: FileSessions,
    #[serde(default)]
    pub(super) store: FileStore,
}

/// `[store]`. The PostgreSQL connection string is a secret: it comes from
/// `MCP_STORE_POSTGRES_URL` or the file `postgres_url_file` names, never
/// from this file itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileStore {
    pub(super) backend: Option<StoreBackendKind>,
    pub(super) postgres_url_file: Option<PathBuf>,
    pub(super) resync_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSessions {
    pub(super) backend: Option<SessionsBackendKind>,
    pub(super) redis_url_file: Option<PathBuf>,
    pub(super) max_per_principal: Option<usize>,
    pub(super) max_total: Option<usize>,
    pub(super) idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLimits {
    pub(super) body_limit_bytes: Option<usize>,
    pub(super) request_timeout_secs: Option<u64>,
    pub(super) concurrency_limit: Option<usize>,
    pub(super) max_template_bytes: Option<usize>,
    pub(super) max_templates: Option<usize>,
    pub(super) index_refresh_secs: Option<u64>,
    pub(super) max_blocking_ops: Option<usize>,
    pub(super) blocking_wait_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAuth {
    pub(super) mode: Option<AuthMode>,
    pub(super) issuer: Option<String>,
    pub(super) audiences: Option<Vec<String>>,
    pub(super) required_scopes: Option<Vec<String>>,
    pub(super) tool_scopes: Option<BTreeMap<String, Vec<String>>>,
    pub(super) verify_online_tools: Option<Vec<String>>,
    pub(super) authorization_servers: Option<Vec<String>>,
    pub(super) algorithms: Option<Vec<String>>,
    pub(super) leeway_secs: Option<u64>,
    pub(super) typ: Option<TypPolicy>,
    pub(super) max_token_bytes: Option<usize>,
    pub(super) token_cache_entries: Option<usize>,
    pub(super) accept_azp_only: Option<bool>,
    pub(super) allow_insecure_http: Option<bool>,
    /// The identity provider's token shape (`auth::Profile`) of `issuer`.
    pub(super) profile: Option<String>,
    /// Several trusted issuers; exclusive with `issuer`.
    pub(super) issuers: Option<Vec<FileIssuer>>,
}

/// One `[[auth.issuers]]` entry. Unset keys fall back to the `[auth]` ones
/// (audiences, algorithms, typ, leeway, accept_azp_only).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileIssuer {
    pub(super) issuer: Option<String>,
    pub(super) profile: Option<String>,
    pub(super) jwks_uri: Option<String>,
    pub(super) audiences: Option<Vec<String>>,
    pub(super) algorithms: Option<Vec<String>>,
    pub(super) typ: Option<TypPolicy>,
    pub(super) leeway_secs: Option<u64>,
    pub(super) accept_azp_only: Option<bool>,
    pub(super) tenants: Option<Vec<String>>,
    pub(super) role_scopes: Option<BTreeMap<String, Vec<String>>>,
    pub(super) introspection: Option<FileIntrospection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileJwks {
    pub(super) jwks_uri: Option<String>,
    pub(super) ttl_secs: Option<u64>,
    pub(super) refresh_ahead_secs: Option<u64>,
    pub(super) miss_cooldown_secs: Option<u64>,
    pub(super) outage_window_secs: Option<u64>,
    pub(super) http_timeout_secs: Option<u64>,
    pub(super) max_body_bytes: Option<usize>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileIntrospection {
    pub(super) endpoint: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret_file: Option<PathBuf>,
    pub(super) client_auth: Option<ClientAuth>,
    pub(super) positive_ttl_secs: Option<u64>,
    pub(super) negative_ttl_secs: Option<u64>,
    pub(super) timeout_secs: Option<u64>,
    pub(super) max_entries: Option<usize>,
    pub(super) calls_per_sec: Option<u32>,
    pub(super) burst: Option<u32>,
}

/// Values taken from the process environment outside clap.
#[derive(Debug, Default)]
pub struct Env {
    /// `MCP_INTROSPECTION_CLIENT_SECRET`.
    pub introspection_client_secret: Option<Secret>,
    /// `MCP_ALLOW_INSECURE_BENCH == "1"`.
    pub allow_insecure_bench: bool,
    /// `RUST_LOG`, when set.
    pub log_filter: Option<String>,
    /// `MCP_STORE_POSTGRES_URL`.
    pub store_postgres_url: Option<Secret>,
    /// `MCP_SESSIONS_REDIS_URL`.
    pub sessions_redis_url: Option<Secret>,
}

impl Env {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Self {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
        Self {
            introspection_client_secret: non_empty(ENV_INTROSPECTION_CLIENT_SECRET)
                .map(Secret::new),
            allow_insecure_bench: std::env::var(ENV_ALLOW_INSECURE_BENCH).as_deref() == Ok("1"),
            log_filter: non_empty(ENV_LOG_FILTER),
            store_postgres_url: non_empty(ENV_STORE_POSTGRES_URL).map(Secret::new),
            sessions_redis_url: non_empty(ENV_SESSIONS_REDIS_URL).map(Secret::new),
        }
    }
}
