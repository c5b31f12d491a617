//! [`FsStore`]: templates as files in one directory.
//!
//! Reads are lock-free: an in-memory index behind an [`ArcSwap`] maps names
//! to parsed templates together with the `(len, mtime)` stamp of the file
//! they came from, and holds the [`Listing`] built from them.
//!
//! - `get` `stat`s the file on every call and re-reads it when the stamp
//!   differs, so it never serves a stale template, whoever changed the file.
//! - `list` does no I/O: it returns the index's listing. Saves and deletes
//!   through this store update the index before they return, so a listing
//!   taken after one reflects it. Files added, edited or removed by anyone
//!   else (another process sharing the directory, an editor) show up in the
//!   listing at the next [`FsStore::refresh`] (or at a `get` of that very
//!   template); the caller decides how often to refresh, and that interval
//!   is how stale a listing can be after such an edit. Rescanning on every
//!   `list` would cost a `stat` per file (up to `max_templates` of them) per
//!   call.
//!
//! Writes (save and delete) hold an in-process mutex and an exclusive
//! advisory lock on `dir/.lock` (so several server processes may share a
//! directory), then re-read the file from disk, compare its version with the
//! caller's, and replace it atomically: temp file in the same directory,
//! `sync_all`, rename over the target, `fsync` of the directory. A crash
//! leaves either the old or the new file, never a torn one. The index is
//! updated under the same mutex, so the index's order of writes is the
//! disk's; a refresh holds it too, so a scan that began before a save can
//! never store a view without that save.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use crate::format::{parse_file, prepare_save, undeclared_reason};
use crate::{
    Listing, SaveOutcome, StoreError, StoreLimits, Template, TemplateDraft, TemplateName,
    TemplateStore, Version,
};

/// The lock file that serializes writers across processes.
const LOCK_FILE: &str = ".lock";

/// A file in the template directory that is not served, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped (bad name, bad front matter with line, too large…).
    pub reason: String,
}

/// A [`TemplateStore`] over one directory of `<name>.md` files.
pub struct FsStore {
    dir: PathBuf,
    limits: StoreLimits,
    index: ArcSwap<Index>,
    /// Serializes this process's writers and refreshes (see the module doc).
    write_lock: Mutex<()>,
    /// Serializes the index updates of `get` with those of writers, so that
    /// a `get` that read a file just before a save cannot store the old
    /// content over the save's.
    index_lock: Mutex<()>,
}

#[derive(Default)]
struct Index {
    entries: BTreeMap<TemplateName, Arc<Entry>>,
    skipped: BTreeMap<PathBuf, SkippedFile>,
    /// Built from `entries` whenever they change, so `list` copies nothing.
    listing: Listing,
}

impl Index {
    fn new(
        entries: BTreeMap<TemplateName, Arc<Entry>>,
        skipped: BTreeMap<PathBuf, SkippedFile>,
    ) -> Self {
        let listing = Listing::new(entries.values().map(|e| Arc::clone(&e.template)));
        Self {
            entries,
            skipped,
            listing,
        }
    }
}

struct Entry {
    template: Arc<Template>,
    stamp: Stamp,
}

/// What changes when a file is rewritten: rename-based writes always give a
/// new mtime, in-place edits a new mtime (ns resolution on common file
/// systems) and usually a new length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// The outcome of reading one file.
enum Loaded {
    Ok(Arc<Entry>),
    Bad(String),
    Gone,
}

impl FsStore {
    /// Opens (creating it if missing) a template directory and indexes it.
    /// Files that are not valid templates are logged with their path and
    /// reason and skipped ([`FsStore::skipped`]); only an unreadable
    /// directory is an error.
    pub fn open(dir: PathBuf, limits: StoreLimits) -> Result<Self, StoreError> {
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let dir = fs::canonicalize(&dir).map_err(io_at(&dir))?;
        let store = Self {
            dir,
            limits,
            index: ArcSwap::from_pointee(Index::default()),
            write_lock: Mutex::new(()),
            index_lock: Mutex::new(()),
        };
        store.refresh()?;
        Ok(store)
    }

    /// The (canonical) template directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    /// Files skipped at the last refresh (or open) or read, sorted by path.
    pub fn skipped(&self) -> Vec<SkippedFile> {
        self.index.load().skipped.values().cloned().collect()
    }

    /// `dir/<name>.md`, verified to be a direct child of `dir`.
    fn path_of(&self, name: &TemplateName) -> Result<PathBuf, StoreError> {
        let file_name = name.file_name();
        let path = self.dir.join(&file_name);
        // TemplateName already excludes separators and `..`; this keeps the
        // invariant local to the one place paths are formed.
        if path.parent() != Some(self.dir.as_path())
            || path.file_name() != Some(std::ffi::OsStr::new(&file_name))
        {
            return Err(StoreError::InvalidName {
                name: name.to_string(),
                reason: "resolves outside the template directory".to_owned(),
            });
        }
        Ok(path)
    }

    /// Re-reads the directory so that [`TemplateStore::list`] reflects files
    /// added, edited or removed behind the store's back: new, changed and
    /// removed files, and the skipped list. Unchanged files are `stat`ed
    /// (one call each, up to `max_templates`) but not re-read or re-parsed.
    ///
    /// Blocking I/O proportional to the directory: run it off async workers,
    /// on a timer whose period is the staleness a listing may have after an
    /// outside edit. Holds the in-process write lock while it scans, so this
    /// process's saves and deletes wait for it (and it for them).
    pub fn refresh(&self) -> Result<(), StoreError> {
        let _writers = self.local_lock();
        let old = self.index.load_full();
        let mut candidates = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        for dirent in fs::read_dir(&self.dir).map_err(io_at(&self.dir))? {
            let dirent = dirent.map_err(io_at(&self.dir))?;
            let path = dirent.path();
            let file_name = dirent.file_name();
            let Some(file_name) = file_name.to_str() else {
                if path.extension().is_some_and(|e| e == "md") {
                    skip(
                        &mut skipped,
                        path,
                        "file name is not valid UTF-8".to_owned(),
                    );
                }
                continue;
            };
            let Some(stem) = file_name.strip_suffix(".md") else {
                continue;
            };
            match TemplateName::parse(stem) {
                Ok(name) => {
                    candidates.insert(name, path);
                }
                Err(e) => skip(&mut skipped, path, e.to_string()),
            }
        }

        let mut entries = BTreeMap::new();
        for (i, (name, path)) in candidates.into_iter().enumerate() {
            if i >= self.limits.max_templates {
                let reason = format!(
                    "the directory holds more than max_templates ({}) templates",
                    self.limits.max_templates
                );
                skip(&mut skipped, path, reason);
                continue;
            }
            let unchanged = old.entries.get(&name).filter(|entry| {
                fs::symlink_metadata(&path)
                    .is_ok_and(|m| m.is_file() && Stamp::of(&m) == entry.stamp)
            });
            if let Some(entry) = unchanged {
                entries.insert(name, Arc::clone(entry));
                continue;
            }
            match self.load(&name, &path)? {
                Loaded::Ok(entry) => {
                    entries.insert(name, entry);
                }
                Loaded::Bad(reason) => skip(&mut skipped, path, reason),
                Loaded::Gone => {}
            }
        }

        for (path, file) in &skipped {
            if old.skipped.get(path) != Some(file) {
                tracing::warn!(path = %path.display(), reason = %file.reason, "skipping template file");
            }
        }
        // Under the index lock too: a `get` storing what it just read must
        // not interleave with replacing the whole index.
        let _index = self
            .index_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.index.store(Arc::new(Index::new(entries, skipped)));
        Ok(())
    }

    /// Reads and parses one file. Problems with the file itself are `Bad`;
    /// only I/O trouble with the directory is an error.
    fn load(&self, name: &TemplateName, path: &Path) -> Result<Loaded, StoreError> {
        let meta = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Gone),
            Err(e) => return Err(io_at(path)(e)),
        };
        if meta.file_type().is_symlink() {
            return Ok(Loaded::Bad("symbolic links are not followed".to_owned()));
        }
        if !meta.is_file() {
            return Ok(Loaded::Bad("not a regular file".to_owned()));
        }
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Gone),
            Err(e) => return Ok(Loaded::Bad(format!("cannot be read: {e}"))),
        };
        let stamp = match file.metadata() {
            Ok(meta) => Stamp::of(&meta),
            Err(e) => return Ok(Loaded::Bad(format!("cannot be read: {e}"))),
        };
        let limit = self.limits.max_template_bytes;
        let too_large = |len: u64| {
            Loaded::Bad(format!(
                "file is {len} bytes; the limit is {limit} (max_template_bytes)"
            ))
        };
        if stamp.len > limit as u64 {
            return Ok(too_large(stamp.len));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(stamp.len).unwrap_or(0));
        if let Err(e) = file.take(limit as u64 + 1).read_to_end(&mut bytes) {
            return Ok(Loaded::Bad(format!("cannot be read: {e}")));
        }
        if bytes.len() > limit {
            return Ok(too_large(bytes.len() as u64));
        }
        match parse_file(name, &bytes) {
            Ok(parsed) => {
                if !parsed.undeclared.is_empty() {
                    tracing::warn!(
                        path = %path.display(),
                        "{}",
                        undeclared_reason(&parsed.undeclared)
                    );
                }
                Ok(Loaded::Ok(Arc::new(Entry {
                    template: Arc::new(parsed.template),
                    stamp,
                })))
            }
            Err(reason) => Ok(Loaded::Bad(reason)),
        }
    }

    /// Records what a writer just put on disk (`Ok` or `Gone`) in the index.
    /// Called with the write lock held, before it is released.
    fn remember_write(&self, name: &TemplateName, path: &Path, loaded: &Loaded) {
        let _index = self
            .index_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.update_index(name, path, loaded);
    }

    /// Records what `get` read in the index, unless the file changed since
    /// (a save or delete finished meanwhile, and its own update stands).
    fn remember_read(&self, name: &TemplateName, path: &Path, loaded: &Loaded) {
        let _index = self
            .index_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = match fs::symlink_metadata(path) {
            Ok(meta) => Some(Stamp::of(&meta)),
            Err(_) => None,
        };
        let read = match loaded {
            Loaded::Ok(entry) => Some(entry.stamp),
            Loaded::Gone => None,
            // A bad file's stamp is not kept: record it while it exists.
            Loaded::Bad(_) if now.is_some() => now,
            Loaded::Bad(_) => return,
        };
        if now == read {
            self.update_index(name, path, loaded);
        }
    }

    /// Replaces the entry (or skip record) of one file, rebuilding the
    /// listing. Callers hold the index lock.
    fn update_index(&self, name: &TemplateName, path: &Path, loaded: &Loaded) {
        let old = self.index.load();
        let mut entries = old.entries.clone();
        let mut skipped = old.skipped.clone();
        skipped.remove(path);
        match loaded {
            Loaded::Ok(entry) => {
                entries.insert(name.clone(), Arc::clone(entry));
            }
            Loaded::Bad(reason) => {
                entries.remove(name);
                skip(&mut skipped, path.to_owned(), reason.clone());
            }
            Loaded::Gone => {
                entries.remove(name);
            }
        }
        self.index.store(Arc::new(Index::new(entries, skipped)));
    }

    /// The in-process writer mutex. It guards no data, so a panic while it
    /// was held leaves nothing inconsistent: recover from poisoning.
    fn local_lock(&self) -> MutexGuard<'_, ()> {
        self.write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the in-process mutex, then the cross-process lock.
    fn lock(&self) -> Result<WriteGuard<'_>, StoreError> {
        let local = self.local_lock();
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        file.lock().map_err(io_at(&path))?;
        Ok(WriteGuard {
            file,
            _local: local,
        })
    }

    /// The version of the file on disk now, `None` if there is none. Reads
    /// the bytes whatever they are: an invalid file can still be replaced or
    /// deleted by naming its version.
    fn version_on_disk(path: &Path) -> Result<Option<Version>, StoreError> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at(path)(e)),
        };
        let mut hasher = Sha256::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_at(path)(e)),
            }
        }
        Ok(Some(Version::from_digest(&hasher.finalize())))
    }

    /// How many `*.md` files the directory holds.
    fn count_files(&self) -> Result<usize, StoreError> {
        let mut count = 0;
        for dirent in fs::read_dir(&self.dir).map_err(io_at(&self.dir))? {
            let dirent = dirent.map_err(io_at(&self.dir))?;
            if dirent.path().extension().is_some_and(|e| e == "md") {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Replaces `path` with `bytes` atomically and durably.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io_at(&self.dir))?;
        tmp.write_all(bytes).map_err(io_at(tmp.path()))?;
        tmp.as_file().sync_all().map_err(io_at(tmp.path()))?;
        // Keep the permissions of the file being replaced (the temp file is 0600).
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(tmp.path(), meta.permissions()).map_err(io_at(tmp.path()))?;
        }
        tmp.persist(path).map_err(|e| io_at(path)(e.error))?;
        self.sync_dir()
    }

    /// Makes a rename or unlink in the directory durable.
    fn sync_dir(&self) -> Result<(), StoreError> {
        #[cfg(unix)]
        {
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(io_at(&self.dir))?;
        }
        Ok(())
    }
}

impl TemplateStore for FsStore {
    /// The listing as of the last save, delete, refresh or changed `get`;
    /// see the module doc for how stale it may be after outside edits.
    fn list(&self) -> Result<Listing, StoreError> {
        Ok(self.index.load().listing.clone())
    }

    fn get(&self, name: &TemplateName) -> Result<Template, StoreError> {
        let path = self.path_of(name)?;
        let index = self.index.load();
        match fs::symlink_metadata(&path) {
            Ok(meta) => {
                if let Some(entry) = index.entries.get(name)
                    && meta.is_file()
                    && Stamp::of(&meta) == entry.stamp
                {
                    return Ok(Template::clone(&entry.template));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&path)(e)),
        }
        drop(index);
        let loaded = self.load(name, &path)?;
        self.remember_read(name, &path, &loaded);
        match loaded {
            Loaded::Ok(entry) => Ok(Template::clone(&entry.template)),
            // The file name, not the path: this reason may reach a client,
            // and the server's directory layout is none of its business.
            Loaded::Bad(reason) => Err(StoreError::Invalid {
                reason: format!("{}: {reason}", name.file_name()),
            }),
            Loaded::Gone => Err(StoreError::NotFound(name.clone())),
        }
    }

    fn save(
        &self,
        name: &TemplateName,
        draft: TemplateDraft,
        expected_version: Option<&Version>,
    ) -> Result<SaveOutcome, StoreError> {
        let (text, template) = prepare_save(name, &draft, self.limits.max_template_bytes)?;
        let path = self.path_of(name)?;

        let guard = self.lock()?;
        let current = Self::version_on_disk(&path)?;
        match (expected_version, &current) {
            (None, Some(_)) => {
                return Err(StoreError::Conflict {
                    name: name.clone(),
                    expected: None,
                    current,
                });
            }
            (Some(_), None) => return Err(StoreError::NotFound(name.clone())),
            (Some(expected), Some(now)) if expected != now => {
                return Err(StoreError::Conflict {
                    name: name.clone(),
                    expected: Some(expected.clone()),
                    current,
                });
            }
            (None, None) if self.count_files()? >= self.limits.max_templates => {
                return Err(StoreError::TooManyTemplates {
                    limit: self.limits.max_templates,
                });
            }
            _ => {}
        }
        self.write_atomic(&path, text.as_bytes())?;
        let meta = fs::symlink_metadata(&path).map_err(io_at(&path))?;

        let outcome_meta = template.meta.clone();
        let entry = Arc::new(Entry {
            template: Arc::new(template),
            stamp: Stamp::of(&meta),
        });
        self.remember_write(name, &path, &Loaded::Ok(entry));
        drop(guard);
        Ok(match current {
            None => SaveOutcome::Created(outcome_meta),
            Some(_) => SaveOutcome::Updated(outcome_meta),
        })
    }

    fn delete(&self, name: &TemplateName, expected_version: &Version) -> Result<(), StoreError> {
        let path = self.path_of(name)?;
        let guard = self.lock()?;
        match Self::version_on_disk(&path)? {
            None => return Err(StoreError::NotFound(name.clone())),
            Some(current) if current != *expected_version => {
                return Err(StoreError::Conflict {
                    name: name.clone(),
                    expected: Some(expected_version.clone()),
                    current: Some(current),
                });
            }
            Some(_) => {}
        }
        fs::remove_file(&path).map_err(io_at(&path))?;
        // In the index before the directory is synced: the file is gone
        // for every reader already, even if the sync fails.
        self.remember_write(name, &path, &Loaded::Gone);
        self.sync_dir()?;
        drop(guard);
        Ok(())
    }
}

impl fmt::Debug for FsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = self.index.load();
        f.debug_struct("FsStore")
            .field("dir", &self.dir)
            .field("limits", &self.limits)
            .field("templates", &index.entries.len())
            .field("skipped", &index.skipped.len())
            .finish()
    }
}

/// Holds both write locks; releases the file lock first.
struct WriteGuard<'a> {
    file: File,
    _local: MutexGuard<'a, ()>,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        // Closing the file would release the lock too; unlocking explicitly
        // makes the order (file lock, then mutex) obvious.
        if let Err(e) = self.file.unlock() {
            tracing::warn!(error = %e, "failed to release the template directory lock");
        }
    }
}

fn skip(skipped: &mut BTreeMap<PathBuf, SkippedFile>, path: PathBuf, reason: String) {
    skipped.insert(path.clone(), SkippedFile { path, reason });
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}
