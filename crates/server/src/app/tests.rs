//! Unit tests for origin matching.

use super::origin_allowed;

#[test]
fn origins_match_exactly_or_by_wildcard_port() {
    let allowed = vec![
        "https://mcp.example.com".to_owned(),
        "http://localhost:*".to_owned(),
    ];
    assert!(origin_allowed(&allowed, "https://mcp.example.com"));
    assert!(origin_allowed(&allowed, "http://localhost:6274"));
    assert!(origin_allowed(&allowed, "http://localhost"));
    assert!(!origin_allowed(
        &allowed,
        "https://mcp.example.com.evil.com"
    ));
    assert!(!origin_allowed(&allowed, "http://localhost.evil.com"));
    assert!(!origin_allowed(&allowed, "http://localhost:80@evil.com"));
    assert!(!origin_allowed(&allowed, "https://localhost:6274"));
    assert!(!origin_allowed(&allowed, "null"));
}
