//! Unit tests for origin matching and the listener.

use axum::serve::Listener as _;

use super::{listen, origin_allowed};

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

/// Streamed responses are several small writes; with Nagle's algorithm on
/// (and the peer's delayed ACK) each would wait up to 40 ms.
#[tokio::test]
async fn accepted_connections_have_tcp_nodelay() {
    let mut listener = listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (server_side, peer) = listener.accept().await;
    assert_eq!(peer, client.local_addr().unwrap());
    assert!(server_side.nodelay().unwrap(), "TCP_NODELAY must be set");
}
