//! Availability under expensive renders (issue 11, item 4): worst-case
//! renders run off the async workers, behind a bounded number of slots, so
//! that other callers keep being served, and a caller who finds every slot
//! taken gets a tool error saying so, never a 500.
//!
//! Both tests run on the current-thread runtime `#[tokio::test]` gives: one
//! async worker. A render that ran on it would hold it for its whole fuel
//! budget, and no other request could make progress meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use http::StatusCode;
use serde_json::{Value, json};

use super::support::{Fixture, call, tool_text};

/// Runs out of fuel after the whole budget: the most CPU one render may
/// take, and what a caller with `templates:write` can make everybody's
/// renders cost.
const WORST_CASE: &str =
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";

/// Saves the worst-case template as `spin`.
async fn save_worst_case(router: &Router, token: &str) {
    let (status, answer) = call(
        router,
        token,
        "save_template",
        json!({"name": "spin", "title": "Spin", "body": WORST_CASE}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (is_error, text) = tool_text(&answer);
    assert!(!is_error, "save failed: {text}");
}

async fn render_spin(router: &Router, token: &str) -> (StatusCode, Value) {
    call(
        router,
        token,
        "render_template",
        json!({"name": "spin", "variables": {}}),
    )
    .await
}

// See: issue 11, item 4: renders ran on the async workers, so a few callers
// rendering a worst-case template stalled every other request.
#[tokio::test]
async fn list_templates_keeps_being_served_while_worst_case_renders_run() {
    const RENDERERS: usize = 2;
    const RENDERS_EACH: usize = 40;
    const LISTINGS: usize = 25;

    let fixture = Fixture::start(&[], |_| {}).await;
    let token = fixture.token("mcp:tools templates:write");
    save_worst_case(&fixture.router, &token).await;

    let stop = Arc::new(AtomicBool::new(false));
    let renders = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..RENDERERS {
        let (router, token) = (fixture.router.clone(), token.clone());
        let (stop, renders) = (Arc::clone(&stop), Arc::clone(&renders));
        tasks.push(tokio::spawn(async move {
            for _ in 0..RENDERS_EACH {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (status, answer) = render_spin(&router, &token).await;
                assert_eq!(status, StatusCode::OK);
                let (is_error, text) = tool_text(&answer);
                assert!(is_error && text.contains("ran out of fuel"), "{text}");
                renders.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Let every renderer start its first render.
    tokio::task::yield_now().await;

    // Listings are counted while renders are still to come; each one is
    // timed for the report, not for an assertion.
    let mut latencies = Vec::new();
    while latencies.len() < LISTINGS && renders.load(Ordering::Relaxed) < RENDERERS * RENDERS_EACH {
        let start = Instant::now();
        let (status, answer) = call(&fixture.router, &token, "list_templates", json!({})).await;
        latencies.push(start.elapsed());
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = answer["result"]["structuredContent"]["templates"]
            .as_array()
            .unwrap_or_else(|| panic!("no templates in {answer}"))
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(names, ["greeting", "spin"]);
    }
    let rendered_meanwhile = renders.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("renderer");
    }

    latencies.sort_unstable();
    let served = latencies.len();
    if served > 0 {
        eprintln!(
            "list_templates under {RENDERERS} worst-case renderers: {served} served while \
             {rendered_meanwhile} renders finished; latency median {:?}, max {:?}",
            latencies[served / 2],
            latencies[served - 1],
        );
    }
    assert_eq!(
        served,
        LISTINGS,
        "only {served} of {LISTINGS} listings were served before {} worst-case renders finished",
        RENDERERS * RENDERS_EACH
    );
}

#[tokio::test]
async fn callers_who_find_every_slot_taken_get_a_busy_tool_error_not_a_500() {
    const CALLERS: usize = 8;
    let fixture = Fixture::start(&[], |config| {
        config.store.offload.max_concurrent = 1;
        config.store.offload.max_wait = Duration::from_millis(1);
    })
    .await;
    let token = fixture.token("mcp:tools templates:write");
    save_worst_case(&fixture.router, &token).await;

    let calls = (0..CALLERS).map(|_| render_spin(&fixture.router, &token));
    let (mut rendered, mut busy) = (0, 0);
    for (status, answer) in futures::future::join_all(calls).await {
        assert_eq!(status, StatusCode::OK, "{answer}");
        let (is_error, text) = tool_text(&answer);
        assert!(is_error, "{text}");
        if text.contains("ran out of fuel") {
            rendered += 1;
        } else if text
            .starts_with("the server is busy: every render and store slot stayed taken for 1ms")
        {
            busy += 1;
        } else {
            panic!("neither rendered nor busy: {text}");
        }
    }
    // The one slot was held by a render far longer than a millisecond.
    assert!(
        rendered >= 1 && busy >= 1,
        "{rendered} rendered, {busy} busy"
    );
    assert_eq!(rendered + busy, CALLERS);

    // Listing takes no slot.
    let (status, answer) = call(&fixture.router, &token, "list_templates", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!tool_text(&answer).0, "{answer}");
}
