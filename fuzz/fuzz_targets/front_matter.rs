//! Arbitrary bytes as a template file, read through the public store API
//! (`FsStore::open` + `TemplateStore::get`), so the front-matter parser,
//! the field validation and the minijinja compile all see hostile input.
//!
//! Oracles besides "no panic": a read either succeeds or fails with
//! `StoreError::Invalid` (never an I/O error or a panic); a template that
//! reads carries the content hash of exactly these bytes and a body that is
//! a suffix of them; and when its draft passes `check_draft`, saving it
//! anew either works and reads back as the same draft, or is refused with
//! `Invalid`/`TooLarge`: a save never silently changes a template.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use templates::{
    FsStore, StoreError, StoreLimits, TemplateDraft, TemplateName, TemplateStore, Version,
    check_draft,
};

struct Dirs {
    _root: tempfile::TempDir,
    read: PathBuf,
    write: PathBuf,
    name: TemplateName,
}

static DIRS: LazyLock<Dirs> = LazyLock::new(|| {
    // tmpfs when there is one: the target writes a file per input.
    let shm = std::path::Path::new("/dev/shm");
    let root = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    let read = root.path().join("read");
    let write = root.path().join("write");
    std::fs::create_dir_all(&read).expect("read dir");
    std::fs::create_dir_all(&write).expect("write dir");
    Dirs {
        read,
        write,
        name: TemplateName::parse("fuzz").expect("name"),
        _root: root,
    }
});

fn open(dir: &std::path::Path) -> FsStore {
    FsStore::open(dir.to_path_buf(), StoreLimits::default()).expect("open store")
}

fuzz_target!(|data: &[u8]| {
    let dirs = &*DIRS;
    let file = dirs.read.join("fuzz.md");
    std::fs::write(&file, data).expect("write input");
    // A fresh store per input: the index keys on (len, mtime), and two
    // inputs of one length written within a clock tick look unchanged.
    let store = open(&dirs.read);
    let template = match store.get(&dirs.name) {
        Ok(template) => template,
        Err(StoreError::Invalid { .. }) => return,
        Err(e) => panic!("reading a template file failed with {e:?}"),
    };
    assert_eq!(template.meta.version, Version::of_bytes(data));
    assert!(
        data.ends_with(template.body.as_bytes()),
        "the body is not the end of the file"
    );

    let draft = TemplateDraft::from(template);
    if check_draft(&draft).is_err() {
        return;
    }
    let target = dirs.write.join("fuzz.md");
    let _ = std::fs::remove_file(&target);
    let writer = open(&dirs.write);
    match writer.save(&dirs.name, draft.clone(), None) {
        Ok(_) => {
            let back = open(&dirs.write).get(&dirs.name).expect("read back a saved template");
            assert_eq!(TemplateDraft::from(back), draft, "a save changed the template");
        }
        Err(StoreError::Invalid { .. } | StoreError::TooLarge) => {}
        Err(e) => panic!("saving a loaded template failed with {e:?}"),
    }
});
