//! Unit tests for configuration merging and validation.

use std::path::Path;

use clap::Parser;

use super::*;
use crate::tool::Tool;

fn cli(args: &[&str]) -> Cli {
    let mut argv = vec!["mcp-file-templates"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => panic!("flags did not parse: {e}"),
    }
}

fn check(args: &[&str], toml: &str) -> Result<Config, ConfigError> {
    let file = match parse_file(toml) {
        Ok(file) => file,
        Err(e) => panic!("toml did not parse: {e}"),
    };
    build(cli(args), file, Env::default(), Path::new("/srv/app"))
}

#[track_caller]
fn check_ok(args: &[&str], toml: &str) -> Config {
    match check(args, toml) {
        Ok(config) => config,
        Err(e) => panic!("config rejected: {e}"),
    }
}

#[track_caller]
fn check_err(args: &[&str], toml: &str, key: &str) -> String {
    match check(args, toml) {
        Ok(config) => panic!("config accepted: {config:?}"),
        Err(e) => {
            assert_eq!(e.key, key, "wrong key in {e}");
            e.to_string()
        }
    }
}

#[test]
fn defaults_match_the_python_walkthrough() {
    let config = check_ok(&[], "");
    assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(config.public_url.as_str(), "http://localhost:8000/");
    assert_eq!(config.path, "/mcp");
    assert_eq!(config.resource(), "http://localhost:8000/mcp");
    assert_eq!(
        config.auth.issuers[0].validation.issuer,
        "http://localhost:8080/realms/mcp"
    );
    assert_eq!(
        config.auth.issuers[0].validation.audiences,
        vec!["http://localhost:8000/mcp"]
    );
    assert_eq!(config.policy.base(), ["mcp:tools"]);
    assert_eq!(config.auth.issuers[0].mode.kind(), auth::ModeKind::Jwt);
    assert_eq!(
        config.policy.required_for(Some(Tool::SaveTemplate)),
        vec!["mcp:tools", "templates:write"]
    );
    assert_eq!(
        config.policy.required_for(Some(Tool::DeleteTemplate)),
        vec!["mcp:tools", "templates:write"]
    );
    assert_eq!(
        config.policy.required_for(Some(Tool::RenderTemplate)),
        vec!["mcp:tools"]
    );
    assert!(config.policy.verify_online(Tool::DeleteTemplate));
    assert_eq!(config.store.dir, Path::new("/srv/app/templates"));
    assert_eq!(
        config.session,
        SessionMode::Stateful(SessionLimits::default())
    );
    assert_eq!(config.log.format, LogFormat::Pretty);
    assert!(config.auth.issuers[0].mode.introspection().is_none());
    assert!(!config.insecure_bench);
}

#[test]
fn flags_override_the_file() {
    let config = check_ok(
        &["--public-url", "https://mcp.example.com", "--stateless"],
        "public_url = \"http://other:9000\"\nstateless = false\npath = \"/api/mcp/\"",
    );
    assert_eq!(config.resource(), "https://mcp.example.com/api/mcp");
    assert_eq!(config.session, SessionMode::Stateless);
}

#[test]
fn resource_drops_the_default_port() {
    let config = check_ok(&["--public-url", "https://mcp.example.com:443"], "");
    assert_eq!(config.resource(), "https://mcp.example.com/mcp");
}

#[test]
fn allowed_origins_and_hosts_derive_from_the_public_url_plus_loopback() {
    let config = check_ok(
        &["--public-url", "https://mcp.example.com:8443"],
        "allowed_origins = [\"https://app.example.com\"]",
    );
    assert_eq!(
        config.allowed_origins,
        vec![
            "https://mcp.example.com:8443",
            "https://app.example.com",
            "http://localhost:*",
            "http://127.0.0.1:*",
            "http://[::1]:*",
        ]
    );
    assert_eq!(
        config.allowed_hosts,
        vec!["mcp.example.com", "localhost", "127.0.0.1", "::1"]
    );
}

#[test]
fn tool_scopes_flag_replaces_the_default_map() {
    let config = check_ok(
        &["--tool-scope", "save_template=templates:write audit:log"],
        "",
    );
    assert_eq!(
        config.policy.required_for(Some(Tool::SaveTemplate)),
        vec!["mcp:tools", "templates:write", "audit:log"]
    );
    assert_eq!(
        config.policy.required_for(Some(Tool::DeleteTemplate)),
        vec!["mcp:tools"]
    );
}

#[test]
fn file_sections_reach_the_typed_config() {
    let config = check_ok(
        &[],
        r#"
[limits]
body_limit_bytes = 2048
request_timeout_secs = 5
concurrency_limit = 7
[auth]
leeway_secs = 10
typ = "rfc9068"
[auth.tool_scopes]
render_template = ["templates:read"]
[jwks]
jwks_uri = "https://idp.example.com/certs"
ttl_secs = 600
"#,
    );
    assert_eq!(config.http.body_limit_bytes, 2048);
    assert_eq!(config.http.request_timeout, Duration::from_secs(5));
    assert_eq!(config.http.concurrency_limit, 7);
    assert_eq!(
        config.auth.issuers[0].validation.leeway,
        Duration::from_secs(10)
    );
    assert_eq!(
        config.auth.issuers[0].validation.typ,
        auth::TypPolicy::Rfc9068Strict
    );
    assert_eq!(
        config.policy.required_for(Some(Tool::RenderTemplate)),
        vec!["mcp:tools", "templates:read"]
    );
    assert_eq!(
        match &config.auth.issuers[0].jwks.source {
            jwks::Source::JwksUri(uri) => Some(uri.as_str()),
            jwks::Source::Discovery { .. } => None,
        },
        Some("https://idp.example.com/certs")
    );
    assert_eq!(config.auth.issuers[0].jwks.ttl, Duration::from_secs(600));
}

#[test]
fn store_limits_reach_the_store_config() {
    let config = check_ok(&[], "");
    assert_eq!(config.store.limits, StoreLimits::default());
    assert_eq!(
        config.store.index_refresh,
        crate::deps::DEFAULT_INDEX_REFRESH
    );
    assert_eq!(
        config.store.offload,
        crate::mcp::OffloadLimits::for_this_machine()
    );

    let config = check_ok(
        &[],
        r#"
[limits]
max_template_bytes = 4096
max_templates = 50
index_refresh_secs = 60
max_blocking_ops = 3
blocking_wait_ms = 250
"#,
    );
    assert_eq!(config.store.limits.max_template_bytes, 4096);
    assert_eq!(config.store.limits.max_templates, 50);
    assert_eq!(config.store.index_refresh, Duration::from_secs(60));
    assert_eq!(config.store.offload.max_concurrent, 3);
    assert_eq!(config.store.offload.max_wait, Duration::from_millis(250));

    for key in [
        "max_template_bytes",
        "max_templates",
        "index_refresh_secs",
        "max_blocking_ops",
        "blocking_wait_ms",
    ] {
        let message = check_err(
            &[],
            &format!("[limits]\n{key} = 0"),
            &format!("limits.{key}"),
        );
        assert!(message.ends_with("must be greater than 0"), "{message}");
    }
    let message = check_err(
        &[],
        "[limits]\nmax_blocking_ops = 513",
        "limits.max_blocking_ops",
    );
    assert!(
        message.ends_with("must be at most 512 (the blocking thread pool)"),
        "{message}"
    );
}

#[test]
fn errors_name_the_key() {
    check_err(&["--bind", "nope"], "", "bind");
    check_err(&["--public-url", "ftp://x"], "", "public_url");
    check_err(&["--public-url", "http://x/mcp"], "", "public_url");
    check_err(&["--path", "mcp"], "", "path");
    check_err(&["--body-limit-bytes", "0"], "", "limits.body_limit_bytes");
    check_err(&["--tool-scope", "frobnicate=x"], "", "auth.tool_scopes");
    check_err(&["--tool-scope", "save_template"], "", "auth.tool_scopes");
    check_err(
        &["--required-scope", "bad\"scope"],
        "",
        "auth.required_scopes",
    );
    check_err(&[], "[auth]\nalgorithms = [\"HS256\"]", "auth.algorithms");
    check_err(
        &[],
        "[jwks]\nttl_secs = 10\nrefresh_ahead_secs = 30",
        "jwks",
    );
    check_err(&["--auth-mode", "introspection"], "", "auth.mode");
    check_err(
        &["--allowed-origin", "https://x/path"],
        "",
        "allowed_origins",
    );
}

#[test]
fn unknown_file_keys_are_rejected() {
    let result = parse_file("bnid = \"127.0.0.1:1\"");
    assert!(result.is_err());
}

#[test]
fn introspection_needs_a_secret_from_env_or_file() {
    let message = check_err(
        &[
            "--introspection-endpoint",
            "http://127.0.0.1:1/introspect",
            "--introspection-client-id",
            "mcp-server",
        ],
        "",
        "introspection.client_secret_file",
    );
    assert!(message.contains(ENV_INTROSPECTION_CLIENT_SECRET));

    let env = Env {
        introspection_client_secret: Some(Secret::new("s3cret-value")),
        allow_insecure_bench: false,
        log_filter: None,
        store_postgres_url: None,
        sessions_redis_url: None,
    };
    let config = build(
        cli(&[
            "--introspection-endpoint",
            "http://127.0.0.1:1/introspect",
            "--introspection-client-id",
            "mcp-server",
        ]),
        FileConfig::default(),
        env,
        Path::new("/"),
    );
    let config = match config {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    };
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret-value"), "secret leaked into Debug");
    assert!(debug.contains("<redacted>"));
}

#[test]
fn secret_file_is_read_and_trimmed() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    let path = dir.path().join("secret");
    if let Err(e) = std::fs::write(&path, "from-file\n") {
        panic!("{e}");
    }
    let toml = format!(
        "[introspection]\nendpoint = \"http://127.0.0.1:1/i\"\nclient_id = \"c\"\nclient_secret_file = {:?}",
        path.display().to_string()
    );
    let config = check_ok(&[], &toml);
    let secret = config.auth.issuers[0]
        .mode
        .introspection()
        .map(|i| i.client_secret.expose().to_owned());
    assert_eq!(secret.as_deref(), Some("from-file"));
}

#[test]
fn introspection_rate_limit_defaults_from_auth_and_zero_is_refused() {
    let build_with = |extra: &str| {
        let toml = format!(
            "[introspection]\nendpoint = \"http://127.0.0.1:1/i\"\nclient_id = \"c\"\n{extra}"
        );
        let file = match parse_file(&toml) {
            Ok(file) => file,
            Err(e) => panic!("toml did not parse: {e}"),
        };
        let env = Env {
            introspection_client_secret: Some(Secret::new("s")),
            allow_insecure_bench: false,
            log_filter: None,
            store_postgres_url: None,
            sessions_redis_url: None,
        };
        build(cli(&[]), file, env, Path::new("/"))
    };
    let limits = |extra: &str| match build_with(extra) {
        Ok(config) => config.auth.issuers[0]
            .mode
            .introspection()
            .map(|i| (i.calls_per_sec.get(), i.burst.get())),
        Err(e) => panic!("config rejected: {e}"),
    };
    assert_eq!(
        limits(""),
        Some((
            auth::IntrospectionConfig::DEFAULT_CALLS_PER_SEC.get(),
            auth::IntrospectionConfig::DEFAULT_BURST.get()
        ))
    );
    assert_eq!(limits("calls_per_sec = 5\nburst = 7"), Some((5, 7)));
    for (extra, key) in [
        ("calls_per_sec = 0", "introspection.calls_per_sec"),
        ("burst = 0", "introspection.burst"),
    ] {
        match build_with(extra) {
            Ok(config) => panic!("config accepted: {config:?}"),
            Err(e) => assert_eq!(e.key, key, "wrong key in {e}"),
        }
    }
}

#[test]
fn insecure_bench_switch_needs_the_env_opt_in() {
    check_err(
        &["--dangerously-disable-auth-for-benchmarks"],
        "",
        "dangerously_disable_auth_for_benchmarks",
    );
    let env = Env {
        introspection_client_secret: None,
        allow_insecure_bench: true,
        log_filter: None,
        store_postgres_url: None,
        sessions_redis_url: None,
    };
    let config = build(
        cli(&["--dangerously-disable-auth-for-benchmarks"]),
        FileConfig::default(),
        env,
        Path::new("/"),
    );
    assert!(matches!(config, Ok(c) if c.insecure_bench));
}

#[test]
fn help_lists_every_flag() {
    use clap::CommandFactory;
    let help = Cli::command().render_long_help().to_string();
    for flag in [
        "--config",
        "--bind",
        "--public-url",
        "--path",
        "--templates-dir",
        "--stateless",
        "--log-format",
        "--allowed-origin",
        "--allowed-host",
        "--body-limit-bytes",
        "--request-timeout-secs",
        "--concurrency-limit",
        "--auth-mode",
        "--issuer",
        "--audience",
        "--required-scope",
        "--tool-scope",
        "--verify-online-tool",
        "--jwks-uri",
        "--introspection-endpoint",
        "--introspection-client-id",
        "--introspection-client-secret-file",
        "--dangerously-disable-auth-for-benchmarks",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    Cli::command().debug_assert();
}

#[test]
fn session_limits_come_from_flags_then_file() {
    let config = check_ok(
        &["--max-sessions-per-principal", "3"],
        "[sessions]\nmax_per_principal = 7\nmax_total = 50\nidle_timeout_secs = 60",
    );
    assert_eq!(
        config.session,
        SessionMode::Stateful(SessionLimits {
            max_per_owner: 3,
            max_total: 50,
            idle_timeout: Duration::from_secs(60),
        })
    );
    check_err(&["--max-sessions", "0"], "", "sessions.max_total");
    check_err(
        &[],
        "[sessions]\nidle_timeout_secs = 0",
        "sessions.idle_timeout_secs",
    );
    check_err(
        &[],
        "[sessions]\nmax_per_principal = 0",
        "sessions.max_per_principal",
    );
    let unknown = parse_file("[sessions]\nmax = 1");
    assert!(unknown.is_err(), "unknown keys in [sessions] are refused");
}

/// Issue 11 item 6: the IdP is reached over https unless it is on loopback
/// or `allow_insecure_http` says otherwise, for keys and introspection alike.
#[test]
fn plain_http_to_a_remote_idp_needs_allow_insecure_http() {
    let remote = ["--issuer", "http://keycloak:8080/realms/mcp"];
    let message = check_err(&remote, "", "jwks");
    assert!(message.contains("https"), "{message}");
    let config = check_ok(&remote, "[auth]\nallow_insecure_http = true");
    assert!(config.auth.issuers[0].jwks.allow_insecure_http);

    let introspecting = [
        "--issuer",
        "http://keycloak:8080/realms/mcp",
        "--allow-insecure-http",
        "--introspection-endpoint",
        "http://keycloak:8080/realms/mcp/protocol/openid-connect/token/introspect",
        "--introspection-client-id",
        "mcp-server",
    ];
    let env = Env {
        introspection_client_secret: Some(Secret::new("s")),
        ..Env::default()
    };
    let config = build(
        cli(&introspecting),
        FileConfig::default(),
        env,
        Path::new("/"),
    )
    .expect("allowed explicitly");
    let introspection = config.auth.issuers[0]
        .mode
        .introspection()
        .expect("configured");
    assert!(introspection.allow_insecure_http);
    // Loopback needs no opt-in (the dev setup).
    let local = check_ok(&["--issuer", "http://127.0.0.1:8080/realms/mcp"], "");
    assert!(!local.auth.issuers[0].jwks.allow_insecure_http);
}

const TWO_ISSUERS: &str = r#"
[auth]
audiences = ["https://mcp.example.com/mcp"]
algorithms = ["RS256"]

[[auth.issuers]]
issuer = "http://localhost:8080/realms/mcp"
profile = "keycloak"

[[auth.issuers]]
issuer = "https://login.microsoftonline.com/{tenantid}/v2.0"
profile = "entra"
tenants = ["72f988bf-86f1-41af-91ab-2d7cd011db47", "f8cdef31-a31e-4b4a-93e4-5f571e91255a"]
jwks_uri = "https://login.microsoftonline.com/common/discovery/v2.0/keys"
audiences = ["6e74172b-be56-4843-9ff4-e66a39bb12e3"]
role_scopes = { "Templates.Write" = ["templates:write"] }
"#;

#[test]
fn several_issuers_each_with_their_profile_and_inherited_keys() {
    let config = check_ok(&[], TWO_ISSUERS);
    let [keycloak, entra] = &config.auth.issuers[..] else {
        panic!("two issuers expected: {:?}", config.auth.issuers);
    };
    assert_eq!(keycloak.validation.profile, auth::Profile::Keycloak);
    assert_eq!(
        keycloak.validation.audiences,
        ["https://mcp.example.com/mcp"]
    );
    assert_eq!(keycloak.validation.algorithms, [auth::Algorithm::RS256]);
    assert!(matches!(
        keycloak.jwks.source,
        jwks::Source::Discovery { .. }
    ));
    assert_eq!(entra.validation.profile, auth::Profile::Entra);
    assert_eq!(
        entra.validation.audiences,
        ["6e74172b-be56-4843-9ff4-e66a39bb12e3"]
    );
    assert_eq!(
        entra.validation.role_scopes,
        [(
            "Templates.Write".to_owned(),
            vec!["templates:write".to_owned()]
        )]
    );
    // RFC 9728: every issuer a client may get a token from, tenants expanded.
    assert_eq!(
        config.metadata.authorization_servers,
        [
            "http://localhost:8080/realms/mcp",
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0",
        ]
    );
}

#[test]
fn several_issuers_errors_name_the_entry_and_key() {
    let both = format!("[auth]\nissuer = \"http://localhost:8080/realms/mcp\"\n{TWO_ISSUERS}");
    // `[auth]` twice is a TOML error; put the single issuer in the table.
    let both = both.replacen("[auth]\naudiences", "audiences", 1);
    check_err(&[], &both, "auth.issuers");
    check_err(
        &["--issuer", "http://localhost:8080/realms/mcp"],
        TWO_ISSUERS,
        "auth.issuers",
    );
    let bad_profile = TWO_ISSUERS.replace("profile = \"entra\"", "profile = \"azure\"");
    let e = check_err(&[], &bad_profile, "auth.issuers[1].profile");
    assert!(e.contains("unknown profile \"azure\""), "{e}");
    let no_keys = TWO_ISSUERS.replace(
        "jwks_uri = \"https://login.microsoftonline.com/common/discovery/v2.0/keys\"\n",
        "",
    );
    check_err(&[], &no_keys, "auth.issuers[1].jwks_uri");
    let bad_tenant = TWO_ISSUERS.replace("f8cdef31-a31e-4b4a-93e4-5f571e91255a", "common");
    check_err(&[], &bad_tenant, "auth.issuers[1].tenants");
    let twice = TWO_ISSUERS.replace(
        "https://login.microsoftonline.com/{tenantid}/v2.0\"\nprofile = \"entra\"",
        "http://localhost:8080/realms/mcp\"\nprofile = \"keycloak\"",
    );
    let twice = twice
        .lines()
        .filter(|l| !l.starts_with("tenants") && !l.starts_with("role_scopes"))
        .collect::<Vec<_>>()
        .join("\n");
    check_err(&[], &twice, "auth.issuers[1].issuer");
    let auth0 = "[[auth.issuers]]\nissuer = \"https://tenant.auth0.com\"\nprofile = \"auth0\"\n";
    let e = check_err(&[], auth0, "auth.issuers[0].issuer");
    assert!(e.contains("end with '/'"), "{e}");
    let introspection_mode = format!("[auth]\nmode = \"introspection\"\n{}", &TWO_ISSUERS[8..]);
    check_err(&[], &introspection_mode, "auth.mode");
    check_err(&[], "[auth]\nissuers = []\n", "auth.issuers");
    let single_jwks = format!("{TWO_ISSUERS}\n[jwks]\njwks_uri = \"http://127.0.0.1:1/certs\"\n");
    check_err(&[], &single_jwks, "jwks.jwks_uri");
}

#[test]
fn single_issuer_form_takes_a_profile() {
    let config = check_ok(&[], "[auth]\nprofile = \"keycloak\"\n");
    assert_eq!(config.auth.issuers.len(), 1);
    assert_eq!(
        config.auth.issuers[0].validation.profile,
        auth::Profile::Keycloak
    );
    check_err(&[], "[auth]\nprofile = \"nope\"\n", "auth.profile");
}

/// Every TOML block of `docs/identity-providers.md` is a configuration this
/// server accepts (secret files aside: those paths exist only on a host).
#[test]
fn identity_provider_doc_examples_build() {
    let doc = include_str!("../../../../docs/identity-providers.md");
    let mut blocks = 0;
    let mut rest = doc;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").expect("closed block");
        let toml = &body[..end];
        rest = &body[end + 3..];
        blocks += 1;
        match check(&[], toml) {
            Ok(_) => {}
            Err(e) if e.key.ends_with("client_secret_file") => {}
            Err(e) => panic!("docs/identity-providers.md block {blocks}: {e}\n{toml}"),
        }
    }
    assert!(blocks >= 5, "only {blocks} toml blocks found");
}

/// `store.backend`: `fs` by default; `postgres` takes its connection string
/// from exactly one of `MCP_STORE_POSTGRES_URL` and `store.postgres_url_file`
/// (never a flag or the file itself), and every mistake names its key.
#[test]
fn store_backend_and_its_secret_connection_string() {
    assert!(matches!(check_ok(&[], "").store.backend, StoreBackend::Fs));
    let message = check_err(&["--store-backend", "postgres"], "", "store.postgres_url");
    assert!(message.contains(ENV_STORE_POSTGRES_URL), "{message}");
    check_err(&[], "[store]\nbackend = \"postgres\"", "store.postgres_url");
    check_err(
        &[],
        "[store]\npostgres_url_file = \"/run/secrets/pg\"",
        "store.postgres_url_file",
    );
    check_err(&[], "[store]\nresync_secs = 5", "store.resync_secs");
    assert!(parse_file("[store]\npostgres_url = \"postgres://u:p@h/db\"").is_err());

    let env = |url: &str| Env {
        store_postgres_url: Some(Secret::new(url)),
        ..Env::default()
    };
    let config = build(
        cli(&["--store-backend", "postgres"]),
        FileConfig::default(),
        env("postgresql://mcp:pg-s3cret@db/mcp"),
        Path::new("/"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    match &config.store.backend {
        StoreBackend::Postgres { url, resync } => {
            assert_eq!(url.expose(), "postgresql://mcp:pg-s3cret@db/mcp");
            assert_eq!(*resync, DEFAULT_STORE_RESYNC);
        }
        StoreBackend::Fs => panic!("expected postgres"),
    }
    assert!(
        !format!("{config:?}").contains("pg-s3cret"),
        "secret in Debug"
    );

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("pg-url");
    std::fs::write(&path, "host=db user=mcp\n").unwrap_or_else(|e| panic!("{e}"));
    let toml = format!(
        "[store]\nbackend = \"postgres\"\npostgres_url_file = {:?}\nresync_secs = 5",
        path.display().to_string()
    );
    match check_ok(&[], &toml).store.backend {
        StoreBackend::Postgres { url, resync } => {
            assert_eq!(url.expose(), "host=db user=mcp");
            assert_eq!(resync, Duration::from_secs(5));
        }
        StoreBackend::Fs => panic!("expected postgres"),
    }
    let file = parse_file(&toml).unwrap_or_else(|e| panic!("{e}"));
    let both = build(cli(&[]), file, env("host=x"), Path::new("/"));
    assert!(matches!(both, Err(e) if e.key == "store.postgres_url_file"));
    check_err(
        &[],
        "[store]\nbackend = \"postgres\"\npostgres_url_file = \"/nonexistent/pg-url\"",
        "store.postgres_url_file",
    );
}

/// `sessions.backend`: `memory` by default; `redis` takes its URL from
/// exactly one of `MCP_SESSIONS_REDIS_URL` and `sessions.redis_url_file`,
/// needs stateful mode (stateless keeps no sessions), and every mistake
/// names its key.
#[test]
fn sessions_backend_and_its_secret_url() {
    assert!(matches!(
        check_ok(&[], "").sessions_backend,
        SessionsBackend::Memory
    ));
    let message = check_err(&["--sessions-backend", "redis"], "", "sessions.redis_url");
    assert!(message.contains(ENV_SESSIONS_REDIS_URL), "{message}");
    check_err(&[], "[sessions]\nbackend = \"redis\"", "sessions.redis_url");
    check_err(
        &[],
        "[sessions]\nredis_url_file = \"/run/secrets/redis\"",
        "sessions.redis_url_file",
    );
    assert!(parse_file("[sessions]\nredis_url = \"redis://:p@h\"").is_err());

    let env = |url: &str| Env {
        sessions_redis_url: Some(Secret::new(url)),
        ..Env::default()
    };
    let stateless = build(
        cli(&["--sessions-backend", "redis", "--stateless"]),
        FileConfig::default(),
        env("redis://h"),
        Path::new("/"),
    );
    assert!(matches!(stateless, Err(e) if e.key == "sessions.backend"));

    let config = build(
        cli(&["--sessions-backend", "redis"]),
        FileConfig::default(),
        env("redis://:r3dis-s3cret@cache:6379/2"),
        Path::new("/"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    match &config.sessions_backend {
        SessionsBackend::Redis { url } => {
            assert_eq!(url.expose(), "redis://:r3dis-s3cret@cache:6379/2");
        }
        SessionsBackend::Memory => panic!("expected redis"),
    }
    assert!(
        !format!("{config:?}").contains("r3dis-s3cret"),
        "secret in Debug"
    );

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("redis-url");
    std::fs::write(&path, "redis://cache\n").unwrap_or_else(|e| panic!("{e}"));
    let toml = format!(
        "[sessions]\nbackend = \"redis\"\nredis_url_file = {:?}",
        path.display().to_string()
    );
    match check_ok(&[], &toml).sessions_backend {
        SessionsBackend::Redis { url } => assert_eq!(url.expose(), "redis://cache"),
        SessionsBackend::Memory => panic!("expected redis"),
    }
    let file = parse_file(&toml).unwrap_or_else(|e| panic!("{e}"));
    let both = build(cli(&[]), file, env("redis://x"), Path::new("/"));
    assert!(matches!(both, Err(e) if e.key == "sessions.redis_url_file"));
}
