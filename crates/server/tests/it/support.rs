//! Shared fixture of the hardening tests (`hostile`, `http_hardening`,
//! `logs`): the exact router `build_app` returns, driven in-process with
//! `tower::ServiceExt::oneshot` so that every header byte is under the
//! test's control (two `Authorization` headers, a foreign `Host`, a body that
//! never ends), with tokens and keys from the in-process `test-issuer`.
//!
//! The public URL is `http://localhost:8000`; nothing listens there, requests
//! go straight into the router with `Host: localhost:8000`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use http::{HeaderMap, Request, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use test_issuer::TestIssuer;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use mcp_file_templates::app::{AppDeps, Authentication, build_app};
use mcp_file_templates::config::{self, Cli, Config, Env, FileConfig, Secret};
use mcp_file_templates::deps;
use templates::{FsStore, StoreLimits, TemplateStore};

use super::{GREETING, INTROSPECTION_CLIENT, INTROSPECTION_SECRET};

/// The public URL of every fixture.
pub(crate) const PUBLIC_URL: &str = "http://localhost:8000";
/// The `Host` header requests carry.
pub(crate) const HOST: &str = "localhost:8000";
/// The protected resource, and the default token audience.
pub(crate) const RESOURCE: &str = "http://localhost:8000/mcp";
/// RFC 9728 §3.1: the metadata URL with the resource path inserted.
pub(crate) const METADATA_URL: &str =
    "http://localhost:8000/.well-known/oauth-protected-resource/mcp";

/// A running app: the router plus the issuer it trusts.
pub(crate) struct Fixture {
    pub(crate) issuer: TestIssuer,
    pub(crate) router: Router,
    pub(crate) validator: Arc<auth::Validator>,
    config: Config,
    store: Arc<dyn TemplateStore>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// What the app answered, body read in full.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    /// The `WWW-Authenticate` parameters, `None` when there is no challenge.
    /// Panics when the header is not a well-formed `Bearer` challenge.
    pub(crate) fn challenge(&self) -> Option<BTreeMap<String, String>> {
        let value = self.headers.get(header::WWW_AUTHENTICATE)?;
        let value = value.to_str().expect("WWW-Authenticate is visible ASCII");
        Some(parse_challenge(value))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Parses `Bearer k="v", k="v"` (RFC 9110 §11.2 auth-params, quoted-string
/// values with `\` escapes) strictly: anything else panics.
fn parse_challenge(value: &str) -> BTreeMap<String, String> {
    let rest = value
        .strip_prefix("Bearer")
        .unwrap_or_else(|| panic!("not a Bearer challenge: {value}"));
    let mut params = BTreeMap::new();
    let mut chars = rest.trim_start().chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "unquoted value in {value}");
        let mut val = String::new();
        loop {
            match chars.next() {
                Some('\\') => val.push(chars.next().expect("escaped character")),
                Some('"') => break,
                Some(c) => val.push(c),
                None => panic!("unterminated quoted-string in {value}"),
            }
        }
        let name = name.trim().to_owned();
        assert!(
            params.insert(name.clone(), val).is_none(),
            "parameter {name} repeated in {value}"
        );
        match chars.next() {
            None => {}
            Some(',') => {
                while chars.peek() == Some(&' ') {
                    chars.next();
                }
            }
            Some(c) => panic!("unexpected {c:?} in {value}"),
        }
    }
    params
}

impl Fixture {
    /// Starts an issuer and the app in stateless JSON mode (plus `flags`),
    /// with `tune` applied to the built configuration, and loads the keys.
    /// Introspection is configured (client secret [`INTROSPECTION_SECRET`]).
    pub(crate) async fn start(flags: &[&str], tune: impl FnOnce(&mut Config)) -> Fixture {
        Self::start_with_store(flags, tune, None).await
    }

    /// [`Fixture::start`] serving `store` instead of a directory of its own
    /// (`None`: a temporary directory holding [`GREETING`]).
    pub(crate) async fn start_with_store(
        flags: &[&str],
        tune: impl FnOnce(&mut Config),
        store: Option<Arc<dyn TemplateStore>>,
    ) -> Fixture {
        let issuer = TestIssuer::start().await;
        issuer.set_introspection_client(INTROSPECTION_CLIENT, INTROSPECTION_SECRET);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("greeting.md"), GREETING).expect("write template");

        let mut args: Vec<String> = [
            "mcp-file-templates",
            "--stateless",
            "--public-url",
            PUBLIC_URL,
            "--issuer",
            &issuer.issuer(),
            "--jwks-uri",
            &issuer.jwks_uri(),
            "--introspection-endpoint",
            &issuer.introspection_endpoint(),
            "--introspection-client-id",
            INTROSPECTION_CLIENT,
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        let cli = Cli::try_parse_from(args).expect("flags");
        let env = Env {
            introspection_client_secret: Some(Secret::new(INTROSPECTION_SECRET)),
            allow_insecure_bench: false,
            log_filter: None,
            store_postgres_url: None,
            sessions_redis_url: None,
        };
        let mut config =
            config::build(cli, FileConfig::default(), env, Path::new("/")).expect("config");
        tune(&mut config);

        let validator = Arc::new(deps::validator(&config.auth).expect("validator"));
        validator.jwks().refresh().await.expect("load keys");
        let store = store.unwrap_or_else(|| {
            Arc::new(
                FsStore::open(dir.path().to_path_buf(), StoreLimits::default()).expect("store"),
            )
        });
        let shutdown = CancellationToken::new();
        let router = build_app(
            &config,
            AppDeps {
                store: Arc::clone(&store),
                auth: Authentication::Validator(Arc::clone(&validator)),
                shutdown: shutdown.clone(),
            },
        )
        .expect("app");
        Fixture {
            issuer,
            router,
            validator,
            config,
            store,
            shutdown,
            _dir: dir,
        }
    }

    /// Another replica of this app: the same configuration, issuer and
    /// template store, its own sessions and rmcp service.
    pub(crate) fn another_replica(&self) -> Router {
        build_app(
            &self.config,
            AppDeps {
                store: Arc::clone(&self.store),
                auth: Authentication::Validator(Arc::clone(&self.validator)),
                shutdown: self.shutdown.child_token(),
            },
        )
        .expect("app")
    }

    /// A Keycloak-shaped token for [`RESOURCE`] signed with the initial key.
    pub(crate) fn token(&self, scope: &str) -> String {
        self.issuer.token("alice", RESOURCE, scope)
    }

    /// Sends one request through the router and reads the whole answer.
    pub(crate) async fn send(&self, request: Request<Body>) -> Reply {
        send_to(&self.router, request).await
    }
}

/// Sends one request through `router` and reads the whole answer.
pub(crate) async fn send_to(router: &Router, request: Request<Body>) -> Reply {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("response body");
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

impl Fixture {
    /// The server's own authorization failures by reason (per-tool scopes,
    /// session binding: `mcp_authz_failures_total`), scraped from
    /// `/metrics`. The validator counts the rest (`validator.metrics()`).
    pub(crate) async fn authz_failures(&self) -> BTreeMap<String, u64> {
        let reply = self
            .send(
                Request::get("/metrics")
                    .header(header::HOST, HOST)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "/metrics: {}", reply.body);
        reply
            .body
            .lines()
            .filter_map(|line| line.strip_prefix("mcp_authz_failures_total{reason=\""))
            .map(|rest| {
                let (reason, count) = rest.split_once("\"} ").expect("a labelled sample");
                (reason.to_owned(), count.parse().expect("a count"))
            })
            .collect()
    }

    /// JWKS, discovery and introspection requests the issuer has seen.
    pub(crate) fn idp_requests(&self) -> IdpRequests {
        IdpRequests {
            jwks: self.issuer.jwks_requests(),
            discovery: self.issuer.discovery_requests(),
            introspection: self.issuer.introspection_requests(),
        }
    }
}

/// Request counters of the issuer's endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdpRequests {
    pub(crate) jwks: usize,
    pub(crate) discovery: usize,
    pub(crate) introspection: usize,
}

/// A POST to `/mcp` with the headers a Streamable HTTP client sends.
pub(crate) fn mcp_post() -> http::request::Builder {
    mcp_post_with_host(HOST)
}

/// [`mcp_post`] with another `Host` header.
pub(crate) fn mcp_post_with_host(host: &str) -> http::request::Builder {
    Request::post("/mcp")
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
}

/// A JSON-RPC `tools/call` body.
pub(crate) fn tool_call(tool: &str, arguments: serde_json::Value) -> Body {
    Body::from(
        serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        })
        .to_string(),
    )
}

/// One `tools/call` through the router; the HTTP status and the JSON-RPC
/// answer.
pub(crate) async fn call(
    router: &Router,
    token: &str,
    tool: &str,
    arguments: Value,
) -> (StatusCode, Value) {
    let request = mcp_post()
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(tool_call(tool, arguments))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let answer = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, answer)
}

/// The text of a tool result, and whether it is an error.
pub(crate) fn tool_text(answer: &Value) -> (bool, String) {
    let result = &answer["result"];
    assert!(result.is_object(), "not a tool result: {answer}");
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    (result["isError"] == json!(true), text.to_owned())
}

/// base64url without padding (RFC 7515 §2).
pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An Ed25519 key published in the issuer's JWKS that signs arbitrary
/// header and payload bytes: duplicate JSON members, non-object headers,
/// bad base64 and deep nesting cannot be built through `serde_json::Value`,
/// and a valid signature is what makes the payload parser run at all.
pub(crate) struct RawSigner {
    key: EncodingKey,
    pub(crate) kid: &'static str,
}

impl RawSigner {
    /// Derives a key from `kid` (deterministic, test-only) and publishes it.
    /// Reload the JWKS afterwards for the app to know it.
    pub(crate) fn publish(issuer: &TestIssuer, kid: &'static str) -> RawSigner {
        // RFC 8410 PKCS#8 v1 for Ed25519: a fixed 16-byte prefix and the seed.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&Sha256::digest(kid.as_bytes()));
        let key = EncodingKey::from_ed_der(&der);
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::EdDSA)
            .expect("Ed25519 public JWK");
        let mut jwk = serde_json::to_value(jwk).expect("JWK JSON");
        jwk["kid"] = kid.into();
        jwk["use"] = "sig".into();
        issuer.add_raw_jwk(jwk);
        RawSigner { key, kid }
    }

    /// `b64(header).b64(payload).signature` over exactly these bytes.
    pub(crate) fn sign(&self, header: &str, payload: &str) -> String {
        self.sign_segments(&b64(header), &b64(payload))
    }

    /// Signs two already-encoded segments verbatim (bad base64 included).
    pub(crate) fn sign_segments(&self, header: &str, payload: &str) -> String {
        let message = format!("{header}.{payload}");
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &self.key, Algorithm::EdDSA)
            .expect("Ed25519 signature");
        format!("{message}.{signature}")
    }

    /// `{"alg":"EdDSA","typ":"JWT","kid":…}`.
    pub(crate) fn header(&self) -> String {
        format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#, self.kid)
    }
}
