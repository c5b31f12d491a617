//! MCP sessions shared by replicas through Redis (issue 12, item 2): a
//! session created through one replica is served by another for its owner
//! and is 404 for anyone else on every replica (MCP security best
//! practices, "session hijacking": bind sessions to the user); a `DELETE`
//! through one replica ends it on all of them; with Redis down `/readyz`
//! says `degraded`, a replica keeps serving the sessions it holds and
//! answers 404 for the others (the transport's "Session management": the
//! client initializes again); a Redis restart loses the records, and every
//! replica answers 404 for the old sessions while new ones work.
//!
//! Both replicas are the real router (`build_app`) with the same
//! configuration and issuer; what they share is the Redis ([`TestRedis`]).

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use test_redis::TestRedis;

use mcp_file_templates::config::{Secret, SessionMode, SessionsBackend};
use mcp_file_templates::sessions::{RECHECK_EVERY, SessionLimits};

use super::support::{Fixture, HOST, RESOURCE, Reply, send_to};

const PROTOCOL: &str = "2025-06-18";
/// `greeting` rendered for Ada.
const GREETED: &str = "Hello Ada!\n\n-- The team\n";

async fn replicas(redis: &TestRedis) -> (Fixture, Router) {
    let url = redis.url();
    let a = Fixture::start(&[], move |config| {
        config.session = SessionMode::Stateful(SessionLimits::default());
        config.sessions_backend = SessionsBackend::Redis {
            url: Secret::new(url),
        };
    })
    .await;
    let b = a.another_replica();
    (a, b)
}

fn post(token: &str, session: Option<&str>, body: &Value) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.body(Body::from(body.to_string())).expect("request")
}

/// `initialize` and `notifications/initialized` through `router`: the id.
async fn open_session(router: &Router, token: &str) -> String {
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "shared-sessions-test", "version": "1"},
        },
    });
    let reply = send_to(router, post(token, None, &init)).await;
    assert_eq!(reply.status, StatusCode::OK, "initialize: {}", reply.body);
    let id = reply
        .header("mcp-session-id")
        .expect("a session id")
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let reply = send_to(router, post(token, Some(&id), &initialized)).await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "initialized: {}",
        reply.body
    );
    id
}

/// A `render_template` call in session `id` through `router`.
async fn render(router: &Router, token: &str, id: &str) -> Reply {
    let call = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "render_template", "arguments": {"name": "greeting", "variables": {"name": "Ada"}}},
    });
    send_to(router, post(token, Some(id), &call)).await
}

/// The JSON-RPC message of an SSE answer (`data: {...}`).
fn message(reply: &Reply) -> Value {
    let data = reply
        .body
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .find(|data| data.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON-RPC message in: {}", reply.body));
    serde_json::from_str(data).expect("JSON-RPC message")
}

fn rendered(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "render: {}", reply.body);
    let answer = message(reply);
    answer["result"]["structuredContent"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a tool result: {answer}"))
        .to_owned()
}

/// Calls `render` until it answers 404, for at most a few recheck periods.
async fn until_not_found(router: &Router, token: &str, id: &str, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        let reply = render(router, token, id).await;
        if reply.status == StatusCode::NOT_FOUND {
            return start.elapsed();
        }
        assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.body);
        assert!(
            start.elapsed() < RECHECK_EVERY * 5,
            "{what}: still served after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(router: &Router, path: &str) -> Reply {
    send_to(
        router,
        Request::get(path)
            .header(header::HOST, HOST)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_moves_between_replicas_for_its_owner_only() {
    let redis = TestRedis::start();
    let (a, b) = replicas(&redis).await;
    let alice = a.token("mcp:tools");
    let bob = a.issuer.token("bob", RESOURCE, "mcp:tools");

    let id = open_session(&a.router, &alice).await;
    // Replica B has never seen the session: it brings it back from Redis.
    assert_eq!(rendered(&render(&b, &alice, &id).await), GREETED);
    assert_eq!(rendered(&render(&a.router, &alice, &id).await), GREETED);

    // Another principal gets 404 through either replica, and the session
    // goes on for its owner afterwards.
    for (name, router) in [("A", &a.router), ("B", &b)] {
        let reply = render(router, &bob, &id).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "bob on {name}: {}",
            reply.body
        );
        assert!(
            !reply.body.contains("Hello"),
            "bob on {name} saw: {}",
            reply.body
        );
    }
    assert_eq!(rendered(&render(&b, &alice, &id).await), GREETED);
    let metrics = get(&b, "/metrics").await.body;
    assert!(
        metrics.contains("mcp_authz_failures_total{reason=\"session_owner_mismatch\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mcp_sessions_redis_calls_total"),
        "{metrics}"
    );
    let readyz: Value = serde_json::from_str(&get(&b, "/readyz").await.body).expect("JSON");
    assert_eq!(readyz["sessions"], "ok", "{readyz}");

    // DELETE through B ends it on A too, within the recheck period.
    let reply = send_to(
        &b,
        Request::delete("/mcp")
            .header(header::HOST, HOST)
            .header(header::AUTHORIZATION, format!("Bearer {alice}"))
            .header("mcp-session-id", &id)
            .header("mcp-protocol-version", PROTOCOL)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let took = until_not_found(&a.router, &alice, &id, "deleted through B, on A").await;
    println!("a session deleted through replica B was refused by replica A after {took:?}");
    assert_eq!(render(&b, &alice, &id).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_replica_serves_its_own_sessions_and_404s_the_others() {
    let redis = TestRedis::start();
    let (a, b) = replicas(&redis).await;
    let alice = a.token("mcp:tools");
    let id = open_session(&a.router, &alice).await;

    redis.stop_server();
    let reply = get(&a.router, "/readyz").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let readyz: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(
        (&readyz["status"], &readyz["sessions"]),
        (&json!("degraded"), &json!("unavailable")),
        "{readyz}"
    );
    // Past a recheck period: A's check fails, and what A knows stands.
    tokio::time::sleep(RECHECK_EVERY + Duration::from_millis(100)).await;
    assert_eq!(rendered(&render(&a.router, &alice, &id).await), GREETED);
    // B cannot learn the owner: 404, never a 500.
    let reply = render(&b, &alice, &id).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    // A new session still works, on the replica that made it.
    let local = open_session(&b, &alice).await;
    assert_eq!(rendered(&render(&b, &alice, &local).await), GREETED);
    let metrics = get(&a.router, "/metrics").await.body;
    let errors = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mcp_sessions_redis_errors_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("mcp_sessions_redis_errors_total");
    assert!(errors > 0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_ends_old_sessions_with_404_and_new_ones_move_again() {
    let redis = TestRedis::start();
    let (a, b) = replicas(&redis).await;
    let alice = a.token("mcp:tools");
    let old = open_session(&a.router, &alice).await;
    assert_eq!(rendered(&render(&b, &alice, &old).await), GREETED);

    // No persistence: the records are gone with the restart.
    redis.restart();
    until_not_found(&a.router, &alice, &old, "after the restart, on A").await;
    until_not_found(&b, &alice, &old, "after the restart, on B").await;

    // The client initializes again, and the new session moves as before.
    let new = open_session(&a.router, &alice).await;
    assert_eq!(rendered(&render(&b, &alice, &new).await), GREETED);
}
