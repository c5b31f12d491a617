//! Overload: load shedding at the concurrency limit, and the memory bounds
//! of the verified-token and introspection caches under many distinct
//! tokens.
//!
//! The caches do not expose their size; their bound is observed through
//! hit counters instead. Validate M distinct tokens once, then all M again
//! in the same order: a token can only hit in the second pass if it was
//! still cached when that pass began (a token re-inserted after a miss in
//! the second pass is never asked for again), so the second pass's hits are
//! at most the number of entries the cache held. With M well above the
//! configured bound, an unbounded cache would answer all M from memory.

use serde_json::json;
use tokio::io::AsyncWriteExt;

use mcp_file_templates::config::Config;

use super::{ALL_SCOPES, Options, Server, call, start_with};

/// Starts the real app (stateless JSON mode) with `tune` applied to its
/// configuration after the usual flags are parsed.
async fn start_tuned(tune: impl FnOnce(&mut Config)) -> Server {
    let options = Options {
        stateless: true,
        load_keys: true,
    };
    start_with(options, tune).await
}

/// The value of an unlabelled counter in the Prometheus text.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"))
}

/// `n` tokens for `n` different subjects.
fn distinct_tokens(server: &Server, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| server.token(&format!("user-{i}"), ALL_SCOPES))
        .collect()
}

async fn list_templates_ok(server: &Server, token: &str) {
    let response = server
        .post(Some(token), None, call(1, "list_templates", json!({})))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn load_shed_answers_503_with_retry_after_while_the_concurrency_limit_is_held() {
    const LIMIT: usize = 2;
    let server = start_tuned(|c| c.http.concurrency_limit = LIMIT).await;
    let token = server.token("alice", ALL_SCOPES);
    let authority = server.base.trim_start_matches("http://").to_owned();

    // Requests whose bodies never finish arriving: each holds one slot of
    // the limit until its connection closes (the request timeout is 30 s).
    let mut held = Vec::new();
    for _ in 0..LIMIT {
        let mut stream = tokio::net::TcpStream::connect(&authority)
            .await
            .expect("connect");
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Content-Length: 200\r\n\r\n{{\"jsonrpc\":"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        held.push(stream);
    }

    // The next request is shed at once instead of queueing behind them.
    // Poll until the slow requests have reached the service (bounded).
    let healthz = format!("{}/healthz", server.base);
    let mut shed = None;
    for _ in 0..500 {
        let response = server.http.get(&healthz).send().await.expect("healthz");
        if response.status() == 503 {
            shed = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let shed = shed.expect("no request was shed while the limit was held");
    assert_eq!(
        shed.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(shed.text().await.expect("body"), "overloaded");
    // An authenticated MCP call is shed the same way, before any token work.
    let before = server.validator.metrics().token_cache_misses;
    let mcp = server
        .post(Some(&token), None, call(2, "list_templates", json!({})))
        .await;
    assert_eq!(mcp.status(), 503);
    assert_eq!(server.validator.metrics().token_cache_misses, before);

    // Closing the slow connections frees the slots and service resumes.
    drop(held);
    let mut recovered = false;
    for _ in 0..500 {
        let response = server.http.get(&healthz).send().await.expect("healthz");
        if response.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        recovered,
        "the server kept shedding after the slots were freed"
    );
    list_templates_ok(&server, &token).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("mcp_http_requests_total{status=\"503\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn token_cache_holds_at_most_its_bound_under_many_distinct_tokens() {
    const BOUND: usize = 16;
    const TOKENS: usize = 5 * BOUND;
    let server = start_tuned(|c| c.auth.token_cache = auth::TokenCacheConfig::enabled(BOUND)).await;
    let tokens = distinct_tokens(&server, TOKENS);

    for token in &tokens {
        list_templates_ok(&server, token).await;
    }
    let first = server.metrics().await;
    assert_eq!(
        counter(&first, "mcp_token_cache_misses_total"),
        TOKENS as u64
    );
    assert_eq!(counter(&first, "mcp_token_cache_hits_total"), 0);

    for token in &tokens {
        list_templates_ok(&server, token).await;
    }
    let second = server.metrics().await;
    let hits = counter(&second, "mcp_token_cache_hits_total");
    assert!(
        hits <= BOUND as u64,
        "{hits} of {TOKENS} tokens were still cached; the bound is {BOUND}"
    );

    // The cache still works: a new token used twice in a row hits once.
    let fresh = server.token("fresh", ALL_SCOPES);
    list_templates_ok(&server, &fresh).await;
    list_templates_ok(&server, &fresh).await;
    let third = server.metrics().await;
    assert_eq!(counter(&third, "mcp_token_cache_hits_total"), hits + 1);
}

#[tokio::test]
async fn rfc7662_introspection_cache_holds_at_most_its_bound_under_many_distinct_tokens() {
    const BOUND: usize = 16;
    const TOKENS: usize = 5 * BOUND;
    let server = start_tuned(|c| {
        let mut introspection = c.auth.issuers[0]
            .mode
            .introspection()
            .cloned()
            .expect("introspection");
        introspection.max_entries = BOUND;
        // About 2 × TOKENS calls in a row: more than the default burst of
        // the rate limit on introspection calls, which is not what this
        // test is about.
        introspection.burst = std::num::NonZeroU32::new(1000).expect("not zero");
        c.auth.issuers[0].mode = auth::Mode::Introspection(introspection);
    })
    .await;
    let tokens = distinct_tokens(&server, TOKENS);

    for token in &tokens {
        list_templates_ok(&server, token).await;
    }
    assert_eq!(server.issuer.introspection_requests(), TOKENS);

    for token in &tokens {
        list_templates_ok(&server, token).await;
    }
    let hits = server.validator.metrics().introspection_cache_hits;
    assert!(
        hits <= BOUND as u64,
        "{hits} of {TOKENS} introspection answers were still cached; the bound is {BOUND}"
    );
    assert_eq!(
        server.issuer.introspection_requests() as u64,
        2 * TOKENS as u64 - hits
    );
}
