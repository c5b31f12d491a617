//! Unit tests of the store: names, the file format, versions and
//! concurrency, rendering limits, and the shipped templates.

// A failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value, json};

use super::format::parse_file;
use super::render::sanitize_filename;
use super::*;

fn name(s: &str) -> TemplateName {
    match TemplateName::parse(s) {
        Ok(n) => n,
        Err(e) => panic!("{s:?} should be a valid name: {e}"),
    }
}

fn var(name: &str, required: bool, default: Option<&str>) -> VariableSpec {
    VariableSpec {
        name: name.to_owned(),
        description: format!("the {name}"),
        required,
        default: default.map(str::to_owned),
    }
}

fn draft(title: &str, body: &str, variables: Vec<VariableSpec>) -> TemplateDraft {
    TemplateDraft {
        title: title.to_owned(),
        description: "A test template.".to_owned(),
        tags: vec!["test".to_owned(), "en".to_owned()],
        filename: None,
        variables,
        body: body.to_owned(),
    }
}

fn simple_draft(title: &str) -> TemplateDraft {
    draft(title, "Hello {{ who }}!\n", vec![var("who", true, None)])
}

fn open(dir: &Path) -> FsStore {
    match FsStore::open(dir.to_owned(), StoreLimits::default()) {
        Ok(store) => store,
        Err(e) => panic!("open {}: {e}", dir.display()),
    }
}

fn temp_store() -> (tempfile::TempDir, FsStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    (dir, store)
}

fn vars(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn template(body: &str, variables: Vec<VariableSpec>, filename: Option<&str>) -> Template {
    Template {
        meta: TemplateMeta {
            name: name("t"),
            title: "T".to_owned(),
            description: String::new(),
            tags: Vec::new(),
            filename: filename.map(str::to_owned),
            variables,
            version: Version::of_bytes(body.as_bytes()),
        },
        body: body.to_owned(),
    }
}

fn fixed_now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-27T09:30:00+09:00").unwrap()
}

fn save_ok(
    store: &FsStore,
    n: &TemplateName,
    d: TemplateDraft,
    expected: Option<&Version>,
) -> SaveOutcome {
    match store.save(n, d, expected) {
        Ok(outcome) => outcome,
        Err(e) => panic!("save {n}: {e}"),
    }
}

fn entries_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn rejects_traversal_names() {
    let long = "a".repeat(65);
    let cases: &[(&str, &str)] = &[
        ("..", "`..`"),
        (".", "directory itself"),
        ("../x", "`..`"),
        ("a/../b", "`..`"),
        ("a..b", "`..`"),
        ("/etc/passwd", "absolute path"),
        ("\\\\server\\share", "absolute path"),
        ("C:\\x", "absolute path"),
        ("a/b", "path separator '/'"),
        ("a\\b", "path separator '\\\\'"),
        ("a\0b", "NUL byte"),
        ("", "empty"),
        (&long, "65 bytes long; the limit is 64"),
        ("CON", "uppercase 'C'"),
        ("con", "reserved device name"),
        ("nul", "reserved device name"),
        ("aux.notes", "reserved device name"),
        ("com1", "reserved device name"),
        ("lpt9", "reserved device name"),
        ("ｒeadme", "looks like 'r'"),
        ("rеadme", "looks like 'e'"), // Cyrillic U+0435
        ("read me", "' ' at byte 4 is not allowed"),
        ("Readme", "uppercase 'R'"),
        ("-readme", "must start with a-z or 0-9"),
        ("readme.", "ends with '.'"),
        ("readme.md", "without the extension"),
        ("tab\tname", "control character U+0009"),
        ("日報", "non-ASCII character '日'"),
    ];
    for (raw, want) in cases {
        match TemplateName::parse(raw) {
            Ok(n) => panic!("{raw:?} was accepted as {n}"),
            Err(StoreError::InvalidName { reason, .. }) => {
                assert!(
                    reason.contains(want),
                    "{raw:?}: reason {reason:?} lacks {want:?}"
                );
            }
            Err(other) => panic!("{raw:?}: unexpected error {other}"),
        }
    }
}

#[test]
fn accepts_valid_slugs() {
    let long = "a".repeat(MAX_NAME_LEN);
    for raw in [
        "readme",
        "a",
        "0",
        "meeting-minutes",
        "adr_0001",
        "v1.2.3",
        "console",
        "com10",
        "nul-terminated",
        long.as_str(),
    ] {
        let n = name(raw);
        assert_eq!(n.as_str(), raw);
        assert_eq!(n.file_name(), format!("{raw}.md"));
    }
    // Serde goes through the same validation.
    assert!(serde_json::from_value::<TemplateName>(json!("../x")).is_err());
    assert_eq!(
        serde_json::from_value::<TemplateName>(json!("adr")).unwrap(),
        name("adr")
    );
}

#[test]
fn front_matter_errors_name_the_problem() {
    let good_vars = "[[variables]]\nname = \"who\"\nrequired = true\n";
    let cases: Vec<(String, &str)> = vec![
        ("title = \"x\"\n+++\nbody\n".to_owned(), "line 1: a template file starts with a `+++` line"),
        ("+++\ntitle = \"x\"\nbody\n".to_owned(), "never closed by a `+++` line"),
        ("+++\ntitl = \"x\"\n+++\nbody\n".to_owned(), "front matter line 2: unknown field `titl`"),
        ("+++\ntitle = \"x\"\ntags = \"en\"\n+++\nbody\n".to_owned(), "front matter line 3: invalid type"),
        ("+++\ntitle = \"x\"\n[[variables]]\nname = \"a\"\nrequird = true\n+++\nbody\n".to_owned(), "front matter line 5: unknown field `requird`"),
        ("+++\ndescription = \"x\"\n+++\nbody\n".to_owned(), "missing field `title`"),
        ("+++\ntitle = \"  \"\n+++\nbody\n".to_owned(), "title is empty"),
        (format!("+++\ntitle = \"{}\"\n+++\nbody\n", "x".repeat(201)), "title is 201 characters long; the limit is 200"),
        ("+++\ntitle = \"x\"\ntags = [\"Meeting\"]\n+++\nbody\n".to_owned(), "tags[0] \"Meeting\": contains 'M'"),
        ("+++\ntitle = \"x\"\ntags = [\"en\", \"en\"]\n+++\nbody\n".to_owned(), "tags[1] \"en\" is listed twice"),
        ("+++\ntitle = \"x\"\n[[variables]]\nname = \"1st\"\n+++\nbody\n".to_owned(), "variables[0] (\"1st\"): name starts with '1'"),
        ("+++\ntitle = \"x\"\n[[variables]]\nname = \"a-b\"\n+++\nbody\n".to_owned(), "name contains '-'"),
        ("+++\ntitle = \"x\"\n[[variables]]\nname = \"today\"\n+++\nbody\n".to_owned(), "variables[0] (\"today\"): name is reserved"),
        ("+++\ntitle = \"x\"\n[[variables]]\nname = \"a\"\n[[variables]]\nname = \"a\"\n+++\nbody\n".to_owned(), "variables[1] (\"a\"): declared twice"),
        ("+++\ntitle = \"x\"\n[[variables]]\nname = \"a\"\nrequired = true\ndefault = \"b\"\n+++\nbody\n".to_owned(), "is required and has a default"),
        ("+++\ntitle = \"x\"\n[[variables]]\nname = \"a\"\ndefault = \"{{ b }}\"\n+++\nbody\n".to_owned(), "a default may only use the helper values (today, now), not b"),
        (format!("+++\ntitle = \"x\"\n{good_vars}+++\nline one\n{{{{ who | }}}}\nline three\n"), "body line 2 (file line 8): syntax error"),
        (format!("+++\ntitle = \"x\"\nfilename = \"{{{{ who \"\n{good_vars}+++\nbody\n"), "filename does not compile: syntax error"),
        ("+++\ntitle = \"x\"\n+++\n  \n".to_owned(), "body is empty"),
    ];
    for (file, want) in &cases {
        match parse_file(&name("t"), file.as_bytes()) {
            Ok(_) => panic!("accepted:\n{file}"),
            Err(reason) => assert!(
                reason.contains(want),
                "reason {reason:?} lacks {want:?} for:\n{file}"
            ),
        }
    }
    match parse_file(&name("t"), b"+++\ntitle = \"\xff\"\n+++\nbody\n") {
        Ok(_) => panic!("accepted invalid UTF-8"),
        Err(reason) => assert!(
            reason.contains("not valid UTF-8 (first invalid byte at offset 13)"),
            "{reason}"
        ),
    }
    // CRLF line endings and a BOM are accepted; undeclared variables are only a warning on load.
    let parsed = parse_file(
        &name("t"),
        "\u{feff}+++\r\ntitle = \"x\"\r\n+++\r\nHi {{ who }}\r\n".as_bytes(),
    )
    .unwrap();
    assert_eq!(parsed.template.body, "Hi {{ who }}\r\n");
    assert_eq!(parsed.undeclared, vec!["who".to_owned()]);
}

#[test]
fn save_rejects_undeclared_variables_by_name() {
    let (_dir, store) = temp_store();
    let d = TemplateDraft {
        filename: Some("{{ stem }}.md".to_owned()),
        ..draft(
            "x",
            "{{ a }} {{ today }} {% for i in range(2) %}{{ loop.index }}{{ b }}{% endfor %}",
            vec![var("a", true, None)],
        )
    };
    match store.save(&name("t"), d, None) {
        Err(StoreError::Invalid { reason }) => {
            assert!(
                reason.contains("undeclared variables: b, stem;"),
                "{reason}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(entries_in(store.dir()), Vec::<String>::new());
}

#[test]
fn version_changes_with_content() {
    let a = Version::of_bytes(b"+++\ntitle = \"a\"\n+++\nx\n");
    let b = Version::of_bytes(b"+++\ntitle = \"b\"\n+++\nx\n");
    assert_ne!(a, b);
    assert_eq!(a, Version::of_bytes(b"+++\ntitle = \"a\"\n+++\nx\n"));
    // sha256("") = e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 ...
    assert_eq!(
        Version::of_bytes(b"").as_str(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb924"
    );
    assert_eq!(Version::parse(a.as_str()).unwrap(), a);
    for bad in [
        "",
        "sha256:",
        "md5:e3b0c44298fc1c149afbf4c8996fb924",
        "sha256:E3B0C44298FC1C149AFBF4C8996FB924",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92",
        "sha256:e3b0c44298fc1c149afbf4c8996fb924z",
    ] {
        assert!(
            matches!(Version::parse(bad), Err(StoreError::InvalidVersion { .. })),
            "{bad:?} accepted"
        );
    }

    let (_dir, store) = temp_store();
    let n = name("greeting");
    let v1 = save_ok(&store, &n, simple_draft("One"), None)
        .meta()
        .version
        .clone();
    let v2 = save_ok(&store, &n, simple_draft("Two"), Some(&v1))
        .meta()
        .version
        .clone();
    assert_ne!(v1, v2);
    let on_disk = std::fs::read(store.dir().join("greeting.md")).unwrap();
    assert_eq!(Version::of_bytes(&on_disk), v2);
    assert_eq!(store.get(&n).unwrap().meta.version, v2);
}

#[test]
fn save_creates_then_conflicts_on_create_again() {
    let (_dir, store) = temp_store();
    let n = name("greeting");
    let created = save_ok(&store, &n, simple_draft("One"), None);
    let SaveOutcome::Created(meta) = &created else {
        panic!("expected Created, got {created:?}");
    };
    match store.save(&n, simple_draft("Two"), None) {
        Err(StoreError::Conflict {
            name: conflict,
            expected: None,
            current: Some(current),
        }) => {
            assert_eq!(conflict, n);
            assert_eq!(current, meta.version);
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let got = store.get(&n).unwrap();
    assert_eq!(got.meta.title, "One");
    assert_eq!(TemplateDraft::from(got), simple_draft("One"));
    // Updating something that does not exist is NotFound, not a create.
    let missing = name("missing");
    assert!(
        matches!(store.save(&missing, simple_draft("x"), Some(&meta.version)), Err(StoreError::NotFound(n)) if n == missing)
    );
}

#[test]
fn stale_expected_version_conflicts_and_changes_nothing() {
    let (_dir, store) = temp_store();
    let n = name("greeting");
    let v1 = save_ok(&store, &n, simple_draft("One"), None)
        .meta()
        .version
        .clone();
    let updated = save_ok(&store, &n, simple_draft("Two"), Some(&v1));
    assert!(matches!(updated, SaveOutcome::Updated(_)));
    let v2 = updated.meta().version.clone();
    let before = std::fs::read(store.dir().join("greeting.md")).unwrap();

    match store.save(&n, simple_draft("Three"), Some(&v1)) {
        Err(StoreError::Conflict {
            expected, current, ..
        }) => {
            assert_eq!(expected, Some(v1.clone()));
            assert_eq!(current, Some(v2.clone()));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(store.dir().join("greeting.md")).unwrap(),
        before
    );
    assert_eq!(store.get(&n).unwrap().meta.title, "Two");
}

#[test]
fn concurrent_saves_exactly_one_wins() {
    const THREADS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    // Two stores on one directory: their mutexes are separate, so only the
    // advisory file lock keeps their compare-then-write steps apart.
    let stores = [Arc::new(open(dir.path())), Arc::new(open(dir.path()))];
    let n = name("contended");
    let base = save_ok(&stores[0], &n, simple_draft("Base"), None)
        .meta()
        .version
        .clone();

    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            let barrier = Arc::clone(&barrier);
            let (n, base) = (n.clone(), base.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (
                    i,
                    store.save(&n, simple_draft(&format!("Writer {i}")), Some(&base)),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let winners: Vec<_> = results
        .iter()
        .filter_map(|(i, r)| match r {
            Ok(SaveOutcome::Updated(meta)) => Some((*i, meta.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "results: {results:?}");
    let (winner, meta) = &winners[0];
    for (i, r) in &results {
        if i == winner {
            continue;
        }
        match r {
            Err(StoreError::Conflict {
                expected, current, ..
            }) => {
                assert_eq!(expected.as_ref(), Some(&base));
                assert_eq!(current.as_ref(), Some(&meta.version));
            }
            other => panic!("writer {i}: expected Conflict, got {other:?}"),
        }
    }
    let bytes = std::fs::read(dir.path().join("contended.md")).unwrap();
    assert_eq!(Version::of_bytes(&bytes), meta.version);
    let on_disk = parse_file(&n, &bytes).unwrap().template;
    assert_eq!(on_disk.meta.title, format!("Writer {winner}"));
    for store in &stores {
        assert_eq!(store.get(&n).unwrap(), on_disk);
    }
}

#[test]
fn delete_requires_current_version() {
    let (_dir, store) = temp_store();
    let n = name("greeting");
    let v1 = save_ok(&store, &n, simple_draft("One"), None)
        .meta()
        .version
        .clone();
    let v2 = save_ok(&store, &n, simple_draft("Two"), Some(&v1))
        .meta()
        .version
        .clone();

    match store.delete(&n, &v1) {
        Err(StoreError::Conflict {
            expected, current, ..
        }) => {
            assert_eq!(expected, Some(v1.clone()));
            assert_eq!(current, Some(v2.clone()));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(store.dir().join("greeting.md").exists());

    store.delete(&n, &v2).unwrap();
    assert!(!store.dir().join("greeting.md").exists());
    assert!(matches!(store.get(&n), Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.delete(&n, &v2),
        Err(StoreError::NotFound(_))
    ));
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn atomic_write_leaves_no_temp_files() {
    let (_dir, store) = temp_store();
    let n = name("greeting");
    let mut version = save_ok(&store, &n, simple_draft("v0"), None)
        .meta()
        .version
        .clone();
    for i in 1..5 {
        version = save_ok(&store, &n, simple_draft(&format!("v{i}")), Some(&version))
            .meta()
            .version
            .clone();
    }
    let _ = store.save(&n, simple_draft("stale"), None);
    let _ = store.save(&n, draft("bad", "{% if %}", vec![]), Some(&version));
    save_ok(&store, &name("other"), simple_draft("x"), None);
    assert_eq!(
        entries_in(store.dir()),
        vec![".lock", "greeting.md", "other.md"]
    );
    #[cfg(unix)]
    {
        // The lock file is created on the first write, never at open, so
        // opening a read-only checkout (the shipped templates) writes nothing.
        let fresh = tempfile::tempdir().unwrap();
        let _store = open(fresh.path());
        assert_eq!(entries_in(fresh.path()), Vec::<String>::new());
    }
}

#[test]
fn save_round_trips_every_field() {
    let (_dir, store) = temp_store();
    let n = name("full");
    let d = TemplateDraft {
        title: "Ｆull \"quoted\" title — 日本語".to_owned(),
        description: "Line one.\nLine two with \"quotes\" and 'apostrophes' and \\ backslash."
            .to_owned(),
        tags: vec!["a".to_owned(), "b-c".to_owned()],
        filename: Some("{{ who }}-{{ today }}.md".to_owned()),
        variables: vec![
            var("who", true, None),
            var("greeting", false, Some("Hello \"{{ today }}\"")),
            var("extra", false, None),
        ],
        body: "+++\n{{ greeting }}, {{ who }}{{ extra }}\n+++ trailing\n".to_owned(),
    };
    save_ok(&store, &n, d.clone(), None);
    assert_eq!(TemplateDraft::from(store.get(&n).unwrap()), d);
    let fresh = open(store.dir());
    assert_eq!(TemplateDraft::from(fresh.get(&n).unwrap()), d);
    assert!(fresh.skipped().is_empty());
}

/// The names a listing holds, in its order.
fn listed(store: &FsStore) -> Vec<String> {
    store
        .list()
        .unwrap()
        .iter()
        .map(|m| m.name.to_string())
        .collect()
}

#[test]
fn external_edit_is_picked_up_by_get_at_once_and_by_list_at_refresh() {
    let (_dir, store) = temp_store();
    let n = name("greeting");
    let v1 = save_ok(&store, &n, simple_draft("One"), None)
        .meta()
        .version
        .clone();
    let path = store.dir().join("greeting.md");

    let edited = "+++\ntitle = \"Edited by hand, longer\"\n[[variables]]\nname = \"who\"\nrequired = true\n+++\nHi {{ who }}\n";
    std::fs::write(&path, edited).unwrap();
    // The listing is the index's: the edit is not in it yet.
    assert_eq!(store.list().unwrap().iter().next().unwrap().title, "One");
    let got = store.get(&n).unwrap();
    assert_eq!(got.meta.title, "Edited by hand, longer");
    assert_eq!(got.meta.version, Version::of_bytes(edited.as_bytes()));
    assert_ne!(got.meta.version, v1);
    // What `get` re-read is in the listing from then on.
    assert_eq!(
        store.list().unwrap().iter().next().unwrap().title,
        "Edited by hand, longer"
    );
    // A write based on the pre-edit version conflicts instead of clobbering the edit.
    assert!(matches!(
        store.save(&n, simple_draft("Mine"), Some(&v1)),
        Err(StoreError::Conflict { .. })
    ));

    let added = store.dir().join("added.md");
    std::fs::write(&added, "+++\ntitle = \"Added\"\n+++\nbody\n").unwrap();
    assert_eq!(listed(&store), ["greeting"]);
    store.refresh().unwrap();
    assert_eq!(listed(&store), ["added", "greeting"]);

    std::fs::remove_file(&added).unwrap();
    assert_eq!(listed(&store), ["added", "greeting"]);
    store.refresh().unwrap();
    assert_eq!(listed(&store), ["greeting"]);

    std::fs::remove_file(&path).unwrap();
    assert!(matches!(store.get(&n), Err(StoreError::NotFound(_))));
    assert!(store.list().unwrap().is_empty());
}

// See: issue 11, item 4: `list` rescanned the directory (a `stat` per file,
// up to max_templates) on every call.
#[test]
fn list_is_served_from_the_index_without_touching_the_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("templates");
    let store = open(&dir);
    save_ok(&store, &name("a"), simple_draft("A"), None);
    save_ok(&store, &name("b"), simple_draft("B"), None);
    // With the directory gone, a rescan could only fail.
    std::fs::rename(&dir, parent.path().join("moved")).unwrap();
    assert_eq!(listed(&store), ["a", "b"]);
    assert!(matches!(store.refresh(), Err(StoreError::Io { .. })));
    assert_eq!(listed(&store), ["a", "b"]);
}

#[test]
fn listing_follows_saves_and_deletes_through_the_store_at_once() {
    let (_dir, store) = temp_store();
    let a = name("a");
    let v1 = save_ok(&store, &a, simple_draft("A1"), None)
        .meta()
        .version
        .clone();
    assert_eq!(listed(&store), ["a"]);
    let v2 = save_ok(&store, &a, simple_draft("A2"), Some(&v1))
        .meta()
        .version
        .clone();
    let listing = store.list().unwrap();
    let meta = listing.iter().next().unwrap();
    assert_eq!((meta.title.as_str(), &meta.version), ("A2", &v2));
    save_ok(&store, &name("b"), simple_draft("B"), None);
    assert_eq!(listed(&store), ["a", "b"]);
    store.delete(&a, &v2).unwrap();
    assert_eq!(listed(&store), ["b"]);
    // A listing taken earlier is a snapshot: it does not change under its holder.
    assert_eq!(listing.len(), 1);
    assert_eq!(listing.iter().next().unwrap().title, "A2");
}

#[test]
fn refreshes_racing_saves_never_hide_a_saved_template() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refresher = {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut refreshes = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                store.refresh().unwrap();
                refreshes += 1;
            }
            refreshes
        })
    };
    let mut versions = Vec::new();
    for i in 0..40 {
        let n = name(&format!("t{i:02}"));
        versions.push(save_ok(&store, &n, simple_draft("T"), None));
        let listing = store.list().unwrap();
        assert_eq!(listing.len(), i + 1, "after saving {n}: {listing:?}");
    }
    for (i, saved) in versions.iter().enumerate().step_by(2) {
        store
            .delete(&saved.meta().name, &saved.meta().version)
            .unwrap();
        assert!(
            !listed(&store).contains(&format!("t{i:02}")),
            "t{i:02} still listed after its delete"
        );
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(refresher.join().unwrap() > 0);
    assert_eq!(store.list().unwrap().len(), 20);
}

#[test]
fn bad_file_on_disk_is_skipped_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    let write = |file: &str, text: &str| std::fs::write(dir.path().join(file), text).unwrap();
    write("good.md", "+++\ntitle = \"Good\"\n+++\nbody\n");
    write(
        "bad.md",
        "+++\ntitle = \"Bad\"\nauthor = \"me\"\n+++\nbody\n",
    );
    write("Bad Name.md", "+++\ntitle = \"x\"\n+++\nbody\n");
    write("notes.txt", "not a template");
    let limits = StoreLimits {
        max_template_bytes: 1024,
        max_templates: 10,
    };
    write(
        "huge.md",
        &format!("+++\ntitle = \"x\"\n+++\n{}\n", "x".repeat(2000)),
    );
    let store = FsStore::open(dir.path().to_owned(), limits).unwrap();

    assert_eq!(listed(&store), ["good"]);
    let skipped = store.skipped();
    let reason_for = |file: &str| -> String {
        let path: PathBuf = store.dir().join(file);
        skipped
            .iter()
            .find(|s| s.path == path)
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{file} not skipped: {skipped:?}"))
    };
    assert!(reason_for("bad.md").contains("front matter line 3: unknown field `author`"));
    assert!(reason_for("Bad Name.md").contains("uppercase 'B'"));
    assert!(reason_for("huge.md").contains("the limit is 1024 (max_template_bytes)"));
    assert_eq!(skipped.len(), 3, "{skipped:?}");

    match store.get(&name("bad")) {
        Err(StoreError::Invalid { reason }) => {
            assert!(
                reason.starts_with("bad.md: front matter line 3: unknown field `author`"),
                "{reason}"
            )
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    // A bad file can be repaired through the API by naming its version.
    let bad_version = Version::of_bytes(&std::fs::read(dir.path().join("bad.md")).unwrap());
    assert!(
        matches!(store.save(&name("bad"), simple_draft("Fixed"), None), Err(StoreError::Conflict { current: Some(v), .. }) if v == bad_version)
    );
    save_ok(
        &store,
        &name("bad"),
        simple_draft("Fixed"),
        Some(&bad_version),
    );
    assert_eq!(store.list().unwrap().len(), 2);
    assert_eq!(store.skipped().len(), 2);
}

#[test]
fn max_templates_refuses_another_create() {
    let dir = tempfile::tempdir().unwrap();
    let limits = StoreLimits {
        max_template_bytes: 1024,
        max_templates: 2,
    };
    let store = FsStore::open(dir.path().to_owned(), limits).unwrap();
    let v = save_ok(&store, &name("a"), simple_draft("a"), None)
        .meta()
        .version
        .clone();
    save_ok(&store, &name("b"), simple_draft("b"), None);
    assert!(matches!(
        store.save(&name("c"), simple_draft("c"), None),
        Err(StoreError::TooManyTemplates { limit: 2 })
    ));
    // Updates are still allowed at the limit, and oversized drafts are refused.
    save_ok(&store, &name("a"), simple_draft("a2"), Some(&v));
    let big = draft("big", &"x".repeat(2000), vec![]);
    assert!(matches!(
        store.save(&name("b"), big, None),
        Err(StoreError::TooLarge)
    ));
}

#[test]
fn render_reports_missing_required_by_name() {
    let t = template(
        "{{ zeta }} {{ alpha }} {{ mid }}",
        vec![
            var("zeta", true, None),
            var("alpha", true, None),
            var("mid", true, None),
        ],
        None,
    );
    let err = render(
        &t,
        &vars(&[("mid", json!("m")), ("alpha", Value::Null)]),
        &RenderLimits::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        RenderError::MissingVariables(vec!["alpha".to_owned(), "zeta".to_owned()])
    );
    assert_eq!(err.to_string(), "missing required variables: alpha, zeta");
}

#[test]
fn render_reports_unknown_variables_by_name() {
    let t = template("{{ who }}", vec![var("who", true, None)], None);
    let given = vars(&[
        ("who", json!("x")),
        ("zzz", json!(1)),
        ("today", json!("d")),
        ("aaa", json!(true)),
    ]);
    let err = render(&t, &given, &RenderLimits::default()).unwrap_err();
    assert_eq!(
        err,
        RenderError::UnknownVariables(vec!["aaa".to_owned(), "today".to_owned(), "zzz".to_owned()])
    );
}

#[test]
fn render_applies_defaults() {
    let t = template(
        "{{ date }}|{{ greeting }}|{{ note }}|{% if note %}note{% else %}no note{% endif %}|{{ now }}|{{ who }}",
        vec![
            var("date", false, Some("{{ today }}")),
            var("greeting", false, Some("Hello")),
            var("note", false, None),
            var("who", true, None),
        ],
        None,
    );
    let out = render_at(
        &t,
        &vars(&[("who", json!("Ann"))]),
        &RenderLimits::default(),
        fixed_now(),
    )
    .unwrap();
    assert_eq!(
        out.text,
        "2026-11-27|Hello||no note|2026-11-27T09:30:00+09:00|Ann"
    );
    let out = render_at(
        &t,
        &vars(&[
            ("who", json!("Ann")),
            ("greeting", json!("Hi")),
            ("note", json!("n")),
            ("date", Value::Null),
        ]),
        &RenderLimits::default(),
        fixed_now(),
    )
    .unwrap();
    assert_eq!(
        out.text,
        "2026-11-27|Hi|n|note|2026-11-27T09:30:00+09:00|Ann"
    );
}

#[test]
fn render_infinite_loop_stops_with_fuel_error() {
    let t = template(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        vec![],
        None,
    );
    assert_eq!(
        render(&t, &Map::new(), &RenderLimits::default()),
        Err(RenderError::FuelExhausted)
    );
    // Recursion is bounded too, by minijinja's recursion limit.
    let t = template(
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        vec![],
        None,
    );
    assert!(render(&t, &Map::new(), &RenderLimits::default()).is_err());
}

/// A loop of `n` empty iterations: about 3 fuel per iteration.
fn busy_loop(n: usize) -> String {
    format!("{{% for i in range({n}) %}}{{% endfor %}}")
}

// See: issue 11, item 4: the fuel budget was granted per part, so a
// template with a default and a file name cost up to three budgets.
#[test]
fn one_fuel_budget_is_shared_by_every_part_of_a_render() {
    let limits = RenderLimits {
        fuel: 1_000,
        ..RenderLimits::default()
    };
    let heavy = busy_loop(200);
    let body = format!("{heavy}{{{{ d }}}}\n");
    let light_default = var("d", false, Some("x"));
    let heavy_default = var("d", false, Some(&heavy));
    // Each part alone stays under the budget.
    for (what, t) in [
        ("body", template(&body, vec![light_default.clone()], None)),
        ("file name", template("x", vec![], Some(&heavy))),
        (
            "default",
            template("{{ d }}", vec![heavy_default.clone()], None),
        ),
    ] {
        if let Err(e) = render_at(&t, &Map::new(), &limits, fixed_now()) {
            panic!("{what} alone: {e}");
        }
    }
    // Any two of them together exceed it, through render_at and a Renderer alike.
    let renderer = Renderer::new(limits.clone());
    for (what, t) in [
        (
            "body + file name",
            template(&body, vec![light_default], Some(&heavy)),
        ),
        (
            "default + body",
            template(&body, vec![heavy_default.clone()], None),
        ),
        (
            "default + file name",
            template("{{ d }}", vec![heavy_default], Some(&heavy)),
        ),
    ] {
        assert_eq!(
            render_at(&t, &Map::new(), &limits, fixed_now()),
            Err(RenderError::FuelExhausted),
            "{what}"
        );
        assert_eq!(
            renderer.render_at(&t, &Map::new(), fixed_now()),
            Err(RenderError::FuelExhausted),
            "{what} (cached)"
        );
        // The cached compiled form keeps the full budget for the next render.
        assert_eq!(
            renderer.render_at(&t, &Map::new(), fixed_now()),
            Err(RenderError::FuelExhausted),
            "{what} (second render)"
        );
    }
    // A given value skips its default, and with it the default's cost.
    let t = template(&body, vec![var("d", false, Some(&busy_loop(200)))], None);
    assert!(render_at(&t, &vars(&[("d", json!("given"))]), &limits, fixed_now()).is_ok());
}

#[test]
fn render_output_size_capped() {
    // 2 MB built in one expression costs ~31k fuel, under the default budget:
    // the output cap is what stops it.
    let t = template("{{ 'x' * 2000000 }}", vec![], None);
    assert_eq!(
        render(&t, &Map::new(), &RenderLimits::default()),
        Err(RenderError::OutputTooLarge)
    );
    let limits = RenderLimits {
        max_output_bytes: 100,
        ..RenderLimits::default()
    };
    let t = template(
        "{% for i in range(20) %}0123456789{% endfor %}",
        vec![],
        None,
    );
    assert_eq!(
        render(&t, &Map::new(), &limits),
        Err(RenderError::OutputTooLarge)
    );
    let t = template(
        "{% for i in range(10) %}0123456789{% endfor %}",
        vec![],
        None,
    );
    assert_eq!(render(&t, &Map::new(), &limits).unwrap().text.len(), 100);
    // Inputs are capped per variable.
    let t = template(
        "{{ big }}{{ small }}",
        vec![var("big", true, None), var("small", true, None)],
        None,
    );
    let limits = RenderLimits {
        max_variable_bytes: 10,
        ..RenderLimits::default()
    };
    let err = render(
        &t,
        &vars(&[("small", json!("ok")), ("big", json!("x".repeat(11)))]),
        &limits,
    )
    .unwrap_err();
    assert_eq!(err, RenderError::VariableTooLarge("big".to_owned()));
    let err = render(
        &t,
        &vars(&[("small", json!("ok")), ("big", json!(["xxxx", "xxxx"]))]),
        &limits,
    )
    .unwrap_err();
    assert_eq!(err, RenderError::VariableTooLarge("big".to_owned()));
}

#[test]
fn render_does_not_html_escape() {
    let t = template(
        "{{ v }}\n",
        vec![var("v", true, None)],
        Some("{{ v | length }}.html"),
    );
    let out = render(
        &t,
        &vars(&[("v", json!("<b>Tom & \"Jerry\"</b> 'x'"))]),
        &RenderLimits::default(),
    )
    .unwrap();
    assert_eq!(out.text, "<b>Tom & \"Jerry\"</b> 'x'\n");
}

#[test]
fn render_reports_template_errors_with_line() {
    let t = template(
        "ok\n{{ who.name.first }}\n",
        vec![var("who", true, None)],
        None,
    );
    match render(
        &t,
        &vars(&[("who", json!("plain string"))]),
        &RenderLimits::default(),
    ) {
        Err(RenderError::Template(message)) => assert!(
            message.starts_with("body line 2: undefined value"),
            "{message}"
        ),
        other => panic!("expected Template error, got {other:?}"),
    }
}

#[test]
fn include_import_and_extends_are_syntax_errors() {
    // minijinja is built without `multi_template`: no template can reach
    // another template, let alone a file, and a save says so up front.
    for body in [
        "{% include '/etc/passwd' %}",
        "{% import 'other' as o %}",
        "{% from 'other' import m %}",
        "{% extends 'other' %}",
    ] {
        let t = template(body, vec![], None);
        match render(&t, &Map::new(), &RenderLimits::default()) {
            Err(RenderError::Template(message)) => {
                assert!(
                    message.starts_with("body line 1: syntax error"),
                    "{body}: {message}"
                );
            }
            other => panic!("{body}: expected a syntax error, got {other:?}"),
        }
        match check_draft(&draft("T", body, vec![])) {
            Err(StoreError::Invalid { reason }) => {
                assert!(reason.contains("syntax error"), "{body}: {reason}");
            }
            other => panic!("{body}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn renderer_gives_what_render_at_gives_for_every_shipped_template() {
    let renderer = Renderer::new(RenderLimits::default());
    let store = open(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates"));
    let metas = store.list().unwrap();
    assert!(metas.len() >= 10, "the shipped templates are missing");
    for round in 0..2 {
        for meta in &metas {
            let t = store.get(&meta.name).unwrap();
            let given: Map<String, Value> = meta
                .variables
                .iter()
                .map(|v| (v.name.clone(), sample_value(v)))
                .collect();
            let fresh = render_at(&t, &given, renderer.limits(), fixed_now()).unwrap();
            let cached = renderer.render_at(&t, &given, fixed_now()).unwrap();
            assert_eq!(cached, fresh, "{} (round {round})", meta.name);
            // Defaults and missing variables go through the cached parts too.
            let none = renderer.render_at(&t, &Map::new(), fixed_now());
            assert_eq!(
                none,
                render_at(&t, &Map::new(), renderer.limits(), fixed_now()),
                "{}",
                meta.name
            );
        }
    }
    assert_eq!(
        renderer.compiled_len(),
        metas.len(),
        "one compiled form per version"
    );
}

#[test]
fn renderer_never_renders_a_template_from_another_templates_code() {
    // Two templates claiming the same version (built by hand, not read from
    // a file): the cache entry must not be reused for the second.
    let renderer = Renderer::new(RenderLimits::default());
    let first = template(
        "first {{ a }}\n",
        vec![var("a", false, Some("x"))],
        Some("{{ a }}.md"),
    );
    let mut second = template(
        "second {{ a }}\n",
        vec![var("a", false, Some("y"))],
        Some("{{ a }}.txt"),
    );
    second.meta.version = first.meta.version.clone();
    let render = |t: &Template| renderer.render_at(t, &Map::new(), fixed_now()).unwrap();
    assert_eq!(render(&first).text, "first x\n");
    assert_eq!(render(&second).text, "second y\n");
    assert_eq!(render(&second).filename.as_deref(), Some("y.txt"));
    assert_eq!(render(&first).text, "first x\n");
    let mut third = first.clone();
    third.meta.variables[0].default = Some("z".to_owned());
    assert_eq!(render(&third).text, "first z\n");
}

#[test]
fn renderer_reports_a_broken_part_only_when_it_is_used() {
    // The store never holds such a template (it compiles every part on
    // load), but the order of checks must not depend on the cache.
    let t = template(
        "{{ a }} {{ b }}\n",
        vec![var("a", false, Some("{{ oops")), var("b", true, None)],
        None,
    );
    let renderer = Renderer::new(RenderLimits::default());
    let given = vars(&[("a", json!("given")), ("b", json!("B"))]);
    assert_eq!(
        renderer.render_at(&t, &given, fixed_now()).unwrap().text,
        "given B\n"
    );
    assert_eq!(
        renderer.render_at(&t, &vars(&[("c", json!(1))]), fixed_now()),
        Err(RenderError::UnknownVariables(vec!["c".to_owned()]))
    );
    match renderer.render_at(&t, &vars(&[("b", json!("B"))]), fixed_now()) {
        Err(RenderError::Template(message)) => {
            assert!(
                message.starts_with("default of variable a: default line 1: syntax error"),
                "{message}"
            );
        }
        other => panic!("expected the default's syntax error, got {other:?}"),
    }
    assert_eq!(
        renderer.render_at(&t, &vars(&[("b", json!("B"))]), fixed_now()),
        render_at(
            &t,
            &vars(&[("b", json!("B"))]),
            renderer.limits(),
            fixed_now()
        ),
    );
}

#[test]
fn filename_is_rendered_and_sanitised() {
    let fallback = name("minutes");
    let long = format!("{}.md", "長".repeat(100));
    let cases: &[(&str, &str)] = &[
        ("minutes-2026-11-27.md", "minutes-2026-11-27.md"),
        ("議事録-2026-11-27.md", "議事録-2026-11-27.md"),
        ("../../etc/passwd", "etc-passwd"),
        ("/abs/path.md", "abs-path.md"),
        ("a\\b:c*?.md", "a-b-c--.md"),
        ("a\u{2215}b\u{FF0F}c.md", "a-b-c.md"),
        ("line\nbreak\0.md", "line-break-.md"),
        ("evil\u{202E}dm.exe", "evildm.exe"),
        ("  .hidden.md  ", "hidden.md"),
        ("con.md", "_con.md"),
        ("LPT1", "_LPT1"),
        ("", "minutes.md"),
        ("...", "minutes.md"),
        (".md", "minutes.md"),
        ("///", "minutes.md"),
    ];
    for (raw, want) in cases {
        assert_eq!(sanitize_filename(raw, &fallback), *want, "for {raw:?}");
    }
    let cut = sanitize_filename(&long, &fallback);
    assert!(cut.len() <= 255 && cut.ends_with(".md"), "{cut}");

    let t = template(
        "body\n",
        vec![var("title", true, None)],
        Some("{{ today }}-{{ title | lower }}.md"),
    );
    let out = render_at(
        &t,
        &vars(&[("title", json!("../Secret/Plan"))]),
        &RenderLimits::default(),
        fixed_now(),
    )
    .unwrap();
    assert_eq!(
        out.filename.as_deref(),
        Some("2026-11-27-..-secret-plan.md")
    );
    let t = template("b", vec![var("t", true, None)], Some("{{ t | slug }}.md"));
    for (given, want) in [
        ("Q3 Planning: Kick-off!", "q3-planning-kick-off.md"),
        ("開発定例　第3回", "開発定例-第3回.md"),
        ("../../", "t.md"),
    ] {
        let out = render_at(
            &t,
            &vars(&[("t", json!(given))]),
            &RenderLimits::default(),
            fixed_now(),
        )
        .unwrap();
        assert_eq!(out.filename.as_deref(), Some(want), "for {given:?}");
    }
    let out = render_at(
        &template("b", vec![], None),
        &Map::new(),
        &RenderLimits::default(),
        fixed_now(),
    )
    .unwrap();
    assert_eq!(out.filename, None);
}

/// Sample values exercising both branches of the shipped templates' loops
/// and conditionals.
fn sample_value(spec: &VariableSpec) -> Value {
    match spec.name.as_str() {
        "number" => json!("7"),
        "date" | "week_of" => json!("2026-11-23"),
        "version" => json!("1.4.0"),
        "attendees" | "deciders" | "authors" => json!("Alice, Bob ,Carol,"),
        _ if spec.description.contains("one per line")
            || spec.description.contains("1 行に 1 件") =>
        {
            json!("Alice: first item\nBob | second | green\n\n  third item  ")
        }
        _ => json!(format!("Sample {} <&>", spec.name)),
    }
}

#[test]
fn every_shipped_template_loads_and_renders() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    let store = open(&dir);
    assert_eq!(store.skipped(), Vec::new());
    let metas = store.list().unwrap();
    assert!(metas.len() >= 8, "only {} shipped templates", metas.len());
    for meta in &metas {
        let t = store.get(&meta.name).unwrap();
        // Shipped templates meet the save rules, not just the load rules.
        check_draft(&TemplateDraft::from(t.clone()))
            .unwrap_or_else(|e| panic!("{}: {e}", meta.name));
        assert!(undeclared_variables(&t).is_empty());
        assert!(
            meta.tags.iter().any(|tag| tag == "en" || tag == "ja"),
            "{}: no language tag",
            meta.name
        );
        assert!(
            !meta.description.is_empty(),
            "{}: no description",
            meta.name
        );
        assert!(
            meta.variables.iter().all(|v| !v.description.is_empty()),
            "{}: undocumented variable",
            meta.name
        );

        let required: Map<String, Value> = meta
            .variables
            .iter()
            .filter(|v| v.required)
            .map(|v| (v.name.clone(), sample_value(v)))
            .collect();
        let all: Map<String, Value> = meta
            .variables
            .iter()
            .map(|v| (v.name.clone(), sample_value(v)))
            .collect();
        for given in [&required, &all] {
            let out = render_at(&t, given, &RenderLimits::default(), fixed_now())
                .unwrap_or_else(|e| panic!("{}: {e}", meta.name));
            assert!(!out.text.trim().is_empty());
            assert!(
                !out.text.contains("{{") && !out.text.contains("{%"),
                "{}:\n{}",
                meta.name,
                out.text
            );
            assert!(
                out.text.ends_with('\n') && !out.text.ends_with("\n\n\n"),
                "{}: trailing lines",
                meta.name
            );
            assert!(
                !out.text.contains("\n\n\n"),
                "{}: double blank line:\n{}",
                meta.name,
                out.text
            );
            let filename = out
                .filename
                .unwrap_or_else(|| panic!("{}: no filename", meta.name));
            assert!(
                filename.ends_with(".md") && !filename.contains('/'),
                "{}: {filename}",
                meta.name
            );
            if std::env::var_os("SHOW_RENDERED").is_some() {
                println!("===== {} -> {filename}\n{}", meta.name, out.text);
            }
        }
        // Missing required variables are all reported.
        if !required.is_empty() {
            let mut names: Vec<String> = required.keys().cloned().collect();
            names.sort();
            assert_eq!(
                render(&t, &Map::new(), &RenderLimits::default()),
                Err(RenderError::MissingVariables(names))
            );
        }
    }
    // Opening the shipped directory wrote nothing into it.
    assert!(!dir.join(".lock").exists());
}

#[test]
fn shipped_templates_fit_default_fuel_at_input_caps() {
    // Every list variable filled up to max_variable_bytes with 80-byte lines:
    // the default fuel must still be enough (see RenderLimits::default).
    let limits = RenderLimits::default();
    let line = format!("owner: {}\n", "x".repeat(73));
    let big = line.repeat(limits.max_variable_bytes / line.len());
    let store = open(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates"));
    for meta in store.list().unwrap().iter() {
        let t = store.get(&meta.name).unwrap();
        let given: Map<String, Value> = meta
            .variables
            .iter()
            .map(|v| {
                let value = match sample_value(v) {
                    Value::String(s) if s.contains('\n') => json!(big),
                    other => other,
                };
                (v.name.clone(), value)
            })
            .collect();
        if let Err(e) = render(&t, &given, &limits) {
            panic!("{}: {e}", meta.name);
        }
    }
}

#[test]
fn errors_display_lowercase_without_trailing_period() {
    let n = name("x");
    let v = Version::of_bytes(b"x");
    let errors: Vec<String> = vec![
        TemplateName::parse("A").unwrap_err().to_string(),
        StoreError::NotFound(n.clone()).to_string(),
        StoreError::Conflict {
            name: n.clone(),
            expected: None,
            current: Some(v.clone()),
        }
        .to_string(),
        StoreError::Conflict {
            name: n.clone(),
            expected: Some(v.clone()),
            current: Some(v.clone()),
        }
        .to_string(),
        StoreError::Conflict {
            name: n.clone(),
            expected: Some(v.clone()),
            current: None,
        }
        .to_string(),
        StoreError::Invalid {
            reason: "r".to_owned(),
        }
        .to_string(),
        StoreError::TooLarge.to_string(),
        StoreError::Io {
            path: PathBuf::from("/p"),
            source: std::io::Error::other("e"),
        }
        .to_string(),
        Version::parse("x").unwrap_err().to_string(),
        StoreError::TooManyTemplates { limit: 1 }.to_string(),
        RenderError::MissingVariables(vec!["a".to_owned()]).to_string(),
        RenderError::UnknownVariables(vec!["a".to_owned()]).to_string(),
        RenderError::VariableTooLarge("a".to_owned()).to_string(),
        RenderError::OutputTooLarge.to_string(),
        RenderError::FuelExhausted.to_string(),
        RenderError::Template("t".to_owned()).to_string(),
    ];
    for e in errors {
        let first = e.chars().next().unwrap();
        assert!(!first.is_uppercase() && !e.ends_with('.'), "{e:?}");
    }
}

#[test]
fn store_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<FsStore>();
    assert_send_sync::<StoreError>();
    assert_send_sync::<RenderError>();
    let _: Arc<dyn TemplateStore> = Arc::new(temp_store().1);
}

fn names(list: &[TemplateName]) -> Vec<&str> {
    list.iter().map(TemplateName::as_str).collect()
}

/// `copy_all` (import/export between backends): creates what is missing,
/// skips what is identical, reports what differs unless told to replace it,
/// and compares templates, not file bytes, so a hand-written file copied
/// once is unchanged the next time.
#[test]
fn copy_all_creates_skips_identical_and_replaces_only_when_asked() {
    let (a_dir, a) = temp_store();
    let (_b_dir, b) = temp_store();
    a.save(&name("one"), simple_draft("One"), None).unwrap();
    a.save(&name("two"), simple_draft("Two"), None).unwrap();
    a.save(&name("three"), simple_draft("Three"), None).unwrap();
    b.save(&name("two"), simple_draft("Two"), None).unwrap();
    b.save(&name("three"), simple_draft("Changed at the target"), None)
        .unwrap();

    let report = copy_all(&a, &b, false).unwrap();
    assert_eq!(names(&report.created), ["one"]);
    assert_eq!(names(&report.unchanged), ["two"]);
    assert_eq!(names(&report.conflicts), ["three"]);
    assert!(report.replaced.is_empty());
    assert_eq!(
        b.get(&name("three")).unwrap().meta.title,
        "Changed at the target"
    );

    let report = copy_all(&a, &b, true).unwrap();
    assert_eq!(names(&report.replaced), ["three"]);
    assert_eq!(names(&report.unchanged), ["one", "two"]);
    assert_eq!(b.get(&name("three")).unwrap().meta.title, "Three");

    // Hand-written: a TOML comment and other spacing than the store writes.
    std::fs::write(
        a_dir.path().join("four.md"),
        "+++\n# written by hand\ntitle    = \"Four\"\n\n[[variables]]\nname = \"who\"\nrequired = true\n+++\nHello {{ who }}!\n",
    )
    .unwrap();
    a.refresh().unwrap();
    assert_eq!(names(&copy_all(&a, &b, false).unwrap().created), ["four"]);
    let again = copy_all(&a, &b, false).unwrap();
    assert_eq!(names(&again.unchanged), ["four", "one", "three", "two"]);
    assert!(again.created.is_empty() && again.conflicts.is_empty());
}
