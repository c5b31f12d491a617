//! Builds the runtime dependencies from the validated [`Config`]: the template
//! store, the JWKS cache (and its background refresher) and the token
//! validator. This is the one place that turns server configuration into the
//! library crates' own config structs (`jwks::Config`,
//! `auth::ValidationConfig`, `auth::IntrospectionConfig`,
//! `auth::TokenCacheConfig`).

use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::app::{AppDeps, Authentication};
use crate::config::{self, Config};
use templates::{FsStore, StoreLimits};

/// Everything `main` has to keep alive while serving.
pub struct Runtime {
    /// What `build_app` takes.
    pub app: AppDeps,
    /// Aborts the JWKS background refresh when dropped.
    pub refresher: Option<jwks::RefresherHandle>,
}

/// Opens the store and, unless authentication is disabled for benchmarks,
/// builds the JWKS cache and validator and starts the background refresh.
/// Must run inside a Tokio runtime (the refresher is a task).
pub fn build(config: &Config, shutdown: CancellationToken) -> anyhow::Result<Runtime> {
    let store = FsStore::open(
        config.templates_dir.clone(),
        StoreLimits {
            max_template_bytes: config.max_template_bytes,
            max_templates: config.max_templates,
        },
    )
    .with_context(|| format!("open template store {}", config.templates_dir.display()))?;
    for skipped in store.skipped() {
        tracing::warn!(?skipped, "template file skipped");
    }

    if config.insecure_bench {
        return Ok(Runtime {
            app: AppDeps {
                store: Arc::new(store),
                auth: Authentication::DangerouslyDisabledForBenchmarks,
                shutdown,
            },
            refresher: None,
        });
    }

    let validator = validator(config)?;
    let refresher =
        (validator.mode() != auth::ModeKind::Introspection).then(|| validator.jwks().spawn_refresher());
    Ok(Runtime {
        app: AppDeps {
            store: Arc::new(store),
            auth: Authentication::Validator(Arc::new(validator)),
            shutdown,
        },
        refresher,
    })
}

/// Builds the validator (no I/O).
pub fn validator(config: &Config) -> anyhow::Result<auth::Validator> {
    let settings = &config.auth;
    let source = match &config.jwks.jwks_uri {
        Some(uri) => jwks::Source::JwksUri(uri.clone()),
        None => jwks::Source::Discovery {
            issuer: url::Url::parse(&settings.issuer).context("auth.issuer")?,
        },
    };
    let mut jwks_config = jwks::Config::new(source);
    jwks_config.ttl = config.jwks.ttl;
    jwks_config.refresh_ahead = config.jwks.refresh_ahead;
    jwks_config.miss_cooldown = config.jwks.miss_cooldown;
    jwks_config.outage_window = config.jwks.outage_window;
    jwks_config.http_timeout = config.jwks.http_timeout;
    jwks_config.max_body_bytes = config.jwks.max_body_bytes;
    let cache = jwks::JwksCache::new(jwks_config).context("jwks cache")?;

    let mut validation =
        auth::ValidationConfig::new(settings.issuer.clone(), settings.audiences.clone())
            .context("auth")?;
    validation.algorithms = settings
        .algorithms
        .iter()
        .map(|a| {
            auth::Algorithm::from_str(a)
                .map_err(|_| anyhow::anyhow!("auth.algorithms: unknown algorithm {a:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    validation.leeway = settings.leeway;
    validation.typ = match settings.typ {
        config::TypPolicy::Lenient => auth::TypPolicy::Lenient,
        config::TypPolicy::Rfc9068 => auth::TypPolicy::Rfc9068Strict,
    };
    validation.max_token_bytes = settings.max_token_bytes;
    validation.accept_azp_only = settings.accept_azp_only;

    let introspection = config.introspection.as_ref().map(|i| {
        let mut c = auth::IntrospectionConfig::new(
            i.endpoint.clone(),
            i.client_id.clone(),
            i.client_secret.clone(),
        );
        c.client_auth = match i.client_auth {
            config::ClientAuth::Basic => auth::ClientAuth::Basic,
            config::ClientAuth::Post => auth::ClientAuth::Post,
        };
        c.positive_ttl = i.positive_ttl;
        c.negative_ttl = i.negative_ttl;
        c.timeout = i.timeout;
        c.max_entries = i.max_entries;
        c
    });
    let mode = match (settings.mode, introspection) {
        (config::AuthMode::Jwt, _) => auth::Mode::Jwt,
        (config::AuthMode::JwtThenIntrospection, Some(i)) => auth::Mode::JwtThenIntrospection(i),
        (config::AuthMode::Introspection, Some(i)) => auth::Mode::Introspection(i),
        (_, None) => anyhow::bail!("auth.mode needs auth.introspection"),
    };
    let cache_config = if settings.token_cache_entries == 0 {
        auth::TokenCacheConfig::disabled()
    } else {
        auth::TokenCacheConfig::enabled(settings.token_cache_entries)
    };
    auth::Validator::new(validation, cache, mode, cache_config)
        .context("auth validator")
}
