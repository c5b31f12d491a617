//! `cargo xtask doctor`: checks a LIVE Keycloak realm against what the MCP
//! server and its clients need, and prints one finding per check (`ok`,
//! `warn` or `FAIL`) with the exact fix: the Admin console setting and the
//! `dev/keycloak/realm.json` key to change. The exit status is non-zero when
//! any finding is `FAIL`.
//!
//! [`diagnose`] fetches a [`checks::Snapshot`] (OIDC discovery, the JWKS, and
//! the Admin REST answers, with the master realm's admin credentials from
//! `KEYCLOAK_ADMIN`/`KEYCLOAK_ADMIN_PASSWORD`, default `admin`/`admin`),
//! then runs the pure checks of [`checks`] on it. The e2e scenarios of
//! `xtask/src/e2e/scenarios/doctor.rs` call it too. Nothing is changed in
//! Keycloak, and no token is printed.

mod checks;
#[cfg(test)]
mod tests;

use std::time::Duration;

use anyhow::bail;
use serde_json::Value;
use xshell::Shell;

use checks::{Admin, Snapshot};
pub(crate) use checks::{Check, Finding, Level, Target};

use crate::flags;
use crate::http::Http;
use crate::keycloak::Keycloak;

/// The component type of client-registration policies.
const REGISTRATION_POLICY_TYPE: &str =
    "org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy";

impl flags::Doctor {
    pub(crate) fn run(self, _sh: &Shell) -> anyhow::Result<()> {
        let admin_user = std::env::var("KEYCLOAK_ADMIN").unwrap_or_else(|_| "admin".into());
        let admin_password =
            std::env::var("KEYCLOAK_ADMIN_PASSWORD").unwrap_or_else(|_| "admin".into());
        let kc = Keycloak::connect(&self.keycloak_url, &admin_user, &admin_password);
        let target = Target {
            keycloak_url: kc.base_url().to_owned(),
            realm: self.realm,
            resource: self.resource,
        };
        println!(
            "Checking realm {} at {} for the resource {}",
            target.realm, target.keycloak_url, target.resource
        );
        let findings = diagnose(&kc, &target);
        for finding in &findings {
            println!("{finding}");
        }
        let count = |level| findings.iter().filter(|f| f.level == level).count();
        let (fails, warns) = (count(Level::Fail), count(Level::Warn));
        println!(
            "{} ok, {warns} warn, {fails} FAIL",
            findings.len() - fails - warns
        );
        if fails > 0 {
            bail!("{fails} check(s) failed; the fixes are above");
        }
        Ok(())
    }
}

/// Fetches what Keycloak says about `target` and runs every check on it.
pub(crate) fn diagnose(kc: &Keycloak, target: &Target) -> Vec<Finding> {
    let http = Http::new(Duration::from_secs(15));
    let snapshot = fetch(&http, kc, target);
    checks::all(&snapshot, target)
}

fn fetch(http: &Http, kc: &Keycloak, target: &Target) -> Snapshot {
    let get = |url: &str, bearer: Option<&str>| -> Result<Value, String> {
        http.get(url, bearer)
            .and_then(|r| r.ok())
            .and_then(|r| r.json())
            .map_err(|e| format!("{e:#}"))
    };
    let discovery = get(
        &format!("{}/.well-known/openid-configuration", target.issuer()),
        None,
    );
    let jwks = match &discovery {
        Ok(doc) => match doc["jwks_uri"].as_str() {
            Some(uri) => get(uri, None),
            None => Err("discovery names no jwks_uri".to_owned()),
        },
        Err(_) => Err("discovery failed".to_owned()),
    };
    let admin = kc
        .admin_token()
        .map_err(|e| format!("admin token from the master realm: {e:#}"))
        .and_then(|token| {
            let realm_url = format!("{}/admin/realms/{}", target.keycloak_url, target.realm);
            let bearer = Some(token.as_str());
            let realm = |path: &str| get(&format!("{realm_url}{path}"), bearer);
            Ok(Admin {
                realm: realm("")?,
                client_scopes: realm("/client-scopes")?,
                clients: realm("/clients")?,
                default_scopes: realm("/default-default-client-scopes")?,
                registration_policies: realm(&format!(
                    "/components?type={REGISTRATION_POLICY_TYPE}"
                ))?,
                client_policies: realm("/client-policies/policies")?,
                client_profiles: realm("/client-policies/profiles?include-global-profiles=true")?,
                server_info: get(&format!("{}/admin/serverinfo", target.keycloak_url), bearer)?,
            })
        });
    Snapshot {
        discovery,
        jwks,
        admin,
    }
}
