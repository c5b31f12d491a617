//! Several trusted issuers and the identity-provider profiles (issue 13):
//! routing by exact `iss` before any key lookup, one key set per issuer,
//! and each profile's token shape against the `test-issuer` fixtures
//! (`test_issuer::profiles`), with the look-alikes each must refuse.

use auth::{
    BearerToken, IssuerConfig, Mode, Principal, Profile, TokenCacheConfig, ValidationConfig,
    Validator,
};
use serde_json::json;
use test_issuer::TestIssuer;
use test_issuer::profiles::{
    Auth0Access, Auth0Dialect, EntraAccess, EntraVersion, KeycloakAccess, OktaAccess, entra_issuer,
    okta_issuer,
};

use super::AUD;

const TENANT_A: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TENANT_B: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
const TENANT_C: &str = "0b6c5a3e-1d4c-4c8e-9f7e-3a2b1c0d9e8f";
/// Entra v2.0 puts the API's client id in `aud`.
const API_CLIENT_ID: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const USER_OID: &str = "00000000-0000-0000-66f3-3332eca7ea81";

/// One issuer served by `idp` (its JWKS), accepting `issuer` with `profile`.
fn issuer_config(idp: &TestIssuer, edit: impl FnOnce(&mut ValidationConfig)) -> IssuerConfig {
    let mut validation = ValidationConfig::new(idp.issuer(), vec![AUD.into()]).unwrap();
    edit(&mut validation);
    let source = jwks::Source::JwksUri(idp.jwks_uri().parse().unwrap());
    IssuerConfig {
        validation,
        jwks: jwks::JwksCache::new(jwks::Config::new(source)).unwrap(),
        mode: Mode::Jwt { online: None },
    }
}

fn validator(issuers: Vec<IssuerConfig>) -> Validator {
    Validator::with_issuers(issuers, TokenCacheConfig::enabled(1000)).unwrap()
}

async fn validate(v: &Validator, token: String) -> Result<Principal, &'static str> {
    v.validate(&BearerToken::new(token))
        .await
        .map_err(|e| e.kind().label())
}

#[tokio::test]
async fn each_issuer_verifies_only_its_own_tokens_even_with_a_colliding_kid() {
    // Both fixtures publish kid `rsa-1` over different keys.
    let (a, b) = (TestIssuer::start().await, TestIssuer::start().await);
    let v = validator(vec![issuer_config(&a, |_| {}), issuer_config(&b, |_| {})]);
    for idp in [&a, &b] {
        let p = validate(&v, idp.token("u", AUD, "mcp:tools"))
            .await
            .unwrap();
        assert_eq!(p.issuer, idp.issuer());
    }
    // B's key signing a token that claims A's `iss`: routed to A's key set,
    // whose `rsa-1` is another key.
    let forged = b.sign(&a.claims("u", AUD, "mcp:tools"));
    assert_eq!(validate(&v, forged).await.unwrap_err(), "invalid_signature");
    // Sessions are bound to (issuer, subject): one `sub`, two principals.
    let pa = validate(&v, a.token("same", AUD, "")).await.unwrap();
    let pb = validate(&v, b.token("same", AUD, "")).await.unwrap();
    assert_eq!(pa.subject, pb.subject);
    assert_ne!(pa.issuer, pb.issuer);
}

#[tokio::test]
async fn an_unknown_issuer_costs_no_key_fetch() {
    let (a, b, stranger) = (
        TestIssuer::start().await,
        TestIssuer::start().await,
        TestIssuer::start().await,
    );
    let v = validator(vec![issuer_config(&a, |_| {}), issuer_config(&b, |_| {})]);
    for _ in 0..20 {
        let t = stranger.token("u", AUD, "mcp:tools");
        assert_eq!(validate(&v, t).await.unwrap_err(), "unknown_issuer");
    }
    // A near miss of a trusted issuer (trailing slash) is unknown too.
    let mut claims = a.claims("u", AUD, "");
    claims["iss"] = json!(format!("{}/", a.issuer()));
    assert_eq!(
        validate(&v, a.sign(&claims)).await.unwrap_err(),
        "unknown_issuer"
    );
    let fetches = a.jwks_requests() + b.jwks_requests() + stranger.jwks_requests();
    assert_eq!(fetches, 0, "refusing unknown issuers fetched keys");
    assert_eq!(v.metrics().failures_for("unknown_issuer"), 21);
}

#[test]
fn configuration_refuses_ambiguous_issuers() {
    let uri = || jwks::Source::JwksUri("http://127.0.0.1:9/certs".parse().unwrap());
    let entry = |iss: &str| IssuerConfig {
        validation: ValidationConfig::new(iss, vec![AUD.into()]).unwrap(),
        jwks: jwks::JwksCache::new(jwks::Config::new(uri())).unwrap(),
        mode: Mode::Jwt { online: None },
    };
    let twice = Validator::with_issuers(
        vec![entry("https://idp/realms/a"), entry("https://idp/realms/a")],
        TokenCacheConfig::disabled(),
    )
    .unwrap_err();
    assert!(twice.to_string().contains("configured twice"), "{twice}");
    let none = Validator::with_issuers(vec![], TokenCacheConfig::disabled()).unwrap_err();
    assert!(none.to_string().contains("no issuer"), "{none}");
}

#[tokio::test]
async fn keycloak_profile_reads_scope_and_azp_only() {
    let idp = TestIssuer::start().await;
    let v = validator(vec![issuer_config(&idp, |c| c.profile = Profile::Keycloak)]);
    let shape = KeycloakAccess::new(&idp.issuer(), "alice", AUD).with_scopes(&["mcp:tools"]);
    let p = validate(&v, idp.mint(&shape)).await.unwrap();
    assert!(p.scopes.contains("mcp:tools"));
    assert_eq!(p.client_id.as_deref(), Some(shape.azp.as_str()));
    assert_eq!(p.subject.as_deref(), Some("alice"));
    // Scopes in the wrong claim grant nothing.
    let mut claims = shape.claims();
    claims.as_object_mut().unwrap().remove("scope");
    claims["scp"] = json!(["mcp:tools"]);
    let p = validate(&v, idp.sign(&claims)).await.unwrap();
    assert!(p.scopes.is_empty(), "{:?}", p.scopes);
}

/// An Entra issuer entry whose keys `idp` serves.
fn entra(
    idp: &TestIssuer,
    issuer: String,
    edit: impl FnOnce(&mut ValidationConfig),
) -> IssuerConfig {
    issuer_config(idp, |c| {
        c.issuer = issuer;
        c.audiences = vec![API_CLIENT_ID.into(), "api://mcp-templates".into()];
        c.profile = Profile::Entra;
        edit(c);
    })
}

#[tokio::test]
async fn entra_v2_user_and_app_only_tokens() {
    let idp = TestIssuer::start().await;
    let v = validator(vec![entra(
        &idp,
        entra_issuer(EntraVersion::V2, TENANT_A),
        |c| {
            c.role_scopes = vec![(
                "Templates.Write".into(),
                vec!["templates:write".into(), "mcp:tools".into()],
            )];
        },
    )]);
    let user = EntraAccess::user(
        EntraVersion::V2,
        TENANT_A,
        API_CLIENT_ID,
        "client-app",
        USER_OID,
    )
    .with_scopes(&["mcp:tools"]);
    let p = validate(&v, idp.mint(&user)).await.unwrap();
    assert!(p.scopes.contains("mcp:tools") && !p.scopes.contains("templates:write"));
    // `sub` is pairwise; the session subject is `oid`.
    assert_ne!(user.subject, USER_OID);
    assert_eq!(p.subject.as_deref(), Some(USER_OID));
    assert_eq!(p.client_id.as_deref(), Some("client-app"));

    // Application permissions come in `roles`, mapped explicitly.
    let app = EntraAccess::app_only(
        EntraVersion::V2,
        TENANT_A,
        API_CLIENT_ID,
        "daemon",
        "sp-oid",
        &["Templates.Write", "Other.Role"],
    );
    let p = validate(&v, idp.mint(&app)).await.unwrap();
    assert!(p.scopes.contains("templates:write") && p.scopes.contains("mcp:tools"));
    assert!(!p.scopes.contains("Other.Role") && !p.scopes.contains("Templates.Write"));

    // Scopes in the wrong claim: Entra's `scope` is not read.
    let mut claims = user.claims();
    claims.as_object_mut().unwrap().remove("scp");
    claims["scope"] = json!("mcp:tools");
    let p = validate(&v, idp.sign(&claims)).await.unwrap();
    assert!(p.scopes.is_empty(), "{:?}", p.scopes);
}

#[tokio::test]
async fn entra_look_alikes_are_refused() {
    let idp = TestIssuer::start().await;
    let v = validator(vec![entra(
        &idp,
        entra_issuer(EntraVersion::V2, TENANT_A),
        |_| {},
    )]);
    let good = || EntraAccess::user(EntraVersion::V2, TENANT_A, API_CLIENT_ID, "c", USER_OID);
    assert!(validate(&v, idp.mint(&good())).await.is_ok());

    // A token from an unlisted tenant.
    let other = EntraAccess::user(EntraVersion::V2, TENANT_B, API_CLIENT_ID, "c", USER_OID);
    assert_eq!(
        validate(&v, idp.mint(&other)).await.unwrap_err(),
        "unknown_issuer"
    );
    // A v1.0 token where only the v2.0 issuer is configured.
    let v1 = EntraAccess::user(EntraVersion::V1, TENANT_A, API_CLIENT_ID, "c", USER_OID);
    assert_eq!(
        validate(&v, idp.mint(&v1)).await.unwrap_err(),
        "unknown_issuer"
    );
    // `tid` naming another tenant than `iss`.
    let mut claims = good().claims();
    claims["tid"] = json!(TENANT_B);
    assert_eq!(
        validate(&v, idp.sign(&claims)).await.unwrap_err(),
        "invalid_issuer"
    );
    // `ver` contradicting the issuer form.
    let mut claims = good().claims();
    claims["ver"] = json!("1.0");
    assert_eq!(
        validate(&v, idp.sign(&claims)).await.unwrap_err(),
        "invalid_issuer"
    );
    // The session subject must be there.
    for claim in ["oid", "tid", "ver"] {
        let mut claims = good().claims();
        claims.as_object_mut().unwrap().remove(claim);
        assert_eq!(
            validate(&v, idp.sign(&claims)).await.unwrap_err(),
            "missing_claim",
            "{claim}"
        );
    }
}

#[tokio::test]
async fn entra_v1_tokens_with_their_own_issuer_and_appid() {
    let idp = TestIssuer::start().await;
    idp.publish_x5t(&idp.signing_kid());
    let v = validator(vec![entra(
        &idp,
        entra_issuer(EntraVersion::V1, TENANT_A),
        |_| {},
    )]);
    let v1 = EntraAccess::user(
        EntraVersion::V1,
        TENANT_A,
        "api://mcp-templates",
        "legacy",
        USER_OID,
    )
    .with_scopes(&["mcp:tools"]);
    let p = validate(&v, idp.mint(&v1)).await.unwrap();
    assert_eq!(p.client_id.as_deref(), Some("legacy"));
    assert!(p.scopes.contains("mcp:tools"));
    let v2 = EntraAccess::user(EntraVersion::V2, TENANT_A, API_CLIENT_ID, "c", USER_OID);
    assert_eq!(
        validate(&v, idp.mint(&v2)).await.unwrap_err(),
        "unknown_issuer"
    );
}

#[tokio::test]
async fn entra_multi_tenant_trusts_only_the_listed_tenants() {
    let idp = TestIssuer::start().await;
    let template = format!(
        "https://login.microsoftonline.com/{}/v2.0",
        auth::TENANT_PLACEHOLDER
    );
    let v = validator(vec![entra(&idp, template, |c| {
        c.tenants = vec![TENANT_A.into(), TENANT_B.into()];
    })]);
    for tenant in [TENANT_A, TENANT_B] {
        let t = EntraAccess::user(EntraVersion::V2, tenant, API_CLIENT_ID, "c", USER_OID);
        let p = validate(&v, idp.mint(&t)).await.unwrap();
        assert_eq!(p.issuer, entra_issuer(EntraVersion::V2, tenant));
    }
    // Never trust `{tenantid}` from the token alone.
    let t = EntraAccess::user(EntraVersion::V2, TENANT_C, API_CLIENT_ID, "c", USER_OID);
    assert_eq!(
        validate(&v, idp.mint(&t)).await.unwrap_err(),
        "unknown_issuer"
    );
    // A listed tenant's `iss` with another tenant's `tid`.
    let mut claims =
        EntraAccess::user(EntraVersion::V2, TENANT_A, API_CLIENT_ID, "c", USER_OID).claims();
    claims["tid"] = json!(TENANT_B);
    assert_eq!(
        validate(&v, idp.sign(&claims)).await.unwrap_err(),
        "invalid_issuer"
    );
}

#[tokio::test]
async fn auth0_grants_scope_and_rbac_permissions() {
    let idp = TestIssuer::start().await;
    let domain = "tenant.eu.auth0.com";
    let v = validator(vec![issuer_config(&idp, |c| {
        c.issuer = format!("https://{domain}/");
        c.profile = Profile::Auth0;
    })]);
    for dialect in [Auth0Dialect::Auth0, Auth0Dialect::Rfc9068] {
        let t = Auth0Access::user(dialect, domain, AUD, "spa", "auth0|alice")
            .with_scopes(&["mcp:tools"])
            .with_permissions(&["templates:write"]);
        let p = validate(&v, idp.mint(&t)).await.unwrap();
        assert!(
            p.scopes.contains("mcp:tools") && p.scopes.contains("templates:write"),
            "{dialect:?}"
        );
        assert_eq!(p.client_id.as_deref(), Some("spa"));
    }
    // The issuer without its trailing slash is another issuer.
    let mut t = Auth0Access::user(Auth0Dialect::Auth0, domain, AUD, "spa", "auth0|alice");
    t.issuer = format!("https://{domain}");
    assert_eq!(
        validate(&v, idp.mint(&t)).await.unwrap_err(),
        "unknown_issuer"
    );
}

#[tokio::test]
async fn okta_reads_the_scp_array_and_cid() {
    let idp = TestIssuer::start().await;
    let issuer = okta_issuer("example.okta.com", "default");
    let v = validator(vec![issuer_config(&idp, |c| {
        c.issuer = issuer.clone();
        c.profile = Profile::Okta;
    })]);
    let t = OktaAccess::user(&issuer, AUD, "0oa1b2c3", "alice@example.com", "00u1")
        .with_scopes(&["mcp:tools", "openid"]);
    let p = validate(&v, idp.mint(&t)).await.unwrap();
    assert!(p.scopes.contains("mcp:tools"));
    assert_eq!(p.client_id.as_deref(), Some("0oa1b2c3"));
    // `scope` is not where Okta puts scopes.
    let mut claims = t.claims();
    claims["scp"] = json!([]);
    claims["scope"] = json!("mcp:tools");
    let p = validate(&v, idp.sign(&claims)).await.unwrap();
    assert!(p.scopes.is_empty(), "{:?}", p.scopes);
}

#[test]
fn profile_configuration_mistakes_are_named() {
    let config = |iss: &str, profile: Profile, edit: fn(&mut ValidationConfig)| {
        let mut c = ValidationConfig::new(iss, vec![AUD.into()]).unwrap();
        c.profile = profile;
        edit(&mut c);
        c.check().map_err(|e| e.to_string())
    };
    let auth0 = config("https://tenant.auth0.com", Profile::Auth0, |_| {}).unwrap_err();
    assert!(auth0.contains("end with '/'"), "{auth0}");
    let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
    let no_tenants = config(template, Profile::Entra, |_| {}).unwrap_err();
    assert!(
        no_tenants.contains("list the trusted tenant ids"),
        "{no_tenants}"
    );
    let bad = config(template, Profile::Entra, |c| {
        c.tenants = vec!["common".into()]
    })
    .unwrap_err();
    assert!(bad.contains("\"common\" is not a tenant id"), "{bad}");
    let not_entra = config(template, Profile::Generic, |_| {}).unwrap_err();
    assert!(not_entra.contains("only the entra profile"), "{not_entra}");
    let roles = config("https://idp/", Profile::Keycloak, |c| {
        c.role_scopes = vec![("r".into(), vec!["s".into()])];
    })
    .unwrap_err();
    assert!(roles.contains("role_scopes"), "{roles}");
    let not_entra_url = config("https://idp.example.com/", Profile::Entra, |_| {}).unwrap_err();
    assert!(
        not_entra_url.contains("not an Entra issuer"),
        "{not_entra_url}"
    );
    assert!(
        config(template, Profile::Entra, |c| c.tenants =
            vec![TENANT_A.into()])
        .is_ok()
    );
}
