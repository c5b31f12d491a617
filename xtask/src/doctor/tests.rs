//! Unit tests of the doctor's checks on JSON fixtures shaped like Keycloak
//! 26.7's answers: a realm that is right in every respect, then one mistake
//! at a time, each of which must be named by its own finding.

use serde_json::{Value, json};

use super::checks::{Admin, Check, Finding, Level, Snapshot, Target, all};

const RESOURCE: &str = "http://localhost:8000/mcp";

fn target() -> Target {
    Target {
        keycloak_url: "http://localhost:8080/".to_owned(),
        realm: "mcp".to_owned(),
        resource: RESOURCE.to_owned(),
    }
}

/// A realm the server is happy with, as the Admin API would describe it.
fn good_admin() -> Admin {
    Admin {
        realm: json!({
            "realm": "mcp",
            "accessTokenLifespan": 300,
            "ssoSessionIdleTimeout": 1800,
            "ssoSessionMaxLifespan": 36000,
            "defaultSignatureAlgorithm": "RS256",
        }),
        client_scopes: json!([
            {"name": "basic", "attributes": {"include.in.token.scope": "false"}},
            {
                "name": "mcp:tools",
                "attributes": {"include.in.token.scope": "true"},
                "protocolMappers": [
                    {"protocolMapper": "oidc-audience-mapper",
                     "config": {"included.custom.audience": RESOURCE, "access.token.claim": "true"}},
                    {"protocolMapper": "oidc-audience-mapper",
                     "config": {"included.client.audience": "mcp-server", "access.token.claim": "true"}},
                ],
            },
            {"name": "templates:write", "attributes": {"include.in.token.scope": "true"}},
        ]),
        clients: json!([
            {"clientId": "mcp-server", "attributes": {"resource_url": RESOURCE}, "defaultClientScopes": ["basic"]},
            {"clientId": "mcp-client", "attributes": {}, "defaultClientScopes": ["basic"]},
            {"clientId": "mcp-short", "attributes": {"access.token.lifespan": "5"}},
            // A built-in client with offline_access is not ours to judge.
            {"clientId": "account-console", "defaultClientScopes": ["offline_access"]},
        ]),
        default_scopes: json!([{"name": "basic"}, {"name": "profile"}]),
        registration_policies: json!([
            {"providerId": "trusted-hosts", "subType": "anonymous",
             "config": {"trusted-hosts": ["localhost", "127.0.0.1"],
                        "host-sending-registration-request-must-match": ["true"]}},
            {"providerId": "allowed-client-templates", "subType": "anonymous",
             "config": {"allowed-client-scopes": ["mcp:tools", "templates:write"]}},
            {"providerId": "consent-required", "subType": "anonymous", "config": {}},
            // The authenticated subtype's defaults must not be mistaken for ours.
            {"providerId": "allowed-client-templates", "subType": "authenticated", "config": {}},
        ]),
        client_policies: json!({"policies": [{
            "name": "mcp-cimd-policy",
            "enabled": true,
            "conditions": [{"condition": "client-id-uri", "configuration": {"client-id-uri-scheme": ["http", "https"]}}],
            "profiles": ["mcp-cimd-profile"],
        }]}),
        client_profiles: json!({
            "profiles": [{"name": "mcp-cimd-profile",
                          "executors": [{"executor": "client-id-metadata-document", "configuration": {}}]}],
            "globalProfiles": [{"name": "fapi-1-baseline", "executors": [{"executor": "secure-session"}]}],
        }),
        server_info: json!({"features": [
            {"name": "CIMD", "enabled": true},
            {"name": "RESOURCE_INDICATORS", "enabled": true},
            {"name": "DPOP", "enabled": true},
        ]}),
    }
}

fn good() -> Snapshot {
    Snapshot {
        discovery: Ok(json!({
            "issuer": "http://localhost:8080/realms/mcp",
            "jwks_uri": "http://localhost:8080/realms/mcp/protocol/openid-connect/certs",
        })),
        jwks: Ok(json!({"keys": [
            {"kid": "a", "kty": "RSA", "alg": "RS256", "use": "sig"},
            {"kid": "b", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc"},
        ]})),
        admin: Ok(good_admin()),
    }
}

/// The good realm with one change to the Admin API's answers.
fn with(change: impl FnOnce(&mut Admin)) -> Snapshot {
    let mut snapshot = good();
    if let Ok(admin) = &mut snapshot.admin {
        change(admin);
    }
    snapshot
}

/// Asserts that `check` has exactly one finding, at `level`, whose printed
/// form contains every one of `needles`; returns it.
#[track_caller]
fn check(snapshot: &Snapshot, which: Check, level: Level, needles: &[&str]) -> Finding {
    let findings = all(snapshot, &target());
    let mine: Vec<&Finding> = findings.iter().filter(|f| f.check == which).collect();
    assert_eq!(mine.len(), 1, "{which:?}: {findings:#?}");
    let finding = mine[0].clone();
    assert_eq!(finding.level, level, "{finding}");
    let text = finding.to_string();
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing in\n{text}");
    }
    finding
}

/// The findings that are not `ok`, by check.
fn not_ok(snapshot: &Snapshot) -> Vec<Check> {
    all(snapshot, &target())
        .into_iter()
        .filter(|f| f.level != Level::Ok)
        .map(|f| f.check)
        .collect()
}

#[test]
fn good_realm_is_all_ok_with_one_finding_per_check() {
    let findings = all(&good(), &target());
    for f in &findings {
        assert_eq!(f.level, Level::Ok, "{f}");
        assert!(f.fix.is_none() && !f.to_string().contains("fix:"), "{f}");
    }
    let mut names: Vec<&str> = findings.iter().map(|f| f.check.name()).collect();
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "a check reported twice: {names:?}");
    assert_eq!(count, 14, "{names:?}");
}

#[test]
fn unreachable_discovery_fails_and_names_the_url() {
    let mut snapshot = good();
    snapshot.discovery = Err("connection refused".to_owned());
    check(
        &snapshot,
        Check::Discovery,
        Level::Fail,
        &[
            "http://localhost:8080/realms/mcp/.well-known/openid-configuration",
            "connection refused",
        ],
    );
}

#[test]
fn issuer_mismatch_fails_with_the_hostname_fix() {
    let mut snapshot = good();
    snapshot.discovery = Ok(json!({"issuer": "http://127.0.0.1:8080/realms/mcp", "jwks_uri": "x"}));
    check(
        &snapshot,
        Check::Discovery,
        Level::Fail,
        &[
            "http://127.0.0.1:8080/realms/mcp",
            "--hostname=http://localhost:8080",
        ],
    );
}

#[test]
fn jwks_without_an_accepted_signing_key_fails() {
    for keys in [
        json!([{"alg": "RSA-OAEP", "use": "enc"}]),
        json!([{"alg": "HS512", "use": "sig"}, {"alg": "RS256", "use": "enc"}]),
        json!([]),
    ] {
        let mut snapshot = good();
        snapshot.jwks = Ok(json!({ "keys": keys }));
        check(
            &snapshot,
            Check::SigningKeys,
            Level::Fail,
            &["no enabled `use: sig` key", "ecdsa-generated"],
        );
    }
}

#[test]
fn realm_signing_with_a_refused_or_absent_algorithm_fails() {
    let snapshot = with(|a| a.realm["defaultSignatureAlgorithm"] = json!("HS256"));
    check(
        &snapshot,
        Check::SigningKeys,
        Level::Fail,
        &["HS256", "defaultSignatureAlgorithm"],
    );
    let snapshot = with(|a| a.realm["defaultSignatureAlgorithm"] = json!("ES256"));
    check(
        &snapshot,
        Check::SigningKeys,
        Level::Fail,
        &["no enabled ES256 signing key"],
    );
    let mut snapshot = with(|a| a.realm["defaultSignatureAlgorithm"] = json!("ES256"));
    snapshot.jwks = Ok(json!({"keys": [{"alg": "ES256", "use": "sig", "kty": "EC"}]}));
    check(&snapshot, Check::SigningKeys, Level::Ok, &["ES256"]);
}

#[test]
fn missing_or_hidden_scopes_fail() {
    let snapshot = with(|a| {
        a.client_scopes = json!([{"name": "basic"}]);
    });
    check(
        &snapshot,
        Check::ToolsScope,
        Level::Fail,
        &[
            "no client scope \"mcp:tools\"",
            "defaultOptionalClientScopes",
        ],
    );
    check(
        &snapshot,
        Check::WriteScope,
        Level::Fail,
        &["templates:write"],
    );
    let snapshot = with(|a| {
        a.client_scopes[2]["attributes"]["include.in.token.scope"] = json!("false");
    });
    check(
        &snapshot,
        Check::WriteScope,
        Level::Fail,
        &["include.in.token.scope"],
    );
}

#[test]
fn audience_without_mapper_fails_and_names_the_resource() {
    let snapshot = with(|a| {
        a.client_scopes[1]["protocolMappers"] = json!([]);
        a.clients[0]["attributes"] = json!({});
    });
    check(
        &snapshot,
        Check::Audience,
        Level::Fail,
        &[
            "seen: none",
            "Included Custom Audience = http://localhost:8000/mcp",
        ],
    );
}

#[test]
fn audience_mapper_for_another_url_or_not_in_the_access_token_fails() {
    let snapshot = with(|a| {
        a.client_scopes[1]["protocolMappers"][0]["config"]["included.custom.audience"] =
            json!("http://localhost:9999/mcp");
        a.clients[0]["attributes"] = json!({});
    });
    check(
        &snapshot,
        Check::Audience,
        Level::Fail,
        &["seen: http://localhost:9999/mcp"],
    );
    let snapshot = with(|a| {
        a.client_scopes[1]["protocolMappers"][0]["config"]["access.token.claim"] = json!("false");
        a.clients[0]["attributes"] = json!({});
    });
    check(&snapshot, Check::Audience, Level::Fail, &["seen: none"]);
}

#[test]
fn audience_only_through_resource_url_warns() {
    let snapshot = with(|a| a.client_scopes[1]["protocolMappers"] = json!([]));
    check(
        &snapshot,
        Check::Audience,
        Level::Warn,
        &["mcp-server's resource_url", "resource-indicators"],
    );
}

#[test]
fn long_access_tokens_warn_realm_wide_and_per_client() {
    let snapshot = with(|a| a.realm["accessTokenLifespan"] = json!(7200));
    check(
        &snapshot,
        Check::AccessTokenLifespan,
        Level::Warn,
        &["7200 s", "accessTokenLifespan"],
    );
    let snapshot = with(|a| a.clients[1]["attributes"]["access.token.lifespan"] = json!("86400"));
    check(
        &snapshot,
        Check::AccessTokenLifespan,
        Level::Warn,
        &["mcp-client (86400 s)", "access.token.lifespan"],
    );
    // Exactly one hour is fine.
    let snapshot = with(|a| a.realm["accessTokenLifespan"] = json!(3600));
    check(
        &snapshot,
        Check::AccessTokenLifespan,
        Level::Ok,
        &["3600 s"],
    );
}

#[test]
fn sessions_shorter_than_tokens_warn() {
    let snapshot = with(|a| a.realm["ssoSessionIdleTimeout"] = json!(120));
    check(
        &snapshot,
        Check::SessionLifespans,
        Level::Warn,
        &["SSO Session Idle (120 s)", "ssoSessionIdleTimeout"],
    );
    let snapshot = with(|a| a.realm["ssoSessionMaxLifespan"] = json!(900));
    check(
        &snapshot,
        Check::SessionLifespans,
        Level::Warn,
        &["SSO Session Max (900 s)"],
    );
}

#[test]
fn default_trusted_hosts_fail_with_the_policy_fix() {
    // Keycloak's default anonymous Trusted Hosts policy trusts no host.
    let snapshot = with(|a| a.registration_policies[0]["config"]["trusted-hosts"] = json!([]));
    check(
        &snapshot,
        Check::TrustedHosts,
        Level::Fail,
        &[
            "Host not trusted",
            "localhost, 127.0.0.1",
            "\"trusted-hosts\"",
        ],
    );
    let snapshot =
        with(|a| a.registration_policies[0]["config"]["trusted-hosts"] = json!(["localhost"]));
    let finding = check(&snapshot, Check::TrustedHosts, Level::Fail, &["127.0.0.1"]);
    assert!(finding.detail.ends_with("Host not trusted\")"), "{finding}");
    let snapshot = with(|a| a.registration_policies[0]["subType"] = json!("authenticated"));
    check(
        &snapshot,
        Check::TrustedHosts,
        Level::Warn,
        &["no anonymous Trusted Hosts policy"],
    );
}

#[test]
fn allowed_client_scopes_without_ours_fail() {
    let snapshot = with(|a| a.registration_policies[1]["config"] = json!({}));
    check(
        &snapshot,
        Check::AllowedClientScopes,
        Level::Fail,
        &["mcp:tools, templates:write", "allowed-client-scopes"],
    );
    let snapshot = with(|a| {
        a.registration_policies[1]["config"]["allowed-client-scopes"] = json!(["mcp:tools"]);
    });
    let finding = check(
        &snapshot,
        Check::AllowedClientScopes,
        Level::Fail,
        &["not templates:write"],
    );
    assert!(!finding.detail.contains("not mcp:tools"), "{finding}");
}

#[test]
fn missing_consent_policy_warns() {
    let snapshot = with(|a| {
        a.registration_policies = json!([a.registration_policies[0], a.registration_policies[1]]);
    });
    check(
        &snapshot,
        Check::ConsentRequired,
        Level::Warn,
        &["Consent Required"],
    );
}

#[test]
fn cimd_needs_an_enabled_policy_whose_profile_has_the_executor() {
    let no_policy = with(|a| a.client_policies = json!({"policies": []}));
    let disabled = with(|a| a.client_policies["policies"][0]["enabled"] = json!(false));
    let wrong_condition = with(|a| {
        a.client_policies["policies"][0]["conditions"][0]["condition"] =
            json!("client-updater-source-host");
    });
    let no_executor = with(|a| a.client_profiles["profiles"][0]["executors"] = json!([]));
    for snapshot in [no_policy, disabled, wrong_condition, no_executor] {
        check(
            &snapshot,
            Check::CimdPolicy,
            Level::Warn,
            &["client-id-uri", "clientPolicies.policies"],
        );
    }
    // A global profile with the executor counts too.
    let global = with(|a| {
        a.client_profiles = json!({"profiles": [], "globalProfiles": [{
            "name": "mcp-cimd-profile", "executors": [{"executor": "client-id-metadata-document"}]}]});
    });
    check(&global, Check::CimdPolicy, Level::Ok, &["mcp-cimd-policy"]);
}

#[test]
fn features_are_read_from_either_serverinfo_shape() {
    let off = with(|a| a.server_info["features"][0]["enabled"] = json!(false));
    check(&off, Check::CimdFeature, Level::Warn, &["--features=cimd"]);
    let unknown = with(|a| a.server_info = json!({"features": []}));
    check(
        &unknown,
        Check::CimdFeature,
        Level::Warn,
        &["does not know"],
    );
    let profile_info = with(|a| {
        a.server_info = json!({"profileInfo": {"disabledFeatures": ["CIMD"]}});
    });
    check(&profile_info, Check::CimdFeature, Level::Warn, &["without"]);
    let profile_info = with(|a| {
        a.server_info = json!({"profileInfo": {"disabledFeatures": ["TOKEN_EXCHANGE"]}});
    });
    check(&profile_info, Check::CimdFeature, Level::Ok, &["cimd"]);
}

#[test]
fn resource_indicators_on_without_resource_url_fails() {
    let snapshot = with(|a| a.clients[0]["attributes"] = json!({}));
    check(
        &snapshot,
        Check::ResourceIndicators,
        Level::Fail,
        &["invalid_target", "attributes.resource_url"],
    );
    // Off, `resource` is ignored: nothing to check.
    let snapshot = with(|a| {
        a.clients[0]["attributes"] = json!({});
        a.server_info["features"][1]["enabled"] = json!(false);
    });
    check(&snapshot, Check::ResourceIndicators, Level::Ok, &["off"]);
}

#[test]
fn offline_access_as_a_default_scope_warns() {
    let snapshot = with(|a| a.default_scopes = json!([{"name": "offline_access"}]));
    check(
        &snapshot,
        Check::OfflineAccess,
        Level::Warn,
        &[
            "the realm's default client scopes",
            "defaultDefaultClientScopes",
        ],
    );
    let snapshot = with(|a| {
        a.clients[1]["defaultClientScopes"] = json!(["basic", "offline_access"]);
    });
    let finding = check(
        &snapshot,
        Check::OfflineAccess,
        Level::Warn,
        &["the default scopes of mcp-client"],
    );
    assert!(!finding.detail.contains("account-console"), "{finding}");
}

#[test]
fn admin_api_failure_is_one_finding_and_skips_the_realm_checks() {
    let mut snapshot = good();
    snapshot.admin = Err("HTTP 401".to_owned());
    let findings = all(&snapshot, &target());
    let checks: Vec<Check> = findings.iter().map(|f| f.check).collect();
    assert_eq!(
        checks,
        [Check::Discovery, Check::SigningKeys, Check::AdminApi]
    );
    check(
        &snapshot,
        Check::AdminApi,
        Level::Fail,
        &["HTTP 401", "KEYCLOAK_ADMIN_PASSWORD"],
    );
}

#[test]
fn a_broken_realm_has_each_mistake_named_by_its_own_finding() {
    // The mistakes of the e2e scenario `doctor_names_each_mistake_in_broken_realm`.
    let snapshot = with(|a| {
        a.client_scopes[1]["protocolMappers"] = json!([a.client_scopes[1]["protocolMappers"][1]]);
        a.realm["accessTokenLifespan"] = json!(7200);
        // Sessions outlive those tokens: the session check stays out of it.
        a.realm["ssoSessionIdleTimeout"] = json!(14400);
        a.registration_policies = json!([
            {"providerId": "trusted-hosts", "subType": "anonymous", "config": {}},
            {"providerId": "allowed-client-templates", "subType": "anonymous",
             "config": {"allow-default-scopes": ["true"]}},
            {"providerId": "consent-required", "subType": "anonymous"},
        ]);
        a.client_policies = json!({"policies": []});
        a.client_profiles = json!({"profiles": []});
        a.clients[0]["attributes"] = Value::Null;
    });
    assert_eq!(
        not_ok(&snapshot),
        [
            Check::Audience,
            Check::AccessTokenLifespan,
            Check::TrustedHosts,
            Check::AllowedClientScopes,
            Check::CimdPolicy,
            Check::ResourceIndicators,
        ]
    );
}
