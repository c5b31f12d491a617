//! Issue 12, item 5: the real cluster ([`crate::cluster`]: PostgreSQL,
//! Redis, three replicas behind HAProxy) with real Keycloak tokens and the
//! real clients. One cluster serves every check of the scenario, in order;
//! each check prints its numbers (requests per replica, staleness,
//! winners, failures).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use super::super::Env;
use super::super::mcp::{Http, Session, preview};
use super::super::prometheus;
use super::{
    BOTH_SCOPES, RENDERED_TEXT, TEMPLATE, TEMPLATE_VARIABLES, TOOLS, bob_read_only_token,
    inspector_renders, render_args, user_token,
};
use crate::clients::{InspectorCall, Scenario, Sdk};
use crate::cluster::{Cluster, ClusterOptions};
use crate::keycloak;

/// Concurrent conflicting saves of one template.
const WRITERS: usize = 20;
/// How long a save through one replica may take to be served by the
/// others (the issue's bound).
const STALENESS_BOUND: Duration = Duration::from_secs(1);

/// The Inspector CLI (one process per call, so each call is a new
/// connection the balancer places anew) saves `name`, renders it and
/// deletes it.
fn inspector_lifecycle(env: &Env, token: &str, name: &str) -> anyhow::Result<()> {
    let call = |tool: &'static str, args: &[(&str, &str)]| -> anyhow::Result<Value> {
        let out = env.tools.run_inspector(
            &env.sh,
            &env.resource,
            Some(token),
            &InspectorCall::CallTool { tool, args },
        )?;
        let result: Value = serde_json::from_str(&out)
            .with_context(|| format!("inspector {tool}: {}", preview(&out)))?;
        ensure!(result["isError"] != true, "inspector {tool}: {result}");
        Ok(result["structuredContent"].clone())
    };
    let saved = call(
        "save_template",
        &[
            ("name", name),
            ("title", "Lifecycle"),
            ("description", "Saved by the Inspector CLI"),
            ("variables", r#"[{"name": "who", "required": true}]"#),
            ("body", "Hello {{ who }} from the Inspector"),
        ],
    )?;
    let version = saved["version"]
        .as_str()
        .with_context(|| format!("inspector save_template: no version in {saved}"))?
        .to_owned();
    let rendered = call(
        "render_template",
        &[("name", name), ("variables", r#"{"who": "Ada"}"#)],
    )?;
    ensure!(
        rendered["text"] == "Hello Ada from the Inspector",
        "inspector render_template: {rendered}"
    );
    let deleted = call(
        "delete_template",
        &[("name", name), ("expected_version", &version)],
    )?;
    ensure!(
        deleted["deleted"] == true,
        "inspector delete_template: {deleted}"
    );
    Ok(())
}

fn start(env: &Env) -> anyhow::Result<Cluster> {
    Cluster::start(&ClusterOptions {
        replicas: 3,
        port: env.port,
        public_url: env.base.clone(),
        issuer: env.issuer(),
        introspection_client: (
            env.resource.clone(),
            keycloak::RESOURCE_CLIENT_SECRET.to_owned(),
        ),
        server_bin: env.server_bin.clone(),
        templates: env.templates.clone(),
        dir: env.run_dir.join("cluster"),
        extra_toml: String::new(),
        stateless: false,
        log_filter: "info,tower_http=info,rmcp=warn".to_owned(),
    })
    .context("starting the cluster")
}

/// `mcp_http_requests_total` of each replica.
fn served(http: &Http, cluster: &Cluster) -> anyhow::Result<Vec<f64>> {
    cluster
        .replicas
        .iter()
        .map(|r| {
            let reply = http.get(&format!("{}/metrics", r.base), None)?;
            prometheus::sum(&reply.body, "mcp_http_requests_total")
        })
        .collect()
}

fn replica_urls(cluster: &Cluster) -> Vec<String> {
    cluster
        .replicas
        .iter()
        .map(|r| format!("{}/mcp", r.base))
        .collect()
}

fn note(body: &str) -> Value {
    json!({
        "title": "Cluster note", "description": "Saved by the e2e cluster scenario",
        "variables": [{"name": "who", "required": true}],
        "body": body,
    })
}

/// `save_template` of `name` with `body`, optionally over `expected`:
/// `Ok(version)` or `Err(tool error text)`.
fn save(
    session: &mut Session,
    token: &str,
    name: &str,
    body: &str,
    expected: Option<&str>,
) -> anyhow::Result<Result<String, String>> {
    let mut args = note(body);
    args["name"] = name.into();
    if let Some(expected) = expected {
        args["expected_version"] = expected.into();
    }
    let reply = session.call(token, "save_template", args)?;
    ensure!(
        reply.status == 200,
        "save_template: HTTP {} {}",
        reply.status,
        preview(&reply.body)
    );
    let msg = reply.jsonrpc()?;
    if msg["result"]["isError"] == true {
        let text = msg["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        return Ok(Err(text.to_owned()));
    }
    let version = msg["result"]["structuredContent"]["version"]
        .as_str()
        .with_context(|| format!("save_template: no version in {msg}"))?;
    Ok(Ok(version.to_owned()))
}

pub(crate) fn three_replicas_behind_haproxy(env: &mut Env) -> anyhow::Result<()> {
    let mut cluster = start(env)?;
    let http = Http::new()?;
    let alice_token = user_token(env, "mcp-test", "alice", BOTH_SCOPES)?;
    let alice = alice_token.as_str();
    let replicas = replica_urls(&cluster);
    let run = std::process::id();

    // 1. A session through the balancer: every request may land on another
    //    replica, and list, render, save and delete all succeed.
    let before = served(&http, &cluster)?;
    let mut session = Session::open(&http, &env.resource, alice)?;
    for _ in 0..4 {
        ensure!(
            session.list_tools(alice)? == TOOLS,
            "tools/list through the balancer"
        );
        let rendered = session.call_ok(alice, "render_template", render_args()?)?;
        ensure!(
            rendered["text"]
                .as_str()
                .is_some_and(|t| t.contains(RENDERED_TEXT)),
            "render through the balancer: {rendered}"
        );
    }
    let name = format!("e2e-cluster-{run}");
    let version = save(&mut session, alice, &name, "Hello {{ who }}", None)?
        .map_err(|e| anyhow::anyhow!("save through the balancer: {e}"))?;
    session.delete_ok(alice, &name, &version, "delete_template")?;
    session.close(alice);
    let after = served(&http, &cluster)?;
    let per_replica: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    println!("cluster: one session's requests per replica {per_replica:?}");
    ensure!(
        per_replica.iter().all(|&n| n >= 1.0),
        "a session through the balancer did not reach every replica: {per_replica:?}"
    );

    // 2. The real clients, in session mode, through the balancer: each
    //    lists, renders, saves and deletes.
    for sdk in [Sdk::Python, Sdk::TypeScript] {
        let out = env.tools.run_client(
            &env.sh,
            sdk,
            &env.resource,
            Some(alice),
            &Scenario::Render {
                name: TEMPLATE,
                variables_json: TEMPLATE_VARIABLES,
                expect_text: Some(RENDERED_TEXT),
            },
        )?;
        ensure!(
            out.contains("filename"),
            "{sdk} through the balancer: {out}"
        );
        let name = format!("e2e-cluster-{sdk}-{run}").replace(' ', "-");
        let out = env.tools.run_client(
            &env.sh,
            sdk,
            &env.resource,
            Some(alice),
            &Scenario::Lifecycle { name: &name },
        )?;
        let report: Value =
            serde_json::from_str(&out).with_context(|| format!("{sdk} report: {out}"))?;
        ensure!(report["deleted"] == true, "{sdk} lifecycle: {report}");
    }
    inspector_renders(env, &env.resource, alice)?;
    inspector_lifecycle(env, alice, &format!("e2e-cluster-inspector-{run}"))?;

    // 3. A session opened on replica 1 is served by 2 and 3, for its owner
    //    only: another principal gets 404 on every replica.
    let mut moving = Session::open(&http, &replicas[0], alice)?;
    for url in &replicas[1..] {
        moving.set_url(url);
        let rendered = moving.call_ok(alice, "render_template", render_args()?)?;
        ensure!(rendered["text"].is_string(), "render on {url}: {rendered}");
    }
    let bob_token = bob_read_only_token(env)?;
    for url in &replicas {
        moving.set_url(url);
        let reply = moving.call(bob_token.as_str(), "render_template", render_args()?)?;
        ensure!(
            reply.status == 404 && !reply.body.contains(RENDERED_TEXT),
            "bob with alice's session on {url}: HTTP {} {}",
            reply.status,
            preview(&reply.body)
        );
    }
    moving.set_url(&replicas[0]);
    moving.close(alice);

    // 4. Bounded staleness: a save through replica 1 is read through the
    //    others within the bound.
    let mut writer = Session::open(&http, &replicas[0], alice)?;
    let mut readers: Vec<Session> = replicas[1..]
        .iter()
        .map(|url| Session::open(&http, url, alice))
        .collect::<anyhow::Result<_>>()?;
    let name = format!("e2e-cluster-stale-{run}");
    let mut version = save(&mut writer, alice, &name, "v0 {{ who }}", None)?
        .map_err(|e| anyhow::anyhow!("create: {e}"))?;
    let mut worst = Duration::ZERO;
    for round in 1..=5 {
        version = save(
            &mut writer,
            alice,
            &name,
            &format!("v{round} {{{{ who }}}}"),
            Some(&version),
        )?
        .map_err(|e| anyhow::anyhow!("update {round}: {e}"))?;
        let saved = Instant::now();
        for reader in &mut readers {
            loop {
                let got = reader.call_ok(alice, "get_template", json!({"name": name}))?;
                if got["version"] == version.as_str() {
                    break;
                }
                if saved.elapsed() > STALENESS_BOUND * 5 {
                    bail!(
                        "a replica still served {} after {:?}",
                        got["version"],
                        saved.elapsed()
                    );
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        worst = worst.max(saved.elapsed());
    }
    println!(
        "cluster: a save through replica 1 was read through replicas 2 and 3 after at most {worst:?}"
    );
    ensure!(
        worst <= STALENESS_BOUND,
        "staleness {worst:?} above the bound {STALENESS_BOUND:?}"
    );

    // 5. Concurrent conflicting saves spread over the replicas: exactly one
    //    winner, every other a version conflict, the winner's text stored.
    let outcomes: Vec<anyhow::Result<Result<String, String>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let url = replicas[i % replicas.len()].clone();
                let (http, name, version) = (http.clone(), name.clone(), version.clone());
                scope.spawn(move || {
                    let mut session = Session::open(&http, &url, alice)?;
                    let outcome = save(
                        &mut session,
                        alice,
                        &name,
                        &format!("writer {i} {{{{ who }}}}"),
                        Some(&version),
                    );
                    session.close(alice);
                    outcome.map(|o| o.map(|v| format!("{i}:{v}")))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("writer panicked")))
            })
            .collect()
    });
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for outcome in outcomes {
        match outcome? {
            Ok(won) => winners.push(won),
            Err(text) if text.contains("changed: expected version") => conflicts += 1,
            Err(text) => bail!("a conflicting save failed otherwise: {text}"),
        }
    }
    println!(
        "cluster: {WRITERS} concurrent saves: {} won, {conflicts} got the version conflict",
        winners.len()
    );
    ensure!(
        winners.len() == 1 && conflicts == WRITERS - 1,
        "winners {winners:?}, conflicts {conflicts}"
    );
    let (writer_index, _) = winners[0].split_once(':').context("winner")?;
    let expected_body = format!("writer {writer_index} {{{{ who }}}}");
    for reader in readers.iter_mut().chain(std::iter::once(&mut writer)) {
        let deadline = Instant::now() + STALENESS_BOUND * 5;
        loop {
            let got = reader.call_ok(alice, "get_template", json!({"name": name}))?;
            let text = got["body"].as_str().unwrap_or_default();
            if text == expected_body {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "stored body is not the winner's, byte for byte ({expected_body:?}): {text:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    // 6. kill -9 of replica 3 under a bounded load through the balancer:
    //    writes and acknowledged saves survive, the session goes on.
    let mut load = Session::open(&http, &env.resource, alice)?;
    let (mut failed_reads, mut failed_writes) = (0usize, 0usize);
    let mut acknowledged = Vec::new();
    for i in 0..150 {
        if i == 30 {
            cluster.replicas[2].kill();
        }
        if i % 5 == 0 {
            let saved = format!("e2e-cluster-load-{run}-{i}");
            match save(&mut load, alice, &saved, "load {{ who }}", None) {
                Ok(Ok(_)) => acknowledged.push(saved),
                Ok(Err(text)) => bail!("a save under load was refused: {text}"),
                Err(e) => {
                    failed_writes += 1;
                    eprintln!("cluster: write {i} failed: {e:#}");
                }
            }
        } else if let Err(e) = load.call_ok(alice, "render_template", render_args()?) {
            failed_reads += 1;
            eprintln!("cluster: read {i} failed: {e:#}");
        }
    }
    for saved in &acknowledged {
        load.call_ok(alice, "get_template", json!({"name": saved}))
            .with_context(|| format!("acknowledged save {saved} lost"))?;
    }
    println!(
        "cluster: kill -9 of replica 3 under load: {failed_writes} failed writes, {failed_reads} failed reads of 120, {} acknowledged saves all readable",
        acknowledged.len()
    );
    ensure!(failed_writes == 0, "{failed_writes} writes failed");
    // A read in flight on the killed replica may fail; no other may.
    ensure!(failed_reads <= 1, "{failed_reads} reads failed");
    if let Some(what) = cluster.exited().filter(|w| !w.starts_with("replica 3")) {
        bail!("{what}");
    }

    postgres_outage(&mut cluster, &http, &mut load, alice, &acknowledged)?;
    redis_restart(&mut cluster, &http, &env.resource, &mut load, alice)?;
    load.close(alice);
    Ok(())
}

/// 7. PostgreSQL stopped under load: reads keep serving cached templates,
///    writes fail with a typed tool error (HTTP 200, `isError`, never a
///    500), `/readyz` names the store; after the restart writes work again
///    and no acknowledged save is lost.
fn postgres_outage(
    cluster: &mut Cluster,
    http: &Http,
    load: &mut Session,
    alice: &str,
    acknowledged: &[String],
) -> anyhow::Result<()> {
    let survivors: Vec<String> = cluster.replicas[..2]
        .iter()
        .map(|r| r.base.clone())
        .collect();
    cluster.backing.stop_postgres();
    let (mut reads, mut refused_writes) = (0, 0);
    for i in 0..20 {
        load.call_ok(alice, "render_template", render_args()?)
            .with_context(|| format!("render {i} with PostgreSQL down"))?;
        reads += 1;
        if i % 4 == 0 {
            match save(
                load,
                alice,
                &format!("e2e-cluster-outage-{i}"),
                "x {{ who }}",
                None,
            )? {
                Err(text) if text.contains("template database is unavailable") => {
                    refused_writes += 1;
                }
                Err(text) => bail!("a write with PostgreSQL down: {text}"),
                Ok(version) => bail!("a write with PostgreSQL down was acknowledged ({version})"),
            }
        }
    }
    for base in &survivors {
        let reply = http.get(&format!("{base}/readyz"), None)?;
        let body = reply.json()?;
        ensure!(
            reply.status == 200 && body["status"] == "degraded" && body["store"] == "unavailable",
            "{base}/readyz with PostgreSQL down: HTTP {} {body}",
            reply.status
        );
    }
    println!(
        "cluster: PostgreSQL down: {reads} reads served from memory, {refused_writes} writes refused with a typed error"
    );

    cluster.backing.start_postgres()?;
    let restarted = Instant::now();
    for base in &survivors {
        loop {
            let body = http.get(&format!("{base}/readyz"), None)?.json()?;
            if body["store"] == "ok" {
                break;
            }
            ensure!(
                restarted.elapsed() < Duration::from_secs(60),
                "{base} still reports the store {body} after PostgreSQL's restart"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let name = format!("e2e-cluster-after-outage-{}", std::process::id());
    let version = loop {
        match save(load, alice, &name, "back {{ who }}", None)? {
            Ok(version) => break version,
            Err(text) if restarted.elapsed() < Duration::from_secs(30) => {
                eprintln!("cluster: write after restart refused, retrying: {text}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(text) => bail!("writes did not recover after PostgreSQL's restart: {text}"),
        }
    };
    for saved in acknowledged {
        load.call_ok(alice, "get_template", json!({"name": saved}))
            .with_context(|| format!("acknowledged save {saved} lost over the outage"))?;
    }
    println!(
        "cluster: PostgreSQL back: writes recovered after {:?} ({name} at {version}), {} acknowledged saves all readable",
        restarted.elapsed(),
        acknowledged.len()
    );
    Ok(())
}

/// 8. Redis restarted (no persistence): a session created before fails
///    with the transport's 404 on every replica within the recheck period,
///    and the client initializes again and goes on across the replicas.
fn redis_restart(
    cluster: &mut Cluster,
    http: &Http,
    resource: &str,
    load: &mut Session,
    alice: &str,
) -> anyhow::Result<()> {
    load.call_ok(alice, "render_template", render_args()?)
        .context("the session before Redis's restart")?;
    cluster.backing.restart_redis()?;
    let restarted = Instant::now();
    let mut served_after = 0;
    loop {
        let reply = load.call(alice, "render_template", render_args()?)?;
        if reply.status == 404 {
            break;
        }
        ensure!(
            reply.status == 200,
            "HTTP {} {}",
            reply.status,
            preview(&reply.body)
        );
        served_after += 1;
        ensure!(
            restarted.elapsed() < Duration::from_secs(10),
            "an old session was still served {:?} after Redis lost it",
            restarted.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "cluster: Redis restarted: the old session got 404 after {:?} ({served_after} requests still served by the replica holding it)",
        restarted.elapsed()
    );
    let mut fresh = Session::open(http, resource, alice)?;
    for _ in 0..6 {
        fresh.call_ok(alice, "render_template", render_args()?)?;
    }
    fresh.close(alice);
    Ok(())
}
