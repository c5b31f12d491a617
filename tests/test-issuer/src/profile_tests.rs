//! Tests of the provider token shapes ([`crate::profiles`]), of minting them, of the JWKS
//! member knobs Entra needs, and of several issuers running side by side.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Value, json};

use crate::profiles::{
    Auth0Access, Auth0Dialect, EntraAccess, EntraVersion, KeycloakAccess, OktaAccess, entra_header,
    okta_issuer,
};
use crate::{INITIAL_KID, KeyAlg, TestIssuer};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const API_CLIENT_ID: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const CALLER_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const USER_OID: &str = "8d2bd7ea-1c5b-4a36-9a33-1e5f8c6fb3d1";

/// Verifies `token` against the public JWK `kid` of `issuer`, checking `aud` and `iss`.
fn verify(issuer: &TestIssuer, token: &str, kid: &str, aud: &str, iss: &str) -> Value {
    let jwk: Jwk = serde_json::from_value(issuer.public_jwk(kid)).unwrap();
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let alg = decode_header(token).unwrap().alg;
    let mut validation = Validation::new(alg);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[iss]);
    decode::<Value>(token, &key, &validation).unwrap().claims
}

#[tokio::test]
async fn keycloak_shape_has_array_aud_scope_string_and_typ_bearer() {
    let issuer = TestIssuer::start().await;
    let shape = KeycloakAccess::new(&issuer.issuer(), "alice", "https://mcp.example/mcp")
        .with_scopes(&["openid", "files:read"]);
    let token = issuer.mint(&shape);

    let header = decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.kid.as_deref(), Some(INITIAL_KID));
    let claims = verify(
        &issuer,
        &token,
        INITIAL_KID,
        "https://mcp.example/mcp",
        &issuer.issuer(),
    );
    assert_eq!(claims["aud"], json!(["https://mcp.example/mcp"]));
    assert_eq!(claims["scope"], json!("openid files:read"));
    assert_eq!(claims["typ"], json!("Bearer"));
    assert_eq!(claims["azp"], json!(crate::TOKEN_AZP));
    assert!(claims["jti"].is_string());
}

#[tokio::test]
async fn entra_v2_user_shape() {
    let issuer = TestIssuer::start().await;
    let shape = EntraAccess::user(EntraVersion::V2, TENANT, API_CLIENT_ID, CALLER_ID, USER_OID)
        .with_scopes(&["Templates.Read", "Templates.Write"])
        .with_roles(&["Admin"]);
    let token = issuer.sign_with(
        entra_header(EntraVersion::V2, INITIAL_KID),
        &shape.claims(),
        INITIAL_KID,
    );

    let header = decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.kid.as_deref(), Some(INITIAL_KID));
    assert_eq!(header.x5t, None, "x5t is emitted only in v1.0 tokens");
    let iss = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let claims = verify(&issuer, &token, INITIAL_KID, API_CLIENT_ID, &iss);
    assert_eq!(claims["ver"], json!("2.0"));
    assert_eq!(claims["tid"], json!(TENANT));
    assert_eq!(claims["azp"], json!(CALLER_ID));
    assert_eq!(claims.get("appid"), None);
    assert_eq!(claims["scp"], json!("Templates.Read Templates.Write"));
    assert_eq!(claims["roles"], json!(["Admin"]));
    assert_eq!(claims["oid"], json!(USER_OID));
    let sub = claims["sub"].as_str().unwrap();
    assert_ne!(sub, USER_OID, "sub is pairwise, not the oid");
    assert_eq!(sub.len(), 43);
    assert_eq!(claims["nbf"], claims["iat"]);
}

#[tokio::test]
async fn entra_v1_shape_has_sts_issuer_appid_and_x5t() {
    let issuer = TestIssuer::start().await;
    let aud = "api://mcp-templates";
    let shape = EntraAccess::user(EntraVersion::V1, TENANT, aud, CALLER_ID, USER_OID)
        .with_scopes(&["Templates.Read"]);
    let token = issuer.mint(&shape);

    let header = decode_header(&token).unwrap();
    assert_eq!(header.x5t.as_deref(), Some(INITIAL_KID), "x5t == kid");
    assert_eq!(header.kid.as_deref(), Some(INITIAL_KID));
    let iss = format!("https://sts.windows.net/{TENANT}/");
    let claims = verify(&issuer, &token, INITIAL_KID, aud, &iss);
    assert_eq!(claims["ver"], json!("1.0"));
    assert_eq!(claims["appid"], json!(CALLER_ID));
    assert_eq!(claims.get("azp"), None);
    assert_eq!(claims["scp"], json!("Templates.Read"));
    assert_eq!(claims.get("roles"), None);
}

#[tokio::test]
async fn entra_app_only_shape_has_roles_no_scp_and_sub_equal_to_oid() {
    let issuer = TestIssuer::start().await;
    let sp_oid = "1f7a4c2e-0000-4000-8000-00000000a99f";
    let shape = EntraAccess::app_only(
        EntraVersion::V2,
        TENANT,
        API_CLIENT_ID,
        CALLER_ID,
        sp_oid,
        &["Templates.Write"],
    );
    let token = issuer.mint(&shape);
    let iss = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let claims = verify(&issuer, &token, INITIAL_KID, API_CLIENT_ID, &iss);
    assert_eq!(claims["roles"], json!(["Templates.Write"]));
    assert_eq!(claims.get("scp"), None);
    assert_eq!(claims["sub"], json!(sp_oid));
    assert_eq!(claims["oid"], json!(sp_oid));
    assert_eq!(claims["azpacr"], json!("1"));
}

#[tokio::test]
async fn auth0_default_and_rfc9068_profiles_differ_in_typ_and_client_claim() {
    let issuer = TestIssuer::start().await;
    let api = "https://mcp.example/api";
    let iss = "https://tenant.eu.auth0.com/";

    let default = Auth0Access::user(
        Auth0Dialect::Auth0,
        "tenant.eu.auth0.com",
        api,
        "client-abc",
        "auth0|123456",
    )
    .with_scopes(&["files:read"])
    .with_permissions(&["files:write"]);
    let token = issuer.mint(&default);
    assert_eq!(decode_header(&token).unwrap().typ.as_deref(), Some("JWT"));
    let claims = verify(&issuer, &token, INITIAL_KID, api, iss);
    assert_eq!(
        claims["aud"],
        json!([api, "https://tenant.eu.auth0.com/userinfo"])
    );
    assert_eq!(claims["azp"], json!("client-abc"));
    assert_eq!(claims.get("client_id"), None);
    assert_eq!(claims.get("jti"), None);
    assert_eq!(claims["scope"], json!("openid files:read"));
    assert_eq!(claims["permissions"], json!(["files:write"]));

    let rfc = Auth0Access {
        dialect: Auth0Dialect::Rfc9068,
        ..default
    };
    let token = issuer.mint(&rfc);
    assert_eq!(
        decode_header(&token).unwrap().typ.as_deref(),
        Some("at+jwt")
    );
    let claims = verify(&issuer, &token, INITIAL_KID, api, iss);
    assert_eq!(claims["client_id"], json!("client-abc"));
    assert_eq!(claims.get("azp"), None);
    assert!(claims["jti"].is_string());

    let m2m = Auth0Access::client_credentials(
        Auth0Dialect::Auth0,
        "tenant.eu.auth0.com",
        api,
        "client-abc",
    )
    .with_scopes(&["files:read"]);
    let claims = m2m.claims();
    assert_eq!(claims["sub"], json!("client-abc@clients"));
    assert_eq!(claims["aud"], json!(api));
    assert_eq!(claims["gty"], json!("client-credentials"));
    assert_eq!(claims["scope"], json!("files:read"));
    assert_eq!(claims.get("permissions"), None);
}

#[tokio::test]
async fn okta_shape_has_no_typ_scp_array_cid_uid_and_numeric_ver() {
    let issuer = TestIssuer::start().await;
    let iss = okta_issuer("dev-123.okta.com", "default");
    assert_eq!(iss, "https://dev-123.okta.com/oauth2/default");
    let shape = OktaAccess::user(
        &iss,
        "api://default",
        "0oa1client",
        "alice@example.com",
        "00u1alice",
    )
    .with_scopes(&["openid", "files:read"]);
    let token = issuer.mint(&shape);

    let header = decode_header(&token).unwrap();
    assert_eq!(header.typ, None);
    assert_eq!(header.kid.as_deref(), Some(INITIAL_KID));
    let claims = verify(&issuer, &token, INITIAL_KID, "api://default", &iss);
    assert_eq!(claims["ver"], json!(1));
    assert_eq!(claims["scp"], json!(["openid", "files:read"]));
    assert_eq!(claims["cid"], json!("0oa1client"));
    assert_eq!(claims["uid"], json!("00u1alice"));
    assert!(claims["jti"].as_str().unwrap().starts_with("AT."));
    assert!(claims["auth_time"].is_u64());

    let m2m = OktaAccess::client_credentials(&iss, "api://default", "0oa1client").claims();
    assert_eq!(m2m["sub"], json!("0oa1client"));
    assert_eq!(m2m.get("uid"), None);
    assert_eq!(m2m.get("auth_time"), None);
}

#[tokio::test]
async fn mint_sets_alg_to_suit_a_non_rsa_signing_key() {
    let issuer = TestIssuer::start().await;
    issuer.add_key(KeyAlg::Es256, "ec-1");
    issuer.set_signing_kid("ec-1");
    let iss = okta_issuer("dev-123.okta.com", "aus1");
    let token = issuer.mint(&OktaAccess::client_credentials(&iss, "api://x", "c"));
    let header = decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("ec-1"));
    verify(&issuer, &token, "ec-1", "api://x", &iss);
}

#[tokio::test]
async fn jwks_members_can_be_shaped_like_entra() {
    let issuer = TestIssuer::start().await;
    issuer.publish_x5t(INITIAL_KID);
    issuer.set_jwk_member(INITIAL_KID, "alg", None);
    issuer.set_jwk_member(
        INITIAL_KID,
        "issuer",
        Some(json!("https://login.microsoftonline.com/{tenantid}/v2.0")),
    );
    let served: Value = reqwest::get(issuer.jwks_uri())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &served["keys"][0];
    assert_eq!(key["x5t"], json!(INITIAL_KID));
    assert_eq!(key["kid"], json!(INITIAL_KID));
    assert_eq!(key.get("alg"), None);
    assert_eq!(
        key["issuer"],
        json!("https://login.microsoftonline.com/{tenantid}/v2.0")
    );
    // The reshaped JWK still verifies tokens.
    let shape = EntraAccess::user(EntraVersion::V1, TENANT, "api://x", CALLER_ID, USER_OID);
    let token = issuer.mint(&shape);
    verify(&issuer, &token, INITIAL_KID, "api://x", &shape.issuer);
}

#[tokio::test]
async fn two_issuers_run_side_by_side_with_a_colliding_kid() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    assert_ne!(a.issuer(), b.issuer());
    assert_eq!(a.signing_kid(), INITIAL_KID);
    assert_eq!(b.signing_kid(), INITIAL_KID);
    assert_ne!(a.public_jwk(INITIAL_KID), b.public_jwk(INITIAL_KID));

    // Both serve their JWKS at once.
    for issuer in [&a, &b] {
        let jwks: Value = reqwest::get(issuer.jwks_uri())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(jwks, issuer.jwks());
    }

    // A's token does not verify under B's key of the same kid.
    let token = a.token("alice", "aud", "");
    let jwk: Jwk = serde_json::from_value(b.public_jwk(INITIAL_KID)).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["aud"]);
    let err =
        decode::<Value>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation).unwrap_err();
    assert_eq!(
        *err.kind(),
        jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
    verify(&a, &token, INITIAL_KID, "aud", &a.issuer());

    let c = TestIssuer::start_with_kid("c-1").await;
    assert_eq!(c.signing_kid(), "c-1");
    let token = c.token("carol", "aud", "");
    assert_eq!(decode_header(&token).unwrap().kid.as_deref(), Some("c-1"));
    verify(&c, &token, "c-1", "aud", &c.issuer());
}
