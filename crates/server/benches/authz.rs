//! Criterion: what a `tools/call` the caller has no scope for costs through
//! the whole router (every layer, token validation from the verified-token
//! cache, the per-tool authorization, the 403 challenge), by how the server
//! learns which tool is called:
//!
//! - `body/N` — protocol 2025-11-25: the body (a `save_template` call whose
//!   template text is `N` bytes) is buffered and parsed before the scopes
//!   can be checked;
//! - `headers/N` — protocol 2026-07-28: the same request with `Mcp-Method`
//!   and `Mcp-Name`, decided from the headers; the body is never read.
//!
//! Both answer 403 `insufficient_scope` (checked once before measuring); the
//! token carries `mcp:tools` only. The router is driven in process
//! (`tower::ServiceExt::oneshot`), so no socket time hides the difference.
//!
//! Run: `cargo bench -p mcp-file-templates --bench authz -- --warm-up-time 1 --measurement-time 3`.

// A failed setup step should abort the benchmark loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use clap::Parser as _;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode, header};
use serde_json::json;
use test_issuer::TestIssuer;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use mcp_file_templates::app::{AppDeps, Authentication, build_app};
use mcp_file_templates::config::{self, Cli, Env, FileConfig};
use mcp_file_templates::deps;
use templates::{FsStore, StoreLimits};

const PUBLIC_URL: &str = "http://localhost:8000";
const HOST: &str = "localhost:8000";
const RESOURCE: &str = "http://localhost:8000/mcp";
/// Template text sizes: a typical template, and one near the 64 KiB cap.
const SIZES: [usize; 2] = [1024, 60 * 1024];

struct Fixture {
    _issuer: TestIssuer,
    _dir: tempfile::TempDir,
    _shutdown: CancellationToken,
    rt: tokio::runtime::Runtime,
    router: Router,
    bearer: String,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (issuer, router, shutdown, dir) = rt.block_on(async {
        let issuer = TestIssuer::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = Cli::try_parse_from([
            "mcp-file-templates",
            "--stateless",
            "--public-url",
            PUBLIC_URL,
            "--issuer",
            &issuer.issuer(),
            "--jwks-uri",
            &issuer.jwks_uri(),
        ])
        .expect("flags");
        let env = Env {
            introspection_client_secret: None,
            allow_insecure_bench: false,
            log_filter: None,
            store_postgres_url: None,
            sessions_redis_url: None,
        };
        let config =
            config::build(cli, FileConfig::default(), env, Path::new("/")).expect("config");
        let validator = Arc::new(deps::validator(&config.auth).expect("validator"));
        validator.jwks().refresh().await.expect("load keys");
        let store = FsStore::open(dir.path().to_path_buf(), StoreLimits::default()).expect("store");
        let shutdown = CancellationToken::new();
        let router = build_app(
            &config,
            AppDeps {
                store: Arc::new(store),
                auth: Authentication::Validator(validator),
                shutdown: shutdown.clone(),
            },
        )
        .expect("app");
        (issuer, router, shutdown, dir)
    });
    let bearer = format!("Bearer {}", issuer.token("bob", RESOURCE, "mcp:tools"));
    Fixture {
        _issuer: issuer,
        _dir: dir,
        _shutdown: shutdown,
        rt,
        router,
        bearer,
    }
}

/// A `save_template` call with a template text of `size` bytes, as each
/// protocol version frames it.
fn save_body(size: usize, standard_headers: bool) -> Bytes {
    let mut params = json!({
        "name": "save_template",
        "arguments": {
            "name": "bench-save", "title": "Bench", "description": "A large template",
            "tags": [], "variables": [], "body": "x".repeat(size),
        },
    });
    if standard_headers {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        });
    }
    Bytes::from(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).to_string(),
    )
}

fn request(f: &Fixture, body: &Bytes, standard_headers: bool) -> Request<Body> {
    let builder = Request::post("/mcp")
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::AUTHORIZATION, &f.bearer);
    let builder = if standard_headers {
        builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "save_template")
    } else {
        builder.header("mcp-protocol-version", "2025-11-25")
    };
    builder.body(Body::from(body.clone())).expect("request")
}

fn send(f: &Fixture, body: &Bytes, standard_headers: bool) -> StatusCode {
    let request = request(f, body, standard_headers);
    f.rt.block_on(f.router.clone().oneshot(request))
        .expect("the router is infallible")
        .status()
}

/// The status and body of one answer, for the setup check's message.
fn answer(f: &Fixture, body: &Bytes, standard_headers: bool) -> (StatusCode, String) {
    let request = request(f, body, standard_headers);
    f.rt.block_on(async {
        let response = f.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    })
}

fn scope_refusal(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("scope_refusal");
    for size in SIZES {
        for (label, standard_headers) in [("body", false), ("headers", true)] {
            let body = save_body(size, standard_headers);
            let (status, text) = answer(&f, &body, standard_headers);
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{label}/{size} must be refused for its scope: {text}"
            );
            group.bench_with_input(BenchmarkId::new(label, size), &body, |b, body| {
                b.iter(|| black_box(send(&f, body, standard_headers)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, scope_refusal);
criterion_main!(benches);
