//! The release server binary, one process per scenario, configured for the
//! e2e run through a TOML file plus the introspection secret in the
//! environment.
//!
//! e2e-only settings (documented in `docs/e2e.md`): the JWKS refresh period is 10 s
//! (`jwks.ttl_secs = 10`, `refresh_ahead_secs = 2`, `miss_cooldown_secs =
//! 2`) and the clock-skew leeway 2 s (`auth.leeway_secs = 2`), so rotation,
//! outage and expiry scenarios finish in seconds instead of the production
//! minutes; introspection answers are cached for 1 s
//! (`positive_ttl_secs = negative_ttl_secs = 1`) so a logout is seen at once.
//!
//! Which issuers a server trusts is an [`Issuers`]: the single-issuer
//! `auth.issuer` form (every scenario but the multi-realm ones), or
//! `[[auth.issuers]]` entries as in issue 13's design (profile `keycloak`,
//! `audiences` = the resource).
//!
//! The process runs in its own group through [`crate::process`] (stopped on
//! drop, panic and Ctrl-C); its output goes to `target/e2e/logs/NAME.log`.

use std::fmt::Write as _;
use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::Env;
use super::mcp::{Http, Reply};
use super::prometheus;
use crate::keycloak;
use crate::process::{Guard, ProcessGroup};

/// JWKS background refresh period of every e2e server.
pub(crate) const JWKS_TTL_SECS: u64 = 10;
/// Refresh this much before the period ends.
pub(crate) const JWKS_REFRESH_AHEAD_SECS: u64 = 2;
/// The jwks crate's refresh jitter (±10 s, not configurable in the server):
/// the next background refresh comes 1 s to `ttl - ahead + 10 s` later.
pub(crate) const JWKS_JITTER_SECS: u64 = 10;
/// The jwks crate's longest retry delay after failed refreshes (60 s, not
/// configurable in the server): recovery after an outage can take this long.
pub(crate) const JWKS_RETRY_MAX_SECS: u64 = 60;
/// Clock-skew leeway on `exp`/`nbf`/`iat`.
pub(crate) const LEEWAY_SECS: u64 = 2;
/// Introspection cache TTL, positive and negative.
pub(crate) const INTROSPECTION_TTL_SECS: u64 = 1;

/// The longest a background JWKS refresh can be away.
pub(crate) fn jwks_refresh_bound() -> Duration {
    Duration::from_secs(JWKS_TTL_SECS - JWKS_REFRESH_AHEAD_SECS + JWKS_JITTER_SECS)
}

/// How a scenario's server validates tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Local JWT validation; introspection configured for the
    /// `verify_online_tools` (`delete_template`).
    Jwt,
    /// Every token introspected (cached [`INTROSPECTION_TTL_SECS`]).
    Introspection,
}

/// The issuers a scenario's server trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Issuers {
    /// `auth.issuer = "…"` (the single-issuer form), with `[introspection]`
    /// at that issuer's endpoint for the verify-online tools.
    Single(String),
    /// One `[[auth.issuers]]` entry each (`profile = "keycloak"`,
    /// `audiences` = the resource), no `auth.issuer`. No introspection is
    /// configured (the spec's per-issuer `[auth.issuers.introspection]`
    /// is not used): `jwt` mode only, and no verify-online tool
    /// (`delete_template`) can pass.
    Several(Vec<String>),
}

/// A running server; stopped when dropped.
pub(crate) struct Server {
    process: Arc<ProcessGroup>,
    _guard: Guard,
    http: Http,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// `http://127.0.0.1:PORT/mcp`.
    pub(crate) url: String,
    log: PathBuf,
}

impl Server {
    /// Writes the config, starts the binary, and waits until `/readyz` is
    /// 200 `ok` (signing keys loaded). The server trusts the dev realm.
    pub(crate) fn start(env: &Env, name: &str, mode: Mode) -> anyhow::Result<Server> {
        Server::start_with(env, name, mode, &Issuers::Single(env.issuer()))
    }

    /// [`Server::start`] trusting `issuers`.
    pub(crate) fn start_with(
        env: &Env,
        name: &str,
        mode: Mode,
        issuers: &Issuers,
    ) -> anyhow::Result<Server> {
        let config_path = env.run_dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, config_toml(env, mode, issuers)?)
            .with_context(|| format!("writing {}", config_path.display()))?;
        let log_path = env.logs.join(format!("{name}.log"));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut command = Command::new(&env.server_bin);
        command.arg("--config").arg(&config_path);
        // The server reads MCP_* variables: keep the caller's out.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MCP_") {
                command.env_remove(&key);
            }
        }
        command
            .env(
                "MCP_INTROSPECTION_CLIENT_SECRET",
                keycloak::RESOURCE_CLIENT_SECRET,
            )
            .env("RUST_LOG", "info,tower_http=info,rmcp=warn");
        let (process, guard) =
            ProcessGroup::spawn("mcp-file-templates", command, &log, Duration::from_secs(5))?;
        let server = Server {
            process,
            _guard: guard,
            http: Http::new()?,
            base: env.base.clone(),
            url: env.resource.clone(),
            log: log_path,
        };
        server.wait_ready(Duration::from_secs(30))?;
        Ok(server)
    }

    fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.process.exited() {
                bail!("the server exited ({status})\n{}", self.log_tail(20));
            }
            if let Ok((200, body)) = self.readyz()
                && body["status"] == "ok"
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the server was not ready after {timeout:?}\n{}",
                    self.log_tail(20)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /readyz`: status and JSON body.
    pub(crate) fn readyz(&self) -> anyhow::Result<(u16, Value)> {
        let reply = self.http.get(&format!("{}/readyz", self.base), None)?;
        let body = reply.json().unwrap_or(Value::Null);
        Ok((reply.status, body))
    }

    /// One sample of `/metrics`: the sum of every line of the queried
    /// metric whose labels include the queried ones (see [`prometheus`]),
    /// 0 when none. `mcp_jwks_fetches_total{result="ok"}` is the total over
    /// every issuer, with or without an `issuer` label on the lines.
    pub(crate) fn metric(&self, query: &str) -> anyhow::Result<f64> {
        let body = self.metrics_body()?;
        prometheus::sum(&body, query)
    }

    /// [`Server::metric`] of one issuer: `query` with `issuer="…"` added,
    /// e.g. `mcp_jwks_kid_miss_refreshes_total{issuer="http://…/realms/mcp"}`.
    pub(crate) fn metric_for_issuer(&self, query: &str, issuer: &str) -> anyhow::Result<f64> {
        let query = prometheus::with_label(query, "issuer", issuer)?;
        self.metric(&query)
    }

    /// `GET /metrics`.
    fn metrics_body(&self) -> anyhow::Result<String> {
        let reply: Reply = self.http.get(&format!("{}/metrics", self.base), None)?;
        if reply.status != 200 {
            bail!("GET /metrics: HTTP {}", reply.status);
        }
        Ok(reply.body)
    }

    /// The last `lines` lines of the server log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        crate::process::log_tail(&self.log, lines)
    }
}

fn config_toml(env: &Env, mode: Mode, issuers: &Issuers) -> anyhow::Result<String> {
    let mode = match mode {
        Mode::Jwt => "jwt",
        Mode::Introspection => "introspection",
    };
    let mut toml = String::new();
    let _ = writeln!(toml, "bind = \"127.0.0.1:{}\"", env.port);
    let _ = writeln!(toml, "public_url = {}", crate::toml_string(&env.base));
    let _ = writeln!(
        toml,
        "templates_dir = {}",
        crate::toml_string(&env.templates.display().to_string())
    );
    let _ = writeln!(toml, "\n[auth]\nmode = \"{mode}\"");
    let _ = writeln!(toml, "leeway_secs = {LEEWAY_SECS}");
    let introspected_issuer = match issuers {
        Issuers::Single(issuer) => {
            let _ = writeln!(toml, "issuer = {}", crate::toml_string(issuer));
            Some(issuer)
        }
        Issuers::Several(list) => {
            if mode != "jwt" {
                bail!("a server with several issuers runs in jwt mode only (issue 13)");
            }
            if list.is_empty() {
                bail!("Issuers::Several needs at least one issuer");
            }
            toml.push_str(&issuer_entries(list, &env.resource));
            None
        }
    };
    let _ = writeln!(
        toml,
        "\n[jwks]\nttl_secs = {JWKS_TTL_SECS}\nrefresh_ahead_secs = {JWKS_REFRESH_AHEAD_SECS}\nmiss_cooldown_secs = 2"
    );
    if let Some(issuer) = introspected_issuer {
        let _ = writeln!(
            toml,
            "\n[introspection]\nendpoint = {}\nclient_id = {}",
            crate::toml_string(&format!(
                "{issuer}/protocol/openid-connect/token/introspect"
            )),
            // The resource client: it stays in a `resource`-narrowed `aud`.
            crate::toml_string(&env.resource)
        );
        let _ = writeln!(
            toml,
            "positive_ttl_secs = {INTROSPECTION_TTL_SECS}\nnegative_ttl_secs = {INTROSPECTION_TTL_SECS}"
        );
    }
    Ok(toml)
}

/// `[[auth.issuers]]` entries (issue 13), to follow the `[auth]` keys.
fn issuer_entries(issuers: &[String], resource: &str) -> String {
    let mut toml = String::new();
    for issuer in issuers {
        let _ = writeln!(
            toml,
            "\n[[auth.issuers]]\nissuer = {}\nprofile = \"keycloak\"\naudiences = [{}]",
            crate::toml_string(issuer),
            crate::toml_string(resource)
        );
    }
    toml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_entries_follow_the_issue_13_design() {
        let toml = issuer_entries(
            &[
                "http://localhost:8080/realms/mcp".to_owned(),
                "http://localhost:8080/realms/mcp-second".to_owned(),
            ],
            "http://127.0.0.1:4000/mcp",
        );
        assert_eq!(
            toml,
            "
[[auth.issuers]]
issuer = \"http://localhost:8080/realms/mcp\"
profile = \"keycloak\"
audiences = [\"http://127.0.0.1:4000/mcp\"]

[[auth.issuers]]
issuer = \"http://localhost:8080/realms/mcp-second\"
profile = \"keycloak\"
audiences = [\"http://127.0.0.1:4000/mcp\"]
"
        );
    }
}
