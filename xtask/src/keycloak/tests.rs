//! Unit tests of the realm file and of the provisioning helpers that need no
//! running Keycloak. The live checks (tokens, scopes, introspection,
//! rotation) run against a real Keycloak in `cargo xtask e2e`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::dist::parse_java_version;
use super::provision::{REALM_FILE, realm_representation, second_realm_representation};
use super::*;

fn realm_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(REALM_FILE)
}

fn realm(opts: &StartOptions) -> Value {
    match realm_representation(&realm_path(), opts) {
        Ok(realm) => realm,
        Err(e) => panic!("realm file: {e:#}"),
    }
}

fn default_realm() -> Value {
    realm(&options(DEFAULT_AUDIENCE))
}

fn options(audience: &str) -> StartOptions {
    StartOptions {
        audience: audience.to_owned(),
        extra_redirect_uris: Vec::new(),
        http_port: None,
        management_port: None,
        ready_timeout: Duration::from_secs(1),
        features: Vec::new(),
        persistent: false,
    }
}

fn scope<'a>(realm: &'a Value, name: &str) -> &'a Value {
    let scopes = realm["clientScopes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    scopes
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no client scope {name}"))
}

fn client<'a>(realm: &'a Value, id: &str) -> &'a Value {
    let clients = realm["clients"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    clients
        .iter()
        .find(|c| c["clientId"] == id)
        .unwrap_or_else(|| panic!("no client {id}"))
}

fn audiences(realm: &Value, scope_name: &str) -> Vec<String> {
    let mappers = scope(realm, scope_name)["protocolMappers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    mappers
        .iter()
        .filter(|m| m["protocolMapper"] == "oidc-audience-mapper")
        .filter_map(|m| {
            let config = &m["config"];
            config["included.custom.audience"]
                .as_str()
                .or(config["included.client.audience"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A realm JSON that declares any client scope gets none of Keycloak's
/// built-ins, so `basic` (which carries `sub`) must be declared by hand.
#[test]
fn realm_declares_basic_scope_with_sub_mapper() {
    let realm = default_realm();
    let basic = scope(&realm, "basic");
    let mappers = basic["protocolMappers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        mappers
            .iter()
            .any(|m| m["protocolMapper"] == "oidc-sub-mapper"
                && m["config"]["access.token.claim"] == "true")
    );
    for id in ["mcp-server", "mcp-client", "mcp-test", "mcp-short"] {
        assert!(
            strings(&client(&realm, id)["defaultClientScopes"]).contains(&"basic"),
            "{id} lacks basic"
        );
    }
}

/// Keycloak's MCP recipe: the audience (RFC 9068 `aud`) comes from an
/// Audience mapper on the optional scope, and follows the requested audience.
#[test]
fn audience_mapper_follows_start_options() {
    let realm = default_realm();
    assert_eq!(
        audiences(&realm, "mcp:tools"),
        [DEFAULT_AUDIENCE, "mcp-server"]
    );
    assert_eq!(
        audiences(&realm, "templates:write"),
        [DEFAULT_AUDIENCE, "mcp-server"]
    );

    let realm = realm_for("http://localhost:43210/mcp");
    assert_eq!(
        audiences(&realm, "mcp:tools"),
        ["http://localhost:43210/mcp", "mcp-server"]
    );
    assert_eq!(
        audiences(&realm, "templates:write"),
        ["http://localhost:43210/mcp", "mcp-server"]
    );
}

/// RFC 7662 introspection by `mcp-server`: since 26.6.2 (CVE-2026-37979)
/// Keycloak answers `{"active": false}` unless the introspecting client is
/// in the token's `aud`, so both MCP scopes add the `mcp-server` client too.
#[test]
fn mcp_scopes_put_the_introspecting_client_in_aud() {
    let realm = default_realm();
    for name in ["mcp:tools", "templates:write"] {
        assert!(
            audiences(&realm, name).contains(&"mcp-server".to_owned()),
            "{name}"
        );
    }
}

fn realm_for(audience: &str) -> Value {
    realm(&options(audience))
}

/// Keycloak drops an optional scope the user may not have only when the scope
/// has a role scope mapping: `templates:write` needs `template-writer`, which
/// alice has and bob has not.
#[test]
fn templates_write_is_gated_by_the_template_writer_role() {
    let realm = default_realm();
    let mappings = realm["scopeMappings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let roles_of = |scope: &str| -> Vec<String> {
        mappings
            .iter()
            .filter(|m| m["clientScope"] == scope)
            .flat_map(|m| {
                strings(&m["roles"])
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert_eq!(roles_of("templates:write"), ["template-writer"]);
    assert_eq!(roles_of("mcp:tools"), ["mcp-user"]);

    let users = realm["users"].as_array().cloned().unwrap_or_default();
    let roles = |name: &str| {
        let user = users
            .iter()
            .find(|u| u["username"] == name)
            .unwrap_or_else(|| panic!("no user {name}"));
        strings(&user["realmRoles"])
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(roles("alice").contains(&"template-writer".to_owned()));
    assert!(roles("alice").contains(&"mcp-user".to_owned()));
    assert!(roles("bob").contains(&"mcp-user".to_owned()));
    assert!(!roles("bob").contains(&"template-writer".to_owned()));
    // The Python SDK 2.x asks for `offline_access` when Keycloak advertises
    // it; without the role the login ends in `not_allowed`.
    for user in ["alice", "bob"] {
        assert!(roles(user).contains(&"offline_access".to_owned()), "{user}");
    }
}

/// The anonymous client-registration policies of `components`, by
/// provider id.
fn anonymous_policy<'a>(realm: &'a Value, provider: &str) -> &'a Value {
    realm["components"]["org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .find(|c| c["providerId"] == provider && c["subType"] == "anonymous")
        .unwrap_or_else(|| panic!("no anonymous registration policy {provider}"))
}

/// RFC 7591 as Keycloak's MCP guide sets it up: anonymous registration from
/// loopback only, our two scopes, consent, no full scope, a bound on the
/// number of clients, and CORS for MCP Inspector's origin.
#[test]
fn rfc7591_anonymous_registration_admits_loopback_clients_with_our_scopes() {
    let realm = default_realm();
    let hosts = anonymous_policy(&realm, "trusted-hosts");
    assert_eq!(
        strings(&hosts["config"]["trusted-hosts"]),
        ["localhost", "127.0.0.1"]
    );
    for must_match in [
        "host-sending-registration-request-must-match",
        "client-uris-must-match",
    ] {
        assert_eq!(
            strings(&hosts["config"][must_match]),
            ["true"],
            "{must_match}"
        );
    }
    let scopes = anonymous_policy(&realm, "allowed-client-templates");
    assert_eq!(
        strings(&scopes["config"]["allowed-client-scopes"]),
        ["mcp:tools", "templates:write"]
    );
    anonymous_policy(&realm, "consent-required");
    anonymous_policy(&realm, "scope");
    let max = anonymous_policy(&realm, "max-clients");
    assert_eq!(strings(&max["config"]["max-clients"]), ["200"]);
    let origins = anonymous_policy(&realm, "registration-web-origins");
    assert!(strings(&origins["config"]["web-origins"]).contains(&"http://localhost:6274"));
}

/// Client ID Metadata Documents are admitted from the allow-list only, and
/// every anonymously registered client gets PKCE.
#[test]
fn cimd_policy_admits_allow_listed_metadata_urls_and_registered_clients_get_pkce() {
    let realm = default_realm();
    let policies = realm["clientPolicies"]["policies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let profiles = realm["clientProfiles"]["profiles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let executors_of = |policy: &str| -> Vec<(String, Value)> {
        let policy = policies
            .iter()
            .find(|p| p["name"] == policy)
            .unwrap_or_else(|| panic!("no client policy {policy}"));
        assert_eq!(policy["enabled"], true);
        strings(&policy["profiles"])
            .iter()
            .flat_map(|name| {
                let profile = profiles
                    .iter()
                    .find(|p| p["name"] == *name)
                    .unwrap_or_else(|| panic!("no client profile {name}"));
                profile["executors"].as_array().cloned().unwrap_or_default()
            })
            .map(|e| {
                (
                    e["executor"].as_str().unwrap_or_default().to_owned(),
                    e["configuration"].clone(),
                )
            })
            .collect()
    };

    let cimd = policies
        .iter()
        .find(|p| p["name"] == "mcp-cimd-policy")
        .expect("cimd policy");
    let condition = &cimd["conditions"][0];
    assert_eq!(condition["condition"], "client-id-uri");
    assert_eq!(
        strings(&condition["configuration"]["client-id-uri-allow-permitted-domains"]),
        ["localhost", "127.0.0.1"]
    );
    let executors = executors_of("mcp-cimd-policy");
    let (_, document) = executors
        .iter()
        .find(|(name, _)| name == "client-id-metadata-document")
        .expect("the client-id-metadata-document executor");
    assert_eq!(
        strings(&document["cimd-allow-permitted-domains"]),
        ["localhost", "127.0.0.1"]
    );
    assert!(executors.iter().any(|(name, _)| name == "pkce-enforcer"));

    let registered = executors_of("mcp-registered-policy");
    let (_, pkce) = registered
        .iter()
        .find(|(name, _)| name == "pkce-enforcer")
        .expect("pkce-enforcer for registered clients");
    assert_eq!(pkce["auto-configure"], "true");
}

/// RFC 8707 with Keycloak's resource indicators: the resource client's id
/// and `resource_url` are the audience, so it admits `resource` requests and
/// stays in every narrowed `aud` (the client the dev server introspects as).
#[test]
fn rfc8707_resource_client_is_named_after_the_audience() {
    let audience = "http://127.0.0.1:4242/mcp";
    let realm = realm_for(audience);
    let resource = client(&realm, audience);
    assert_eq!(resource["attributes"]["resource_url"], audience);
    assert_eq!(resource["publicClient"], false);
    assert_eq!(resource["secret"], RESOURCE_CLIENT_SECRET);
    for flow in [
        "standardFlowEnabled",
        "directAccessGrantsEnabled",
        "serviceAccountsEnabled",
    ] {
        assert_ne!(resource[flow], true, "{flow}");
    }
    assert!(DEV_FEATURES.contains(&"resource-indicators") && DEV_FEATURES.contains(&"cimd"));
}

/// The password grant fails with "Account is not fully set up" unless the
/// user has email, first and last name.
#[test]
fn users_are_fully_set_up_with_documented_passwords() {
    let realm = default_realm();
    for (name, password) in USERS {
        let users = realm["users"].as_array().cloned().unwrap_or_default();
        let user = users
            .iter()
            .find(|u| u["username"] == *name)
            .unwrap_or_else(|| panic!("no user {name}"));
        for field in ["email", "firstName", "lastName"] {
            assert!(
                user[field].as_str().is_some_and(|v| !v.is_empty()),
                "{name} lacks {field}"
            );
        }
        assert_eq!(user["emailVerified"], true);
        assert_eq!(user["credentials"][0]["value"], *password);
    }
}

/// OAuth 2.1 / MCP authorization: the interactive client is public and must
/// use PKCE with S256.
#[test]
fn mcp_client_is_public_and_requires_pkce_s256() {
    let realm = default_realm();
    let c = client(&realm, "mcp-client");
    assert_eq!(c["publicClient"], true);
    assert_eq!(c["attributes"]["pkce.code.challenge.method"], "S256");
    assert_eq!(c["directAccessGrantsEnabled"], false);
    let redirects = strings(&c["redirectUris"]);
    assert!(redirects.contains(&"http://localhost:6274/oauth/callback"));
    assert!(redirects.contains(&"http://127.0.0.1/*"));
    assert_eq!(
        strings(&c["optionalClientScopes"])
            .iter()
            .filter(|s| s.contains(':'))
            .count(),
        2
    );
}

#[test]
fn extra_redirect_uris_are_added_to_mcp_client() {
    let mut opts = options(DEFAULT_AUDIENCE);
    opts.extra_redirect_uris
        .push("http://127.0.0.1:5555/cb".into());
    let realm = realm(&opts);
    assert!(
        strings(&client(&realm, "mcp-client")["redirectUris"])
            .contains(&"http://127.0.0.1:5555/cb")
    );
}

#[test]
fn confidential_clients_match_the_secret_table() {
    let realm = default_realm();
    for (id, secret) in CLIENT_SECRETS {
        let c = client(&realm, id);
        assert_eq!(c["publicClient"], false, "{id}");
        assert_eq!(c["secret"], *secret, "{id}");
    }
    assert_eq!(client(&realm, "mcp-server")["standardFlowEnabled"], false);
    assert_eq!(
        client(&realm, "mcp-server")["directAccessGrantsEnabled"],
        false
    );
    assert_eq!(
        client(&realm, "mcp-server")["serviceAccountsEnabled"],
        false
    );
}

#[test]
fn mcp_short_access_tokens_live_five_seconds() {
    let realm = default_realm();
    assert_eq!(
        client(&realm, "mcp-short")["attributes"]["access.token.lifespan"],
        "5"
    );
    assert_eq!(realm["accessTokenLifespan"], 300);
}

#[test]
fn java_version_is_read_from_both_version_schemes() {
    assert_eq!(
        parse_java_version("openjdk version \"17.0.15\" 2025-04-15"),
        Some(17)
    );
    assert_eq!(
        parse_java_version("openjdk version \"25.0.3\" 2026-04-21 LTS"),
        Some(25)
    );
    assert_eq!(
        parse_java_version("openjdk version \"21\" 2023-09-19"),
        Some(21)
    );
    assert_eq!(parse_java_version("java version \"1.8.0_392\""), Some(8));
    assert_eq!(parse_java_version("no version here"), None);
}

#[test]
fn token_debug_never_shows_the_token() {
    let token = Token {
        access_token: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln".into(),
        expires_in: 300,
        scope: "mcp:tools".into(),
    };
    let debug = format!("{token:?}");
    assert!(!debug.contains("eyJ"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

fn second_realm(opts: &StartOptions) -> Value {
    match second_realm_representation(&realm_path(), opts) {
        Ok(realm) => realm,
        Err(e) => panic!("second realm: {e:#}"),
    }
}

fn usernames(realm: &Value) -> Vec<String> {
    realm["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["username"].as_str().map(str::to_owned))
        .collect()
}

/// The second realm is the dev realm renamed, with its own people only, no
/// key material or ids (Keycloak generates its own keys), and the same
/// clients, scopes, audience (after the options) and role gating.
#[test]
fn second_realm_is_the_dev_realm_renamed_with_its_own_users() {
    let mut opts = options("http://127.0.0.1:4321/mcp");
    opts.extra_redirect_uris
        .push("http://127.0.0.1:5555/callback".into());
    let dev = realm(&opts);
    let second = second_realm(&opts);
    assert_eq!(second["realm"], SECOND_REALM);
    assert_ne!(SECOND_REALM, REALM);
    for key in ["id", "keys", "components"] {
        assert!(second.get(key).is_none(), "the second realm carries {key}");
    }
    assert_eq!(
        usernames(&second),
        [
            "service-account-mcp-test",
            "service-account-mcp-short",
            "carol"
        ]
    );
    for (name, _) in USERS {
        assert!(!usernames(&second).iter().any(|u| u == name), "{name}");
    }
    let carol = second["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["username"] == "carol"))
        .cloned()
        .unwrap_or_default();
    for field in ["email", "firstName", "lastName"] {
        assert!(
            carol[field].as_str().is_some_and(|v| !v.is_empty()),
            "carol lacks {field}"
        );
    }
    assert_eq!(carol["credentials"][0]["value"], "carol");
    assert_eq!(carol["realmRoles"], serde_json::json!(["mcp-user"]));
    assert_eq!(user_password("carol"), Some("carol"));
    for key in ["clients", "clientScopes", "scopeMappings", "roles"] {
        assert_eq!(second[key], dev[key], "{key} differs from the dev realm");
    }
    assert_eq!(
        audiences(&second, "mcp:tools"),
        ["http://127.0.0.1:4321/mcp", "mcp-server"]
    );
    assert!(
        strings(&client(&second, "mcp-client")["redirectUris"])
            .contains(&"http://127.0.0.1:5555/callback")
    );
}
