//! A real Keycloak 26 for development, end-to-end tests and benchmarks, with
//! the dev realm `mcp` from `dev/keycloak/realm.json`, and the Admin REST
//! calls tests need (tokens, introspection, key rotation, session logout).
//!
//! [`Keycloak::start`] picks the first path that works:
//! 1. `KEYCLOAK_URL` is set: use that server; import the realm through the
//!    Admin API when it is missing (admin credentials from
//!    `KEYCLOAK_ADMIN`/`KEYCLOAK_ADMIN_PASSWORD`, default `admin`/`admin`),
//!    else point its audience mappers at the requested audience.
//! 2. `docker info` or `podman info` succeeds: run the pinned image with the
//!    realm mounted and `--import-realm`.
//! 3. Otherwise the distribution: fetched once with Maven into
//!    `target/keycloak/`, run with a JDK (21 or newer preferred) from a
//!    per-run home directory (see [`dist`]).
//!
//! `KEYCLOAK_PROVISION=container|distribution` skips the detection. The
//! realm's audience (the MCP resource URL that `mcp:tools` and
//! `templates:write` add to `aud`) is rewritten before import, so a test
//! server on any port gets tokens meant for it.
//!
//! A started Keycloak is stopped when the [`Keycloak`] value is dropped,
//! including on panic, and on Ctrl-C/`SIGTERM` (see [`crate::process`]).
//!
//! `cargo xtask keycloak` starts one and waits for Ctrl-C; `cargo xtask token`
//! (in [`crate::token`]) gets tokens from it through the state file it
//! writes, `target/keycloak/state.json`.

mod check;
mod dist;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use xshell::{Shell, cmd};

use crate::http::Http;
use crate::process::{Guard, ProcessGroup, RemovePath, Stop};

/// The Keycloak version of the distribution and of the container image.
pub(crate) const VERSION: &str = "26.7.3";
/// The container image, pinned to [`VERSION`].
const IMAGE: &str = "quay.io/keycloak/keycloak:26.7.3";
/// The dev realm's name.
pub(crate) const REALM: &str = "mcp";
/// The realm file, relative to the workspace root.
const REALM_FILE: &str = "dev/keycloak/realm.json";
/// The client scopes whose Audience mappers carry the MCP resource URL.
const MCP_SCOPES: [&str; 2] = ["mcp:tools", "templates:write"];
/// The audience the realm file carries; [`StartOptions::audience`] replaces it.
pub(crate) const DEFAULT_AUDIENCE: &str = "http://localhost:8000/mcp";
/// The port `cargo xtask keycloak` uses by default: the server's default issuer
/// is `http://localhost:8080/realms/mcp`.
pub(crate) const DEV_PORT: u16 = 8080;
/// Where `cargo xtask keycloak` records the running server for `cargo xtask token`.
pub(crate) const STATE_FILE: &str = "target/keycloak/state.json";

/// The dev realm's confidential clients and their (dev-only) secrets.
pub(crate) const CLIENT_SECRETS: &[(&str, &str)] = &[
    ("mcp-server", "mcp-server-secret"),
    ("mcp-test", "mcp-test-secret"),
    ("mcp-short", "mcp-short-secret"),
];
/// The dev realm's users and their (dev-only) passwords.
pub(crate) const USERS: &[(&str, &str)] = &[("alice", "alice"), ("bob", "bob")];

/// The secret of a confidential client of the dev realm.
pub(crate) fn client_secret(client_id: &str) -> Option<&'static str> {
    CLIENT_SECRETS
        .iter()
        .find(|(id, _)| *id == client_id)
        .map(|(_, s)| *s)
}

/// The password of a user of the dev realm.
pub(crate) fn user_password(user: &str) -> Option<&'static str> {
    USERS.iter().find(|(u, _)| *u == user).map(|(_, p)| *p)
}

/// How to start Keycloak. [`StartOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub(crate) struct StartOptions {
    /// The `aud` that the `mcp:tools` and `templates:write` scopes add: the
    /// MCP server's resource URL, e.g. `http://localhost:8000/mcp`.
    pub(crate) audience: String,
    /// More redirect URIs for the public `mcp-client`.
    pub(crate) extra_redirect_uris: Vec<String>,
    /// HTTP port on 127.0.0.1; `None` picks a free one.
    pub(crate) http_port: Option<u16>,
    /// Management port (health) on 127.0.0.1; `None` picks a free one.
    pub(crate) management_port: Option<u16>,
    /// How long to wait for readiness (a first start also builds Keycloak).
    pub(crate) ready_timeout: Duration,
    /// Keycloak features to enable (`--features`), e.g. `resource-indicators`.
    pub(crate) features: Vec<String>,
    /// Distribution path only: keep the database in the run directory
    /// (`--db=dev-file` instead of `dev-mem`), so [`Keycloak::restart`]
    /// comes back with the same realm state and signing keys.
    pub(crate) persistent: bool,
}

impl StartOptions {
    /// Free ports, no extra redirect URIs or features, and a readiness
    /// timeout of `KEYCLOAK_START_TIMEOUT` seconds (default 300: a first
    /// start on two cores spends about a minute building Keycloak, then a
    /// minute starting).
    pub(crate) fn new(audience: impl Into<String>) -> anyhow::Result<StartOptions> {
        let secs = match std::env::var("KEYCLOAK_START_TIMEOUT") {
            Ok(s) => s.parse::<u64>().with_context(|| {
                format!("KEYCLOAK_START_TIMEOUT={s:?} is not a number of seconds")
            })?,
            Err(_) => 300,
        };
        Ok(StartOptions {
            audience: audience.into(),
            extra_redirect_uris: Vec::new(),
            http_port: None,
            management_port: None,
            ready_timeout: Duration::from_secs(secs),
            features: Vec::new(),
            persistent: false,
        })
    }
}

/// A Keycloak server: started by us (stopped on drop) or an existing one.
pub(crate) struct Keycloak {
    base_url: String,
    admin_user: String,
    admin_password: String,
    http: Http,
    backend: Backend,
    started_in: Duration,
    /// The health port of a Keycloak we started.
    management_port: Option<u16>,
    ready_timeout: Duration,
}

enum Backend {
    /// `KEYCLOAK_URL` or a state file: not ours to stop.
    External,
    /// The guards stop the container, then remove its import directory
    /// (a `Vec` drops its elements in order).
    Container {
        engine: String,
        name: String,
        _guards: Vec<Guard>,
    },
    /// The guards stop the process group, then remove the run directory.
    Distribution {
        process: Arc<ProcessGroup>,
        /// The process guard first, then the run directory's.
        guards: Vec<Guard>,
        run_dir: PathBuf,
        launch: dist::Launch,
    },
}

/// An access token. Its Debug output never shows the token.
pub(crate) struct Token {
    access_token: String,
    expires_in: u64,
    scope: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

impl Token {
    /// The compact JWT, for an `Authorization: Bearer` header.
    pub(crate) fn as_str(&self) -> &str {
        &self.access_token
    }

    /// `expires_in` of the token response, in seconds.
    pub(crate) fn expires_in(&self) -> u64 {
        self.expires_in
    }

    /// `scope` of the token response.
    pub(crate) fn scope(&self) -> &str {
        &self.scope
    }

    /// The JWT payload, decoded without any verification (for display and
    /// test assertions only).
    pub(crate) fn claims(&self) -> anyhow::Result<Value> {
        jwt_part(&self.access_token, 1)
    }

    /// The JWT header, decoded without any verification.
    pub(crate) fn header(&self) -> anyhow::Result<Value> {
        jwt_part(&self.access_token, 0)
    }
}

fn jwt_part(jwt: &str, index: usize) -> anyhow::Result<Value> {
    let part = jwt
        .split('.')
        .nth(index)
        .context("the access token is not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .context("the access token is not base64url")?;
    serde_json::from_slice(&bytes).context("the access token part is not JSON")
}

/// A realm key as the Admin API lists it (`GET /admin/realms/R/keys`).
#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    pub(crate) kid: String,
    /// `RS256`, `ES256`, `RSA-OAEP`, `HS512`, …
    pub(crate) algorithm: String,
    /// `ACTIVE`, `PASSIVE` or `DISABLED`.
    pub(crate) status: String,
    /// `SIG` or `ENC`.
    pub(crate) key_use: String,
    /// The id of the key provider component that holds the key.
    pub(crate) provider_id: String,
    pub(crate) priority: i64,
}

/// A generated key provider to add for rotation tests.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyAlgorithm {
    /// `rsa-generated`, 2048 bits.
    Rs256,
    /// `ecdsa-generated`, P-256.
    Es256,
}

impl Keycloak {
    /// Provisions Keycloak with the dev realm (see the module docs for the
    /// order) and waits until the realm's discovery document is served.
    pub(crate) fn start(sh: &Shell, opts: &StartOptions) -> anyhow::Result<Keycloak> {
        let root = sh.current_dir();
        let realm = realm_representation(&root.join(REALM_FILE), opts)?;
        let admin_user = std::env::var("KEYCLOAK_ADMIN").unwrap_or_else(|_| "admin".into());
        let admin_password =
            std::env::var("KEYCLOAK_ADMIN_PASSWORD").unwrap_or_else(|_| "admin".into());

        if let Ok(url) = std::env::var("KEYCLOAK_URL") {
            let kc = Keycloak::connect(&url, &admin_user, &admin_password);
            eprintln!(
                "keycloak: using the existing server at {} (KEYCLOAK_URL)",
                kc.base_url
            );
            kc.ensure_realm(&realm, &opts.audience)?;
            return Ok(kc);
        }
        let forced = std::env::var("KEYCLOAK_PROVISION").ok();
        let engine = match forced.as_deref() {
            Some("distribution") => None,
            Some("container") => Some(container_engine(sh).context(
                "KEYCLOAK_PROVISION=container: neither `docker info` nor `podman info` succeeds",
            )?),
            Some(other) => {
                bail!("KEYCLOAK_PROVISION={other:?}: expected `container` or `distribution`")
            }
            None => container_engine(sh),
        };
        let http_port = port_or_free(opts.http_port, "HTTP")?;
        let management_port = port_or_free(opts.management_port, "management")?;
        let started = Instant::now();
        let mut kc = match engine {
            Some(engine) => Keycloak::run_container(
                sh,
                &engine,
                &realm,
                opts,
                http_port,
                management_port,
                &admin_user,
                &admin_password,
            )?,
            None => {
                let (process, guards, run_dir, launch) = dist::launch(
                    sh,
                    &realm,
                    opts,
                    http_port,
                    management_port,
                    &admin_user,
                    &admin_password,
                )?;
                let mut kc = Keycloak::connect(
                    &format!("http://localhost:{http_port}"),
                    &admin_user,
                    &admin_password,
                );
                kc.backend = Backend::Distribution {
                    process,
                    guards,
                    run_dir,
                    launch,
                };
                kc
            }
        };
        kc.management_port = Some(management_port);
        kc.ready_timeout = opts.ready_timeout;
        kc.wait_ready(management_port, started + opts.ready_timeout)?;
        kc.started_in = started.elapsed();
        if let Backend::Distribution { run_dir, .. } = &kc.backend {
            // Later runs skip Keycloak's minute-long build step.
            dist::save_build(&root, run_dir, opts);
        }
        Ok(kc)
    }

    /// A handle on a running server, without provisioning; dropping it
    /// leaves the server running.
    pub(crate) fn connect(base_url: &str, admin_user: &str, admin_password: &str) -> Keycloak {
        Keycloak {
            base_url: base_url.trim_end_matches('/').to_owned(),
            admin_user: admin_user.to_owned(),
            admin_password: admin_password.to_owned(),
            http: Http::new(Duration::from_secs(30)),
            backend: Backend::External,
            started_in: Duration::ZERO,
            management_port: None,
            ready_timeout: Duration::ZERO,
        }
    }

    /// Stops a Keycloak we run from the distribution, keeping its run
    /// directory (and, with [`StartOptions::persistent`], its database) for
    /// [`Keycloak::restart`]. For outage tests.
    pub(crate) fn stop_server(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Distribution { process, .. } => {
                process.stop();
                Ok(())
            }
            _ => bail!("stopping Keycloak is only supported for a distribution run"),
        }
    }

    /// Starts a Keycloak stopped by [`Keycloak::stop_server`] again: same
    /// home, ports and hostname (so the same issuer), then waits until ready.
    pub(crate) fn restart(&mut self) -> anyhow::Result<()> {
        let Backend::Distribution {
            process,
            guards,
            launch,
            ..
        } = &mut self.backend
        else {
            bail!("restarting Keycloak is only supported for a distribution run");
        };
        let management_port = self
            .management_port
            .context("no management port recorded")?;
        process.stop();
        let started = Instant::now();
        let (new_process, guard) = launch.spawn()?;
        *process = new_process;
        // Replacing the old guard drops it: a no-op stop of the stopped
        // process. It stays first, so on drop the process stops before its
        // directory goes.
        match guards.first_mut() {
            Some(slot) => *slot = guard,
            None => guards.push(guard),
        }
        self.wait_ready(management_port, started + self.ready_timeout)?;
        self.started_in = started.elapsed();
        Ok(())
    }

    /// The server's base URL, e.g. `http://localhost:8080` (its pinned hostname).
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The issuer of `realm`: `{base_url}/realms/{realm}`.
    pub(crate) fn issuer(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.base_url)
    }

    /// `…/protocol/openid-connect/{endpoint}` of the dev realm, e.g. `token`, `certs`.
    pub(crate) fn oidc_url(&self, endpoint: &str) -> String {
        format!("{}/protocol/openid-connect/{endpoint}", self.issuer(REALM))
    }

    /// How long the start took until ready (zero for an existing server).
    pub(crate) fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The log file of a Keycloak we run from the distribution.
    pub(crate) fn log_file(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Distribution { launch, .. } => Some(&launch.log),
            _ => None,
        }
    }

    /// The process group of a Keycloak we run from the distribution.
    pub(crate) fn process_group(&self) -> Option<u32> {
        match &self.backend {
            Backend::Distribution { process, .. } => Some(process.pgid()),
            _ => None,
        }
    }

    /// `Some(status)` when a Keycloak we started has exited.
    pub(crate) fn exited(&self) -> Option<String> {
        match &self.backend {
            Backend::Distribution { process, .. } => process.exited(),
            _ => None,
        }
    }

    /// An admin access token from the `master` realm (`admin-cli`, password grant).
    pub(crate) fn admin_token(&self) -> anyhow::Result<Token> {
        let url = format!(
            "{}/realms/master/protocol/openid-connect/token",
            self.base_url
        );
        let form = [
            ("grant_type", "password"),
            ("client_id", "admin-cli"),
            ("username", self.admin_user.as_str()),
            ("password", self.admin_password.as_str()),
        ];
        token_from(self.http.post_form(&url, &form)?).context("admin token")
    }

    /// A user's access token from the dev realm (resource owner password
    /// grant). `secret` is `None` for a public client; `scopes` is
    /// space-separated and may be empty.
    pub(crate) fn password_token(
        &self,
        client: &str,
        secret: Option<&str>,
        user: &str,
        password: &str,
        scopes: &str,
    ) -> anyhow::Result<Token> {
        let mut form = vec![
            ("grant_type", "password"),
            ("client_id", client),
            ("username", user),
            ("password", password),
        ];
        if let Some(secret) = secret {
            form.push(("client_secret", secret));
        }
        if !scopes.is_empty() {
            form.push(("scope", scopes));
        }
        token_from(self.http.post_form(&self.oidc_url("token"), &form)?)
            .with_context(|| format!("password grant for {user} with client {client}"))
    }

    /// A client's own access token (client credentials grant, service account).
    pub(crate) fn client_credentials_token(
        &self,
        client: &str,
        secret: &str,
        scopes: &str,
    ) -> anyhow::Result<Token> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
        ];
        if !scopes.is_empty() {
            form.push(("scope", scopes));
        }
        token_from(self.http.post_form(&self.oidc_url("token"), &form)?)
            .with_context(|| format!("client credentials grant for {client}"))
    }

    /// RFC 7662 introspection of `token`, authenticated as a confidential client.
    pub(crate) fn introspect(
        &self,
        client: &str,
        secret: &str,
        token: &str,
    ) -> anyhow::Result<Value> {
        let form = [
            ("client_id", client),
            ("client_secret", secret),
            ("token", token),
        ];
        self.http
            .post_form(&self.oidc_url("token/introspect"), &form)?
            .ok()?
            .json()
    }

    /// The dev realm's JWKS document.
    pub(crate) fn jwks(&self) -> anyhow::Result<Value> {
        self.http.get(&self.oidc_url("certs"), None)?.ok()?.json()
    }

    /// The dev realm's admin URL plus `path`, e.g. `/keys`.
    fn admin_url(&self, path: &str) -> String {
        format!("{}/admin/realms/{REALM}{path}", self.base_url)
    }

    /// Every key of the dev realm with its status and provider.
    pub(crate) fn keys(&self) -> anyhow::Result<Vec<KeyInfo>> {
        let admin = self.admin_token()?;
        let body = self
            .http
            .get(&self.admin_url("/keys"), Some(admin.as_str()))?
            .ok()?
            .json()?;
        let keys = body["keys"]
            .as_array()
            .context("GET keys: no `keys` array")?;
        Ok(keys
            .iter()
            .map(|k| KeyInfo {
                kid: str_field(k, "kid"),
                algorithm: str_field(k, "algorithm"),
                status: str_field(k, "status"),
                key_use: str_field(k, "use"),
                provider_id: str_field(k, "providerId"),
                priority: k["providerPriority"].as_i64().unwrap_or_default(),
            })
            .collect())
    }

    /// Adds a generated signing-key provider with `priority` (higher than
    /// the realm's 100 makes it the one new tokens are signed with) and
    /// returns its component id.
    pub(crate) fn add_key_provider(
        &self,
        algorithm: KeyAlgorithm,
        priority: i64,
    ) -> anyhow::Result<String> {
        let admin = self.admin_token()?;
        let realm = self
            .http
            .get(&self.admin_url(""), Some(admin.as_str()))?
            .ok()?
            .json()?;
        let realm_id = realm["id"].as_str().context("GET realm: no id")?;
        let priority = priority.to_string();
        let (provider, name, mut config) = match algorithm {
            KeyAlgorithm::Rs256 => (
                "rsa-generated",
                "rsa-rotated",
                json!({"keySize": ["2048"], "algorithm": ["RS256"]}),
            ),
            KeyAlgorithm::Es256 => (
                "ecdsa-generated",
                "ecdsa-rotated",
                json!({"ecdsaEllipticCurveKey": ["P-256"]}),
            ),
        };
        config["priority"] = json!([priority]);
        config["enabled"] = json!(["true"]);
        config["active"] = json!(["true"]);
        let component = json!({
            "name": format!("{name}-{priority}"),
            "providerId": provider,
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": config,
        });
        let reply = self
            .http
            .post_json(&self.admin_url("/components"), admin.as_str(), &component)?
            .ok()?;
        let location = reply
            .location
            .context("POST components: no Location header")?;
        let id = location.rsplit('/').next().unwrap_or_default();
        if id.is_empty() {
            bail!("POST components: no id in Location {location:?}");
        }
        Ok(id.to_owned())
    }

    /// Makes a key provider's keys active (sign new tokens) or passive
    /// (still published in the JWKS, not used to sign).
    pub(crate) fn set_key_provider_active(
        &self,
        component_id: &str,
        active: bool,
    ) -> anyhow::Result<()> {
        self.update_key_provider(component_id, "active", active)
    }

    /// Enables or disables a key provider; a disabled one leaves the JWKS.
    pub(crate) fn set_key_provider_enabled(
        &self,
        component_id: &str,
        enabled: bool,
    ) -> anyhow::Result<()> {
        self.update_key_provider(component_id, "enabled", enabled)
    }

    fn update_key_provider(
        &self,
        component_id: &str,
        key: &str,
        value: bool,
    ) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        let url = self.admin_url(&format!("/components/{component_id}"));
        let mut component = self.http.get(&url, Some(admin.as_str()))?.ok()?.json()?;
        component["config"][key] = json!([value.to_string()]);
        self.http.put_json(&url, admin.as_str(), &component)?.ok()?;
        Ok(())
    }

    /// Deletes a key provider and its keys.
    pub(crate) fn delete_key_provider(&self, component_id: &str) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        self.http
            .delete(
                &self.admin_url(&format!("/components/{component_id}")),
                admin.as_str(),
            )?
            .ok()?;
        Ok(())
    }

    /// Ends every session of `username` in the dev realm: its tokens then
    /// introspect as inactive, while the JWTs still verify until `exp`.
    pub(crate) fn logout_user(&self, username: &str) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        let url = self.admin_url(&format!("/users?username={username}&exact=true"));
        let users = self.http.get(&url, Some(admin.as_str()))?.ok()?.json()?;
        let id = users[0]["id"]
            .as_str()
            .with_context(|| format!("no user {username:?} in realm {REALM}"))?;
        self.http
            .post_empty(
                &self.admin_url(&format!("/users/{id}/logout")),
                admin.as_str(),
            )?
            .ok()?;
        Ok(())
    }

    /// Sets one attribute of a dev-realm client, e.g.
    /// `access.token.signed.response.alg` = `ES256`; `None` removes it
    /// (Keycloak drops attributes updated to the empty string).
    pub(crate) fn set_client_attribute(
        &self,
        client_id: &str,
        key: &str,
        value: Option<&str>,
    ) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        let url = self.admin_url(&format!("/clients?clientId={client_id}"));
        let clients = self.http.get(&url, Some(admin.as_str()))?.ok()?.json()?;
        let id = clients[0]["id"]
            .as_str()
            .with_context(|| format!("no client {client_id:?} in realm {REALM}"))?;
        let url = self.admin_url(&format!("/clients/{id}"));
        let mut client = self.http.get(&url, Some(admin.as_str()))?.ok()?.json()?;
        client["attributes"][key] = json!(value.unwrap_or(""));
        self.http.put_json(&url, admin.as_str(), &client)?.ok()?;
        Ok(())
    }

    /// Points the audience mappers of the dev realm's client scopes at
    /// `audience` (for a realm that was imported with another one).
    pub(crate) fn set_audience(&self, audience: &str) -> anyhow::Result<()> {
        let admin = self.admin_token()?;
        let scopes = self
            .http
            .get(&self.admin_url("/client-scopes"), Some(admin.as_str()))?
            .ok()?
            .json()?;
        let mcp_scopes = scopes
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| MCP_SCOPES.contains(&s["name"].as_str().unwrap_or("")));
        for scope in mcp_scopes {
            let scope_id = str_field(scope, "id");
            for mapper in scope["protocolMappers"].as_array().into_iter().flatten() {
                // Only the custom-audience mappers: the `mcp-server` client
                // audience mapper stays as it is.
                let current = mapper["config"]["included.custom.audience"].as_str();
                if mapper["protocolMapper"] != "oidc-audience-mapper"
                    || current.is_none_or(|current| current == audience)
                {
                    continue;
                }
                let mut mapper = mapper.clone();
                mapper["config"]["included.custom.audience"] = json!(audience);
                let url = self.admin_url(&format!(
                    "/client-scopes/{scope_id}/protocol-mappers/models/{}",
                    str_field(&mapper, "id")
                ));
                self.http.put_json(&url, admin.as_str(), &mapper)?.ok()?;
            }
        }
        Ok(())
    }

    /// Imports the realm into an existing server when it is missing, or
    /// else sets its audience.
    fn ensure_realm(&self, realm: &Value, audience: &str) -> anyhow::Result<()> {
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer(REALM));
        let reply = self
            .http
            .get(&discovery, None)
            .with_context(|| format!("is Keycloak running at {}?", self.base_url))?;
        if reply.status == 404 {
            eprintln!("keycloak: importing realm {REALM} through the Admin API");
            let admin = self.admin_token()?;
            let url = format!("{}/admin/realms", self.base_url);
            self.http
                .post_json(&url, admin.as_str(), realm)?
                .ok()
                .context("importing the realm")?;
        } else {
            let doc = reply.ok()?.json()?;
            let issuer = doc["issuer"].as_str().unwrap_or_default();
            if issuer != self.issuer(REALM) {
                eprintln!(
                    "keycloak: warning: the realm's issuer is {issuer:?}, not {:?}: tokens will carry that `iss`; \
                     pin Keycloak's --hostname or set KEYCLOAK_URL to its hostname",
                    self.issuer(REALM)
                );
            }
            self.set_audience(audience)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run_container(
        sh: &Shell,
        engine: &str,
        realm: &Value,
        opts: &StartOptions,
        http_port: u16,
        management_port: u16,
        admin_user: &str,
        admin_password: &str,
    ) -> anyhow::Result<Keycloak> {
        let root = sh.current_dir();
        let name = format!("mcp-keycloak-{}-{http_port}", std::process::id());
        let run_dir = root.join("target/keycloak/runs").join(&name);
        let import = run_dir.join("import");
        std::fs::create_dir_all(&import)
            .with_context(|| format!("creating {}", import.display()))?;
        write_json(&import.join("mcp-realm.json"), realm)?;
        let publish_http = format!("127.0.0.1:{http_port}:8080");
        let publish_management = format!("127.0.0.1:{management_port}:9000");
        let user_env = format!("KC_BOOTSTRAP_ADMIN_USERNAME={admin_user}");
        let password_env = format!("KC_BOOTSTRAP_ADMIN_PASSWORD={admin_password}");
        let volume = format!("{}:/opt/keycloak/data/import:ro,Z", import.display());
        let hostname = format!("--hostname=http://localhost:{http_port}");
        let features = feature_args(opts);
        eprintln!("keycloak: starting {IMAGE} with {engine} as {name}");
        cmd!(sh, "{engine} run -d --rm --name {name} -p {publish_http} -p {publish_management} -e {user_env} -e {password_env} -v {volume} {IMAGE} start-dev {hostname} --health-enabled=true --db=dev-mem --import-realm {features...}")
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| format!("{engine} run {IMAGE}"))?;
        let stopper = Arc::new(ContainerStop {
            engine: engine.to_owned(),
            name: name.clone(),
        });
        let guards = vec![
            Guard::new(stopper)?,
            Guard::new(Arc::new(RemovePath(run_dir)))?,
        ];
        let mut kc = Keycloak::connect(
            &format!("http://localhost:{http_port}"),
            admin_user,
            admin_password,
        );
        kc.backend = Backend::Container {
            engine: engine.to_owned(),
            name,
            _guards: guards,
        };
        Ok(kc)
    }

    /// Waits for `/health/ready` on the management port, then for the
    /// realm's discovery document with the expected issuer.
    fn wait_ready(&self, management_port: u16, deadline: Instant) -> anyhow::Result<()> {
        let health = format!("http://127.0.0.1:{management_port}/health/ready");
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer(REALM));
        let probe = Http::new(Duration::from_secs(2));
        let started = Instant::now();
        let mut next_note = started + Duration::from_secs(20);
        loop {
            if let Some(status) = self.exited() {
                bail!(
                    "Keycloak exited ({status}) before it was ready\n{}",
                    self.log_tail(40)
                );
            }
            let ready = probe.get(&health, None).is_ok_and(|r| r.is_success())
                && probe.get(&discovery, None).is_ok_and(|r| {
                    r.is_success() && r.json().is_ok_and(|d| d["issuer"] == self.issuer(REALM))
                });
            if ready {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "Keycloak was not ready after {:?} (KEYCLOAK_START_TIMEOUT raises the limit)\n{}",
                    now - started,
                    self.log_tail(40)
                );
            }
            if now >= next_note {
                eprintln!("keycloak: still starting ({} s)", (now - started).as_secs());
                next_note = now + Duration::from_secs(20);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The last `lines` lines of Keycloak's log, for error messages.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = match &self.backend {
            Backend::External => return String::new(),
            Backend::Distribution { launch, .. } => {
                std::fs::read_to_string(&launch.log).unwrap_or_default()
            }
            Backend::Container { engine, name, .. } => std::process::Command::new(engine)
                .args(["logs", "--tail", &lines.to_string(), name])
                .output()
                .map(|o| {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_default(),
        };
        let all: Vec<&str> = text.lines().collect();
        let tail = all[all.len().saturating_sub(lines)..].join("\n");
        format!("--- last {lines} lines of the Keycloak log ---\n{tail}")
    }
}

struct ContainerStop {
    engine: String,
    name: String,
}

impl Stop for ContainerStop {
    fn stop(&self) {
        // `--rm` removes the container once stopped.
        let _ = std::process::Command::new(&self.engine)
            .args(["stop", "--time", "10", &self.name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// `docker` or `podman`, whichever answers `info`.
fn container_engine(sh: &Shell) -> Option<String> {
    ["docker", "podman"]
        .into_iter()
        .map(str::to_owned)
        .find(|engine| {
            cmd!(sh, "{engine} info")
                .quiet()
                .ignore_stdout()
                .ignore_stderr()
                .run()
                .is_ok()
        })
}

fn feature_args(opts: &StartOptions) -> Vec<String> {
    if opts.features.is_empty() {
        return Vec::new();
    }
    vec![format!("--features={}", opts.features.join(","))]
}

/// `port`, checked to be free on 127.0.0.1, or a free one the OS picks.
fn port_or_free(port: Option<u16>, what: &str) -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0))).with_context(|| {
        format!(
            "the {what} port {} is in use (another Keycloak?); choose another",
            port.unwrap_or(0)
        )
    })?;
    Ok(listener.local_addr()?.port())
}

/// Reads the realm file and applies `opts`: the audience of every audience
/// mapper that carries [`DEFAULT_AUDIENCE`], and extra `mcp-client` redirects.
fn realm_representation(path: &Path, opts: &StartOptions) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut realm: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    for scope in realm["clientScopes"].as_array_mut().into_iter().flatten() {
        for mapper in scope["protocolMappers"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if mapper["protocolMapper"] == "oidc-audience-mapper"
                && mapper["config"]["included.custom.audience"] == DEFAULT_AUDIENCE
            {
                mapper["config"]["included.custom.audience"] = json!(opts.audience);
            }
        }
    }
    if !opts.extra_redirect_uris.is_empty() {
        let client = realm["clients"]
            .as_array_mut()
            .and_then(|clients| clients.iter_mut().find(|c| c["clientId"] == "mcp-client"))
            .context("the realm file has no mcp-client")?;
        let uris = client["redirectUris"]
            .as_array_mut()
            .context("mcp-client has no redirectUris")?;
        uris.extend(opts.extra_redirect_uris.iter().map(|u| json!(u)));
    }
    Ok(realm)
}

fn token_from(reply: crate::http::Reply) -> anyhow::Result<Token> {
    if !reply.is_success() {
        // Keycloak's error bodies are `{"error", "error_description"}`: no secrets.
        let body = reply.json().unwrap_or_default();
        bail!(
            "token endpoint said HTTP {}: {} ({})",
            reply.status,
            body["error"].as_str().unwrap_or("?"),
            body["error_description"].as_str().unwrap_or("")
        );
    }
    let body = reply.json()?;
    Ok(Token {
        access_token: body["access_token"]
            .as_str()
            .context("token response: no access_token")?
            .to_owned(),
        expires_in: body["expires_in"].as_u64().unwrap_or_default(),
        scope: body["scope"].as_str().unwrap_or_default().to_owned(),
    })
}

fn str_field(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn write_json(path: &Path, value: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `cargo xtask keycloak [--port N|0] [--management-port N] [--audience URL]`:
/// starts Keycloak, prints how to use it, and runs until Ctrl-C.
pub(crate) fn run(sh: &Shell, args: &[String]) -> anyhow::Result<()> {
    let mut opts = StartOptions::new(DEFAULT_AUDIENCE)?;
    opts.http_port = Some(DEV_PORT);
    let mut self_check = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--port" => {
                opts.http_port =
                    Some(value("--port")?.parse().context("--port")?).filter(|p| *p != 0)
            }
            "--management-port" => {
                opts.management_port = Some(
                    value("--management-port")?
                        .parse()
                        .context("--management-port")?,
                )
            }
            "--audience" => opts.audience = value("--audience")?,
            "--redirect-uri" => opts.extra_redirect_uris.push(value("--redirect-uri")?),
            "--features" => opts
                .features
                .extend(value("--features")?.split(',').map(str::to_owned)),
            "--check" => self_check = true,
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo xtask keycloak [--port N (default {DEV_PORT}, 0 = free)] [--management-port N] \
                     [--audience URL (default {DEFAULT_AUDIENCE})] [--redirect-uri URI]... [--features a,b] \
                     [--check (verify realm, tokens and key rotation, then stop)]"
                );
                return Ok(());
            }
            other => bail!("unknown option `{other}` (see --help)"),
        }
    }

    let kc = Keycloak::start(sh, &opts)?;
    let issuer = kc.issuer(REALM);
    if matches!(kc.backend, Backend::External) {
        println!("Keycloak at {} has the realm {REALM}", kc.base_url());
    } else {
        println!(
            "Keycloak {VERSION} is ready in {:.1} s",
            kc.started_in().as_secs_f64()
        );
    }
    println!("  issuer        {issuer}");
    println!("  discovery     {issuer}/.well-known/openid-configuration");
    println!("  jwks          {}", kc.oidc_url("certs"));
    println!(
        "  introspection {} (client mcp-server / mcp-server-secret)",
        kc.oidc_url("token/introspect")
    );
    println!("  admin console {}/admin/ (admin / admin)", kc.base_url());
    println!(
        "  audience      {}  (scopes mcp:tools, templates:write)",
        opts.audience
    );
    println!("  clients       mcp-client (public, PKCE S256), mcp-test / mcp-test-secret,");
    println!(
        "                mcp-short / mcp-short-secret (5 s tokens), mcp-server / mcp-server-secret"
    );
    println!("  users         alice / alice (mcp:tools, templates:write), bob / bob (mcp:tools)");
    if let (Some(log), Some(pgid)) = (kc.log_file(), kc.process_group()) {
        println!("  log           {} (process group {pgid})", log.display());
    }
    println!(
        "  token         cargo xtask token --user alice --scope \"mcp:tools templates:write\""
    );

    if self_check {
        println!("Checking the realm and the Admin REST helpers:");
        check::run(&kc, &opts.audience)?;
        if matches!(kc.backend, Backend::External) {
            println!("All checks passed.");
        } else {
            println!("All checks passed; stopping Keycloak.");
        }
        return Ok(());
    }
    if matches!(kc.backend, Backend::External) {
        return Ok(());
    }
    let state_path = sh.current_dir().join(STATE_FILE);
    write_json(
        &state_path,
        &json!({ "base_url": kc.base_url(), "realm": REALM, "audience": opts.audience, "pid": std::process::id() }),
    )?;
    let _state = Guard::new(Arc::new(RemovePath(state_path)))?;
    println!("Press Ctrl-C to stop.");
    loop {
        if let Some(status) = kc.exited() {
            bail!("Keycloak exited ({status})\n{}", kc.log_tail(40));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
