//! Unit tests for the metrics exposition.

use std::sync::Arc;

use super::*;

fn check(metrics: &Metrics, needle: &str) {
    let text = match metrics.encode() {
        Ok(text) => text,
        Err(e) => panic!("encode failed: {e}"),
    };
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

#[test]
fn own_counters_are_exposed_with_labels() {
    let metrics = Metrics::new(Arc::new(Vec::new));
    metrics.http_response(403);
    metrics.http_response(403);
    metrics.tool_call(Tool::SaveTemplate, Outcome::Conflict);
    metrics.authz_failure("insufficient_scope");
    check(&metrics, "mcp_http_requests_total{status=\"403\"} 2");
    check(
        &metrics,
        "mcp_tool_calls_total{tool=\"save_template\",outcome=\"conflict\"} 1",
    );
    check(
        &metrics,
        "mcp_authz_failures_total{reason=\"insufficient_scope\"} 1",
    );
}

#[test]
fn tool_calls_encode_like_a_family_of_counters() {
    let metrics = Metrics::new(Arc::new(Vec::new));
    let before = metrics
        .encode()
        .unwrap_or_else(|e| panic!("encode failed: {e}"));
    assert!(!before.contains("mcp_tool_calls"), "{before}");
    metrics.tool_call(Tool::RenderTemplate, Outcome::Ok);
    metrics.tool_call(Tool::RenderTemplate, Outcome::Ok);
    metrics.tool_call(Tool::DeleteTemplate, Outcome::StoreError);
    let text = metrics
        .encode()
        .unwrap_or_else(|e| panic!("encode failed: {e}"));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("mcp_tool_calls"))
        .collect();
    assert_eq!(
        lines,
        [
            "# HELP mcp_tool_calls MCP tool calls by tool and outcome.",
            "# TYPE mcp_tool_calls counter",
            "mcp_tool_calls_total{tool=\"render_template\",outcome=\"ok\"} 2",
            "mcp_tool_calls_total{tool=\"delete_template\",outcome=\"store_error\"} 1",
        ]
    );
}

#[test]
fn library_snapshots_are_read_at_scrape_time() {
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = Arc::clone(&calls);
    let metrics = Metrics::new(Arc::new(move || {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        vec![
            Sample {
                name: "jwks_fetches",
                help: "JWKS fetches",
                kind: SampleKind::Counter,
                labels: vec![
                    ("issuer", "https://a".to_owned()),
                    ("result", "ok".to_owned()),
                ],
                value: n,
            },
            Sample {
                name: "jwks_keys",
                help: "keys",
                kind: SampleKind::Gauge,
                labels: Vec::new(),
                value: 3,
            },
            Sample {
                name: "jwks_fetches",
                help: "JWKS fetches",
                kind: SampleKind::Counter,
                labels: vec![("result", "error".to_owned())],
                value: 0,
            },
        ]
    }));
    check(
        &metrics,
        "mcp_jwks_fetches_total{issuer=\"https://a\",result=\"ok\"} 1",
    );
    check(
        &metrics,
        "mcp_jwks_fetches_total{issuer=\"https://a\",result=\"ok\"} 2",
    );
    check(&metrics, "mcp_jwks_fetches_total{result=\"error\"} 0");
    check(&metrics, "mcp_jwks_keys 3");
}
