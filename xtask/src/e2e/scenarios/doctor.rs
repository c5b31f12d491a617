//! `cargo xtask doctor` against the suite's real Keycloak: no server needed.
//!
//! - [`doctor_green_on_dev_realm`]: every finding on the dev realm `mcp`, as
//!   the suite imported it (audience = the suite's resource URL), is `ok`.
//! - [`doctor_names_each_mistake_in_broken_realm`]: a copy of the dev realm,
//!   `mcp-broken`, created through the Admin API with deliberate mistakes
//!   (no audience mapper, 2 h access tokens, Keycloak's default anonymous
//!   registration policies, no client policies): each mistake is named by
//!   its own finding, and the checks it did not break stay `ok`. The realm
//!   is deleted again before the assertions.

use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::doctor::{self, Check, Finding, Level, Target};
use crate::e2e::Env;
use crate::http::Http;
use crate::keycloak::{REALM, REALM_FILE};

/// The deliberately broken realm.
const BROKEN_REALM: &str = "mcp-broken";
/// Its access token lifespan: above the doctor's one hour.
const BROKEN_LIFESPAN_SECS: u64 = 7200;

fn target(env: &Env, realm: &str) -> Target {
    Target {
        keycloak_url: env.kc.base_url().to_owned(),
        realm: realm.to_owned(),
        resource: env.resource.clone(),
    }
}

fn print(findings: &[Finding]) {
    for finding in findings {
        eprintln!("  {finding}");
    }
}

pub(crate) fn doctor_green_on_dev_realm(env: &mut Env) -> anyhow::Result<()> {
    let findings = doctor::diagnose(&env.kc, &target(env, REALM));
    print(&findings);
    let not_ok: Vec<String> = findings
        .iter()
        .filter(|f| f.level != Level::Ok)
        .map(|f| format!("{} ({:?})", f.check.name(), f.level))
        .collect();
    ensure!(
        not_ok.is_empty(),
        "not ok on the dev realm: {} (details above, on stderr)",
        not_ok.join(", ")
    );
    ensure!(
        findings.iter().any(|f| f.check == Check::Audience)
            && findings.iter().all(|f| f.check != Check::AdminApi),
        "the realm checks did not run: {findings:?}"
    );
    Ok(())
}

pub(crate) fn doctor_names_each_mistake_in_broken_realm(env: &mut Env) -> anyhow::Result<()> {
    let path = env.sh.current_dir().join(REALM_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let realm = broken_realm(serde_json::from_str(&text)?)?;

    let http = Http::new(Duration::from_secs(30));
    let realms_url = format!("{}/admin/realms", env.kc.base_url());
    let admin = env.kc.admin_token()?;
    // A leftover of an interrupted run (an existing server) goes first.
    http.delete(&format!("{realms_url}/{BROKEN_REALM}"), admin.as_str())?;
    http.post_json(&realms_url, admin.as_str(), &realm)?
        .ok()
        .with_context(|| format!("creating the realm {BROKEN_REALM}"))?;
    let findings = doctor::diagnose(&env.kc, &target(env, BROKEN_REALM));
    let admin = env.kc.admin_token()?;
    http.delete(&format!("{realms_url}/{BROKEN_REALM}"), admin.as_str())?
        .ok()
        .with_context(|| format!("deleting the realm {BROKEN_REALM}"))?;
    print(&findings);

    let finding = |check: Check| -> anyhow::Result<&Finding> {
        let mine: Vec<&Finding> = findings.iter().filter(|f| f.check == check).collect();
        ensure!(
            mine.len() == 1,
            "{} findings for {}",
            mine.len(),
            check.name()
        );
        Ok(mine[0])
    };
    let lifespan = format!("{BROKEN_LIFESPAN_SECS} s");
    let mistakes: [(Check, &str); 5] = [
        (Check::Audience, env.resource.as_str()),
        (Check::AccessTokenLifespan, lifespan.as_str()),
        (Check::TrustedHosts, "Host not trusted"),
        (Check::AllowedClientScopes, "mcp:tools"),
        (Check::CimdPolicy, "client-id-uri"),
    ];
    for (check, needle) in mistakes {
        let f = finding(check)?;
        ensure!(
            f.level != Level::Ok && f.fix.is_some() && f.detail.contains(needle),
            "the mistake behind {} is not named (want a warn or FAIL mentioning {needle:?}): {f}",
            check.name()
        );
    }
    for check in [
        Check::Discovery,
        Check::SigningKeys,
        Check::ToolsScope,
        Check::WriteScope,
        Check::SessionLifespans,
        Check::ConsentRequired,
        Check::OfflineAccess,
    ] {
        let f = finding(check)?;
        ensure!(
            f.level == Level::Ok,
            "{} was not broken, yet: {f}",
            check.name()
        );
    }
    ensure!(
        findings.iter().any(|f| f.level == Level::Fail),
        "no FAIL: `cargo xtask doctor` would exit 0 on the broken realm"
    );
    Ok(())
}

/// The dev realm file turned into [`BROKEN_REALM`]: renamed, without ids and
/// key material, without the custom-audience mappers and any client's
/// `resource_url`, with 2 h access tokens (sessions outliving them, so the
/// session check stays out of it), and without `components`,
/// `clientPolicies` and `clientProfiles`, so Keycloak gives it its default
/// anonymous registration policies (no trusted host, no allowed scope) and
/// no client policy.
fn broken_realm(mut realm: Value) -> anyhow::Result<Value> {
    let object = realm
        .as_object_mut()
        .context("the realm file is not a JSON object")?;
    for key in [
        "id",
        "keys",
        "components",
        "clientPolicies",
        "clientProfiles",
    ] {
        object.remove(key);
    }
    object.insert("realm".into(), json!(BROKEN_REALM));
    object.insert("accessTokenLifespan".into(), json!(BROKEN_LIFESPAN_SECS));
    object.insert(
        "ssoSessionIdleTimeout".into(),
        json!(4 * BROKEN_LIFESPAN_SECS),
    );
    object.insert(
        "ssoSessionMaxLifespan".into(),
        json!(8 * BROKEN_LIFESPAN_SECS),
    );
    let mut removed = 0;
    for scope in realm["clientScopes"].as_array_mut().into_iter().flatten() {
        if let Some(mappers) = scope["protocolMappers"].as_array_mut() {
            let before = mappers.len();
            mappers.retain(|m| m["config"]["included.custom.audience"].is_null());
            removed += before - mappers.len();
        }
    }
    ensure!(
        removed > 0,
        "the dev realm has no custom-audience mapper to remove"
    );
    for client in realm["clients"].as_array_mut().into_iter().flatten() {
        if let Some(attributes) = client["attributes"].as_object_mut() {
            attributes.remove("resource_url");
        }
    }
    Ok(realm)
}
