//! The doctor's checks, pure functions over what Keycloak answered (a
//! [`Snapshot`]): each returns [`Finding`]s, one per [`Check`], with the exact
//! fix for anything not `ok`. No I/O here, so the unit tests feed JSON
//! fixtures.

use std::fmt;

use serde_json::Value;

/// What the doctor inspects: the Keycloak base URL (as its `--hostname`
/// says), the realm, and the MCP server's resource URL.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) keycloak_url: String,
    pub(crate) realm: String,
    pub(crate) resource: String,
}

impl Target {
    /// The issuer the server must be configured with: `{url}/realms/{realm}`.
    pub(crate) fn issuer(&self) -> String {
        format!(
            "{}/realms/{}",
            self.keycloak_url.trim_end_matches('/'),
            self.realm
        )
    }
}

/// What Keycloak answered; an `Err` is the reason a call failed.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// `/.well-known/openid-configuration` of the realm.
    pub(crate) discovery: Result<Value, String>,
    /// The document at the discovered `jwks_uri`.
    pub(crate) jwks: Result<Value, String>,
    /// The Admin REST answers; an `Err` skips every check that needs them.
    pub(crate) admin: Result<Admin, String>,
}

/// The Admin REST answers the checks read (`GET /admin/realms/R/…` and
/// `GET /admin/serverinfo`), as Keycloak returned them.
#[derive(Debug)]
pub(crate) struct Admin {
    /// `GET /admin/realms/R`.
    pub(crate) realm: Value,
    /// `GET /admin/realms/R/client-scopes` (with their protocol mappers).
    pub(crate) client_scopes: Value,
    /// `GET /admin/realms/R/clients`.
    pub(crate) clients: Value,
    /// `GET /admin/realms/R/default-default-client-scopes`.
    pub(crate) default_scopes: Value,
    /// `GET /admin/realms/R/components?type=…ClientRegistrationPolicy`.
    pub(crate) registration_policies: Value,
    /// `GET /admin/realms/R/client-policies/policies`.
    pub(crate) client_policies: Value,
    /// `GET /admin/realms/R/client-policies/profiles?include-global-profiles=true`.
    pub(crate) client_profiles: Value,
    /// `GET /admin/serverinfo`.
    pub(crate) server_info: Value,
}

/// How bad a finding is. Any [`Level::Fail`] makes `cargo xtask doctor` exit
/// non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Ok,
    Warn,
    Fail,
}

/// One thing the doctor checks; each finding names exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// OIDC discovery is served and its `issuer` is the expected one.
    Discovery,
    /// The JWKS has an enabled signing key of an algorithm the server
    /// accepts, and the realm signs with one.
    SigningKeys,
    /// The Admin REST API answered (every check below needs it).
    AdminApi,
    /// The `mcp:tools` client scope exists and lands in the token's `scope`.
    ToolsScope,
    /// `templates:write` exists and lands in the token's `scope`.
    WriteScope,
    /// Tokens with `mcp:tools` carry the resource URL in `aud`.
    Audience,
    /// The access token lifespan, realm-wide and per client, is at most 1 h.
    AccessTokenLifespan,
    /// SSO session idle and max outlive an access token.
    SessionLifespans,
    /// The anonymous Trusted Hosts policy admits loopback registration.
    TrustedHosts,
    /// The anonymous Allowed Client Scopes policy admits our scopes.
    AllowedClientScopes,
    /// Anonymously registered clients must ask the user for consent.
    ConsentRequired,
    /// A client policy admits Client ID Metadata Documents.
    CimdPolicy,
    /// Keycloak runs with the `cimd` feature.
    CimdFeature,
    /// With `resource-indicators` on, a `resource=` request is answerable.
    ResourceIndicators,
    /// `offline_access` is not a default scope.
    OfflineAccess,
}

impl Check {
    /// The name printed in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Check::Discovery => "discovery",
            Check::SigningKeys => "signing-keys",
            Check::AdminApi => "admin-api",
            Check::ToolsScope => "scope-mcp-tools",
            Check::WriteScope => "scope-templates-write",
            Check::Audience => "audience",
            Check::AccessTokenLifespan => "access-token-lifespan",
            Check::SessionLifespans => "session-lifespans",
            Check::TrustedHosts => "registration-trusted-hosts",
            Check::AllowedClientScopes => "registration-allowed-scopes",
            Check::ConsentRequired => "registration-consent",
            Check::CimdPolicy => "cimd-policy",
            Check::CimdFeature => "cimd-feature",
            Check::ResourceIndicators => "resource-indicators",
            Check::OfflineAccess => "offline-access",
        }
    }
}

/// One result: the check, its level, what was seen, and for anything not
/// `ok` the fix (the Admin console setting and the `realm.json` key).
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) check: Check,
    pub(crate) level: Level,
    pub(crate) detail: String,
    pub(crate) fix: Option<String>,
}

impl Finding {
    fn ok(check: Check, detail: impl Into<String>) -> Finding {
        Finding {
            check,
            level: Level::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(check: Check, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            level: Level::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(check: Check, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            check,
            level: Level::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{level:<4} {:<28} {}", self.check.name(), self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n     fix: {fix}")?;
        }
        Ok(())
    }
}

/// The signature algorithms the server accepts by default
/// (`auth::ValidationConfig::DEFAULT_ALGORITHM_NAMES`; xtask depends on no
/// workspace crate, so the list is repeated here).
pub(crate) const ACCEPTED_ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];
/// Above this access token lifespan (seconds) the doctor warns: a stolen
/// token stays valid that long, and revocation is seen only by the
/// verify-online tools.
pub(crate) const MAX_ACCESS_TOKEN_SECS: u64 = 3600;
/// Keycloak's access token lifespan when the realm does not set one.
const KEYCLOAK_DEFAULT_ACCESS_TOKEN_SECS: u64 = 300;
/// The scope every MCP request needs.
pub(crate) const TOOLS_SCOPE: &str = "mcp:tools";
/// The scope the write tools need.
pub(crate) const WRITE_SCOPE: &str = "templates:write";
/// The hosts a loopback MCP client registers from.
pub(crate) const LOOPBACK_HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];
/// Keycloak's built-in clients: the offline-access check is about ours.
const BUILTIN_CLIENTS: [&str; 7] = [
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
    "master-realm",
];
const REGISTRATION_KEY: &str =
    "components[\"org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy\"]";

/// Every check, in report order.
pub(crate) fn all(snapshot: &Snapshot, target: &Target) -> Vec<Finding> {
    let mut findings = vec![discovery(&snapshot.discovery, target)];
    let admin = match &snapshot.admin {
        Ok(admin) => admin,
        Err(e) => {
            findings.push(signing_keys(&snapshot.jwks, None));
            findings.push(Finding::fail(
                Check::AdminApi,
                format!("the Admin REST API did not answer, so the realm's settings were not checked: {e}"),
                "give the master realm's admin credentials in KEYCLOAK_ADMIN / KEYCLOAK_ADMIN_PASSWORD \
                 (default admin / admin)",
            ));
            return findings;
        }
    };
    findings.push(signing_keys(
        &snapshot.jwks,
        admin.realm["defaultSignatureAlgorithm"].as_str(),
    ));
    findings.push(scope_exists(admin, Check::ToolsScope, TOOLS_SCOPE));
    findings.push(scope_exists(admin, Check::WriteScope, WRITE_SCOPE));
    findings.push(audience(admin, &target.resource));
    findings.push(access_token_lifespan(admin));
    findings.push(session_lifespans(&admin.realm));
    findings.push(trusted_hosts(&admin.registration_policies));
    findings.push(allowed_client_scopes(&admin.registration_policies));
    findings.push(consent_required(&admin.registration_policies));
    findings.push(cimd_policy(&admin.client_policies, &admin.client_profiles));
    findings.push(feature(
        &admin.server_info,
        Check::CimdFeature,
        &["cimd", "client-id-metadata-document"],
    ));
    findings.push(resource_indicators(admin, &target.resource));
    findings.push(offline_access(admin));
    findings
}

fn discovery(discovery: &Result<Value, String>, target: &Target) -> Finding {
    let expected = target.issuer();
    let doc = match discovery {
        Ok(doc) => doc,
        Err(e) => {
            return Finding::fail(
                Check::Discovery,
                format!("{expected}/.well-known/openid-configuration: {e}"),
                "check --keycloak-url (the URL of Keycloak's --hostname) and --realm, and that the realm exists",
            );
        }
    };
    let issuer = doc["issuer"].as_str().unwrap_or_default();
    if issuer != expected {
        return Finding::fail(
            Check::Discovery,
            format!(
                "discovery says issuer {issuer:?}, expected {expected:?}: tokens will not match the server's issuer"
            ),
            format!(
                "start Keycloak with --hostname={} (KC_HOSTNAME) so `iss` does not follow each request's Host, \
                 or give --keycloak-url as Keycloak's hostname and configure the server's issuer as exactly {issuer:?}",
                target.keycloak_url.trim_end_matches('/')
            ),
        );
    }
    if doc["jwks_uri"].as_str().is_none() {
        return Finding::fail(
            Check::Discovery,
            "discovery has no jwks_uri",
            "the realm's OIDC discovery document must name its JWKS; is this a Keycloak realm?",
        );
    }
    Finding::ok(Check::Discovery, format!("issuer {issuer}"))
}

fn signing_keys(jwks: &Result<Value, String>, realm_alg: Option<&str>) -> Finding {
    const FIX: &str = "Admin console: Realm settings → Keys → Add provider → rsa-generated (RS256) or \
                       ecdsa-generated (ES256, P-256), enabled and active; realm.json: \
                       components[\"org.keycloak.keys.KeyProvider\"]";
    let jwks = match jwks {
        Ok(jwks) => jwks,
        Err(e) => return Finding::fail(Check::SigningKeys, format!("JWKS: {e}"), FIX),
    };
    let keys = jwks["keys"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let usable: Vec<&str> = keys
        .iter()
        .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
        .filter_map(|k| k["alg"].as_str())
        .filter(|alg| ACCEPTED_ALGORITHMS.contains(alg))
        .collect();
    if usable.is_empty() {
        let seen: Vec<String> = keys
            .iter()
            .map(|k| {
                format!(
                    "{}/{}",
                    k["alg"].as_str().unwrap_or("?"),
                    k["use"].as_str().unwrap_or("?")
                )
            })
            .collect();
        return Finding::fail(
            Check::SigningKeys,
            format!(
                "no enabled `use: sig` key of an accepted algorithm ({}); the JWKS has [{}]",
                ACCEPTED_ALGORITHMS.join(", "),
                seen.join(", ")
            ),
            FIX,
        );
    }
    // Keycloak's default is RS256 when the realm sets none.
    let realm_alg = realm_alg.filter(|a| !a.is_empty()).unwrap_or("RS256");
    if !ACCEPTED_ALGORITHMS.contains(&realm_alg) {
        return Finding::fail(
            Check::SigningKeys,
            format!(
                "the realm signs access tokens with {realm_alg}, which the server does not accept by default ({})",
                ACCEPTED_ALGORITHMS.join(", ")
            ),
            "Admin console: Realm settings → Tokens → Default signature algorithm = RS256; \
             realm.json: defaultSignatureAlgorithm (or add the algorithm to the server's auth.algorithms)",
        );
    }
    if !usable.contains(&realm_alg) {
        return Finding::fail(
            Check::SigningKeys,
            format!(
                "the realm signs with {realm_alg}, but the JWKS has no enabled {realm_alg} signing key"
            ),
            FIX,
        );
    }
    Finding::ok(
        Check::SigningKeys,
        format!(
            "{} signing key(s) the server accepts ({}); the realm signs with {realm_alg}",
            usable.len(),
            usable.join(", ")
        ),
    )
}

/// The client scope called `name`, if the realm has it.
fn client_scope<'a>(admin: &'a Admin, name: &str) -> Option<&'a Value> {
    admin
        .client_scopes
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
}

fn scope_exists(admin: &Admin, check: Check, name: &str) -> Finding {
    let Some(scope) = client_scope(admin, name) else {
        return Finding::fail(
            check,
            format!(
                "the realm has no client scope {name:?}: clients cannot get it, the server refuses their tokens"
            ),
            format!(
                "Admin console: Client scopes → Create client scope → Name {name}, Type Optional, \
                 Include in token scope ON; realm.json: clientScopes[] += {{\"name\": \"{name}\", \
                 \"protocol\": \"openid-connect\"}} and defaultOptionalClientScopes += \"{name}\""
            ),
        );
    };
    if scope["attributes"]["include.in.token.scope"] == "false" {
        return Finding::fail(
            check,
            format!(
                "{name} is not included in the token's `scope` claim: the server cannot see it"
            ),
            format!(
                "Admin console: Client scopes → {name} → Settings → Include in token scope ON; realm.json: \
                 clientScopes[name={name}].attributes.\"include.in.token.scope\" = \"true\""
            ),
        );
    }
    Finding::ok(
        check,
        format!("client scope {name} exists and lands in `scope`"),
    )
}

fn audience(admin: &Admin, resource: &str) -> Finding {
    let mappers: Vec<&Value> = client_scope(admin, TOOLS_SCOPE)
        .and_then(|s| s["protocolMappers"].as_array())
        .into_iter()
        .flatten()
        .filter(|m| m["protocolMapper"] == "oidc-audience-mapper")
        .filter(|m| m["config"]["access.token.claim"] != "false")
        .collect();
    let custom: Vec<&str> = mappers
        .iter()
        .filter_map(|m| m["config"]["included.custom.audience"].as_str())
        .collect();
    if custom.contains(&resource) {
        return Finding::ok(
            Check::Audience,
            format!("{TOOLS_SCOPE} has an Audience mapper adding {resource} to `aud`"),
        );
    }
    let fix = format!(
        "Admin console: Client scopes → {TOOLS_SCOPE} → Mappers → Add mapper → By configuration → Audience: \
         Included Custom Audience = {resource}, Add to access token ON; realm.json: \
         clientScopes[name={TOOLS_SCOPE}].protocolMappers[] += {{\"protocolMapper\": \"oidc-audience-mapper\", \
         \"config\": {{\"included.custom.audience\": \"{resource}\", \"access.token.claim\": \"true\"}}}}"
    );
    let resource_client = clients(admin)
        .find(|c| c["attributes"]["resource_url"] == resource)
        .and_then(|c| c["clientId"].as_str());
    if let Some(client) = resource_client {
        return Finding::warn(
            Check::Audience,
            format!(
                "no Audience mapper in {TOOLS_SCOPE} adds {resource}; only the client {client}'s resource_url \
                 (RFC 8707) does, so only tokens requested with resource={resource} under \
                 --features=resource-indicators carry it"
            ),
            fix,
        );
    }
    let seen = if custom.is_empty() {
        "none".to_owned()
    } else {
        custom.join(", ")
    };
    Finding::fail(
        Check::Audience,
        format!(
            "no Audience mapper in {TOOLS_SCOPE} adds {resource} to `aud` (custom audiences seen: {seen}), \
             and no client has resource_url = {resource}: the server refuses every token"
        ),
        fix,
    )
}

fn clients(admin: &Admin) -> impl Iterator<Item = &Value> {
    admin.clients.as_array().into_iter().flatten()
}

/// A Keycloak number that may come as a JSON number or a string.
fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())
}

fn access_token_lifespan(admin: &Admin) -> Finding {
    let realm_secs =
        number(&admin.realm["accessTokenLifespan"]).unwrap_or(KEYCLOAK_DEFAULT_ACCESS_TOKEN_SECS);
    if realm_secs > MAX_ACCESS_TOKEN_SECS {
        return Finding::warn(
            Check::AccessTokenLifespan,
            format!(
                "the realm's access tokens live {realm_secs} s (more than {MAX_ACCESS_TOKEN_SECS} s): a leaked \
                 token stays usable that long, and only the verify-online tools see a revocation"
            ),
            "Admin console: Realm settings → Tokens → Access Token Lifespan ≤ 1 hour (Keycloak's default is \
             5 minutes); realm.json: accessTokenLifespan",
        );
    }
    let long: Vec<String> = clients(admin)
        .filter_map(|c| {
            let secs = number(&c["attributes"]["access.token.lifespan"])?;
            (secs > MAX_ACCESS_TOKEN_SECS)
                .then(|| format!("{} ({secs} s)", c["clientId"].as_str().unwrap_or("?")))
        })
        .collect();
    if !long.is_empty() {
        return Finding::warn(
            Check::AccessTokenLifespan,
            format!(
                "client access token lifespan above {MAX_ACCESS_TOKEN_SECS} s: {}",
                long.join(", ")
            ),
            "Admin console: Clients → the client → Advanced → Advanced settings → Access Token Lifespan \
             ≤ 1 hour (or empty: the realm's); realm.json: clients[clientId=…].attributes.\"access.token.lifespan\"",
        );
    }
    Finding::ok(
        Check::AccessTokenLifespan,
        format!("access tokens live {realm_secs} s"),
    )
}

fn session_lifespans(realm: &Value) -> Finding {
    let access =
        number(&realm["accessTokenLifespan"]).unwrap_or(KEYCLOAK_DEFAULT_ACCESS_TOKEN_SECS);
    let idle = number(&realm["ssoSessionIdleTimeout"]).filter(|s| *s > 0);
    let max = number(&realm["ssoSessionMaxLifespan"]).filter(|s| *s > 0);
    if let Some(idle) = idle.filter(|idle| *idle < access) {
        return Finding::warn(
            Check::SessionLifespans,
            format!(
                "SSO Session Idle ({idle} s) is shorter than the access token lifespan ({access} s): \
                 refresh fails while the token still works, and clients log in again"
            ),
            "Admin console: Realm settings → Sessions → SSO Session Idle ≥ the access token lifespan \
             (30 minutes is Keycloak's default); realm.json: ssoSessionIdleTimeout",
        );
    }
    if let (Some(idle), Some(max)) = (idle, max)
        && max < idle
    {
        return Finding::warn(
            Check::SessionLifespans,
            format!("SSO Session Max ({max} s) is shorter than SSO Session Idle ({idle} s)"),
            "Admin console: Realm settings → Sessions → SSO Session Max ≥ SSO Session Idle; realm.json: \
             ssoSessionMaxLifespan",
        );
    }
    let show = |s: Option<u64>| s.map_or("Keycloak's default".to_owned(), |s| format!("{s} s"));
    Finding::ok(
        Check::SessionLifespans,
        format!("SSO session idle {}, max {}", show(idle), show(max)),
    )
}

/// The anonymous client-registration policy of provider `provider_id`.
fn anonymous_policy<'a>(policies: &'a Value, provider_id: &str) -> Option<&'a Value> {
    policies
        .as_array()?
        .iter()
        .find(|p| p["subType"] == "anonymous" && p["providerId"] == provider_id)
}

/// A component's multivalued config entry (Keycloak sends `["a", "b"]`).
fn config_values<'a>(component: &'a Value, key: &str) -> Vec<&'a str> {
    match &component["config"][key] {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        Value::String(s) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

fn trusted_hosts(policies: &Value) -> Finding {
    let Some(policy) = anonymous_policy(policies, "trusted-hosts") else {
        return Finding::warn(
            Check::TrustedHosts,
            "no anonymous Trusted Hosts policy: anyone who reaches Keycloak may register clients",
            format!(
                "Admin console: Clients → Client registration → Anonymous access policies → Create policy → \
                 Trusted Hosts: {}; realm.json: {REGISTRATION_KEY}[] += {{\"providerId\": \"trusted-hosts\", \
                 \"subType\": \"anonymous\", \"config\": {{\"trusted-hosts\": [\"localhost\", \"127.0.0.1\"]}}}}",
                LOOPBACK_HOSTS.join(", ")
            ),
        );
    };
    let hosts = config_values(policy, "trusted-hosts");
    let missing: Vec<&str> = LOOPBACK_HOSTS
        .into_iter()
        .filter(|h| !hosts.contains(h))
        .collect();
    if !missing.is_empty() {
        return Finding::fail(
            Check::TrustedHosts,
            format!(
                "the anonymous Trusted Hosts policy trusts [{}], not {}: a loopback MCP client's dynamic \
                 registration is refused (\"Policy 'Trusted Hosts' rejected request … Host not trusted\")",
                hosts.join(", "),
                missing.join(", ")
            ),
            format!(
                "Admin console: Clients → Client registration → Anonymous access policies → Trusted Hosts → \
                 Trusted Hosts += {} (keep both \"must match\" switches ON); realm.json: \
                 {REGISTRATION_KEY}[providerId=trusted-hosts, subType=anonymous].config.\"trusted-hosts\"",
                missing.join(", ")
            ),
        );
    }
    Finding::ok(
        Check::TrustedHosts,
        format!("anonymous registration trusts {}", hosts.join(", ")),
    )
}

fn allowed_client_scopes(policies: &Value) -> Finding {
    let Some(policy) = anonymous_policy(policies, "allowed-client-templates") else {
        return Finding::ok(
            Check::AllowedClientScopes,
            "no anonymous Allowed Client Scopes policy: registered clients may ask for any scope",
        );
    };
    let allowed = config_values(policy, "allowed-client-scopes");
    let missing: Vec<&str> = [TOOLS_SCOPE, WRITE_SCOPE]
        .into_iter()
        .filter(|s| !allowed.contains(s))
        .collect();
    if !missing.is_empty() {
        return Finding::fail(
            Check::AllowedClientScopes,
            format!(
                "the anonymous Allowed Client Scopes policy allows [{}], not {}: a registration asking for \
                 them is refused",
                allowed.join(", "),
                missing.join(", ")
            ),
            format!(
                "Admin console: Clients → Client registration → Anonymous access policies → Allowed Client \
                 Scopes → Allowed Client Scopes += {}; realm.json: \
                 {REGISTRATION_KEY}[providerId=allowed-client-templates, subType=anonymous].config.\"allowed-client-scopes\"",
                missing.join(", ")
            ),
        );
    }
    Finding::ok(
        Check::AllowedClientScopes,
        format!("anonymous registration may ask for {}", allowed.join(", ")),
    )
}

fn consent_required(policies: &Value) -> Finding {
    if anonymous_policy(policies, "consent-required").is_some() {
        return Finding::ok(
            Check::ConsentRequired,
            "anonymously registered clients must ask for consent",
        );
    }
    Finding::warn(
        Check::ConsentRequired,
        "no anonymous Consent Required policy: a client anyone registered gets tokens without asking the user",
        format!(
            "Admin console: Clients → Client registration → Anonymous access policies → Create policy → \
             Consent Required; realm.json: {REGISTRATION_KEY}[] += {{\"providerId\": \"consent-required\", \
             \"subType\": \"anonymous\"}}"
        ),
    )
}

fn cimd_policy(policies: &Value, profiles: &Value) -> Finding {
    let all_profiles: Vec<&Value> = ["profiles", "globalProfiles"]
        .into_iter()
        .flat_map(|key| profiles[key].as_array().into_iter().flatten())
        .collect();
    let cimd_profile = |name: &str| {
        all_profiles.iter().any(|p| {
            p["name"] == name
                && p["executors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["executor"] == "client-id-metadata-document")
        })
    };
    let found = ["policies", "globalPolicies"]
        .into_iter()
        .flat_map(|key| policies[key].as_array().into_iter().flatten())
        .filter(|p| p["enabled"] != false)
        .filter(|p| {
            p["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["condition"] == "client-id-uri")
        })
        .find_map(|p| {
            let profile = p["profiles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|&name| cimd_profile(name))?;
            Some(format!(
                "client policy {} (condition client-id-uri) uses profile {profile} (executor \
                 client-id-metadata-document)",
                p["name"].as_str().unwrap_or("?")
            ))
        });
    match found {
        Some(detail) => Finding::ok(Check::CimdPolicy, detail),
        None => Finding::warn(
            Check::CimdPolicy,
            "no enabled client policy with condition client-id-uri whose profile has the executor \
             client-id-metadata-document: MCP clients cannot use Client ID Metadata Documents (MCP 2026-07-28's \
             replacement for dynamic registration)",
            "Admin console: Realm settings → Client policies → Profiles → Create client profile with executor \
             client-id-metadata-document, then Policies → Create client policy with condition client-id-uri \
             and that profile; realm.json: clientProfiles.profiles[] and clientPolicies.policies[] (Keycloak \
             started with --features=cimd)",
        ),
    }
}

/// Whether the feature named by one of `names` (Keycloak's key such as
/// `cimd`, matched case-insensitively with `_` read as `-`) is enabled.
fn feature_enabled(server_info: &Value, names: &[&str]) -> Option<bool> {
    let matches = |v: &Value| {
        v.as_str()
            .map(|s| s.to_ascii_lowercase().replace('_', "-"))
            .is_some_and(|s| names.contains(&s.as_str()))
    };
    if let Some(features) = server_info["features"].as_array() {
        let feature = features.iter().find(|f| matches(&f["name"]))?;
        return Some(feature["enabled"] == true);
    }
    let disabled = server_info["profileInfo"]["disabledFeatures"].as_array()?;
    Some(!disabled.iter().any(matches))
}

fn feature(server_info: &Value, check: Check, names: &[&str]) -> Finding {
    let name = names[0];
    match feature_enabled(server_info, names) {
        Some(true) => Finding::ok(check, format!("Keycloak runs with the {name} feature")),
        Some(false) => Finding::warn(
            check,
            format!("Keycloak runs without the {name} feature (experimental in 26.x)"),
            format!(
                "start Keycloak with --features={name} (KC_FEATURES={name}; `cargo xtask keycloak --features {name}`)"
            ),
        ),
        None => Finding::warn(
            check,
            format!(
                "this Keycloak does not know the {name} feature (GET /admin/serverinfo lists none such)"
            ),
            format!("use Keycloak 26.6 or newer, started with --features={name}"),
        ),
    }
}

fn resource_indicators(admin: &Admin, resource: &str) -> Finding {
    if feature_enabled(&admin.server_info, &["resource-indicators"]) != Some(true) {
        return Finding::ok(
            Check::ResourceIndicators,
            format!(
                "resource-indicators is off: Keycloak ignores `resource`, `aud` comes from the {TOOLS_SCOPE} mapper"
            ),
        );
    }
    let client = clients(admin)
        .find(|c| c["attributes"]["resource_url"] == resource)
        .and_then(|c| c["clientId"].as_str());
    match client {
        Some(client) => Finding::ok(
            Check::ResourceIndicators,
            format!(
                "resource-indicators is on and the client {client} has resource_url = {resource}: \
                 resource={resource} narrows `aud` to it"
            ),
        ),
        None => Finding::fail(
            Check::ResourceIndicators,
            format!(
                "resource-indicators is on, but no client has resource_url = {resource}: every MCP client sends \
                 resource={resource} and gets invalid_target from the token endpoint"
            ),
            format!(
                "give the client that {TOOLS_SCOPE}'s client-audience mapper names (mcp-server) the attribute \
                 resource_url = {resource}: Admin REST PUT /admin/realms/REALM/clients/ID with \
                 attributes.resource_url; realm.json: clients[clientId=mcp-server].attributes.resource_url"
            ),
        ),
    }
}

fn offline_access(admin: &Admin) -> Finding {
    const OFFLINE: &str = "offline_access";
    let realm_default = admin
        .default_scopes
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["name"] == OFFLINE);
    let ours: Vec<&str> = clients(admin)
        .filter(|c| {
            let id = c["clientId"].as_str().unwrap_or_default();
            !BUILTIN_CLIENTS.contains(&id) && !id.ends_with("-realm")
        })
        .filter(|c| {
            c["defaultClientScopes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s == OFFLINE)
        })
        .filter_map(|c| c["clientId"].as_str())
        .collect();
    if !realm_default && ours.is_empty() {
        return Finding::ok(
            Check::OfflineAccess,
            "offline_access is not a default scope",
        );
    }
    let mut places = Vec::new();
    if realm_default {
        places.push("the realm's default client scopes".to_owned());
    }
    if !ours.is_empty() {
        places.push(format!("the default scopes of {}", ours.join(", ")));
    }
    Finding::warn(
        Check::OfflineAccess,
        format!(
            "offline_access is in {}: every login then gets an offline refresh token that outlives the session \
             (MCP keeps offline_access out of challenges; a client asks for it when it needs it)",
            places.join(" and ")
        ),
        "Admin console: Client scopes → offline_access → Assigned type Optional, and Clients → the client → \
         Client scopes → offline_access → Optional; realm.json: defaultDefaultClientScopes → \
         defaultOptionalClientScopes, clients[…].defaultClientScopes → optionalClientScopes",
    )
}
