//! Clients that bring no client id of their own, against the dev realm as
//! `cargo xtask run-dev` imports it (Keycloak started with
//! [`crate::keycloak::DEV_FEATURES`]: `cimd`, `resource-indicators`):
//! - the official SDKs' own OAuth clients register themselves (RFC 7591
//!   anonymous registration from a trusted loopback host), log a user in,
//!   accept Keycloak's consent screen and call tools, with the SDK sending
//!   RFC 8707 `resource`, so `aud` is narrowed to exactly our resource;
//! - a step-up to `templates:write` after registration, where Keycloak
//!   limits what a registered client may ask for (see `docs/keycloak.md`);
//! - a Client ID Metadata Document client: the suite serves the document
//!   from a local process and uses its URL as the `client_id`.
//!
//! Every client registered here is deleted again through the Admin API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use super::{
    BOTH_SCOPES, RENDERED_TEXT, TEMPLATE, TEMPLATE_VARIABLES, TOOLS, audiences, authorization_code,
    has_scope, jwt_part, lists_and_renders, redeem_code, sdk_lists_and_renders,
    sdk_without_token_gets_401, user_token,
};
use crate::clients::{OAuthLogin, Sdk};
use crate::e2e::mcp::{Http, Session, preview};
use crate::e2e::oauth::{self, AuthorizationRequest, Pkce};
use crate::e2e::server::{Mode, Server};
use crate::e2e::{Env, free_port};
use crate::keycloak::{self, Keycloak};
use crate::process::ProcessGroup;

/// The SDK 2.x client with a token, in its default `auto` mode: it probes
/// `server/discover` and so speaks MCP 2026-07-28 (no `initialize`, no
/// session, `Mcp-Method`/`Mcp-Name` on every request) to this server.
pub(crate) fn python_sdk_2_client_speaks_2026_07_28_lists_and_renders(
    env: &mut Env,
) -> anyhow::Result<()> {
    let report = sdk_lists_and_renders(env, Sdk::Python2, "python-sdk-2")?;
    ensure!(
        report["protocol_version"] == "2026-07-28",
        "the SDK 2.x client negotiated {} in auto mode, not 2026-07-28",
        report["protocol_version"]
    );
    Ok(())
}

/// RFC 6750 §3.1 through the SDK 2.x client: no token, 401, and the
/// challenge names our RFC 9728 metadata.
pub(crate) fn python_sdk_2_client_without_token_gets_401(env: &mut Env) -> anyhow::Result<()> {
    sdk_without_token_gets_401(env, Sdk::Python2, "python-sdk-2-401")
}

/// RFC 7591 + RFC 8707 + MCP authorization, with the Python SDK 2.x's own
/// OAuth client and no pre-registered client id.
pub(crate) fn python_sdk_2_registers_itself_logs_in_consents_calls_tools(
    env: &mut Env,
) -> anyhow::Result<()> {
    registers_itself_logs_in_consents_calls_tools(env, Sdk::Python2, "python-sdk-2-dcr")
}

/// The same with the TypeScript SDK's OAuth client.
pub(crate) fn typescript_sdk_registers_itself_logs_in_consents_calls_tools(
    env: &mut Env,
) -> anyhow::Result<()> {
    registers_itself_logs_in_consents_calls_tools(env, Sdk::TypeScript, "typescript-sdk-dcr")
}

fn registers_itself_logs_in_consents_calls_tools(
    env: &mut Env,
    sdk: Sdk,
    name: &str,
) -> anyhow::Result<()> {
    let server = Server::start(env, name, Mode::Jwt)?;
    let registration = Registration::new(env, name)?;
    let out = env.tools.run_oauth_client(
        &env.sh,
        sdk,
        &server.url,
        &registration.login(env, None),
        password("alice")?,
    )?;
    let report: Value = serde_json::from_str(&out).context("the client's report")?;
    ensure!(
        report["authorization_pages"] == json!(["login", "consent"]),
        "{sdk}: expected Keycloak's login then consent page, saw {}",
        report["authorization_pages"]
    );
    ensure!(
        report["text"]
            .as_str()
            .is_some_and(|t| t.contains(RENDERED_TEXT)),
        "{sdk}: rendered {}",
        report["text"]
    );

    // What the SDK registered, as Keycloak holds it: a public client that
    // needs consent and PKCE S256 (the realm's registration policies).
    let client = registration.client(&env.kc)?;
    ensure!(
        client["publicClient"] == true,
        "registered client is not public: {}",
        client["publicClient"]
    );
    ensure!(
        client["consentRequired"] == true,
        "registered client does not require consent"
    );
    ensure!(
        client["attributes"]["pkce.code.challenge.method"] == "S256",
        "registered client's PKCE method: {}",
        client["attributes"]["pkce.code.challenge.method"]
    );
    ensure!(
        client["fullScopeAllowed"] == false,
        "registered client has full scope allowed"
    );

    // The token the SDK holds: issued to that client, for our resource.
    let claims = registration.access_token_claims()?;
    ensure!(
        claims["azp"] == client["clientId"],
        "azp {} is not the registered client {}",
        claims["azp"],
        client["clientId"]
    );
    ensure!(
        audiences(&claims) == [env.resource.clone()],
        "RFC 8707: the SDK sent `resource`, so aud must be exactly {}; got {}",
        env.resource,
        claims["aud"]
    );
    ensure!(has_scope(&claims, "mcp:tools"), "scope {}", claims["scope"]);
    drop(server);
    registration.delete(&env.kc)
}

/// MCP authorization "Scope challenge handling" after RFC 7591: Keycloak
/// lets a registered client ask only for the scopes it registered with, and
/// the SDK registers with the 401's `scope` (`mcp:tools`). So its step-up to
/// `templates:write` on the 403 is refused (`invalid_scope`) until an
/// administrator adds that scope to the client; then the same client, with
/// its stored registration, steps up and saves.
pub(crate) fn python_sdk_2_step_up_after_registration_needs_the_scope_granted(
    env: &mut Env,
) -> anyhow::Result<()> {
    let server = Server::start(env, "python-sdk-2-step-up", Mode::Jwt)?;
    let registration = Registration::new(env, "python-sdk-2-step-up")?;
    let template = format!("e2e-step-up-{}", std::process::id());
    let login = registration.login(env, Some(&template));
    let refused = env.tools.run_oauth_client(
        &env.sh,
        Sdk::Python2,
        &server.url,
        &login,
        password("alice")?,
    );
    match refused {
        Err(e) if format!("{e:#}").contains("invalid_scope") => {}
        Err(e) => bail!("step-up before the grant failed, but not with invalid_scope: {e:#}"),
        Ok(out) => bail!(
            "Keycloak now lets a registered client step up to a scope it did not \
             register with: update docs/keycloak.md and this scenario. Report: {}",
            preview(&out)
        ),
    }
    let client = registration.client(&env.kc)?;
    let id = client["id"]
        .as_str()
        .context("registered client without id")?;
    env.kc.add_optional_scope(id, "templates:write")?;

    let out = env.tools.run_oauth_client(
        &env.sh,
        Sdk::Python2,
        &server.url,
        &login,
        password("alice")?,
    )?;
    let report: Value = serde_json::from_str(&out).context("the client's report")?;
    ensure!(
        report["saved"].is_string(),
        "no save_template result in {out}"
    );
    let claims = registration.access_token_claims()?;
    ensure!(
        has_scope(&claims, "templates:write"),
        "after the step-up the token's scope is {}",
        claims["scope"]
    );

    // The save really landed: read it back and remove it (delete_template
    // is a verify-online tool, so this also introspects a second token).
    let http = Http::new()?;
    let token = user_token(env, "mcp-test", "alice", BOTH_SCOPES)?;
    let alice = token.as_str();
    let mut session = Session::open(&http, &server.url, alice)?;
    let got = session.call_ok(alice, "get_template", json!({"name": template}))?;
    let version = got["version"]
        .as_str()
        .with_context(|| format!("get_template of the saved template: {got}"))?;
    let deleted = session.call_ok(
        alice,
        "delete_template",
        json!({"name": template, "expected_version": version}),
    )?;
    ensure!(deleted["deleted"] == true, "delete_template: {deleted}");
    session.close(alice);
    drop(server);
    registration.delete(&env.kc)
}

/// Client ID Metadata Documents (MCP authorization 2025-11-25; Keycloak's
/// experimental `cimd` feature): the `client_id` is the URL of a JSON
/// document the suite serves on loopback. Keycloak fetches it during the
/// authorization request (the realm's `mcp-cimd-policy` admits loopback
/// URLs), the user logs in and consents, the code is redeemed with PKCE,
/// and the token (`azp` = the document's URL) calls tools. Twice: without
/// `resource` (`aud` from the `mcp:tools` scope's audience mapper) and with
/// RFC 8707 `resource` (`aud` exactly our resource).
pub(crate) fn cimd_client_logs_in_consents_calls_tools(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "cimd", Mode::Jwt)?;
    let document = MetadataDocument::serve(env)?;
    let client_id = document.url.as_str();

    let access = cimd_token(env, client_id, None)?;
    let claims = jwt_part(&access, 1)?;
    ensure!(
        audiences(&claims).contains(&env.resource),
        "CIMD without resource: aud {} lacks {}",
        claims["aud"],
        env.resource
    );
    ensure!(
        document.fetched()?,
        "Keycloak never fetched the metadata document"
    );
    let http = Http::new()?;
    let mut session = Session::open(&http, &server.url, &access)?;
    lists_and_renders(&mut session, &access)?;
    session.close(&access);

    let access = cimd_token(env, client_id, Some(&env.resource))?;
    let claims = jwt_part(&access, 1)?;
    ensure!(
        audiences(&claims) == [env.resource.clone()],
        "CIMD with RFC 8707 resource: aud {} is not exactly [{}]",
        claims["aud"],
        env.resource
    );
    let mut session = Session::open(&http, &server.url, &access)?;
    let tools = session.list_tools(&access)?;
    ensure!(
        tools == TOOLS,
        "tools/list with the narrowed token: {tools:?}"
    );
    session.close(&access);
    Ok(())
}

/// A fresh browser's authorization code flow for the CIMD client
/// `client_id` (login, consent, PKCE exchange); returns the access token
/// after checking that it was issued to that client.
fn cimd_token(env: &Env, client_id: &str, resource: Option<&str>) -> anyhow::Result<String> {
    let with = if resource.is_some() {
        "with resource"
    } else {
        "without resource"
    };
    let browser = Http::new()?;
    let (_, meta) = oauth::discover(&browser, &env.issuer())?;
    let (authorization_endpoint, token_endpoint) = oauth::endpoints(&meta)?;
    let pkce = Pkce::new()?;
    let state = oauth::random_b64url(16)?;
    let request = AuthorizationRequest {
        authorization_endpoint,
        client_id,
        redirect_uri: &env.redirect_uri,
        scope: "openid mcp:tools",
        resource,
        state: &state,
        code_challenge: &pkce.challenge,
    };
    let code = authorization_code(env, &browser, &request, "alice")
        .with_context(|| format!("CIMD client {with}"))?;
    let access = redeem_code(&browser, token_endpoint, &request, &code, &pkce.verifier)
        .with_context(|| format!("CIMD client {with}"))?;
    let claims = jwt_part(&access, 1)?;
    ensure!(
        claims["azp"] == client_id,
        "CIMD client {with}: azp {} is not the metadata document's URL {client_id}",
        claims["azp"]
    );
    ensure!(has_scope(&claims, "mcp:tools"), "scope {}", claims["scope"]);
    Ok(access)
}

/// The dev realm's password for `user`.
fn password(user: &str) -> anyhow::Result<&'static str> {
    keycloak::user_password(user).with_context(|| format!("no password for {user}"))
}

/// One client registration made by an SDK: its unique `client_name`, and
/// the client's state file (registration and tokens, removed on drop).
struct Registration {
    client_name: String,
    state_file: PathBuf,
}

impl Registration {
    fn new(env: &Env, name: &str) -> anyhow::Result<Registration> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let state_file = env.run_dir.join(format!("{name}-oauth-state.json"));
        remove_if_present(&state_file)?;
        Ok(Registration {
            client_name: format!("mcp-file-templates e2e {name} {nanos}"),
            state_file,
        })
    }

    fn login<'a>(&'a self, env: &'a Env, save: Option<&'a str>) -> OAuthLogin<'a> {
        OAuthLogin {
            user: "alice",
            client_name: &self.client_name,
            redirect_uri: &env.redirect_uri,
            state_file: &self.state_file,
            render: (TEMPLATE, TEMPLATE_VARIABLES),
            save,
        }
    }

    /// The one client Keycloak holds under this registration's name.
    fn client(&self, kc: &Keycloak) -> anyhow::Result<Value> {
        let mut found = kc.clients_named(&self.client_name)?;
        ensure!(
            found.len() == 1,
            "expected one registered client named {:?}, found {}",
            self.client_name,
            found.len()
        );
        Ok(found.remove(0))
    }

    /// The claims of the access token the client stored last.
    fn access_token_claims(&self) -> anyhow::Result<Value> {
        let text = std::fs::read_to_string(&self.state_file)
            .with_context(|| format!("reading {}", self.state_file.display()))?;
        let state: Value = serde_json::from_str(&text).context("the client's state file")?;
        let access = state["tokens"]["access_token"]
            .as_str()
            .context("the client stored no access token")?;
        jwt_part(access, 1)
    }

    /// Deletes the registered client (and the state file).
    fn delete(self, kc: &Keycloak) -> anyhow::Result<()> {
        let client = self.client(kc)?;
        let id = client["id"]
            .as_str()
            .context("registered client without id")?;
        kc.delete_client(id)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.state_file);
    }
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// A client's metadata document, served by Python's `http.server` (the
/// e2e venv's interpreter) from a folder under the run directory; the
/// server's access log says whether Keycloak fetched it.
struct MetadataDocument {
    url: String,
    log: PathBuf,
    _process: (std::sync::Arc<ProcessGroup>, crate::process::Guard),
}

impl MetadataDocument {
    fn serve(env: &Env) -> anyhow::Result<MetadataDocument> {
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}/client.json");
        let dir = env.run_dir.join("cimd");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let document = json!({
            "client_id": url,
            "client_name": "mcp-file-templates e2e (CIMD)",
            "redirect_uris": [env.redirect_uri],
            // `refresh_token` too: without it Keycloak 26.7.3 issues no
            // refresh token and its resource-indicators post-processor
            // fails the code exchange with an NPE (docs/keycloak.md).
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        std::fs::write(
            dir.join("client.json"),
            serde_json::to_vec_pretty(&document)?,
        )
        .context("writing the metadata document")?;
        let log = env.logs.join("cimd-document.log");
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(&env.tools.python);
        command
            .args([
                "-u",
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(&dir);
        let process = ProcessGroup::spawn("cimd-document", command, &file, Duration::from_secs(2))?;
        let http = Http::new()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(reply) = http.get(&url, None)
                && reply.status == 200
            {
                break;
            }
            if let Some(status) = process.0.exited() {
                bail!(
                    "the metadata document server exited ({status}); see {}",
                    log.display()
                );
            }
            ensure!(
                Instant::now() < deadline,
                "the metadata document server did not answer {url} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(MetadataDocument {
            url,
            log,
            _process: process,
        })
    }

    /// Whether anyone but the suite's own readiness probe fetched it.
    fn fetched(&self) -> anyhow::Result<bool> {
        let log = std::fs::read_to_string(&self.log)
            .with_context(|| format!("reading {}", self.log.display()))?;
        Ok(log.matches("\"GET /client.json").count() > 1)
    }
}
