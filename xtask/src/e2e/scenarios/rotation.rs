//! Key lifecycle scenarios: rotation under load, and an IdP outage with a
//! restart of Keycloak. Both run a background [`Load`] that calls the
//! server the whole time and counts every failed call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::json;

use super::{ensure_invalid_token, render_args, user_token};
use crate::e2e::Env;
use crate::e2e::mcp::{Http, Session, initialize_request, preview, tool_result};
use crate::e2e::server::{self, Mode, Server};
use crate::keycloak::KeyAlgorithm;

pub(super) const FETCH_OK: &str = "mcp_jwks_fetches_total{result=\"ok\"}";
pub(super) const FETCH_ERROR: &str = "mcp_jwks_fetches_total{result=\"error\"}";
pub(super) const KID_MISS: &str = "mcp_jwks_kid_miss_refreshes_total";
pub(super) const KEYS: &str = "mcp_jwks_keys";

/// Calls `render_template` in a loop with the current token until stopped.
pub(super) struct Load {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    /// (generation, token): the loop always uses the latest.
    token: Mutex<(u64, String)>,
    stats: Mutex<Stats>,
}

#[derive(Default)]
struct Stats {
    ok: u64,
    failed: u64,
    /// The first few failures, for the report.
    failures: Vec<String>,
    /// The token generation of the last successful call.
    last_ok_generation: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Load {
    pub(super) fn start(url: &str, token: &str) -> anyhow::Result<Load> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            token: Mutex::new((0, token.to_owned())),
            stats: Mutex::new(Stats::default()),
        });
        let http = Http::new()?;
        let url = url.to_owned();
        let args = render_args()?;
        let worker = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("e2e-load".into())
            .spawn(move || {
                let mut session: Option<Session> = None;
                while !worker.stop.load(Ordering::Relaxed) {
                    let (generation, token) = lock(&worker.token).clone();
                    let result = match session.as_mut() {
                        Some(s) => s
                            .call(&token, "render_template", args.clone())
                            .and_then(|reply| tool_result(&reply)),
                        None => Session::open(&http, &url, &token).map(|s| {
                            session = Some(s);
                            serde_json::Value::Null
                        }),
                    };
                    let mut stats = lock(&worker.stats);
                    match result {
                        Ok(_) => {
                            stats.ok += 1;
                            stats.last_ok_generation = generation;
                        }
                        Err(e) => {
                            stats.failed += 1;
                            if stats.failures.len() < 5 {
                                stats.failures.push(format!("token {generation}: {e:#}"));
                            }
                        }
                    }
                    drop(stats);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .context("spawning the load thread")?;
        Ok(Load {
            shared,
            handle: Some(handle),
        })
    }

    pub(super) fn ok(&self) -> u64 {
        lock(&self.shared.stats).ok
    }

    /// Switches to `token` and waits until a call with it succeeded.
    pub(super) fn switch(&self, token: &str, timeout: Duration) -> anyhow::Result<()> {
        let generation = {
            let mut current = lock(&self.shared.token);
            *current = (current.0 + 1, token.to_owned());
            current.0
        };
        let deadline = Instant::now() + timeout;
        while lock(&self.shared.stats).last_ok_generation < generation {
            ensure!(
                Instant::now() < deadline,
                "the load made no successful call with the new token in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Waits for `n` more successful calls.
    pub(super) fn wait_calls(&self, n: u64, timeout: Duration) -> anyhow::Result<()> {
        let target = self.ok() + n;
        let deadline = Instant::now() + timeout;
        while self.ok() < target {
            ensure!(
                Instant::now() < deadline,
                "the load made fewer than {n} successful calls in {timeout:?}: {}",
                self.failures()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub(super) fn failures(&self) -> String {
        let stats = lock(&self.shared.stats);
        format!(
            "{} ok, {} failed {:?}",
            stats.ok, stats.failed, stats.failures
        )
    }

    /// Stops the loop; fails unless every call succeeded.
    pub(super) fn finish(mut self) -> anyhow::Result<u64> {
        self.stop();
        let stats = lock(&self.shared.stats);
        ensure!(
            stats.failed == 0,
            "{} of {} calls failed under load: {:?}",
            stats.failed,
            stats.ok + stats.failed,
            stats.failures
        );
        Ok(stats.ok)
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `check` every 250 ms until it returns `Some`, for at most `bound`.
pub(super) fn poll<T>(
    bound: Duration,
    what: &str,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<(T, Duration)> {
    let started = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok((value, started.elapsed()));
        }
        if started.elapsed() >= bound {
            bail!("{what}: not within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The id of the dev realm's key provider whose key has `kid` (what the
/// rotation scenarios deactivate and disable).
pub(super) fn key_provider(env: &Env, kid: &str) -> anyhow::Result<String> {
    env.kc
        .keys()?
        .into_iter()
        .find(|k| k.kid == kid)
        .map(|k| k.provider_id)
        .with_context(|| format!("no key {kid:?} in realm mcp"))
}

pub(super) fn key_rotation_under_load(env: &mut Env) -> anyhow::Result<()> {
    let server = Server::start(env, "key-rotation", Mode::Jwt)?;
    let http = Http::new()?;
    let old = user_token(env, "mcp-test", "alice", "mcp:tools")?;
    let old_kid = old.header()?["kid"].as_str().context("no kid")?.to_owned();
    let old_provider = key_provider(env, &old_kid)?;

    // A second token of the old key that the server never sees before the
    // key is disabled: it tells a JWKS refresh that dropped the key apart
    // from a verified-token cache that still remembers the first one.
    let old_unseen = user_token(env, "mcp-test", "alice", "mcp:tools")?;
    ensure!(
        old_unseen.header()?["kid"] == old_kid.as_str(),
        "the realm's signing key changed under the test"
    );

    let load = Load::start(&server.url, old.as_str())?;
    load.wait_calls(5, Duration::from_secs(10))?;

    // 1. A new RS256 key with a higher priority signs new tokens; the server
    // learns it through one kid-miss refresh. A background refresh (every
    // 1..18 s with the e2e TTL and the jwks jitter) may pick the key up
    // first: then the kid-miss path was not exercised, and we retry with
    // another key.
    let mut attempt = 0;
    let new = loop {
        attempt += 1;
        let fetches = server.metric(FETCH_OK)?;
        let misses = server.metric(KID_MISS)?;
        let provider = env
            .kc
            .add_key_provider(KeyAlgorithm::Rs256, 200 + attempt)?;
        let token = user_token(env, "mcp-test", "alice", "mcp:tools")?;
        let kid = token.header()?["kid"]
            .as_str()
            .context("no kid")?
            .to_owned();
        let key = env.kc.keys()?.into_iter().find(|k| k.kid == kid);
        ensure!(
            key.as_ref().is_some_and(|k| k.provider_id == provider),
            "the new token's kid {kid} is not the new provider's key"
        );
        let mut session = Session::open(&http, &server.url, token.as_str())
            .context("a token signed with the new key")?;
        session.call_ok(token.as_str(), "list_templates", json!({}))?;
        session.close(token.as_str());
        if server.metric(KID_MISS)? >= misses + 1.0 {
            break token;
        }
        if server.metric(FETCH_OK)? > fetches && attempt < 3 {
            eprintln!("  a background refresh learned the new key first; again with another key");
            continue;
        }
        bail!("a new kid was accepted without the kid-miss counter moving ({KID_MISS})");
    };

    // 2. The old key goes passive: still published, so the old token stays
    // valid, also after the next background refresh has seen the change.
    env.kc.set_key_provider_active(&old_provider, false)?;
    let fetches = server.metric(FETCH_OK)?;
    poll(
        server::jwks_refresh_bound() + Duration::from_secs(5),
        "a background JWKS refresh",
        || Ok((server.metric(FETCH_OK)? > fetches).then_some(())),
    )?;
    let reply = http.post_mcp(&server.url, Some(old.as_str()), None, &initialize_request())?;
    ensure!(
        reply.status == 200,
        "old token after its key went passive: HTTP {} {}",
        reply.status,
        reply.challenge()
    );

    // 3. The load moves to the new token before the old key goes away.
    load.switch(new.as_str(), Duration::from_secs(10))?;

    // 4. The old key is disabled: it leaves the JWKS, and tokens it signed
    // are refused once the server's next refresh drops it. The unseen token
    // is presented once, after the cached key set shrank: presented earlier,
    // it would be verified and cached itself.
    let keys_before = server.metric(KEYS)?;
    env.kc.set_key_provider_enabled(&old_provider, false)?;
    let (_, took) = poll(
        server::jwks_refresh_bound() + Duration::from_secs(5),
        "the server's key set dropping the disabled key",
        || Ok((server.metric(KEYS)? < keys_before).then_some(())),
    )?;
    eprintln!(
        "  the disabled key left the server's key set {:.1} s after it was disabled",
        took.as_secs_f64()
    );
    let refused = |token: &str, what: &str| -> anyhow::Result<bool> {
        let reply = http.post_mcp(&server.url, Some(token), None, &initialize_request())?;
        if reply.status == 401 {
            ensure_invalid_token(&reply, what)?;
            return Ok(true);
        }
        ensure!(
            reply.status == 200,
            "{what}: HTTP {} {}",
            reply.status,
            preview(&reply.body)
        );
        Ok(false)
    };
    ensure!(
        refused(old_unseen.as_str(), "unseen old-key token")?,
        "a token of the disabled key, never presented before, is accepted"
    );
    load.wait_calls(5, Duration::from_secs(10))?;
    let calls = load.finish()?;
    eprintln!("  {calls} calls under load, none failed");

    // The token the server had already verified (and cached) must go too:
    // its key is no longer published.
    ensure!(
        refused(old.as_str(), "cached old-key token")?,
        "the JWKS refresh dropped the disabled key (a never-seen token of it is refused), \
         but the token verified before is still accepted: the verified-token cache does not \
         re-check that the token's signing key is still in the key set"
    );
    Ok(())
}

pub(super) fn idp_outage_serves_cached_keys_and_reports_degraded(
    env: &mut Env,
) -> anyhow::Result<()> {
    let server = Server::start(env, "idp-outage", Mode::Jwt)?;
    let http = Http::new()?;
    let token = user_token(env, "mcp-test", "alice", "mcp:tools")?;
    let kid = token.header()?["kid"].clone();
    let load = Load::start(&server.url, token.as_str())?;
    load.wait_calls(5, Duration::from_secs(10))?;

    let errors = server.metric(FETCH_ERROR)?;
    env.kc.stop_server()?;
    eprintln!("  keycloak stopped");
    // A failed refresh turns /readyz degraded (still 200: the last good key
    // set is served); calls with a valid token keep succeeding meanwhile.
    let (_, took) = poll(
        server::jwks_refresh_bound() + Duration::from_secs(5),
        "/readyz degraded after Keycloak stopped",
        || {
            let (status, body) = server.readyz()?;
            ensure!(
                status == 200,
                "/readyz HTTP {status} {body} while the last good key set is valid"
            );
            Ok((body["status"] == "degraded").then_some(()))
        },
    )?;
    eprintln!(
        "  /readyz degraded {:.1} s after the stop",
        took.as_secs_f64()
    );
    ensure!(
        server.metric(FETCH_ERROR)? > errors,
        "degraded without a failed JWKS fetch"
    );
    // A new session with the same token: validated from cached keys alone.
    let mut session = Session::open(&http, &server.url, token.as_str())
        .context("a new session while Keycloak is down")?;
    session.call_ok(token.as_str(), "render_template", render_args()?)?;

    let restart = env.kc.restart();
    restart.with_context(|| format!("restarting Keycloak\n{}", env.kc.log_tail(40)))?;
    eprintln!(
        "  keycloak back in {:.0} s",
        env.kc.started_in().as_secs_f64()
    );
    // The refresher retries with backoff (1 s doubling to 60 s), so fresh
    // within one maximal retry delay plus margin.
    let (_, took) = poll(
        Duration::from_secs(server::JWKS_RETRY_MAX_SECS + 15),
        "/readyz back to ok after Keycloak restarted",
        || {
            let (status, body) = server.readyz()?;
            ensure!(status == 200, "/readyz HTTP {status} {body}");
            Ok((body["status"] == "ok").then_some(()))
        },
    )?;
    eprintln!(
        "  /readyz ok {:.1} s after Keycloak was back",
        took.as_secs_f64()
    );

    // The realm's keys survived the restart: a new token has the same kid,
    // and is accepted.
    let fresh = user_token(env, "mcp-test", "alice", "mcp:tools")?;
    ensure!(
        fresh.header()?["kid"] == kid,
        "the signing key changed across the restart ({} -> {})",
        kid,
        fresh.header()?["kid"]
    );
    session.call_ok(fresh.as_str(), "render_template", render_args()?)?;
    session.close(fresh.as_str());
    let calls = load.finish()?;
    eprintln!("  {calls} calls across the outage, none failed");
    Ok(())
}
