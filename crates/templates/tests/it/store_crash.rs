//! Crash safety of `FsStore` writes: a writer process killed with `SIGKILL`
//! at arbitrary moments never leaves a torn, empty or mixed template, and
//! its temp files are never taken for templates.
//!
//! The writer is this very test binary, re-executed with [`WRITER_ENV`]
//! naming the template directory: the test function then turns into the
//! writer and saves two contents alternately, in a tight loop, until it is
//! killed. No helper binary is needed.
//!
//! Lost updates between concurrent writers are covered by the store's unit
//! tests; this file only covers process death in the middle of a write.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use templates::{FsStore, StoreLimits, TemplateDraft, TemplateName, TemplateStore, VariableSpec};

/// Set (to the template directory) in the re-executed writer process.
const WRITER_ENV: &str = "MCP_STORE_CRASH_WRITER_DIR";
/// What the writer prints once its first save went through.
const WRITING: &str = "store-crash-writer: saving";
/// Kill-and-check rounds.
const ROUNDS: usize = 30;
/// The longest random delay between "writing" and the kill.
const MAX_DELAY_MS: u64 = 300;
/// The test's full path, for `--exact` when re-executing.
const TEST_PATH: &str =
    "store_crash::store_writer_killed_mid_save_leaves_old_or_new_content_exactly";

fn name() -> TemplateName {
    TemplateName::parse("crash").expect("name")
}

/// Two contents of different sizes, so a torn write cannot look whole. The
/// larger one spans many pages and takes a while to write and sync.
fn contents() -> [TemplateDraft; 2] {
    let draft = |title: &str, body: String| TemplateDraft {
        title: title.to_owned(),
        description: "Written by the crash-test writer.".to_owned(),
        tags: vec!["test".to_owned()],
        filename: None,
        variables: vec![VariableSpec {
            name: "who".to_owned(),
            description: "Who".to_owned(),
            required: true,
            default: None,
        }],
        body,
    };
    [
        draft("Old", "Hello {{ who }}.\n".to_owned()),
        draft("New", "New line for {{ who }}.\n".repeat(8 * 1024)),
    ]
}

fn open(dir: &Path) -> FsStore {
    FsStore::open(dir.to_path_buf(), StoreLimits::default()).expect("open store")
}

/// The writer: alternates the two contents forever (until killed).
fn writer(dir: &Path) -> ! {
    let store = open(dir);
    let name = name();
    let contents = contents();
    let mut announced = false;
    loop {
        for draft in &contents {
            let current = store.get(&name).expect("writer reads the template");
            store
                .save(&name, draft.clone(), Some(&current.meta.version))
                .expect("writer saves");
            if !announced {
                println!("{WRITING}");
                announced = true;
            }
        }
    }
}

/// A small xorshift generator seeded from the clock; the seed is printed so
/// a failing schedule can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Spawns the writer and waits until it has saved once.
fn spawn_writer(dir: &Path) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([TEST_PATH, "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("writer stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(WRITING) {
                let _ = tx.send(());
            }
        }
    });
    // A liveness bound, not a performance assertion: a writer that never
    // gets the directory lock (a lock left behind by a killed writer) would
    // otherwise hang the test.
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the writer never completed a save");
    }
    child
}

#[test]
fn store_writer_killed_mid_save_leaves_old_or_new_content_exactly() {
    if let Some(dir) = std::env::var_os(WRITER_ENV) {
        writer(Path::new(&dir));
    }

    let contents = contents();
    let name = name();
    // The exact bytes of each content as the store writes them.
    let scratch = tempfile::tempdir().expect("scratch dir");
    let expected: Vec<Vec<u8>> = contents
        .iter()
        .map(|draft| {
            let store = open(scratch.path());
            let _ = std::fs::remove_file(scratch.path().join("crash.md"));
            store
                .save(&name, draft.clone(), None)
                .expect("scratch save");
            std::fs::read(scratch.path().join("crash.md")).expect("scratch read")
        })
        .collect();

    let dir = tempfile::tempdir().expect("template dir");
    open(dir.path())
        .save(&name, contents[0].clone(), None)
        .expect("initial save");

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 | 1);
    eprintln!("store_crash: seed {seed}");
    let mut rng = Rng(seed);
    let mut seen = [0usize; 2];
    let mut left_behind = 0;
    for round in 0..ROUNDS {
        let mut child = spawn_writer(dir.path());
        std::thread::sleep(Duration::from_millis(rng.below(MAX_DELAY_MS + 1)));
        // `Child::kill` is SIGKILL on Unix: no destructor or handler runs.
        child.kill().expect("kill writer");
        child.wait().expect("reap writer");

        // Every *.md file is the template, holding one content exactly.
        let mut md_files = Vec::new();
        let mut temp_files = 0;
        for entry in std::fs::read_dir(dir.path()).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "md") {
                md_files.push(path);
            } else if path.file_name().is_some_and(|n| n != ".lock") {
                temp_files += 1;
            }
        }
        // A temp file left behind means the kill landed inside a save.
        left_behind = left_behind.max(temp_files);
        assert_eq!(
            md_files,
            [dir.path().join("crash.md")],
            "round {round}: unexpected template files"
        );
        let bytes = std::fs::read(&md_files[0]).expect("read template");
        let which = expected
            .iter()
            .position(|e| *e == bytes)
            .unwrap_or_else(|| {
                panic!(
                    "round {round}: the template holds {} bytes that are neither content",
                    bytes.len()
                )
            });
        seen[which] += 1;

        // A fresh store sees exactly that one template and skips nothing:
        // leftover temp files are not templates.
        let store = open(dir.path());
        let listed: Vec<String> = store
            .list()
            .expect("list")
            .iter()
            .map(|m| m.name.as_str().to_owned())
            .collect();
        assert_eq!(listed, ["crash"], "round {round}");
        assert_eq!(store.skipped(), [], "round {round}");
        let template = store.get(&name).expect("get");
        assert_eq!(TemplateDraft::from(template), contents[which]);
    }
    eprintln!(
        "store_crash: {ROUNDS} kills, old content {} times, new content {} times, \
         {left_behind} temp files left by killed saves",
        seen[0], seen[1]
    );
}
