//! RFC 9728 metadata paths, URL and router.

// A failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

fn meta(resource: &str) -> ProtectedResourceMetadata {
    ProtectedResourceMetadata::new(
        resource,
        vec!["https://idp.example.com/realms/mcp".into()],
        vec!["mcp:tools".into()],
    )
    .unwrap()
}

#[test]
fn rfc9728_well_known_paths_insert_the_resource_path() {
    let m = meta("https://mcp.example.com/mcp");
    assert_eq!(
        m.well_known_paths(),
        [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource"
        ]
    );
    assert_eq!(
        m.metadata_url(),
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    );

    let root = meta("https://mcp.example.com:8443/");
    assert_eq!(
        root.well_known_paths(),
        ["/.well-known/oauth-protected-resource"]
    );
    assert_eq!(
        root.metadata_url(),
        "https://mcp.example.com:8443/.well-known/oauth-protected-resource"
    );

    let nested = meta("http://127.0.0.1:3000/api/mcp/");
    assert_eq!(
        nested.metadata_url(),
        "http://127.0.0.1:3000/.well-known/oauth-protected-resource/api/mcp"
    );
}

#[test]
fn metadata_new_refuses_non_absolute_resources() {
    for bad in ["/mcp", "mcp", "ftp://x/mcp", "https://x/mcp#frag"] {
        let e =
            ProtectedResourceMetadata::new(bad, vec!["https://idp".into()], vec![]).unwrap_err();
        assert_eq!(e.kind().label(), "config", "{bad}");
    }
    let e = ProtectedResourceMetadata::new("https://x/mcp", vec![], vec![]).unwrap_err();
    assert_eq!(e.kind().label(), "config");
}

#[tokio::test]
async fn rfc9728_metadata_served_at_path_inserted_and_root() {
    let app: Router = metadata_router(meta("https://mcp.example.com/mcp"));
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let resp = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
        assert!(
            resp.headers()[CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["resource"], "https://mcp.example.com/mcp");
        assert_eq!(
            v["authorization_servers"][0],
            "https://idp.example.com/realms/mcp"
        );
        assert_eq!(v["bearer_methods_supported"], serde_json::json!(["header"]));
        assert_eq!(v["scopes_supported"], serde_json::json!(["mcp:tools"]));
        assert!(v.get("resource_name").is_none());
    }
    let resp = app
        .oneshot(
            Request::get("/.well-known/oauth-protected-resource/other")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
