//! The RFC 6750 mapping, as one table over every `ErrorKind`.

// A failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use http::{StatusCode, header::WWW_AUTHENTICATE};

use super::*;

fn ctx() -> ChallengeContext {
    ChallengeContext {
        resource_metadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
            .into(),
        realm: Some("mcp".into()),
        scope: Some("mcp:tools".into()),
    }
}

fn jwks_error() -> jwks::Error {
    jwks::Error::from(jwks::ErrorKind::NoUsableKeys)
}

/// One row per variant: (kind, status, `error` code in the challenge).
fn table() -> Vec<(ErrorKind, StatusCode, Option<&'static str>)> {
    use ErrorKind as K;
    let u = StatusCode::UNAUTHORIZED;
    let it = Some("invalid_token");
    vec![
        (K::MissingToken, u, None),
        (
            K::InvalidRequest("x"),
            StatusCode::BAD_REQUEST,
            Some("invalid_request"),
        ),
        (K::TokenTooLarge, u, it),
        (K::Malformed("x"), u, it),
        (K::UnsupportedAlgorithm, u, it),
        (K::KeyMismatch, u, it),
        (K::UnknownKey, u, it),
        (K::UnknownCritical, u, it),
        (K::InvalidType, u, it),
        (K::InvalidSignature, u, it),
        (K::Expired, u, it),
        (K::NotYetValid, u, it),
        (K::IssuedInFuture, u, it),
        (K::MissingClaim("exp"), u, it),
        (K::InvalidIssuer, u, it),
        (K::InvalidAudience, u, it),
        (K::Inactive, u, it),
        (K::UnknownIssuer, u, it),
        (
            K::InsufficientScope {
                required: vec!["mcp:tools".into(), "mcp:admin".into()],
            },
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
        ),
        (
            K::IntrospectionUnavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
        ),
        (K::Introspection("x"), StatusCode::SERVICE_UNAVAILABLE, None),
        (K::Jwks(jwks_error()), StatusCode::SERVICE_UNAVAILABLE, None),
        (
            K::KeyRefreshSuppressed,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
        ),
        (
            K::IntrospectionRateLimited,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
        ),
        (
            K::Config("x".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
        ),
    ]
}

fn www_authenticate(resp: &Response<Body>) -> &str {
    resp.headers()
        .get(WWW_AUTHENTICATE)
        .expect("every challenge has WWW-Authenticate")
        .to_str()
        .unwrap()
}

#[test]
fn challenge_table_covers_every_error_kind() {
    let rows = table();
    // One row per label: a new variant without a row fails here.
    let labels: HashSet<_> = rows.iter().map(|(k, ..)| k.label()).collect();
    assert_eq!(labels.len(), ErrorKind::LABELS.len());
    assert_eq!(rows.len(), ErrorKind::LABELS.len());

    for (kind, status, code) in rows {
        let label = kind.label();
        let resp = challenge(&Error::from(kind), &ctx());
        assert_eq!(resp.status(), status, "{label}");
        let h = www_authenticate(&resp);
        assert!(h.starts_with("Bearer realm=\"mcp\""), "{label}: {h}");
        match code {
            Some(code) => assert!(h.contains(&format!("error=\"{code}\"")), "{label}: {h}"),
            None => assert!(!h.contains("error="), "{label}: {h}"),
        }
        assert_eq!(
            resp.headers().contains_key(http::header::RETRY_AFTER),
            status == StatusCode::SERVICE_UNAVAILABLE,
            "{label}"
        );
    }
}

#[test]
fn rfc6750_no_error_without_credentials() {
    // RFC 6750 §3.1: "If the request lacks any authentication information …
    // the resource server SHOULD NOT include an error code".
    let resp = challenge(&Error::from(ErrorKind::MissingToken), &ctx());
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        www_authenticate(&resp),
        "Bearer realm=\"mcp\", scope=\"mcp:tools\", resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""
    );
}

#[test]
fn mcp_scope_selection_every_401_names_the_scopes_to_request() {
    // MCP authorization 2025-11-25 / 2026-07-28, "Scope Selection
    // Strategy": the server SHOULD include `scope` in the 401 challenge;
    // other statuses carry none (a 403 names what the call needs).
    for (kind, status, _) in table() {
        let label = kind.label();
        let scoped = matches!(kind, ErrorKind::InsufficientScope { .. });
        let resp = challenge(&Error::from(kind), &ctx());
        let h = www_authenticate(&resp);
        let expect = status == StatusCode::UNAUTHORIZED;
        assert_eq!(h.contains("scope=\"mcp:tools\""), expect, "{label}: {h}");
        if !expect && !scoped {
            assert!(!h.contains("scope="), "{label}: {h}");
        }
    }
    let none = ChallengeContext {
        scope: None,
        ..ctx()
    };
    let resp = challenge(&Error::from(ErrorKind::Expired), &none);
    assert!(!www_authenticate(&resp).contains("scope="));
}

#[test]
fn rfc6750_insufficient_scope_is_403_with_scope() {
    let e = Error::from(ErrorKind::InsufficientScope {
        required: vec!["mcp:tools".into(), "mcp:admin".into()],
    });
    let resp = challenge(&e, &ctx());
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let h = www_authenticate(&resp);
    assert!(h.contains("error=\"insufficient_scope\""), "{h}");
    assert!(h.contains("scope=\"mcp:tools mcp:admin\""), "{h}");
}

#[test]
fn every_challenge_has_absolute_resource_metadata() {
    // RFC 9728 §5.1, MCP authorization: every 401/403 points at the metadata.
    let want =
        "resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"";
    for (kind, ..) in table() {
        let label = kind.label();
        let resp = challenge(&Error::from(kind), &ctx());
        assert!(www_authenticate(&resp).contains(want), "{label}");
    }
}

#[test]
fn rfc9110_quoted_string_escaping() {
    let ctx = ChallengeContext {
        resource_metadata: "https://x/.well-known/oauth-protected-resource".into(),
        realm: Some("a \"quoted\" \\ realm\r\nInjected: yes".into()),
        scope: None,
    };
    let resp = challenge(&Error::from(ErrorKind::MissingToken), &ctx);
    let h = www_authenticate(&resp);
    assert!(
        h.starts_with(r#"Bearer realm="a \"quoted\" \\ realmInjected: yes", "#),
        "{h}"
    );
}

#[test]
fn error_description_is_generic() {
    // The precise reason stays in the log; callers learn only the class.
    let a = challenge(&Error::from(ErrorKind::Expired), &ctx());
    let b = challenge(&Error::from(ErrorKind::InvalidSignature), &ctx());
    assert_eq!(www_authenticate(&a), www_authenticate(&b));
    assert!(!www_authenticate(&b).contains("signature"));
}

#[tokio::test]
async fn challenge_body_is_json_and_uncacheable() {
    use http_body_util::BodyExt;
    let resp = challenge(&Error::from(ErrorKind::Expired), &ctx());
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "invalid_token");
    assert!(v["error_description"].is_string());
}
