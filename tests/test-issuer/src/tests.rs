//! Smoke tests: the fixture does what tests elsewhere rely on.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation, decode};
use serde_json::{Value, json};

use crate::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, INITIAL_KID, JwksFault, KeyAlg, TestIssuer};

async fn get_json(url: &str) -> (u16, Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn discovery_names_issuer_jwks_and_introspection() {
    let issuer = TestIssuer::start().await;
    let (status, doc) = get_json(&issuer.discovery_url()).await;
    assert_eq!(status, 200);
    assert_eq!(doc["issuer"], json!(issuer.issuer()));
    assert_eq!(doc["jwks_uri"], json!(issuer.jwks_uri()));
    assert_eq!(
        doc["introspection_endpoint"],
        json!(issuer.introspection_endpoint())
    );
    assert_eq!(issuer.discovery_requests(), 1);

    issuer.set_issuer_override(Some("https://evil.example/realms/test"));
    let (_, doc) = get_json(&issuer.discovery_url()).await;
    assert_eq!(doc["issuer"], json!("https://evil.example/realms/test"));
}

#[tokio::test]
async fn every_alg_signs_tokens_that_verify_against_its_published_jwk() {
    let issuer = TestIssuer::start().await;
    let algs = [
        (KeyAlg::Ps256, "ps"),
        (KeyAlg::Es256, "es256"),
        (KeyAlg::Es384, "es384"),
        (KeyAlg::EdDsa, "ed"),
    ];
    for (alg, kid) in algs {
        issuer.add_key(alg, kid);
    }
    issuer.add_encryption_key("enc-1");
    let (_, jwks) = get_json(&issuer.jwks_uri()).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 6);
    assert_eq!(issuer.jwks_requests(), 1);

    for (alg, kid) in [(KeyAlg::Rs256, INITIAL_KID)].into_iter().chain(algs) {
        issuer.set_signing_kid(kid);
        let token = issuer.token("alice", "https://mcp.example/mcp", "files:read");
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(kid));
        assert_eq!(header.alg, alg.algorithm());
        let jwk: Jwk = serde_json::from_value(issuer.public_jwk(kid)).unwrap();
        let key = DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = Validation::new(alg.algorithm());
        validation.set_audience(&["https://mcp.example/mcp"]);
        validation.set_issuer(&[issuer.issuer()]);
        let data = decode::<Value>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims["sub"], json!("alice"));
        assert_eq!(data.claims["typ"], json!("Bearer"));
    }
}

#[tokio::test]
async fn removed_key_leaves_the_jwks_but_can_still_sign() {
    let issuer = TestIssuer::start().await;
    issuer.add_key(KeyAlg::Es256, "ec-2");
    issuer.remove_key(INITIAL_KID);
    let kids: Vec<String> = issuer.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, ["ec-2"]);
    let token = issuer.token("bob", "aud", "");
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
        Some(INITIAL_KID)
    );
}

#[tokio::test]
async fn jwks_faults_are_served() {
    let issuer = TestIssuer::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    issuer.set_jwks_fault(Some(JwksFault::Status(503)));
    assert_eq!(
        client.get(issuer.jwks_uri()).send().await.unwrap().status(),
        503
    );

    issuer.set_jwks_fault(Some(JwksFault::Redirect("http://127.0.0.1:1/x".into())));
    let resp = client.get(issuer.jwks_uri()).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "http://127.0.0.1:1/x");

    issuer.set_jwks_fault(Some(JwksFault::HugeBody(100_000)));
    let resp = client.get(issuer.jwks_uri()).send().await.unwrap();
    assert_eq!(
        resp.content_length(),
        None,
        "huge body must be streamed without a length"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["padding"].as_str().unwrap().len(), 100_000);
    assert_eq!(body["keys"].as_array().unwrap().len(), 1);

    issuer.set_jwks_fault(Some(JwksFault::BadKeyAmongGood));
    let (_, body) = get_json(&issuer.jwks_uri()).await;
    assert_eq!(
        body["keys"].as_array().unwrap().len(),
        1 + crate::BAD_KIDS.len()
    );

    issuer.set_jwks_fault(None);
    assert_eq!(issuer.jwks_requests(), 4);
}

async fn introspect(
    issuer: &TestIssuer,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(issuer.introspection_endpoint())
        .form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn rfc7662_introspection_answers_active_inactive_and_checks_the_client() {
    let issuer = TestIssuer::start().await;
    let token = issuer.token("alice", "aud", "files:read");
    let basic = Some((DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET));

    let (status, body) = introspect(&issuer, &[("token", &token)], basic).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], json!(true));
    assert_eq!(body["sub"], json!("alice"));
    assert_eq!(body["scope"], json!("files:read"));

    // client_secret_post works too.
    let form = [
        ("token", token.as_str()),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ];
    let (status, body) = introspect(&issuer, &form, None).await;
    assert_eq!((status, body["active"].clone()), (200, json!(true)));

    // Wrong or missing client credentials: 401.
    assert_eq!(
        introspect(
            &issuer,
            &[("token", &token)],
            Some((DEFAULT_CLIENT_ID, "nope"))
        )
        .await
        .0,
        401
    );
    assert_eq!(introspect(&issuer, &[("token", &token)], None).await.0, 401);

    // RFC 7662 §2.2: anything not active is exactly {"active": false}.
    issuer.revoke(&token);
    assert_eq!(
        introspect(&issuer, &[("token", &token)], basic).await.1,
        json!({ "active": false })
    );
    let (_, body) = introspect(&issuer, &[("token", "garbage")], basic).await;
    assert_eq!(body, json!({ "active": false }));

    issuer.register_opaque(
        "opaque-1",
        json!({ "sub": "svc", "scope": "files:read", "exp": 4_000_000_000u64 }),
    );
    issuer.register_opaque("opaque-old", json!({ "sub": "svc", "exp": 1 }));
    assert_eq!(
        introspect(&issuer, &[("token", "opaque-1")], basic).await.1["active"],
        json!(true)
    );
    assert_eq!(
        introspect(&issuer, &[("token", "opaque-old")], basic)
            .await
            .1,
        json!({ "active": false })
    );

    issuer.set_introspection_client("other", "s3cr:t");
    let (status, body) =
        introspect(&issuer, &[("token", "opaque-1")], Some(("other", "s3cr:t"))).await;
    assert_eq!((status, body["active"].clone()), (200, json!(true)));
    assert_eq!(issuer.introspection_requests(), 9);
}
