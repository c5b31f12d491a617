//! Two replicas on one PostgreSQL template store (issue 12): a save through
//! one is rendered by the other, a conflicting save through the other gets
//! the version conflict, and while the database is down `/readyz` says
//! `degraded` with the store `unavailable`, renders keep being served from
//! memory and a save is a tool error, never a 500. Each replica has its own
//! in-process issuer; what they share is the database ([`TestPostgres`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use test_postgres::TestPostgres;

use mcp_file_templates::config::Secret;
use mcp_file_templates::deps;
use templates::{StoreLimits, TemplateStore as _};

use super::support::{Fixture, HOST, call, tool_text};

const BOTH: &str = "mcp:tools templates:write";

async fn replica(pg: &TestPostgres) -> Fixture {
    let store = deps::open_postgres(
        &Secret::new(pg.url()),
        Duration::from_secs(3600),
        StoreLimits::default(),
    )
    .expect("open the postgres store");
    Fixture::start_with_store(&[], |_| {}, Some(Arc::new(store))).await
}

async fn readyz(f: &Fixture) -> (StatusCode, Value) {
    let reply = f
        .send(
            Request::get("/readyz")
                .header(header::HOST, HOST)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    let body = serde_json::from_str(&reply.body).expect("readyz JSON");
    (reply.status, body)
}

fn note(text: &str) -> Value {
    json!({
        "name": "shared-note", "title": "Shared note", "description": "Saved through one replica",
        "variables": [{"name": "who", "required": true}],
        "body": format!("{text} {{{{ who }}}}"),
    })
}

/// The structured result of a successful tool call.
fn structured(answer: &Value) -> &Value {
    let (is_error, text) = tool_text(answer);
    assert!(!is_error, "tool error: {text}");
    &answer["result"]["structuredContent"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_templates_through_postgres_and_survive_its_outage() {
    let pg = TestPostgres::start();
    let (a, b) = (replica(&pg).await, replica(&pg).await);
    let (token_a, token_b) = (a.token(BOTH), b.token(BOTH));

    let (status, answer) = call(&a.router, &token_a, "save_template", note("Hello")).await;
    assert_eq!(status, StatusCode::OK);
    let v1 = structured(&answer)["version"]
        .as_str()
        .expect("version")
        .to_owned();

    // Replica B has never seen it: its first read goes to the database.
    let args = json!({"name": "shared-note", "variables": {"who": "Ada"}});
    let (_, answer) = call(&b.router, &token_b, "render_template", args.clone()).await;
    assert_eq!(structured(&answer)["text"], "Hello Ada");

    // An update through A reaches B by notification.
    let mut update = note("Hi");
    update["expected_version"] = v1.clone().into();
    let (_, answer) = call(&a.router, &token_a, "save_template", update).await;
    let v2 = structured(&answer)["version"]
        .as_str()
        .expect("version")
        .to_owned();
    let start = Instant::now();
    loop {
        let (_, answer) = call(&b.router, &token_b, "render_template", args.clone()).await;
        if structured(&answer)["text"] == "Hi Ada" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "replica B kept rendering the old version"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A stale save through B is the same version conflict as on one replica.
    let mut stale = note("Stale");
    stale["expected_version"] = v1.into();
    let (status, answer) = call(&b.router, &token_b, "save_template", stale).await;
    assert_eq!(status, StatusCode::OK);
    let (is_error, text) = tool_text(&answer);
    assert!(
        is_error && text.contains(&v2),
        "stale save through B: {text}"
    );

    let (status, body) = readyz(&b).await;
    assert_eq!((status, &body["store"]), (StatusCode::OK, &json!("ok")));

    // The database goes away.
    pg.stop_server();
    let (status, body) = readyz(&b).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["store"], "unavailable", "{body}");
    let (_, answer) = call(&b.router, &token_b, "render_template", args.clone()).await;
    assert_eq!(
        structured(&answer)["text"],
        "Hi Ada",
        "renders are served from memory"
    );
    let mut update = note("Down");
    update["expected_version"] = v2.into();
    let (status, answer) = call(&a.router, &token_a, "save_template", update).await;
    assert_eq!(status, StatusCode::OK);
    let (is_error, text) = tool_text(&answer);
    assert!(is_error, "a save without the database: {text}");
    assert!(
        text.contains("template database is unavailable"),
        "the tool error says what is wrong: {text}"
    );
    assert!(
        !text.contains("127.0.0.1") && !text.contains("postgres"),
        "the tool error tells the caller nothing about our database: {text}"
    );

    pg.start_server();
    let start = Instant::now();
    loop {
        let (_, body) = readyz(&b).await;
        if body["store"] == "ok" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "readyz never recovered: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // What B's /metrics says about all this: it read from the database,
    // heard A's update, saw the outage fail its health checks, and its
    // listener connected again after the restart.
    assert!(sample_now(&b, "mcp_store_db_calls_total").await >= 3);
    assert!(sample_now(&b, "mcp_store_db_errors_total").await >= 1);
    assert!(sample_now(&b, "mcp_store_db_micros_total").await > 0);
    assert!(sample_now(&b, "mcp_store_notifications_total").await >= 1);
    let start = Instant::now();
    while sample_now(&b, "mcp_store_listener_connects_total").await < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(45),
            "the listener never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One counter from a fresh `/metrics` scrape.
async fn sample_now(f: &Fixture, name: &str) -> u64 {
    let text = f
        .send(
            Request::get("/metrics")
                .header(header::HOST, HOST)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .body;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// `mcp-file-templates templates import DIR` seeds the database from the
/// shipped templates (a second import changes nothing), a replica serves
/// them, and `export DIR` writes them back as files the directory store
/// reads as the same templates.
#[tokio::test]
async fn templates_import_and_export_round_trip_the_shipped_templates() {
    let pg = TestPostgres::start();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    let expected = templates::FsStore::open(shipped.clone(), StoreLimits::default())
        .expect("shipped templates")
        .list()
        .expect("list")
        .iter()
        .map(|m| m.name.as_str().to_owned())
        .collect::<Vec<_>>();
    assert!(expected.len() >= 5, "shipped: {expected:?}");

    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-file-templates"))
            .arg("templates")
            .args(args)
            .env("MCP_STORE_POSTGRES_URL", pg.url())
            .output()
            .expect("run the binary");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["import".as_ref(), shipped.as_os_str()]);
    assert_eq!(code, Some(0), "import: {stdout}{stderr}");
    assert!(
        stdout.starts_with(&format!("created: {} (", expected.len())),
        "{stdout}"
    );
    let (code, stdout, _) = run(&["import".as_ref(), shipped.as_os_str()]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.starts_with(&format!("unchanged: {} (", expected.len())),
        "{stdout}"
    );

    let replica = replica(&pg).await;
    let listed = deps::open_postgres(
        &Secret::new(pg.url()),
        Duration::from_secs(3600),
        StoreLimits::default(),
    )
    .expect("open")
    .list()
    .expect("list")
    .iter()
    .map(|m| m.name.as_str().to_owned())
    .collect::<Vec<_>>();
    assert_eq!(listed, expected);
    let token = replica.token(BOTH);
    let (_, answer) = call(
        &replica.router,
        &token,
        "render_template",
        json!({"name": "readme", "variables": {"project": "Atlas", "summary": "Maps"}}),
    )
    .await;
    assert!(
        structured(&answer)["text"]
            .as_str()
            .is_some_and(|t| t.contains("Atlas")),
        "{answer}"
    );

    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("exported");
    let (code, stdout, stderr) = run(&["export".as_ref(), target.as_os_str()]);
    assert_eq!(code, Some(0), "export: {stdout}{stderr}");
    let exported = templates::FsStore::open(target, StoreLimits::default()).expect("exported");
    let shipped = templates::FsStore::open(shipped, StoreLimits::default()).expect("shipped");
    for name in &expected {
        let name = templates::TemplateName::parse(name).expect("name");
        let (a, b) = (
            exported.get(&name).expect("exported template"),
            shipped.get(&name).expect("shipped template"),
        );
        assert_eq!(
            templates::TemplateDraft::from(a),
            templates::TemplateDraft::from(b),
            "{name}"
        );
    }
}
