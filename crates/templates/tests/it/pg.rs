//! [`PgStore`] against a real PostgreSQL server: a throwaway cluster per
//! test ([`TestPostgres`]). Without the server binaries every test here
//! fails and says how to install them.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use templates::{
    PgOptions, PgStore, SaveOutcome, StoreError, StoreLimits, TemplateDraft, TemplateName,
    TemplateStore, VariableSpec, Version,
};
use test_postgres::TestPostgres;

/// The store's view of a [`TestPostgres`].
trait Stores {
    fn store(&self) -> PgStore;
    fn store_with(&self, limits: StoreLimits, resync: Duration) -> PgStore;
    /// A connection of the test's own, behind the stores' backs.
    fn sql(&self) -> postgres::Client;
}

impl Stores for TestPostgres {
    fn store(&self) -> PgStore {
        self.store_with(StoreLimits::default(), Duration::from_secs(3600))
    }

    fn store_with(&self, limits: StoreLimits, resync: Duration) -> PgStore {
        let mut options = PgOptions::new(self.url(), limits);
        options.resync_interval = resync;
        PgStore::open(options).expect("open the store")
    }

    fn sql(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).expect("connect")
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn name(raw: &str) -> TemplateName {
    TemplateName::parse(raw).expect("name")
}

fn draft(title: &str, body: &str) -> TemplateDraft {
    TemplateDraft {
        title: title.to_owned(),
        description: "A test template.".to_owned(),
        tags: vec!["test".to_owned()],
        filename: None,
        variables: vec![VariableSpec {
            name: "who".to_owned(),
            description: "Who is greeted".to_owned(),
            required: true,
            default: None,
        }],
        body: body.to_owned(),
    }
}

fn version_of(outcome: &SaveOutcome) -> Version {
    outcome.meta().version.clone()
}

/// Polls `check` until it holds or `limit` passes; how long it took.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// The store seam's contract (`TemplateStore`), as the filesystem store
/// keeps it: create, conflict on re-create, replace by version, conflict on
/// a stale version, delete by version, not-found after.
#[test]
fn pg_store_keeps_the_store_contract() {
    let pg = TestPostgres::start();
    let store = pg.store();
    let greeting = name("greeting");

    let created = store
        .save(&greeting, draft("Greeting", "Hello {{ who }}!\n"), None)
        .expect("create");
    assert!(matches!(created, SaveOutcome::Created(_)));
    let v1 = version_of(&created);
    let got = store.get(&greeting).expect("get");
    assert_eq!(got.meta.version, v1);
    assert_eq!(got.body, "Hello {{ who }}!\n");
    assert_eq!(store.list().expect("list").len(), 1);

    match store.save(&greeting, draft("Again", "Hi {{ who }}\n"), None) {
        Err(StoreError::Conflict {
            expected: None,
            current: Some(current),
            ..
        }) => assert_eq!(current, v1),
        other => panic!("re-create: {other:?}"),
    }
    let updated = store
        .save(&greeting, draft("Greeting", "Hi {{ who }}!\n"), Some(&v1))
        .expect("update");
    assert!(matches!(updated, SaveOutcome::Updated(_)));
    let v2 = version_of(&updated);
    assert_ne!(v1, v2);
    match store.save(&greeting, draft("Stale", "Yo {{ who }}\n"), Some(&v1)) {
        Err(StoreError::Conflict {
            expected: Some(expected),
            current: Some(current),
            ..
        }) => assert_eq!((expected, current), (v1.clone(), v2.clone())),
        other => panic!("stale update: {other:?}"),
    }
    assert!(matches!(
        store.delete(&greeting, &v1),
        Err(StoreError::Conflict { .. })
    ));
    store.delete(&greeting, &v2).expect("delete");
    assert!(matches!(store.get(&greeting), Err(StoreError::NotFound(_))));
    assert!(store.list().expect("list").is_empty());
    assert!(matches!(
        store.save(&greeting, draft("Gone", "x {{ who }}\n"), Some(&v2)),
        Err(StoreError::NotFound(_))
    ));

    // The row is the file format, and the version its content hash: the
    // same bytes the filesystem store would write, so a template moves
    // between backends with its version.
    let saved = store
        .save(&greeting, draft("Greeting", "Hello {{ who }}!\n"), None)
        .expect("re-create");
    let row = pg
        .sql()
        .query_one(
            "SELECT version, source FROM mcp_templates WHERE name = 'greeting'",
            &[],
        )
        .expect("row");
    let (version, source): (String, String) = (row.get(0), row.get(1));
    assert_eq!(version, version_of(&saved).as_str());
    assert_eq!(Version::of_bytes(source.as_bytes()), version_of(&saved));
    assert_eq!(version_of(&saved), v1, "equal content, equal version");
}

#[test]
fn pg_store_refuses_the_template_past_its_limit() {
    let pg = TestPostgres::start();
    let limits = StoreLimits {
        max_templates: 1,
        ..StoreLimits::default()
    };
    let store = pg.store_with(limits, Duration::from_secs(3600));
    store
        .save(&name("one"), draft("One", "1 {{ who }}\n"), None)
        .expect("first");
    assert!(matches!(
        store.save(&name("two"), draft("Two", "2 {{ who }}\n"), None),
        Err(StoreError::TooManyTemplates { limit: 1 })
    ));
}

/// Issue 12: 20 concurrent conflicting saves of one template through two
/// replicas give exactly one winner; every other save gets the version
/// conflict naming the winner's version, and the stored text is the
/// winner's, byte for byte, on both replicas.
#[test]
fn concurrent_conflicting_saves_through_two_replicas_have_one_winner() {
    let pg = TestPostgres::start();
    let replicas = [Arc::new(pg.store()), Arc::new(pg.store())];
    let doc = name("contended");
    let v1 = version_of(
        &replicas[0]
            .save(&doc, draft("Contended", "base {{ who }}\n"), None)
            .expect("seed"),
    );

    let start = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&replicas[i % 2]);
            let (doc, v1, start) = (doc.clone(), v1.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                let body = format!("writer {i} {{{{ who }}}}\n");
                start.wait();
                (i, store.save(&doc, draft("Contended", &body), Some(&v1)))
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("writer thread"))
        .collect();

    let winners: Vec<_> = results
        .iter()
        .filter_map(|(i, r)| r.as_ref().ok().map(|o| (*i, version_of(o))))
        .collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let (winner, winning_version) = winners[0].clone();
    for (i, result) in &results {
        if *i == winner {
            continue;
        }
        match result {
            Err(StoreError::Conflict {
                expected: Some(expected),
                current: Some(current),
                ..
            }) => {
                assert_eq!(expected, &v1);
                assert_eq!(current, &winning_version, "writer {i}");
            }
            other => panic!("writer {i}: {other:?}"),
        }
    }
    let expected_body = format!("writer {winner} {{{{ who }}}}\n");
    let row = pg
        .sql()
        .query_one(
            "SELECT source FROM mcp_templates WHERE name = 'contended'",
            &[],
        )
        .expect("row");
    let source: String = row.get(0);
    assert!(source.ends_with(&expected_body), "stored: {source:?}");
    for replica in &replicas {
        let served = eventually(Duration::from_secs(10), || {
            replica
                .get(&doc)
                .is_ok_and(|t| t.meta.version == winning_version)
        });
        assert!(served.is_some(), "a replica kept serving a loser's version");
        assert_eq!(replica.get(&doc).expect("get").body, expected_body);
    }
}

/// A save through one replica is served by another from its notification
/// alone (its resync is an hour away). The staleness is measured and
/// printed; the 10 s bound only tells a lost notification from a slow one.
#[test]
fn a_save_on_one_replica_is_served_by_another_through_notify() {
    let pg = TestPostgres::start();
    let (a, b) = (pg.store(), pg.store());
    let doc = name("shared");
    let v1 = version_of(
        &a.save(&doc, draft("Shared", "one {{ who }}\n"), None)
            .expect("create"),
    );
    // B learns of it (by notification or, on a miss, from the database).
    assert!(eventually(Duration::from_secs(10), || b.get(&doc).is_ok()).is_some());

    let mut worst = Duration::ZERO;
    let mut version = v1;
    for round in 0..5 {
        let body = format!("round {round} {{{{ who }}}}\n");
        version = version_of(
            &a.save(&doc, draft("Shared", &body), Some(&version))
                .expect("update"),
        );
        let took = eventually(Duration::from_secs(10), || {
            b.get(&doc).is_ok_and(|t| t.meta.version == version)
        })
        .unwrap_or_else(|| panic!("round {round}: replica B never served the save"));
        worst = worst.max(took);
    }
    eprintln!("pg notify: replica B served each of 5 saves within {worst:?}");
    a.delete(&doc, &version).expect("delete");
    assert!(
        eventually(Duration::from_secs(10), || b
            .list()
            .is_ok_and(|l| l.is_empty()))
        .is_some(),
        "replica B still lists a deleted template"
    );
}

/// A change that sent no notification (made behind the stores' backs) is
/// picked up by the periodic resync, and a database restart is survived:
/// writes reconnect, and the listener reconnects, resyncs and hears again.
#[test]
fn resync_repairs_a_missed_notification_and_restarts_are_survived() {
    let pg = TestPostgres::start();
    let a = pg.store();
    let b = pg.store_with(StoreLimits::default(), Duration::from_secs(1));
    let doc = name("behind");
    let v1 = version_of(
        &a.save(&doc, draft("Behind", "one {{ who }}\n"), None)
            .expect("create"),
    );
    assert!(eventually(Duration::from_secs(10), || b.get(&doc).is_ok()).is_some());

    // Rewrite the row without NOTIFY: only B's resync can see it.
    let text = "+++\ntitle = \"Behind\"\n\n[[variables]]\nname = \"who\"\nrequired = true\n+++\nedited {{ who }}\n";
    let edited = Version::of_bytes(text.as_bytes());
    pg.sql()
        .execute(
            "UPDATE mcp_templates SET source = $1, version = $2 WHERE name = 'behind'",
            &[&text, &edited.as_str()],
        )
        .expect("update behind the stores' backs");
    assert!(
        eventually(Duration::from_secs(15), || b
            .get(&doc)
            .is_ok_and(|t| t.meta.version == edited))
        .is_some(),
        "the resync never picked up the silent change"
    );

    pg.stop_server();
    let refused = a.save(&doc, draft("Behind", "down {{ who }}\n"), Some(&edited));
    match refused {
        Err(StoreError::Backend { message }) => {
            assert!(!message.contains("password"), "{message}");
        }
        other => panic!("save with the database down: {other:?}"),
    }
    // Reads keep being served from memory meanwhile.
    assert_eq!(
        b.get(&doc).expect("served from memory").meta.version,
        edited
    );
    pg.start_server();

    let v3 = version_of(
        &a.save(&doc, draft("Behind", "back {{ who }}\n"), Some(&edited))
            .expect("save after the restart reconnects"),
    );
    assert_ne!(v3, v1);
    assert!(
        eventually(Duration::from_secs(45), || b
            .get(&doc)
            .is_ok_and(|t| t.meta.version == v3))
        .is_some(),
        "replica B never caught up after the restart"
    );
}

/// A database that cannot be reached is a `Backend` error naming the
/// failure, without the connection string's password.
#[test]
fn unreachable_database_is_a_backend_error_without_the_password() {
    let port = free_port();
    let mut options = PgOptions::new(
        format!("host=127.0.0.1 port={port} user=mcp password=hunter2 dbname=postgres"),
        StoreLimits::default(),
    );
    options.connect_timeout = Duration::from_secs(2);
    assert!(!format!("{options:?}").contains("hunter2"));
    match PgStore::open(options) {
        Err(StoreError::Backend { message }) => {
            assert!(!message.contains("hunter2"), "{message}");
            assert!(message.starts_with("postgres: "), "{message}");
        }
        Err(other) => panic!("expected a backend error, got {other:?}"),
        Ok(_) => panic!("opened a store on a closed port"),
    }
    assert!(matches!(
        PgStore::open(PgOptions::new("port=notanumber", StoreLimits::default())),
        Err(StoreError::Backend { .. })
    ));
}
