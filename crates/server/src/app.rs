//! The HTTP application: [`build_app`] returns the exact `axum::Router` the
//! binary serves, so integration tests and benchmarks exercise the real thing.
//!
//! Layout (outermost first): request tracing (Authorization redacted, path
//! without the query) →
//! response-status metrics → load shedding (503) over a global concurrency
//! limit → timeout (408) → body limit (413) → CORS → routes:
//!
//! - `/healthz`, `/readyz`, `/metrics` and the RFC 9728 metadata documents,
//!   unauthenticated;
//! - the MCP endpoint (rmcp's `StreamableHttpService`), behind
//!   `auth::AuthLayer` and then [`crate::authz::authorize`].
//!
//! CORS follows the MCP authorization rules: a preflight is answered without
//! authentication, and `WWW-Authenticate` and `Mcp-Session-Id` are exposed so
//! a browser client sees challenges and session ids. Origins are those of
//! [`Config::allowed_origins`] (the public URL's own origin, loopback on any
//! port, and any configured extras); rmcp enforces the same list on `/mcp`,
//! and its `Host` allow-list guards against DNS rebinding.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{Listener, ListenerExt as _};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use auth::{AuthLayer, ChallengeContext, Validator};

use crate::authz::{AuthzState, authorize};
use crate::config::{Config, SessionMode, SessionsBackend};
use crate::mcp::TemplateServer;
use crate::metrics::{self, Metrics, Sample, SampleKind};
use crate::sessions::shared::SharedSessions;
use crate::sessions::{OwnedSessionManager, SessionLimits, Sessions};
use templates::{RenderLimits, TemplateStore};

/// Binds the server's TCP listener. Every accepted connection gets
/// `TCP_NODELAY`: responses go out in several writes (headers, then body
/// chunks or SSE events), and with Nagle's algorithm on, a small write waits
/// for the ACK of the previous one, which the client may delay by up to
/// 40 ms. Without it every streamed (session-mode) response took 40 ms.
pub async fn listen(
    addr: std::net::SocketAddr,
) -> std::io::Result<impl Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(listener.tap_io(|tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%e, "cannot set TCP_NODELAY on an accepted connection");
        }
    }))
}

/// How requests to `/mcp` are authenticated.
#[derive(Clone, Debug)]
pub enum Authentication {
    /// Bearer tokens checked by this validator (the only production choice).
    Validator(Arc<Validator>),
    /// **Benchmarks only**: everybody is let in as a fixed principal with
    /// every configured scope (`auth::dangerous::InsecureAllowAll`).
    DangerouslyDisabledForBenchmarks,
}

/// What [`build_app`] needs besides the configuration.
#[derive(Clone)]
pub struct AppDeps {
    /// The template store.
    pub store: Arc<dyn TemplateStore>,
    /// Authentication of `/mcp`.
    pub auth: Authentication,
    /// Cancelled on shutdown: ends rmcp sessions and SSE streams.
    pub shutdown: CancellationToken,
}

#[derive(Clone)]
struct OpsState {
    metrics: Arc<Metrics>,
    validator: Option<Arc<Validator>>,
    store: Arc<dyn TemplateStore>,
    shared: Option<Arc<SharedSessions>>,
}

/// Builds the application router.
pub fn build_app(config: &Config, deps: AppDeps) -> anyhow::Result<Router> {
    let validator = match &deps.auth {
        Authentication::Validator(v) => Some(Arc::clone(v)),
        Authentication::DangerouslyDisabledForBenchmarks => None,
    };
    let sessions = match config.session {
        SessionMode::Stateful(limits) => Some(Arc::new(Sessions::new(limits))),
        SessionMode::Stateless => None,
    };
    let shared = shared_sessions(config)?;
    let metrics = Arc::new(Metrics::new(library_samples(
        validator.clone(),
        sessions.clone(),
        shared.clone(),
        Arc::clone(&deps.store),
    )));

    let meta = config.metadata.clone();
    let challenge = ChallengeContext {
        resource_metadata: meta.metadata_url(),
        realm: None,
        // What every MCP request needs: the scopes a client should ask for
        // first (a tool that needs more is answered 403 with its scopes).
        scope: Some(config.policy.base().join(" ")),
    };

    let mcp = mcp_router(
        config,
        &deps,
        sessions,
        shared.clone(),
        validator.clone(),
        challenge,
        Arc::clone(&metrics),
    );

    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(OpsState {
            metrics: Arc::clone(&metrics),
            validator,
            store: Arc::clone(&deps.store),
            shared,
        });

    let shed = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|error: tower::BoxError| async move {
            if error.is::<tower::load_shed::error::Overloaded>() {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    "overloaded",
                )
                    .into_response()
            } else {
                tracing::error!(%error, "unhandled middleware error");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }))
        .load_shed()
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            config.http.concurrency_limit,
        ));

    let app = Router::new()
        .merge(mcp)
        .merge(ops)
        .merge(auth::metadata_router(meta))
        .layer(cors(config))
        .layer(RequestBodyLimitLayer::new(config.http.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.http.request_timeout,
        ))
        .layer(shed)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&metrics),
            count_status,
        ))
        .layer(
            // The path only: a query string may carry a token (RFC 6750
            // §2.3, refused by the auth layer but still in the URL), and
            // tokens never go to the logs.
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = request.uri().path(),
                        version = ?request.version(),
                    )
                })
                // A 5xx here is expected and already counted by status in
                // /metrics: `/readyz` answers 503 until the keys are loaded,
                // and load shedding answers 503 by design. Logging each one
                // at ERROR would cry wolf.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]));
    Ok(app)
}

/// rmcp's `StreamableHttpService` behind one `Arc`. axum clones a route's
/// service for every request, and rmcp's `call` clones it once more, each
/// time copying its configuration (the allowed hosts and origins); its
/// `handle(&self)` needs no copy at all.
struct SharedMcpService<S, M>(Arc<StreamableHttpService<S, M>>);

impl<S, M> SharedMcpService<S, M> {
    fn new(service: StreamableHttpService<S, M>) -> Self {
        Self(Arc::new(service))
    }
}

impl<S, M> Clone for SharedMcpService<S, M> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<S, M> tower::Service<Request> for SharedMcpService<S, M>
where
    S: rmcp::ServerHandler + Send + 'static,
    M: rmcp::transport::streamable_http_server::SessionManager,
{
    type Response = http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, Infallible>>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let service = Arc::clone(&self.0);
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}

/// The Redis session records when `sessions.backend = "redis"` (stateful
/// mode only: the configuration refuses redis with stateless). Connects
/// lazily, so this does no I/O.
fn shared_sessions(config: &Config) -> anyhow::Result<Option<Arc<SharedSessions>>> {
    let (SessionsBackend::Redis { url }, SessionMode::Stateful(limits)) =
        (&config.sessions_backend, config.session)
    else {
        return Ok(None);
    };
    let SessionLimits { idle_timeout, .. } = limits;
    Ok(Some(Arc::new(SharedSessions::new(url, idle_timeout)?)))
}

fn mcp_router(
    config: &Config,
    deps: &AppDeps,
    sessions: Option<Arc<Sessions>>,
    shared: Option<Arc<SharedSessions>>,
    validator: Option<Arc<Validator>>,
    challenge: ChallengeContext,
    metrics: Arc<Metrics>,
) -> Router {
    let prototype = TemplateServer::new(
        Arc::clone(&deps.store),
        RenderLimits::default(),
        config.store.offload,
        Arc::clone(&metrics),
    );
    let factory = move || Ok(prototype.clone());
    let mut rmcp_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(config.allowed_hosts.clone())
        .with_allowed_origins(config.allowed_origins.clone())
        .with_max_request_body_bytes(config.http.body_limit_bytes)
        .with_cancellation_token(deps.shutdown.child_token());
    // rmcp writes each session's `initialize` parameters there and brings a
    // session back on a replica that has not seen it (no builder exists).
    rmcp_config.session_store = shared.clone().map(|shared| {
        shared as Arc<dyn rmcp::transport::streamable_http_server::session::SessionStore>
    });

    let (service_router, sessions) = match sessions {
        Some(sessions) => {
            let manager = Arc::new(OwnedSessionManager::new(sessions));
            let service = StreamableHttpService::new(
                factory,
                Arc::clone(&manager),
                rmcp_config.with_legacy_session_mode(true),
            );
            (
                Router::new().nest_service(&config.path, SharedMcpService::new(service)),
                Some(manager),
            )
        }
        None => {
            let service = StreamableHttpService::new(
                factory,
                Arc::new(NeverSessionManager::default()),
                rmcp_config
                    .with_legacy_session_mode(false)
                    .with_json_response(true),
            );
            (
                Router::new().nest_service(&config.path, SharedMcpService::new(service)),
                None,
            )
        }
    };

    let authz = AuthzState {
        policy: Arc::new(config.policy.clone()),
        validator: validator.clone(),
        challenge: Arc::new(challenge.clone()),
        sessions,
        shared,
        body_limit: config.http.body_limit_bytes,
        metrics,
    };
    let router = service_router.route_layer(middleware::from_fn_with_state(authz, authorize));
    match validator {
        Some(validator) => router.route_layer(AuthLayer::new(
            validator,
            config.policy.base().to_vec(),
            challenge,
        )),
        None => {
            tracing::warn!(
                "AUTHENTICATION IS DISABLED (--dangerously-disable-auth-for-benchmarks): every request to {} is accepted without a token",
                config.path
            );
            router.route_layer(auth::dangerous::InsecureAllowAll::new(bench_principal(
                config,
            )))
        }
    }
}

/// The fixed caller of benchmark mode: it holds every configured scope.
fn bench_principal(config: &Config) -> auth::Principal {
    auth::Principal {
        issuer: config
            .auth
            .accepted_issuers()
            .into_iter()
            .next()
            .unwrap_or_default(),
        subject: Some("benchmark".to_owned()),
        client_id: Some("benchmark".to_owned()),
        scopes: config.policy.supported().iter().cloned().collect(),
        audience: vec![config.resource().to_owned()],
        expires_at: i64::MAX,
        source: auth::PrincipalSource::Jwt,
    }
}

fn cors(config: &Config) -> CorsLayer {
    let origins = config.allowed_origins.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin
                .to_str()
                .is_ok_and(|origin| origin_allowed(&origins, origin))
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-method"),
            HeaderName::from_static("mcp-name"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Whether `origin` matches an entry of `allowed` (`scheme://host[:port]`,
/// where a `:*` port matches any port), per RFC 6454 serialisation.
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    allowed.iter().any(|entry| match entry.strip_suffix(":*") {
        Some(prefix) => {
            origin == prefix
                || origin.strip_prefix(prefix).is_some_and(|rest| {
                    rest.strip_prefix(':').is_some_and(|port| {
                        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                    })
                })
        }
        None => origin == entry,
    })
}

async fn count_status(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    metrics.http_response(response.status().as_u16());
    response
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: each issuer's signing keys, the template store and, with the
/// redis backend, the shared sessions. `ok`; `degraded` (still 200) while a
/// key set is stale (refreshes failing, last good set still served), the
/// store's database cannot be reached (templates served from memory, saves
/// fail) or Redis cannot be reached (sessions held by this replica go on; a
/// session held by another one gets 404 and its client initializes again);
/// 503 `starting` until every
/// issuer's keys are loaded (a replica that cannot judge one issuer's tokens
/// is not ready). The overall status is the worst part's.
async fn readyz(State(state): State<OpsState>) -> Response {
    // Worst first: 0 ok, 1 degraded, 2 starting.
    let mut worst = 0;
    let mut reasons: Vec<&str> = Vec::new();
    let mut body = serde_json::json!({});
    match &state.validator {
        None => body["auth"] = "disabled".into(),
        Some(validator) if validator.mode() == auth::ModeKind::Introspection => {}
        Some(validator) => {
            let mut issuers = serde_json::Map::new();
            let mut stale_since = None;
            for (issuer, keys) in validator.key_sets() {
                let (rank, status) = match keys.status() {
                    jwks::Status::Fresh { .. } => (0, "ok"),
                    jwks::Status::Stale { since, .. } => {
                        let since = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                        stale_since = Some(stale_since.map_or(since, |s: u64| s.min(since)));
                        (1, "degraded")
                    }
                    // Empty (never loaded, or dropped after the outage window) and
                    // any state a newer jwks adds: not ready, fail closed.
                    _ => (2, "starting"),
                };
                worst = worst.max(rank);
                issuers.insert(issuer.to_owned(), status.into());
            }
            body["issuers"] = issuers.into();
            if let Some(since) = stale_since {
                body["stale_since_unix"] = since.into();
                reasons.push("signing key refresh failing; serving the last good key set");
            }
            if worst == 2 {
                reasons.push("signing keys not loaded");
            }
        }
    }
    let store = Arc::clone(&state.store);
    let store_ok = match tokio::task::spawn_blocking(move || store.health()).await {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(%error, "template store health check failed");
            false
        }
        Err(_) => false,
    };
    body["store"] = if store_ok { "ok" } else { "unavailable" }.into();
    if !store_ok {
        worst = worst.max(1);
        reasons.push("template store unavailable; serving templates from memory, saves fail");
    }
    if let Some(shared) = &state.shared {
        let sessions_ok = match shared.ping().await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "session store health check failed");
                false
            }
        };
        body["sessions"] = if sessions_ok { "ok" } else { "unavailable" }.into();
        if !sessions_ok {
            worst = worst.max(1);
            reasons.push(
                "session store unavailable; sessions of other replicas cannot be resumed here",
            );
        }
    }
    let (status, word) = match worst {
        0 => (StatusCode::OK, "ok"),
        1 => (StatusCode::OK, "degraded"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
    };
    body["status"] = word.into();
    if !reasons.is_empty() {
        body["reason"] = reasons.join("; ").into();
    }
    (status, axum::Json(body)).into_response()
}

async fn metrics_text(State(state): State<OpsState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Reads the live sessions and the auth and JWKS counters at scrape time.
fn library_samples(
    validator: Option<Arc<Validator>>,
    sessions: Option<Arc<Sessions>>,
    shared: Option<Arc<SharedSessions>>,
    store: Arc<dyn TemplateStore>,
) -> metrics::SnapshotSource {
    Arc::new(move || {
        let counter = |name, help, value| Sample {
            name,
            help,
            kind: SampleKind::Counter,
            labels: Vec::new(),
            value,
        };
        let live = sessions.as_ref().map(|sessions| Sample {
            name: "sessions",
            help: "Live MCP sessions, with those being created",
            kind: SampleKind::Gauge,
            labels: Vec::new(),
            value: u64::try_from(sessions.len()).unwrap_or(u64::MAX),
        });
        let store_samples = store.stats().into_iter().flat_map(|s| {
            [
                counter(
                    "store_db_calls",
                    "Template store calls on its database connection",
                    s.db_calls,
                ),
                counter(
                    "store_db_errors",
                    "Template store database calls that failed",
                    s.db_errors,
                ),
                counter(
                    "store_db_micros",
                    "Time in template store database calls, in microseconds (divide by store_db_calls for the mean)",
                    s.db_micros,
                ),
                counter(
                    "store_notifications",
                    "Template change notifications received",
                    s.notifications,
                ),
                counter(
                    "store_listener_connects",
                    "Times the template store's listener (re)connected and resynced",
                    s.listener_connects,
                ),
            ]
        });
        let shared_samples = shared.as_ref().map(|s| s.stats()).into_iter().flat_map(|s| {
            [
                counter(
                    "sessions_redis_calls",
                    "Session store (Redis) commands",
                    s.calls,
                ),
                counter(
                    "sessions_redis_errors",
                    "Session store (Redis) commands that failed",
                    s.errors,
                ),
                counter(
                    "sessions_redis_micros",
                    "Time in session store (Redis) commands, in microseconds (divide by sessions_redis_calls for the mean)",
                    s.micros,
                ),
            ]
        });
        let live: Vec<Sample> = live
            .into_iter()
            .chain(store_samples)
            .chain(shared_samples)
            .collect();
        let Some(validator) = &validator else {
            return live;
        };
        let a = validator.metrics();
        let mut samples = vec![
            counter(
                "token_cache_hits",
                "Tokens answered from the verified-token cache",
                a.token_cache_hits,
            ),
            counter(
                "token_cache_misses",
                "Tokens not found in the verified-token cache",
                a.token_cache_misses,
            ),
            counter(
                "introspection_calls",
                "HTTP calls to the introspection endpoint",
                a.introspection_calls,
            ),
            counter(
                "introspection_cache_hits",
                "Introspection answers reused from cache",
                a.introspection_cache_hits,
            ),
            counter(
                "introspection_errors",
                "Introspection calls that failed",
                a.introspection_errors,
            ),
        ];
        for (issuer, keys) in validator.key_sets() {
            let j = keys.metrics();
            let sample = |name, help, kind, result: Option<&str>, value| Sample {
                name,
                help,
                kind,
                labels: std::iter::once(("issuer", issuer.to_owned()))
                    .chain(result.map(|r| ("result", r.to_owned())))
                    .collect(),
                value,
            };
            samples.extend([
                sample(
                    "jwks_kid_miss_refreshes",
                    "JWKS refreshes triggered by an unknown kid",
                    SampleKind::Counter,
                    None,
                    j.kid_miss_refreshes,
                ),
                sample(
                    "jwks_refreshes_suppressed",
                    "Unknown-kid refreshes refused by the rate limit",
                    SampleKind::Counter,
                    None,
                    j.refreshes_suppressed,
                ),
                sample(
                    "jwks_fetches",
                    "JWKS fetches by issuer and result",
                    SampleKind::Counter,
                    Some("ok"),
                    j.fetch_ok,
                ),
                sample(
                    "jwks_fetches",
                    "JWKS fetches by issuer and result",
                    SampleKind::Counter,
                    Some("error"),
                    j.fetch_failed,
                ),
                sample(
                    "jwks_keys",
                    "Usable signing keys in each issuer's cached set",
                    SampleKind::Gauge,
                    None,
                    j.keys,
                ),
            ]);
        }
        samples.extend(a.failures.iter().map(|(reason, value)| Sample {
            name: "auth_failures",
            help: "Authentication failures by reason",
            kind: SampleKind::Counter,
            labels: vec![("reason", (*reason).to_owned())],
            value: *value,
        }));
        samples.extend(live);
        samples
    })
}

#[cfg(test)]
mod tests;
