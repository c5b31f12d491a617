//! Multi-issuer scenarios (issue 13): two real Keycloak realms, the dev
//! realm `mcp` and `mcp-second` (created by `Keycloak::ensure_second_realm`,
//! its own users and signing keys), in front of one server.
//!
//! - [`two_realms_each_accepted`]: a server with both realms as
//!   `[[auth.issuers]]` accepts a token of each, and fetched each realm's JWKS.
//! - [`cross_realm_refused`]: a server trusting one realm refuses a valid
//!   token of the other with 401 `invalid_token`, without any JWKS work for
//!   it (fetches, kid-miss refreshes, suppressed refreshes all unchanged).
//! - [`rotation_in_one_realm_leaves_the_other`]: a key rotation in `mcp`
//!   while a load of `mcp-second` tokens runs: no call fails and the
//!   `mcp-second` issuer sees no kid-miss refresh.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::json;

use super::rotation::{FETCH_ERROR, FETCH_OK, KEYS, KID_MISS, Load, key_provider, poll};
use super::{TOOLS, audiences, ensure_invalid_token, has_scope, user_token_in};
use crate::e2e::Env;
use crate::e2e::mcp::{Http, Session, initialize_request, preview};
use crate::e2e::server::{self, Issuers, Mode, Server};
use crate::keycloak::{KeyAlgorithm, REALM, SECOND_REALM, Token};

/// Every JWKS fetch, whatever its result or issuer.
const FETCH_ANY: &str = "mcp_jwks_fetches_total";
/// Unknown-kid refreshes refused by the rate limit.
const SUPPRESSED: &str = "mcp_jwks_refreshes_suppressed_total";
/// How many foreign tokens a refusal window presents.
const REFUSALS: usize = 20;
/// The second realm's user (see `docs/keycloak.md`).
const CAROL: &str = "carol";

/// An `mcp:tools` token of `user` in `realm`, checked to carry that realm's
/// issuer and our resource as audience, so that only the issuer can make a
/// server refuse it.
fn realm_token(env: &Env, realm: &str, user: &str) -> anyhow::Result<Token> {
    let token = user_token_in(env, realm, "mcp-test", user, "mcp:tools")?;
    let claims = token.claims()?;
    let issuer = env.kc.issuer(realm);
    ensure!(
        claims["iss"] == issuer.as_str(),
        "{user}'s token of realm {realm}: iss {} != {issuer}",
        claims["iss"]
    );
    ensure!(
        audiences(&claims).contains(&env.resource) && has_scope(&claims, "mcp:tools"),
        "{user}'s token of realm {realm}: aud {} scope {} (want {} and mcp:tools)",
        claims["aud"],
        claims["scope"],
        env.resource
    );
    Ok(token)
}

fn kid(token: &Token) -> anyhow::Result<String> {
    Ok(token.header()?["kid"]
        .as_str()
        .context("no kid")?
        .to_owned())
}

/// initialize, tools/list, render_template, close.
fn lists_and_renders(http: &Http, server: &Server, token: &str) -> anyhow::Result<usize> {
    let mut session = Session::open(http, &server.url, token)?;
    super::lists_and_renders(&mut session, token)?;
    session.close(token);
    Ok(TOOLS.len())
}

pub(super) fn two_realms_each_accepted(env: &mut Env) -> anyhow::Result<()> {
    let issuers = [env.issuer(), env.second_issuer()];
    let server = Server::start_with(
        env,
        "two-realms",
        Mode::Jwt,
        &Issuers::Several(issuers.to_vec()),
    )?;
    let http = Http::new()?;
    // Issue 13: /readyz names each issuer.
    let (status, body) = server.readyz()?;
    for issuer in &issuers {
        ensure!(
            body["issuers"][issuer.as_str()] == "ok",
            "/readyz HTTP {status} {body}: issuer {issuer} is not \"ok\""
        );
    }

    let alice = realm_token(env, REALM, "alice")?;
    let carol = realm_token(env, SECOND_REALM, CAROL)?;
    ensure!(
        kid(&alice)? != kid(&carol)?,
        "both realms signed with the kid {}: they must have their own keys",
        kid(&alice)?
    );
    for (realm, user, token) in [(REALM, "alice", &alice), (SECOND_REALM, CAROL, &carol)] {
        let tools = lists_and_renders(&http, &server, token.as_str())
            .with_context(|| format!("{user}'s token of realm {realm}"))?;
        eprintln!("  {user} ({realm}): initialize, tools/list ({tools}), render_template ok");
    }

    // Each issuer's keys came from its own JWKS.
    for issuer in &issuers {
        let ok = server.metric_for_issuer(FETCH_OK, issuer)?;
        let errors = server.metric_for_issuer(FETCH_ERROR, issuer)?;
        let keys = server.metric_for_issuer(KEYS, issuer)?;
        eprintln!("  {issuer}: JWKS fetches {ok} ok, {errors} failed; {keys} keys");
        ensure!(
            ok >= 1.0 && keys >= 1.0,
            "/metrics shows no successful JWKS fetch ({ok}) or no key ({keys}) for {issuer}"
        );
    }
    Ok(())
}

/// The server's JWKS work, summed over issuers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct JwksWork {
    fetches: f64,
    kid_misses: f64,
    suppressed: f64,
}

impl JwksWork {
    fn read(server: &Server) -> anyhow::Result<JwksWork> {
        Ok(JwksWork {
            fetches: server.metric(FETCH_ANY)?,
            kid_misses: server.metric(KID_MISS)?,
            suppressed: server.metric(SUPPRESSED)?,
        })
    }
}

/// Presents `token` [`REFUSALS`] times: each answer must be 401
/// `invalid_token`, and they must cost no JWKS work. Kid-miss and
/// suppressed refreshes only come from requests, so they must not move at
/// all; a background refresh (every 1 to 18 s) may land in a window and
/// move the fetch total, so a window where it moved is tried again, up to
/// three windows.
fn refused_without_jwks_work(
    server: &Server,
    http: &Http,
    token: &str,
    what: &str,
) -> anyhow::Result<()> {
    for window in 1..=3 {
        let before = JwksWork::read(server)?;
        for i in 1..=REFUSALS {
            let reply = http.post_mcp(&server.url, Some(token), None, &initialize_request())?;
            if let Err(e) =
                ensure_invalid_token(&reply, &format!("{what}, request {i} of {REFUSALS}"))
            {
                let now = JwksWork::read(server)?;
                bail!(
                    "{e:#} (JWKS work so far: fetches {} -> {}, kid-miss refreshes {} -> {}, \
                     suppressed {} -> {})",
                    before.fetches,
                    now.fetches,
                    before.kid_misses,
                    now.kid_misses,
                    before.suppressed,
                    now.suppressed
                );
            }
        }
        let after = JwksWork::read(server)?;
        ensure!(
            after.kid_misses == before.kid_misses && after.suppressed == before.suppressed,
            "{what}: refusing {REFUSALS} tokens of an unknown issuer moved the JWKS refresh \
             counters: kid-miss refreshes {} -> {}, suppressed {} -> {} (an unknown issuer must \
             cost no JWKS work)",
            before.kid_misses,
            after.kid_misses,
            before.suppressed,
            after.suppressed
        );
        if after.fetches == before.fetches {
            eprintln!(
                "  {what}: {REFUSALS} x 401 invalid_token; JWKS fetches {} (+0), kid-miss \
                 refreshes {} (+0), suppressed {} (+0)",
                after.fetches, after.kid_misses, after.suppressed
            );
            return Ok(());
        }
        eprintln!(
            "  {what}: window {window}: JWKS fetches {} -> {} (a background refresh?), again",
            before.fetches, after.fetches
        );
    }
    bail!(
        "{what}: the JWKS fetch total grew in each of 3 windows of {REFUSALS} refusals: \
         an unknown issuer costs fetches"
    )
}

pub(super) fn cross_realm_refused(env: &mut Env) -> anyhow::Result<()> {
    let alice = realm_token(env, REALM, "alice")?;
    let carol = realm_token(env, SECOND_REALM, CAROL)?;
    for (user, token) in [("alice", &alice), (CAROL, &carol)] {
        let claims = token.claims()?;
        eprintln!(
            "  {user}: iss {}, aud {}, kid {}",
            claims["iss"],
            claims["aud"],
            kid(token)?
        );
    }
    // A server of realm `mcp` only (the single-issuer form): alice in,
    // carol's valid token of `mcp-second` out; then the other way round.
    // Both halves run, so a failure of one still reports the other.
    let halves = [
        ("cross-realm-mcp", env.issuer(), &alice, &carol, "realm-mcp"),
        (
            "cross-realm-second",
            env.second_issuer(),
            &carol,
            &alice,
            "realm-mcp-second",
        ),
    ];
    let mut failures = Vec::new();
    for (name, issuer, own, foreign, label) in halves {
        let result = (|| -> anyhow::Result<()> {
            let http = Http::new()?;
            let server = Server::start_with(env, name, Mode::Jwt, &Issuers::Single(issuer))?;
            let reply =
                http.post_mcp(&server.url, Some(own.as_str()), None, &initialize_request())?;
            ensure!(
                reply.status == 200,
                "its own realm's token: HTTP {} {}",
                reply.status,
                preview(&reply.body)
            );
            refused_without_jwks_work(
                &server,
                &http,
                foreign.as_str(),
                &format!("a foreign token on the {label} server"),
            )
        })();
        if let Err(e) = result {
            failures.push(format!("{label} server: {e:#}"));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

pub(super) fn rotation_in_one_realm_leaves_the_other(env: &mut Env) -> anyhow::Result<()> {
    let (first, second) = (env.issuer(), env.second_issuer());
    let server = Server::start_with(
        env,
        "realm-rotation",
        Mode::Jwt,
        &Issuers::Several(vec![first.clone(), second.clone()]),
    )?;
    let http = Http::new()?;
    // A token of the old `mcp` key that the server never sees before the key
    // is disabled (see `key_rotation_under_load`).
    let old_alice = realm_token(env, REALM, "alice")?;
    let old_kid = kid(&old_alice)?;
    let old_provider = key_provider(env, &old_kid)?;
    let carol = realm_token(env, SECOND_REALM, CAROL)?;
    let carol_kid = kid(&carol)?;
    let second_kids = |env: &Env| -> anyhow::Result<Vec<String>> {
        let mut kids: Vec<String> = env
            .kc
            .keys_in(SECOND_REALM)?
            .into_iter()
            .filter(|k| k.key_use == "SIG")
            .map(|k| format!("{} {} {}", k.kid, k.algorithm, k.status))
            .collect();
        kids.sort();
        Ok(kids)
    };
    let second_keys_before = second_kids(env)?;

    let load = Load::start(&server.url, carol.as_str())?;
    load.wait_calls(5, Duration::from_secs(10))?;
    let second_misses = server.metric_for_issuer(KID_MISS, &second)?;
    let second_fetches = server.metric_for_issuer(FETCH_OK, &second)?;
    let second_keys = server.metric_for_issuer(KEYS, &second)?;
    let first_misses = server.metric_for_issuer(KID_MISS, &first)?;
    let started = Instant::now();

    // 1. A new RS256 key in realm `mcp`, above every RS256 key there (other
    // scenarios added some), signs new tokens.
    let priority = env
        .kc
        .keys()?
        .iter()
        .filter(|k| k.algorithm == "RS256")
        .map(|k| k.priority)
        .max()
        .unwrap_or(100)
        .max(200)
        + 1;
    let provider = env.kc.add_key_provider(KeyAlgorithm::Rs256, priority)?;
    let new_alice = realm_token(env, REALM, "alice")?;
    let new_kid = kid(&new_alice)?;
    ensure!(
        env.kc
            .keys()?
            .iter()
            .any(|k| k.kid == new_kid && k.provider_id == provider),
        "the new token's kid {new_kid} is not the new provider's key"
    );
    lists_and_renders(&http, &server, new_alice.as_str())
        .context("a token of realm mcp's new key")?;
    let keys_with_new = server.metric_for_issuer(KEYS, &first)?;

    // 2. The old key goes passive, then is disabled: it leaves realm mcp's
    // JWKS, and the server's key set for mcp shrinks at its next refresh.
    env.kc.set_key_provider_active(&old_provider, false)?;
    env.kc.set_key_provider_enabled(&old_provider, false)?;
    let (_, took) = poll(
        server::jwks_refresh_bound() + Duration::from_secs(5),
        "the server's key set for realm mcp dropping the disabled key",
        || Ok((server.metric_for_issuer(KEYS, &first)? < keys_with_new).then_some(())),
    )?;
    eprintln!(
        "  realm mcp rotated: {old_kid} -> {new_kid}; the disabled key left the server's set {:.1} s later",
        took.as_secs_f64()
    );
    let reply = http.post_mcp(
        &server.url,
        Some(old_alice.as_str()),
        None,
        &initialize_request(),
    )?;
    ensure_invalid_token(&reply, "a token of realm mcp's disabled key")?;
    lists_and_renders(&http, &server, new_alice.as_str())
        .context("realm mcp's new key after the rotation")?;

    // 3. The second realm did not notice: its load kept succeeding, with
    // no kid-miss refresh and the same keys, in Keycloak and in the server.
    load.wait_calls(5, Duration::from_secs(10))?;
    let calls = load.finish()?;
    let elapsed = started.elapsed();
    let misses_after = server.metric_for_issuer(KID_MISS, &second)?;
    let fetches_after = server.metric_for_issuer(FETCH_OK, &second)?;
    let keys_after = server.metric_for_issuer(KEYS, &second)?;
    eprintln!(
        "  {second}: {calls} calls under load, none failed; JWKS fetches {second_fetches} -> \
         {fetches_after} in {:.1} s (background refreshes), kid-miss refreshes {second_misses} -> \
         {misses_after}, keys {second_keys} -> {keys_after}",
        elapsed.as_secs_f64()
    );
    eprintln!(
        "  {first}: kid-miss refreshes {first_misses} -> {}",
        server.metric_for_issuer(KID_MISS, &first)?
    );
    ensure!(
        second_misses == 0.0 && misses_after == 0.0,
        "{KID_MISS} for {second}: {second_misses} -> {misses_after}, want 0: the rotation in \
         realm mcp made the server refresh realm mcp-second's keys on a kid miss"
    );
    ensure!(
        keys_after == second_keys,
        "the server's key count for {second} changed: {second_keys} -> {keys_after}"
    );
    // Background refreshes come at least 1 s apart.
    let bound = elapsed.as_secs_f64().ceil() + 1.0;
    ensure!(
        fetches_after - second_fetches <= bound,
        "{second}: {} JWKS fetches in {:.1} s, more than background refreshes can make ({bound})",
        fetches_after - second_fetches,
        elapsed.as_secs_f64()
    );
    ensure!(
        second_kids(env)? == second_keys_before,
        "realm mcp-second's keys changed in Keycloak during the rotation of realm mcp"
    );
    let fresh = realm_token(env, SECOND_REALM, CAROL)?;
    ensure!(
        kid(&fresh)? == carol_kid,
        "realm mcp-second signs with {} now, was {carol_kid}",
        kid(&fresh)?
    );
    let mut session = Session::open(&http, &server.url, fresh.as_str())?;
    session.call_ok(fresh.as_str(), "list_templates", json!({}))?;
    session.close(fresh.as_str());
    Ok(())
}
