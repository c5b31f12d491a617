//! Tokens and secrets never reach the logs.
//!
//! All tracing output of the test's thread (every level, every target, span
//! open/close events with their fields, in the text and the JSON format the
//! server offers) goes to an in-memory buffer while good and bad requests are
//! served, including introspection calls that carry the client secret (HTTP
//! Basic and form post). The subscriber is the thread's default only for the
//! duration of the test (`set_default`), never the global one. The test
//! runtime is current-thread, so the server's tasks log on this thread too.

use std::io;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use base64::Engine as _;
use http::{StatusCode, header};
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;
use test_issuer::{INITIAL_KID, KeyAlg};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::support::{Fixture, RESOURCE, b64, mcp_post, tool_call};
use crate::{INTROSPECTION_CLIENT, INTROSPECTION_SECRET};

/// A shared, growable log sink.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

async fn call(f: &Fixture, uri: &str, token: &str, tool: &str) -> StatusCode {
    let arguments = match tool {
        "delete_template" => json!({"name": "greeting", "expected_version": "sha256:0"}),
        _ => json!({}),
    };
    let request = mcp_post()
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(tool_call(tool, arguments))
        .expect("request");
    f.send(request).await.status
}

#[tokio::test]
async fn tokens_and_client_secrets_never_appear_in_logs() {
    let sink = Sink::default();
    let text_sink = sink.clone();
    let json_sink = sink.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_span_events(FmtSpan::FULL)
                .with_writer(move || text_sink.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_span_events(FmtSpan::FULL)
                .with_writer(move || json_sink.clone()),
        );
    // tracing caches per-callsite interest. While exactly one dispatcher is
    // registered, a callsite first hit on another test's thread asks only
    // that thread's default (none) and is cached as "never", so events would
    // go missing here. A second registered dispatcher makes tracing combine
    // all of them ("sometimes": ask the current dispatcher at each event).
    let _second_dispatcher = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);

    // JWT mode; delete_template is verify-online, so it introspects with
    // client_secret_basic.
    let jwt = Fixture::start(&[], |_| {}).await;
    jwt.issuer.add_key(KeyAlg::Rs256, "other");
    let all = jwt.token("mcp:tools templates:write");
    let good = jwt.issuer.claims("alice", RESOURCE, "mcp:tools");
    let mut expired = good.clone();
    expired["exp"] = json!(1_000_000);
    let mut foreign_aud = good.clone();
    foreign_aud["aud"] = json!("https://other.example/mcp");
    let mut forged_header = Header::new(Algorithm::RS256);
    forged_header.kid = Some(INITIAL_KID.to_owned());
    let revoked = jwt.token("mcp:tools templates:write");
    jwt.issuer.revoke(&revoked);

    let mut tokens: Vec<String> = Vec::new();
    let mut expect = |token: &str, status: StatusCode| {
        tokens.push(token.to_owned());
        (token.to_owned(), status)
    };
    let jwt_cases = [
        (expect(&all, StatusCode::OK), "/mcp", "list_templates"),
        (expect(&all, StatusCode::OK), "/mcp", "delete_template"),
        (
            expect(&revoked, StatusCode::UNAUTHORIZED),
            "/mcp",
            "delete_template",
        ),
        (
            expect(&jwt.issuer.sign(&expired), StatusCode::UNAUTHORIZED),
            "/mcp",
            "list_templates",
        ),
        (
            expect(&jwt.issuer.sign(&foreign_aud), StatusCode::UNAUTHORIZED),
            "/mcp",
            "list_templates",
        ),
        (
            expect(
                &jwt.issuer.sign_with(forged_header, &good, "other"),
                StatusCode::UNAUTHORIZED,
            ),
            "/mcp",
            "list_templates",
        ),
        (
            expect(
                &format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(good.to_string())),
                StatusCode::UNAUTHORIZED,
            ),
            "/mcp",
            "list_templates",
        ),
        (
            expect("opaque-token-0123456789abcdef", StatusCode::UNAUTHORIZED),
            "/mcp",
            "list_templates",
        ),
    ];
    let introspected_before = jwt.issuer.introspection_requests();
    for ((token, status), uri, tool) in &jwt_cases {
        assert_eq!(call(&jwt, uri, token, tool).await, *status, "{tool}");
    }
    assert!(jwt.issuer.introspection_requests() > introspected_before);

    // RFC 6750 §2.3: a token in the query string is refused, and the URL it
    // came in must not be logged with it either.
    let in_query = jwt.token("mcp:tools");
    tokens.push(in_query.clone());
    let reply = jwt
        .send(
            mcp_post()
                .uri(format!("/mcp?access_token={in_query}"))
                .body(tool_call("list_templates", json!({})))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // Introspection mode with client_secret_post: the secret is a form field.
    let introspecting = Fixture::start(&[], |c| {
        let mut i = c.auth.issuers[0]
            .mode
            .introspection()
            .cloned()
            .expect("introspection");
        i.client_auth = auth::ClientAuth::Post;
        c.auth.issuers[0].mode = auth::Mode::Introspection(i);
    })
    .await;
    let opaque = "opaque-3f9c2a7e41d8b6055c1e9a7f20d4b8c3";
    let mut opaque_claims =
        introspecting
            .issuer
            .claims("bob", RESOURCE, "mcp:tools templates:write");
    opaque_claims["active"] = json!(true);
    introspecting.issuer.register_opaque(opaque, opaque_claims);
    tokens.push(opaque.to_owned());
    let before = introspecting.issuer.introspection_requests();
    assert_eq!(
        call(&introspecting, "/mcp", opaque, "list_templates").await,
        StatusCode::OK
    );
    let unknown = "opaque-unknown-77aa0c19e2f54b3d9a61";
    tokens.push(unknown.to_owned());
    assert_eq!(
        call(&introspecting, "/mcp", unknown, "list_templates").await,
        StatusCode::UNAUTHORIZED
    );
    assert!(introspecting.issuer.introspection_requests() >= before + 2);
    let _ = introspecting
        .send(
            http::Request::get("/metrics")
                .header(header::HOST, crate::support::HOST)
                .body(Body::empty())
                .expect("request"),
        )
        .await;

    let logs = sink.text();
    // The capture works: requests and refusals were logged.
    for needle in [
        "finished processing request",
        "bearer authentication refused",
        "\"level\":\"DEBUG\"",
    ] {
        assert!(logs.contains(needle), "{needle:?} was not logged");
    }

    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{INTROSPECTION_CLIENT}:{INTROSPECTION_SECRET}"));
    let mut forbidden: Vec<(String, String)> = vec![
        ("client secret".into(), INTROSPECTION_SECRET.into()),
        ("Basic credentials".into(), basic),
    ];
    for token in &tokens {
        forbidden.push(("token".into(), token.clone()));
        if let Some((_, signature)) = token.rsplit_once('.')
            && !signature.is_empty()
        {
            forbidden.push(("signature segment".into(), signature.to_owned()));
        }
    }
    for (what, secret) in forbidden {
        if let Some(at) = logs.find(&secret) {
            let line_start = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = logs[at..].find('\n').map_or(logs.len(), |i| at + i);
            panic!(
                "{what} logged:\n{}",
                logs[line_start..line_end].replace(&secret, "<HERE>")
            );
        }
    }
}

#[tokio::test]
async fn audience_refusals_say_which_aud_was_seen_once_per_minute_at_warn() {
    // A Keycloak audience-mapper mistake refuses every token: the log says
    // which `aud`/`azp` the token had and what was expected, in one `warn`
    // (then `debug` for a minute), without the token.
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::WARN)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        );
    let _guard = tracing::subscriber::set_default(subscriber);
    let f = Fixture::start(&[], |_| {}).await;
    let mut claims = f.issuer.claims("alice", "account", "mcp:tools");
    claims["azp"] = json!("mcp-client");
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let token = f.issuer.sign(&claims);
        assert_eq!(
            call(&f, "/mcp", &token, "list_templates").await,
            StatusCode::UNAUTHORIZED
        );
        tokens.push(token);
    }
    let logs = sink.text();
    let warned: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("its aud does not name this resource"))
        .collect();
    assert_eq!(warned.len(), 1, "one warn per minute:\n{logs}");
    for needle in [
        "token_aud=[\"account\"]",
        "token_azp=\"mcp-client\"",
        RESOURCE,
    ] {
        assert!(
            warned[0].contains(needle),
            "{needle:?} missing: {}",
            warned[0]
        );
    }
    for token in &tokens {
        assert!(!logs.contains(token.as_str()), "token logged");
    }
    assert_eq!(f.validator.metrics().failures_for("invalid_audience"), 3);
}
