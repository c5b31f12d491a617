//! MCP sessions under hostile but cheap traffic (issue 11, items 1 and 5):
//! per-caller and global session limits answered 429/503 with `Retry-After`,
//! slots freed when sessions end, no shared "anonymous" owner, and a flood
//! of sessions by one caller that another caller does not pay for.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::json;

use mcp_file_templates::config::SessionMode;
use mcp_file_templates::sessions::SessionLimits;

use super::*;

async fn start_limited(limits: SessionLimits) -> Server {
    start_with(DEFAULT, move |config| {
        config.session = SessionMode::Stateful(limits);
    })
    .await
}

fn limits(max_per_owner: usize, max_total: usize) -> SessionLimits {
    SessionLimits {
        max_per_owner,
        max_total,
        idle_timeout: SessionLimits::DEFAULT_IDLE_TIMEOUT,
    }
}

async fn delete(server: &Server, token: &str, session: &str) -> reqwest::Response {
    server
        .http
        .delete(&server.url)
        .bearer_auth(token)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .expect("delete")
}

#[track_caller]
fn assert_refused(response: &reqwest::Response, status: u16) {
    assert_eq!(response.status(), status);
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .expect("Retry-After on a session refusal");
    assert_eq!(retry_after, SessionLimits::RETRY_AFTER_SECS.to_string());
    assert!(
        response.headers().get("mcp-session-id").is_none(),
        "a refused initialize creates no session"
    );
}

#[tokio::test]
async fn mcp_sessions_past_the_per_caller_limit_get_429_with_retry_after() {
    let server = start_limited(limits(2, 100)).await;
    let alice = server.token("alice", ALL_SCOPES);
    let bob = server.token("bob", ALL_SCOPES);
    let first = server.raw_session(&alice).await;
    let _second = server.raw_session(&alice).await;

    let refused = server.post(Some(&alice), None, initialize()).await;
    assert_refused(&refused, 429);
    let body: Value = refused.json().await.expect("JSON-RPC error body");
    assert_eq!(body["error"]["code"], -32000, "{body}");

    // Another caller is not limited by alice's sessions.
    let _bob = server.raw_session(&bob).await;
    // Closing a session frees its slot. 204, not rmcp's 202: the Python
    // SDK reads anything but 200/204 as "Session termination failed".
    let closed = delete(&server, &alice, &first).await;
    assert_eq!(closed.status(), 204);
    assert!(closed.bytes().await.expect("body").is_empty());
    let _third = server.raw_session(&alice).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"mcp_authz_failures_total{reason="session_limit_owner"} 1"#),
        "{metrics}"
    );
    // alice's two and bob's one.
    assert!(metrics.contains("\nmcp_sessions 3\n"), "{metrics}");
}

#[tokio::test]
async fn mcp_sessions_past_the_global_limit_get_503_with_retry_after() {
    let server = start_limited(limits(5, 2)).await;
    let _a = server.raw_session(&server.token("alice", ALL_SCOPES)).await;
    let _b = server.raw_session(&server.token("bob", ALL_SCOPES)).await;
    let carol = server.token("carol", ALL_SCOPES);
    assert_refused(&server.post(Some(&carol), None, initialize()).await, 503);
}

#[tokio::test]
async fn sessions_that_idle_out_free_their_slots() {
    let server = start_limited(SessionLimits {
        max_per_owner: 1,
        max_total: 10,
        idle_timeout: Duration::from_secs(1),
    })
    .await;
    let alice = server.token("alice", ALL_SCOPES);
    let idle = server.raw_session(&alice).await;
    assert_eq!(
        server.post(Some(&alice), None, initialize()).await.status(),
        429
    );
    // rmcp closes the idle session; its slot must come back without any
    // request naming it. Poll rather than assume a time.
    let deadline = Instant::now() + Duration::from_secs(20);
    let renewed = loop {
        let response = server.post(Some(&alice), None, initialize()).await;
        if response.status() == 200 {
            break response;
        }
        assert_eq!(response.status(), 429);
        assert!(
            Instant::now() < deadline,
            "the idle session's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(renewed.headers().get("mcp-session-id").is_some());
    let gone = server
        .post(
            Some(&alice),
            Some(&idle),
            call(2, "list_templates", json!({})),
        )
        .await;
    assert_eq!(gone.status(), 404, "the idled-out session is gone");
}

/// Issue 11 item 5: tokens with neither `sub` nor a client (`azp`,
/// `client_id`) must not share one "anonymous" owner. Such a token cannot
/// open a session at all; it can still be served statelessly.
#[tokio::test]
async fn a_token_naming_no_subject_or_client_cannot_open_a_session() {
    let server = start(DEFAULT).await;
    let mut claims = server.issuer.claims("x", &server.url, ALL_SCOPES);
    let object = claims.as_object_mut().expect("claims object");
    object.remove("sub");
    object.remove("azp");
    let anonymous = server.issuer.sign(&claims);
    let refused = server.post(Some(&anonymous), None, initialize()).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("mcp-session-id").is_none());
    assert!(
        server
            .metrics()
            .await
            .contains(r#"mcp_authz_failures_total{reason="session_without_owner"} 1"#)
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Issue 11 item 1: one token opens 20 000 sessions (limits raised so that
/// all of them live) while another caller keeps calling a tool in its own
/// session. Every one of the other caller's calls is served and every flood
/// session is created; the other caller's latency is printed (p50/p99), not
/// asserted: the closing note of issue 11 compares it with the code before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_flood_by_one_caller_leaves_another_callers_session_working() {
    const FLOOD: usize = 20_000;
    let server = start_limited(limits(FLOOD, FLOOD + 10)).await;
    let flooder = server.token("flooder", ALL_SCOPES);
    let victim = server.token("victim", ALL_SCOPES);
    let session = server.raw_session(&victim).await;

    let flood = async {
        futures::stream::iter(0..FLOOD)
            .map(|_| async {
                let response = server.post(Some(&flooder), None, initialize()).await;
                let created =
                    response.status() == 200 && response.headers().get("mcp-session-id").is_some();
                let _ = response.bytes().await;
                created
            })
            .buffer_unordered(16)
            .filter(|created| futures::future::ready(*created))
            .count()
            .await
    };
    let victim_calls = async {
        let mut latencies = Vec::new();
        let mut served = 0usize;
        for id in 0..400u64 {
            let started = Instant::now();
            let response = server
                .post(
                    Some(&victim),
                    Some(&session),
                    call(id + 10, "list_templates", json!({})),
                )
                .await;
            let ok = response.status() == 200;
            let text = response.text().await.unwrap_or_default();
            latencies.push(started.elapsed());
            if ok && text.contains("greeting") {
                served += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (served, latencies)
    };
    let (created, (served, mut latencies)) = tokio::join!(flood, victim_calls);
    latencies.sort();
    println!(
        "victim list_templates during a {FLOOD}-session flood: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    assert_eq!(created, FLOOD, "every flood session is created");
    assert_eq!(served, 400, "every call of the other caller is served");
    // And the registry holds them all: one more is over the raised limit.
    let over = server.post(Some(&flooder), None, initialize()).await;
    assert_eq!(over.status(), 429);
}
