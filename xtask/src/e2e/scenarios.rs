//! The named end-to-end scenarios, in the order they run. Each starts its
//! own server ([`Server::start`]), except the [`doctor`] ones, which need
//! only Keycloak, and fails with a reason that says which rule did not hold. The multi-realm scenarios ([`realms`]) run after
//! `key_rotation_under_load` (their rotation picks a priority above every
//! RS256 key there is). `idp_outage_serves_cached_keys_and_reports_degraded`
//! restarts Keycloak (about a minute), so it runs last.

mod cluster;
mod doctor;
mod protocol;
mod realms;
mod registration;
mod rotation;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use serde_json::{Value, json};

use super::Env;
use super::mcp::{Http, Session, challenge_param, initialize_request, preview};
use super::oauth::{self, AuthorizationRequest, Pkce};
use super::server::{self, Mode, Server};
use crate::clients::{InspectorCall, Scenario, Sdk};
use crate::keycloak::{self, KeyAlgorithm, Token};

/// A scenario: gets the suite's [`Env`], fails with the reason.
pub(crate) type Run = fn(&mut Env) -> anyhow::Result<()>;

/// Every scenario, in run order.
pub(crate) const ALL: &[(&str, Run)] = &[
    (
        "discovery_401_metadata_then_authorization_server",
        discovery_401_metadata_then_authorization_server,
    ),
    (
        "doctor_green_on_dev_realm",
        doctor::doctor_green_on_dev_realm,
    ),
    (
        "doctor_names_each_mistake_in_broken_realm",
        doctor::doctor_names_each_mistake_in_broken_realm,
    ),
    (
        "authorization_code_pkce_flow_headless",
        authorization_code_pkce_flow_headless,
    ),
    (
        "python_sdk_client_lists_and_renders",
        python_sdk_client_lists_and_renders,
    ),
    (
        "python_sdk_client_without_token_gets_401",
        python_sdk_client_without_token_gets_401,
    ),
    (
        "typescript_sdk_client_lists_and_renders",
        typescript_sdk_client_lists_and_renders,
    ),
    (
        "typescript_sdk_client_without_token_gets_401",
        typescript_sdk_client_without_token_gets_401,
    ),
    (
        "python_sdk_2_client_speaks_2026_07_28_lists_and_renders",
        registration::python_sdk_2_client_speaks_2026_07_28_lists_and_renders,
    ),
    (
        "python_sdk_2_client_without_token_gets_401",
        registration::python_sdk_2_client_without_token_gets_401,
    ),
    (
        "python_sdk_2_registers_itself_logs_in_consents_calls_tools",
        registration::python_sdk_2_registers_itself_logs_in_consents_calls_tools,
    ),
    (
        "python_sdk_2_step_up_after_registration_needs_the_scope_granted",
        registration::python_sdk_2_step_up_after_registration_needs_the_scope_granted,
    ),
    (
        "typescript_sdk_registers_itself_logs_in_consents_calls_tools",
        registration::typescript_sdk_registers_itself_logs_in_consents_calls_tools,
    ),
    (
        "cimd_client_logs_in_consents_calls_tools",
        registration::cimd_client_logs_in_consents_calls_tools,
    ),
    (
        "inspector_cli_lists_and_renders",
        inspector_cli_lists_and_renders,
    ),
    (
        "inspector_cli_without_token_is_refused",
        inspector_cli_without_token_is_refused,
    ),
    ("wrong_audience_is_401", wrong_audience_is_401),
    (
        "missing_mcp_tools_scope_is_403",
        missing_mcp_tools_scope_is_403,
    ),
    (
        "bob_save_template_gets_403_step_up_with_scope",
        bob_save_template_gets_403_step_up_with_scope,
    ),
    ("alice_save_template_succeeds", alice_save_template_succeeds),
    ("expired_token_is_401", expired_token_is_401),
    (
        "revocation_jwt_mode_verify_online_tools",
        revocation_jwt_mode_verify_online_tools,
    ),
    (
        "revocation_introspection_mode_refuses_everything",
        revocation_introspection_mode_refuses_everything,
    ),
    (
        "es256_realm_key_tokens_accepted",
        es256_realm_key_tokens_accepted,
    ),
    (
        "protocol_2026_07_28_client_discovers_lists_renders",
        protocol::protocol_2026_07_28_client_discovers_lists_renders,
    ),
    (
        "cluster_three_replicas_behind_haproxy",
        cluster::three_replicas_behind_haproxy,
    ),
    ("key_rotation_under_load", rotation::key_rotation_under_load),
    ("two_realms_each_accepted", realms::two_realms_each_accepted),
    ("cross_realm_refused", realms::cross_realm_refused),
    (
        "rotation_in_one_realm_leaves_the_other",
        realms::rotation_in_one_realm_leaves_the_other,
    ),
    (
        "idp_outage_serves_cached_keys_and_reports_degraded",
        rotation::idp_outage_serves_cached_keys_and_reports_degraded,
    ),
];

/// A shipped template every scenario renders.
const TEMPLATE: &str = "meeting-minutes";
const TEMPLATE_VARIABLES: &str =
    r#"{"meeting": "Platform sync", "attendees": "Alice, Bob", "date": "2026-01-15"}"#;
/// Text the rendered document must contain.
const RENDERED_TEXT: &str = "Platform sync";
const TOOLS: [&str; 5] = [
    "delete_template",
    "get_template",
    "list_templates",
    "render_template",
    "save_template",
];
const BOTH_SCOPES: &str = "mcp:tools templates:write";

fn render_args() -> anyhow::Result<Value> {
    Ok(json!({"name": TEMPLATE, "variables": serde_json::from_str::<Value>(TEMPLATE_VARIABLES)?}))
}

/// A dev-realm user's token from a confidential client (password grant).
pub(crate) fn user_token(
    env: &Env,
    client: &str,
    user: &str,
    scope: &str,
) -> anyhow::Result<Token> {
    user_token_in(env, keycloak::REALM, client, user, scope)
}

/// [`user_token`] from `realm` (the dev realm or [`keycloak::SECOND_REALM`],
/// whose clients have the same ids and dev secrets).
pub(crate) fn user_token_in(
    env: &Env,
    realm: &str,
    client: &str,
    user: &str,
    scope: &str,
) -> anyhow::Result<Token> {
    let password =
        keycloak::user_password(user).with_context(|| format!("no password for {user}"))?;
    env.kc.password_token_in(
        realm,
        client,
        keycloak::client_secret(client),
        user,
        password,
        scope,
    )
}

/// The `aud` claim as a list (a string or an array; absent is empty).
pub(crate) fn audiences(claims: &Value) -> Vec<String> {
    match &claims["aud"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn has_scope(claims: &Value, scope: &str) -> bool {
    claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .any(|s| s == scope)
}

/// A JWT part (0 header, 1 payload), decoded without verification.
fn jwt_part(jwt: &str, index: usize) -> anyhow::Result<Value> {
    let part = jwt.split('.').nth(index).context("not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .context("JWT part is not base64url")?;
    serde_json::from_slice(&bytes).context("JWT part is not JSON")
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Requires an HTTP 401 with `error="invalid_token"` and a
/// `resource_metadata` (RFC 6750 §3.1, MCP authorization).
pub(crate) fn ensure_invalid_token(reply: &super::mcp::Reply, what: &str) -> anyhow::Result<()> {
    ensure!(
        reply.status == 401,
        "{what}: expected 401, got HTTP {} {}",
        reply.status,
        preview(&reply.body)
    );
    let challenge = reply.challenge();
    ensure!(
        challenge.contains("error=\"invalid_token\"") && challenge.contains("resource_metadata=\""),
        "{what}: 401 challenge {challenge:?} lacks error=\"invalid_token\" or resource_metadata"
    );
    Ok(())
}

fn discovery_401_metadata_then_authorization_server(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "discovery", Mode::Jwt)?;
    let http = Http::new()?;
    let issuer = env.issuer();

    let reply = http.post_mcp(&server.url, None, None, &initialize_request())?;
    ensure!(reply.status == 401, "no token: HTTP {}", reply.status);
    let challenge = reply.challenge();
    ensure!(challenge.starts_with("Bearer "), "challenge {challenge:?}");
    // RFC 6750 §3.1: no error code when the request had no credentials.
    ensure!(
        !challenge.contains("error="),
        "RFC 6750 §3.1: no error without credentials, got {challenge:?}"
    );
    // MCP authorization (2025-11-25, 2026-07-28), scope selection: the 401
    // names the scopes to request first.
    let scope = challenge_param(challenge, "scope");
    ensure!(
        scope.as_deref() == Some("mcp:tools"),
        "the 401 should name scope \"mcp:tools\", got {scope:?} in {challenge:?}"
    );
    let metadata_url = challenge_param(challenge, "resource_metadata")
        .with_context(|| format!("no resource_metadata in {challenge:?}"))?;
    // RFC 9728 §3.1: absolute, the resource's path inserted after the well-known prefix.
    let expected = format!("{}/.well-known/oauth-protected-resource/mcp", env.base);
    ensure!(
        metadata_url == expected,
        "resource_metadata {metadata_url:?}, expected {expected:?}"
    );

    let reply = http.get(&metadata_url, None)?;
    ensure!(
        reply.status == 200,
        "GET {metadata_url}: HTTP {}",
        reply.status
    );
    let doc = reply.json()?;
    // RFC 9728 §3.3: `resource` is the URL the client used.
    ensure!(
        doc["resource"] == env.resource.as_str(),
        "RFC 9728 resource {} != {}",
        doc["resource"],
        env.resource
    );
    ensure!(
        doc["authorization_servers"] == json!([issuer]),
        "authorization_servers {} != [{issuer}]",
        doc["authorization_servers"]
    );

    let as_issuer = doc["authorization_servers"][0]
        .as_str()
        .context("no authorization server")?;
    let (url, meta) = oauth::discover(&http, as_issuer)?;
    eprintln!("  authorization server metadata from {url}");
    ensure!(
        meta["issuer"] == issuer,
        "metadata issuer {} != {issuer}",
        meta["issuer"]
    );
    for endpoint in ["authorization_endpoint", "token_endpoint"] {
        let value = meta[endpoint].as_str().unwrap_or_default();
        ensure!(
            value.starts_with(&format!("{issuer}/")),
            "{endpoint} {value:?} is not under the issuer"
        );
    }
    // MCP authorization: clients MUST use PKCE S256 and must refuse an AS without it.
    ensure!(
        meta["code_challenge_methods_supported"]
            .as_array()
            .is_some_and(|m| m.iter().any(|v| v == "S256")),
        "code_challenge_methods_supported {} lacks S256",
        meta["code_challenge_methods_supported"]
    );
    Ok(())
}

/// `tools/list` names exactly our five tools and `render_template` of the
/// shipped template renders; the render's result.
pub(crate) fn lists_and_renders(session: &mut Session, token: &str) -> anyhow::Result<Value> {
    let tools = session.list_tools(token)?;
    ensure!(tools == TOOLS, "tools/list: {tools:?}");
    let rendered = session.call_ok(token, "render_template", render_args()?)?;
    let text = rendered["text"].as_str().unwrap_or_default();
    ensure!(text.contains(RENDERED_TEXT), "rendered text: {text:?}");
    Ok(rendered)
}

/// Bob's token asking for both scopes: Keycloak drops `templates:write`
/// (he lacks the `template-writer` role), so it reads but cannot write.
pub(crate) fn bob_read_only_token(env: &Env) -> anyhow::Result<Token> {
    let token = user_token(env, "mcp-test", "bob", BOTH_SCOPES)?;
    let claims = token.claims()?;
    ensure!(
        has_scope(&claims, "mcp:tools") && !has_scope(&claims, "templates:write"),
        "bob's scope {}",
        claims["scope"]
    );
    Ok(token)
}

/// The code of a headless authorization for `request`: `user` logs in
/// through Keycloak's form (and consents, when asked) in `browser`, whose
/// cookie jar keeps the login session. The redirect must go to our redirect
/// URI with no `error`, the same `state`, and, when Keycloak names itself
/// (RFC 9207), our issuer.
pub(crate) fn authorization_code(
    env: &Env,
    browser: &Http,
    request: &AuthorizationRequest<'_>,
    user: &str,
) -> anyhow::Result<String> {
    let password =
        keycloak::user_password(user).with_context(|| format!("no password for {user}"))?;
    let location = oauth::login(browser, &request.url()?, user, password)
        .with_context(|| format!("authorization for {}", request.client_id))?;
    ensure!(
        location.starts_with(&format!("{}?", request.redirect_uri)),
        "redirected to {location:?}, not to {}",
        request.redirect_uri
    );
    let params = oauth::query_params(&location)?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(error) = param("error") {
        bail!(
            "authorization error {error}: {:?}",
            param("error_description")
        );
    }
    ensure!(
        param("state") == Some(request.state),
        "state mismatch: sent {:?}, got {:?}",
        request.state,
        param("state")
    );
    if let Some(iss) = param("iss") {
        let issuer = env.issuer();
        ensure!(iss == issuer, "RFC 9207 iss {iss:?} != {issuer:?}");
    }
    Ok(param("code").context("no code in the redirect")?.to_owned())
}

/// Redeems `code` at `token_endpoint` with the PKCE `verifier`; the access
/// token.
pub(crate) fn redeem_code(
    browser: &Http,
    token_endpoint: &str,
    request: &AuthorizationRequest<'_>,
    code: &str,
    verifier: &str,
) -> anyhow::Result<String> {
    let (status, body) = oauth::exchange_code(
        browser,
        token_endpoint,
        request.client_id,
        request.redirect_uri,
        code,
        verifier,
    )?;
    ensure!(
        status == 200,
        "code exchange for {}: HTTP {status}: {} ({})",
        request.client_id,
        body["error"],
        body["error_description"]
    );
    Ok(body["access_token"]
        .as_str()
        .context("no access_token")?
        .to_owned())
}

fn authorization_code_pkce_flow_headless(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "pkce", Mode::Jwt)?;
    let issuer = env.issuer();
    // A fresh agent: its cookie jar carries Keycloak's login session.
    let browser = Http::new()?;
    let (_, meta) = oauth::discover(&browser, &issuer)?;
    let (authorization_endpoint, token_endpoint) = oauth::endpoints(&meta)?;

    let pkce = Pkce::new()?;
    let state = oauth::random_b64url(16)?;
    let request = AuthorizationRequest {
        authorization_endpoint,
        client_id: "mcp-client",
        redirect_uri: &env.redirect_uri,
        scope: "openid mcp:tools templates:write",
        resource: Some(&env.resource),
        state: &state,
        code_challenge: &pkce.challenge,
    };
    let code = authorization_code(env, &browser, &request, "alice")?;
    let access = redeem_code(&browser, token_endpoint, &request, &code, &pkce.verifier)?;
    let claims = jwt_part(&access, 1)?;
    // RFC 8707 with Keycloak's `resource-indicators`: `aud` is narrowed to
    // exactly the resource asked for (no `mcp-server`), the setup in which
    // introspection must still work (see the delete below).
    ensure!(
        audiences(&claims) == [env.resource.clone()],
        "RFC 8707: aud {} is not exactly [{}]",
        claims["aud"],
        env.resource
    );
    ensure!(claims["azp"] == "mcp-client", "azp {}", claims["azp"]);
    ensure!(has_scope(&claims, "mcp:tools"), "scope {}", claims["scope"]);

    // RFC 7636 §4.6: a code redeemed with the wrong verifier is refused. The
    // SSO cookie makes Keycloak answer the second request with a code at once.
    let second = Pkce::new()?;
    let request = AuthorizationRequest {
        code_challenge: &second.challenge,
        ..request
    };
    let reply = browser.get_accept(&request.url()?, "text/html")?;
    ensure!(
        reply.status == 302,
        "second authorization (SSO): HTTP {}",
        reply.status
    );
    let location = reply.header("location").context("no Location")?;
    let params = oauth::query_params(location)?;
    let code = params
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.as_str())
        .context("no code on the SSO redirect")?;
    let (status, body) = oauth::exchange_code(
        &browser,
        token_endpoint,
        "mcp-client",
        &env.redirect_uri,
        code,
        &pkce.verifier,
    )?;
    ensure!(
        status == 400 && body["error"] == "invalid_grant",
        "a code with the wrong PKCE verifier: HTTP {status} {body}"
    );

    let http = Http::new()?;
    let mut session = Session::open(&http, &server.url, &access)?;
    let rendered = lists_and_renders(&mut session, &access)?;
    ensure!(
        rendered["filename"]
            .as_str()
            .is_some_and(|f| f.starts_with("2026-01-15-")),
        "filename {}",
        rendered["filename"]
    );
    // A verify-online tool with the narrowed token: the server introspects
    // as the resource client (whose client id is the resource URL, so it is
    // in the token's audience) and Keycloak answers `active: true`.
    let name = format!("e2e-narrowed-{}", std::process::id());
    let saved = session.call_ok(
        &access,
        "save_template",
        json!({
            "name": name, "title": "Narrowed", "description": "Saved with an RFC 8707 token",
            "tags": [], "variables": [], "body": "narrowed",
        }),
    )?;
    let version = saved["version"].as_str().context("no version")?.to_owned();
    session.delete_ok(
        &access,
        &name,
        &version,
        "delete_template (introspected) with the narrowed token",
    )?;
    session.close(&access);
    Ok(())
}

/// The SDK client lists the tools and renders the shipped template with
/// alice's token; its JSON report.
fn sdk_lists_and_renders(env: &mut Env, sdk: Sdk, name: &str) -> anyhow::Result<Value> {
    let server = Server::start(env, name, Mode::Jwt)?;
    let token = user_token(env, "mcp-test", "alice", "mcp:tools")?;
    let out = env.tools.run_client(
        &env.sh,
        sdk,
        &server.url,
        Some(token.as_str()),
        &Scenario::Render {
            name: TEMPLATE,
            variables_json: TEMPLATE_VARIABLES,
            expect_text: Some(RENDERED_TEXT),
        },
    )?;
    ensure!(out.contains("filename"), "{sdk} output: {out}");
    serde_json::from_str(&out).with_context(|| format!("{sdk} report: {out}"))
}

fn sdk_without_token_gets_401(env: &mut Env, sdk: Sdk, name: &str) -> anyhow::Result<()> {
    let server = Server::start(env, name, Mode::Jwt)?;
    let out = env
        .tools
        .run_client(&env.sh, sdk, &server.url, None, &Scenario::Expect401)?;
    let metadata = format!("{}/.well-known/oauth-protected-resource/mcp", env.base);
    ensure!(
        out.contains(&metadata),
        "{sdk}: the 401 challenge does not point at {metadata}: {out}"
    );
    Ok(())
}

fn python_sdk_client_lists_and_renders(env: &mut Env) -> anyhow::Result<()> {
    sdk_lists_and_renders(env, Sdk::Python, "python-sdk")?;
    Ok(())
}

fn python_sdk_client_without_token_gets_401(env: &mut Env) -> anyhow::Result<()> {
    sdk_without_token_gets_401(env, Sdk::Python, "python-sdk-401")
}

fn typescript_sdk_client_lists_and_renders(env: &mut Env) -> anyhow::Result<()> {
    sdk_lists_and_renders(env, Sdk::TypeScript, "typescript-sdk")?;
    Ok(())
}

fn typescript_sdk_client_without_token_gets_401(env: &mut Env) -> anyhow::Result<()> {
    sdk_without_token_gets_401(env, Sdk::TypeScript, "typescript-sdk-401")
}

fn inspector_cli_lists_and_renders(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "inspector", Mode::Jwt)?;
    let token = user_token(env, "mcp-test", "alice", "mcp:tools")?;
    let listed = env.tools.run_inspector(
        &env.sh,
        &server.url,
        Some(token.as_str()),
        &InspectorCall::ListTools,
    )?;
    for tool in TOOLS {
        ensure!(listed.contains(tool), "inspector tools/list lacks {tool}");
    }
    inspector_renders(env, &server.url, token.as_str())
}

/// The Inspector CLI renders the shipped template at `url` with `token`.
pub(crate) fn inspector_renders(env: &Env, url: &str, token: &str) -> anyhow::Result<()> {
    let rendered = env.tools.run_inspector(
        &env.sh,
        url,
        Some(token),
        &InspectorCall::CallTool {
            tool: "render_template",
            args: &[("name", TEMPLATE), ("variables", TEMPLATE_VARIABLES)],
        },
    )?;
    ensure!(
        rendered.contains(RENDERED_TEXT) && !rendered.contains("\"isError\": true"),
        "inspector render_template at {url}: {}",
        preview(&rendered)
    );
    Ok(())
}

fn inspector_cli_without_token_is_refused(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "inspector-401", Mode::Jwt)?;
    let line = env
        .tools
        .inspector_expect_rejected(&env.sh, &server.url, None)?;
    eprintln!("  inspector: {line}");
    Ok(())
}

fn wrong_audience_is_401(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "wrong-audience", Mode::Jwt)?;
    let http = Http::new()?;

    // Case 1: signed by the realm, scope mcp:tools, but meant for another
    // resource: the audience mapper temporarily names another server.
    let elsewhere = "https://elsewhere.example/mcp";
    env.kc.set_audience(elsewhere)?;
    let token = user_token(env, "mcp-test", "alice", "mcp:tools");
    let restored = env.kc.set_audience(&env.resource);
    let token = token?;
    restored.context("restoring the realm's audience")?;
    let claims = token.claims()?;
    let aud = audiences(&claims);
    ensure!(
        aud.iter().any(|a| a == elsewhere) && !aud.contains(&env.resource),
        "case 1 needs aud with {elsewhere} and without us, got {aud:?}"
    );
    ensure!(
        has_scope(&claims, "mcp:tools"),
        "case 1 scope {}",
        claims["scope"]
    );
    let reply = http.post_mcp(
        &server.url,
        Some(token.as_str()),
        None,
        &initialize_request(),
    )?;
    ensure_invalid_token(&reply, "aud names another resource (RFC 8707)")?;

    // Case 2: no MCP scope asked, so no audience mapper ran: aud lacks us.
    let token = user_token(env, "mcp-test", "alice", "")?;
    let claims = token.claims()?;
    ensure!(
        !audiences(&claims).contains(&env.resource),
        "case 2 needs an aud without us, got {}",
        claims["aud"]
    );
    let reply = http.post_mcp(
        &server.url,
        Some(token.as_str()),
        None,
        &initialize_request(),
    )?;
    ensure_invalid_token(&reply, "aud without this resource")?;
    Ok(())
}

fn missing_mcp_tools_scope_is_403(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "missing-scope", Mode::Jwt)?;
    let http = Http::new()?;
    // `templates:write` carries the same audience mappers, so this token is
    // meant for us (aud) but lacks the scope every /mcp request needs.
    let token = user_token(env, "mcp-test", "alice", "templates:write")?;
    let claims = token.claims()?;
    ensure!(
        audiences(&claims).contains(&env.resource)
            && !has_scope(&claims, "mcp:tools")
            && has_scope(&claims, "templates:write"),
        "needs aud with us and scope without mcp:tools, got aud {} scope {}",
        claims["aud"],
        claims["scope"]
    );
    let reply = http.post_mcp(
        &server.url,
        Some(token.as_str()),
        None,
        &initialize_request(),
    )?;
    ensure!(
        reply.status == 403,
        "expected 403, got HTTP {} {}",
        reply.status,
        reply.challenge()
    );
    let challenge = reply.challenge();
    let scope = challenge_param(challenge, "scope").unwrap_or_default();
    // RFC 6750 §3.1 insufficient_scope, naming the scope needed.
    ensure!(
        challenge.contains("error=\"insufficient_scope\"")
            && scope.split(' ').any(|s| s == "mcp:tools"),
        "challenge {challenge:?}"
    );
    Ok(())
}

fn bob_save_template_gets_403_step_up_with_scope(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "bob-step-up", Mode::Jwt)?;
    let http = Http::new()?;
    let token = bob_read_only_token(env)?;
    let bob = token.as_str();
    let mut session = Session::open(&http, &server.url, bob)?;
    let name = "e2e-bob-denied";
    let reply = session.call(
        bob,
        "save_template",
        json!({"name": name, "title": "Denied", "body": "x"}),
    )?;
    ensure!(
        reply.status == 403,
        "save_template without templates:write: HTTP {} {}",
        reply.status,
        preview(&reply.body)
    );
    let challenge = reply.challenge();
    // RFC 6750 §3.1: every scope the call needs, so one step-up suffices.
    ensure!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge_param(challenge, "scope").as_deref() == Some(BOTH_SCOPES)
            && challenge.contains("resource_metadata=\""),
        "step-up challenge {challenge:?}"
    );
    // The same token keeps its read tools, and nothing was saved.
    let listed = session.call_ok(bob, "list_templates", json!({}))?;
    ensure!(
        !listed.to_string().contains(name),
        "the refused save created {name}"
    );
    session.close(bob);
    Ok(())
}

fn alice_save_template_succeeds(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "alice-save", Mode::Jwt)?;
    let http = Http::new()?;
    let token = user_token(env, "mcp-test", "alice", BOTH_SCOPES)?;
    let alice = token.as_str();
    let mut session = Session::open(&http, &server.url, alice)?;
    let name = format!("e2e-alice-{}", std::process::id());
    let saved = session.call_ok(
        alice,
        "save_template",
        json!({
            "name": name, "title": "E2E note", "description": "Saved by the e2e suite",
            "tags": ["e2e"],
            "variables": [{"name": "who", "description": "Who is greeted", "required": true}],
            "body": "Hello {{ who }} from e2e",
        }),
    )?;
    ensure!(saved["created"] == true, "save_template: {saved}");
    let version = saved["version"].as_str().context("no version")?.to_owned();
    let rendered = session.call_ok(
        alice,
        "render_template",
        json!({"name": name, "variables": {"who": "Ada"}}),
    )?;
    ensure!(
        rendered["text"] == "Hello Ada from e2e",
        "render of the saved template: {}",
        rendered["text"]
    );
    // delete_template is a verify-online tool: this also proves the server's
    // RFC 7662 introspection against Keycloak says active.
    session.delete_ok(alice, &name, &version, "delete_template")?;
    session.close(alice);
    Ok(())
}

fn expired_token_is_401(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "expired", Mode::Jwt)?;
    let http = Http::new()?;
    let token = user_token(env, "mcp-short", "alice", "mcp:tools")?;
    let claims = token.claims()?;
    let exp = claims["exp"].as_u64().context("no exp")?;
    let iat = claims["iat"].as_u64().context("no iat")?;
    ensure!(exp - iat <= 5, "mcp-short lifespan is {} s", exp - iat);
    let short = token.as_str();
    let mut session = Session::open(&http, &server.url, short)?;
    session.call_ok(short, "list_templates", json!({}))?;
    // Past exp plus the server's leeway, plus one second of margin.
    let refused_after = exp + server::LEEWAY_SECS + 1;
    while unix_now() < refused_after {
        std::thread::sleep(Duration::from_millis(200));
    }
    // The verified-token cache must re-check exp on a hit.
    let reply = session.call(short, "list_templates", json!({}))?;
    ensure_invalid_token(&reply, "expired token in its session")?;
    let reply = http.post_mcp(&server.url, Some(short), None, &initialize_request())?;
    ensure_invalid_token(&reply, "expired token on initialize")?;
    Ok(())
}

fn revocation_jwt_mode_verify_online_tools(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "revocation-jwt", Mode::Jwt)?;
    let http = Http::new()?;
    let token = user_token(env, "mcp-test", "alice", BOTH_SCOPES)?;
    let alice = token.as_str();
    let mut session = Session::open(&http, &server.url, alice)?;
    let name = format!("e2e-revoked-{}", std::process::id());
    let saved = session.call_ok(
        alice,
        "save_template",
        json!({"name": name, "title": "Revocation", "body": "x"}),
    )?;
    let version = saved["version"].as_str().context("no version")?.to_owned();

    env.kc.logout_user("alice")?;
    // Documented trade-off of local validation: the JWT still verifies until
    // exp, so read tools keep working without any IdP call...
    let calls_before = server.metric("mcp_introspection_calls_total")?;
    session.call_ok(alice, "render_template", render_args()?)?;
    ensure!(
        server.metric("mcp_introspection_calls_total")? == calls_before,
        "a read tool called introspection"
    );
    // ...but a verify-online tool asks Keycloak (RFC 7662), which says
    // inactive, and is refused at once.
    let reply = session.call(
        alice,
        "delete_template",
        json!({"name": name, "expected_version": version}),
    )?;
    ensure_invalid_token(&reply, "delete_template after logout")?;
    ensure!(
        server.metric("mcp_introspection_calls_total")? > calls_before,
        "delete_template was refused without introspection"
    );

    // Clean up with a new login.
    let fresh = user_token(env, "mcp-test", "alice", BOTH_SCOPES)?;
    session.delete_ok(fresh.as_str(), &name, &version, "cleanup delete")?;
    session.close(fresh.as_str());
    Ok(())
}

fn revocation_introspection_mode_refuses_everything(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "revocation-introspection", Mode::Introspection)?;
    let http = Http::new()?;
    let token = user_token(env, "mcp-test", "alice", "mcp:tools")?;
    let alice = token.as_str();
    let mut session = Session::open(&http, &server.url, alice)?;
    session.call_ok(alice, "render_template", render_args()?)?;
    ensure!(
        server.metric("mcp_introspection_calls_total")? >= 1.0,
        "introspection mode made no introspection call"
    );

    env.kc.logout_user("alice")?;
    let logged_out = Instant::now();
    // Refused once the cached positive answer (1 s, e2e setting) expires.
    let bound = Duration::from_secs(server::INTROSPECTION_TTL_SECS + 3);
    loop {
        let reply = session.call(alice, "list_templates", json!({}))?;
        if reply.status == 401 {
            ensure_invalid_token(&reply, "list_templates after logout")?;
            break;
        }
        ensure!(
            reply.status == 200,
            "list_templates after logout: HTTP {}",
            reply.status
        );
        ensure!(
            logged_out.elapsed() < bound,
            "still accepted {:?} after logout (positive cache TTL {} s)",
            logged_out.elapsed(),
            server::INTROSPECTION_TTL_SECS
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "  refused {:.1} s after logout",
        logged_out.elapsed().as_secs_f64()
    );
    let reply = http.post_mcp(&server.url, Some(alice), None, &initialize_request())?;
    ensure_invalid_token(&reply, "initialize after logout")?;
    let reply = session.call(alice, "render_template", render_args()?)?;
    ensure_invalid_token(&reply, "render_template after logout")?;
    Ok(())
}

fn es256_realm_key_tokens_accepted(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "es256", Mode::Jwt)?;
    let http = Http::new()?;
    let provider = env.kc.add_key_provider(KeyAlgorithm::Es256, 300)?;
    let es_kid = env
        .kc
        .keys()?
        .into_iter()
        .find(|k| k.provider_id == provider && k.algorithm == "ES256")
        .map(|k| k.kid)
        .context("the new ES256 provider has no key")?;
    // Keycloak signs with ES256 only for a client (or realm) whose access
    // token algorithm is ES256.
    const ALG: &str = "access.token.signed.response.alg";
    env.kc
        .set_client_attribute("mcp-test", ALG, Some("ES256"))?;
    let token = user_token(env, "mcp-test", "alice", "mcp:tools");
    let restored = env.kc.set_client_attribute("mcp-test", ALG, None);
    let token = token?;
    restored.context("restoring mcp-test's token algorithm")?;

    let header = token.header()?;
    ensure!(
        header["alg"] == "ES256" && header["kid"] == es_kid.as_str(),
        "token header {header}, expected ES256 with kid {es_kid}"
    );
    let es = token.as_str();
    let mut session = Session::open(&http, &server.url, es)?;
    let rendered = session.call_ok(es, "render_template", render_args()?)?;
    ensure!(
        rendered["text"]
            .as_str()
            .is_some_and(|t| t.contains(RENDERED_TEXT)),
        "render with an ES256 token: {rendered}"
    );
    session.close(es);

    let after = user_token(env, "mcp-test", "alice", "mcp:tools")?;
    ensure!(
        after.header()?["alg"] == "RS256",
        "mcp-test still signs with {} after the restore",
        after.header()?["alg"]
    );
    Ok(())
}
