//! `cargo xtask keycloak --check`: proves the dev realm and the Admin REST
//! helpers against the real Keycloak just started, then stops it.
//!
//! What it asserts, in order: scopes and audience per user (role-gated
//! `templates:write`), client-credentials tokens, the JWKS, RFC 7662
//! introspection, the 5 s `mcp-short` expiry, session logout, and key
//! rotation (new key active → passive → disabled → deleted; an ES256
//! provider appears in the JWKS).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use serde_json::Value;

use super::{KeyAlgorithm, Keycloak, REALM, Token, client_secret};

pub(super) fn run(kc: &Keycloak, audience: &str) -> anyhow::Result<()> {
    let test_secret = client_secret("mcp-test").context("mcp-test secret")?;
    let server_secret = client_secret("mcp-server").context("mcp-server secret")?;
    let both = "mcp:tools templates:write";

    let alice = kc.password_token("mcp-test", Some(test_secret), "alice", "alice", both)?;
    let claims = alice.claims()?;
    ensure!(
        audiences(&claims).iter().any(|a| a == audience),
        "alice's aud {} lacks {audience}",
        claims["aud"]
    );
    ensure!(
        has_scope(&claims, "mcp:tools") && has_scope(&claims, "templates:write"),
        "alice's scope: {}",
        claims["scope"]
    );
    ensure!(
        alice.scope().split(' ').any(|s| s == "templates:write"),
        "token response scope: {}",
        alice.scope()
    );
    ensure!(
        claims["iss"] == kc.issuer(REALM),
        "alice's iss: {}",
        claims["iss"]
    );
    ensure!(
        claims["sub"].is_string() && claims["sid"].is_string(),
        "alice's token lacks sub or sid"
    );
    let header = alice.header()?;
    ensure!(header["alg"] == "RS256", "alg: {}", header["alg"]);
    let kid = header["kid"].as_str().context("no kid")?.to_owned();
    ok(&format!(
        "alice: aud {}, scope \"{}\", alg RS256, kid {kid}",
        claims["aud"],
        claims["scope"].as_str().unwrap_or("")
    ));

    let bob = kc.password_token("mcp-test", Some(test_secret), "bob", "bob", both)?;
    let claims = bob.claims()?;
    ensure!(
        has_scope(&claims, "mcp:tools"),
        "bob lacks mcp:tools: {}",
        claims["scope"]
    );
    ensure!(
        !has_scope(&claims, "templates:write"),
        "bob got templates:write: {}",
        claims["scope"]
    );
    ensure!(
        audiences(&claims).iter().any(|a| a == audience),
        "bob's aud {}",
        claims["aud"]
    );
    ok(&format!(
        "bob: scope \"{}\" (templates:write dropped: no template-writer role)",
        claims["scope"].as_str().unwrap_or("")
    ));

    let service = kc.client_credentials_token("mcp-test", test_secret, both)?;
    let claims = service.claims()?;
    ensure!(
        has_scope(&claims, "templates:write") && claims.get("sid").is_none(),
        "service token: {claims}"
    );
    ok("mcp-test client credentials: both scopes, no sid");

    let jwks = kc.jwks()?;
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    let signing = keys
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .context("alice's kid is not in the JWKS")?;
    ensure!(
        signing["use"] == "sig" && signing["kty"] == "RSA" && signing["alg"] == "RS256",
        "JWKS key: {signing}"
    );
    ok(&format!(
        "JWKS: {} keys, {kid} is RSA/RS256/sig",
        keys.len()
    ));

    let info = kc.introspect("mcp-server", server_secret, alice.as_str())?;
    ensure!(
        info["active"] == true,
        "introspection of alice's token: {info}"
    );
    ensure!(
        audiences(&info).iter().any(|a| a == audience),
        "introspected aud: {}",
        info["aud"]
    );
    let info = kc.introspect("mcp-server", server_secret, "not-a-token")?;
    ensure!(
        info == serde_json::json!({"active": false}),
        "introspection of garbage: {info}"
    );
    ok(
        "introspection (mcp-server): active for alice's token, exactly {\"active\":false} for garbage",
    );

    let short_secret = client_secret("mcp-short").context("mcp-short secret")?;
    let short = kc.password_token(
        "mcp-short",
        Some(short_secret),
        "alice",
        "alice",
        "mcp:tools",
    )?;
    let claims = short.claims()?;
    let exp = claims["exp"].as_u64().context("exp")?;
    ensure!(
        short.expires_in() == 5 && exp - claims["iat"].as_u64().unwrap_or(0) == 5,
        "mcp-short: {claims}"
    );
    ensure!(
        kc.introspect("mcp-server", server_secret, short.as_str())?["active"] == true,
        "fresh short token inactive"
    );
    sleep_until_after(exp);
    let info = kc.introspect("mcp-server", server_secret, short.as_str())?;
    ensure!(
        info["active"] == false,
        "expired short token still active: {info}"
    );
    ok("mcp-short: expires_in 5, exp - iat = 5, inactive after exp");

    let session =
        kc.password_token("mcp-test", Some(test_secret), "alice", "alice", "mcp:tools")?;
    kc.logout_user("alice")?;
    let info = kc.introspect("mcp-server", server_secret, session.as_str())?;
    ensure!(
        info["active"] == false,
        "token still active after logout: {info}"
    );
    ok("logout of alice: her token introspects inactive at once");

    rotation(kc, test_secret, &kid)?;
    Ok(())
}

fn rotation(kc: &Keycloak, test_secret: &str, old_kid: &str) -> anyhow::Result<()> {
    let token = || kc.password_token("mcp-test", Some(test_secret), "alice", "alice", "mcp:tools");
    let kid_of = |t: &Token| -> anyhow::Result<String> {
        Ok(t.header()?["kid"].as_str().unwrap_or("").to_owned())
    };

    let id = kc.add_key_provider(KeyAlgorithm::Rs256, 200)?;
    let new = kc
        .keys()?
        .into_iter()
        .find(|k| k.provider_id == id && k.algorithm == "RS256")
        .context("no key from the new provider")?;
    ensure!(
        new.status == "ACTIVE" && new.priority == 200 && new.key_use == "SIG",
        "new key: {new:?}"
    );
    ensure!(
        kid_of(&token()?)? == new.kid,
        "new tokens are not signed with the new key"
    );
    ensure!(
        jwks_kids(kc)?.contains(&new.kid) && jwks_kids(kc)?.contains(&old_kid.to_owned()),
        "JWKS lacks a key"
    );
    ok(&format!(
        "rotation: rsa-generated priority 200 adds kid {} and signs new tokens",
        new.kid
    ));

    kc.set_key_provider_active(&id, false)?;
    let status = kc
        .keys()?
        .into_iter()
        .find(|k| k.kid == new.kid)
        .map(|k| k.status);
    ensure!(
        status.as_deref() == Some("PASSIVE"),
        "after active=false: {status:?}"
    );
    ensure!(kid_of(&token()?)? == old_kid, "a passive key still signs");
    ensure!(
        jwks_kids(kc)?.contains(&new.kid),
        "a passive key left the JWKS"
    );
    ok("rotation: active=false → PASSIVE, still in the JWKS, tokens signed with the old key");

    kc.set_key_provider_enabled(&id, false)?;
    ensure!(
        !jwks_kids(kc)?.contains(&new.kid),
        "a disabled key is still in the JWKS"
    );
    ok("rotation: enabled=false → gone from the JWKS");

    kc.delete_key_provider(&id)?;
    ensure!(
        kc.keys()?.iter().all(|k| k.provider_id != id),
        "deleted provider still has keys"
    );
    ok("rotation: provider deleted");

    let ec = kc.add_key_provider(KeyAlgorithm::Es256, 50)?;
    let ec_key = kc
        .keys()?
        .into_iter()
        .find(|k| k.provider_id == ec)
        .context("no key from the ecdsa provider")?;
    ensure!(
        ec_key.algorithm == "ES256" && jwks_kids(kc)?.contains(&ec_key.kid),
        "ecdsa key: {ec_key:?}"
    );
    kc.delete_key_provider(&ec)?;
    ok(&format!(
        "rotation: ecdsa-generated adds ES256 kid {} to the JWKS; deleted",
        ec_key.kid
    ));
    Ok(())
}

fn jwks_kids(kc: &Keycloak) -> anyhow::Result<Vec<String>> {
    let jwks = kc.jwks()?;
    Ok(jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect())
}

/// `aud` as a list: Keycloak sends a string for one audience, an array for several.
fn audiences(claims: &Value) -> Vec<String> {
    match &claims["aud"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn has_scope(claims: &Value, scope: &str) -> bool {
    claims["scope"]
        .as_str()
        .unwrap_or("")
        .split(' ')
        .any(|s| s == scope)
}

/// Sleeps until one second past `exp` (Unix seconds), no longer.
fn sleep_until_after(exp: u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let target = Duration::from_secs(exp + 1);
    if target > now {
        std::thread::sleep(target - now);
    }
}

fn ok(what: &str) {
    println!("  ok  {what}");
}
