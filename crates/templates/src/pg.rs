//! [`PgStore`]: templates in PostgreSQL, shared by every replica of a
//! deployment.
//!
//! A row holds a template exactly as the filesystem store holds a file (the
//! front matter and body in the file format, [`crate::format`]), and its
//! version is the same content hash, so a template moves between the two
//! backends unchanged and keeps its version.
//!
//! - **Writes** are one compare-and-swap each: `INSERT … ON CONFLICT DO
//!   NOTHING` to create, `UPDATE … WHERE name = $1 AND version = $2` to
//!   replace, `DELETE … WHERE name = $1 AND version = $2` to delete. Under
//!   PostgreSQL's row locking, concurrent conflicting writes through any
//!   number of replicas give exactly one winner; the others get the same
//!   [`StoreError::Conflict`] the filesystem store gives.
//! - **Reads** are served from memory: every replica keeps the parsed
//!   templates in an [`ArcSwap`] index, so `list` and the `get` of a known
//!   template cost no database round trip. A write sends `NOTIFY` in its
//!   transaction; a listener thread per store (its own connection,
//!   `LISTEN`) reloads the named template, so another replica serves a save
//!   within the notification's delivery time. After every (re)connect, and
//!   every [`PgOptions::resync_interval`], the listener compares every
//!   version with the database and reloads what differs: a missed
//!   notification never serves a stale template for longer than that.
//! - **Schema** migrations (`migrations/*.sql`) are applied at open, under
//!   an advisory lock, so replicas starting together apply each once.
//!
//! The API is synchronous like the trait: `postgres` runs its own runtime
//! per connection, so every call that can reach the database (`open`,
//! `save`, `delete`, and `get` of a name not in memory) belongs on a
//! blocking thread, never on an async worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, NoTls};

use crate::format::{parse_file, prepare_save};
use crate::{
    Listing, SaveOutcome, StoreError, StoreLimits, StoreStats, Template, TemplateDraft,
    TemplateName, TemplateStore, Version,
};

/// The channel writes notify on; the payload is the template's name.
const CHANNEL: &str = "mcp_templates";
/// The migrations, in order: (version, SQL).
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("../migrations/0001_templates.sql"))];
/// Key of the advisory lock that serialises migrations across replicas.
const MIGRATION_LOCK: i64 = 0x6d63_705f_746d_706c; // "mcp_tmpl"
/// Longest wait between reconnect attempts of the listener.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How to reach the database and how often to re-check it.
#[derive(Clone)]
pub struct PgOptions {
    /// A libpq-style connection string or `postgresql://` URL. It may carry
    /// a password: it is never logged or shown in an error.
    pub url: String,
    /// Size limits, as for the filesystem store.
    pub limits: StoreLimits,
    /// How often the listener compares every version with the database,
    /// beside the notifications (default 60 s).
    pub resync_interval: Duration,
    /// How long a connection attempt may take (default 5 s).
    pub connect_timeout: Duration,
}

impl PgOptions {
    /// Options with the default intervals.
    pub fn new(url: impl Into<String>, limits: StoreLimits) -> Self {
        Self {
            url: url.into(),
            limits,
            resync_interval: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &"<redacted>")
            .field("limits", &self.limits)
            .field("resync_interval", &self.resync_interval)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The templates of a PostgreSQL database; see the module documentation.
pub struct PgStore {
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

struct Shared {
    stats: Counters,
    config: postgres::Config,
    limits: StoreLimits,
    resync_interval: Duration,
    /// The connection writes and cache misses use; reopened when it breaks.
    client: Mutex<Option<Client>>,
    index: ArcSwap<Index>,
    stop: AtomicBool,
}

/// [`StoreStats`], as atomics.
#[derive(Default)]
struct Counters {
    db_calls: AtomicU64,
    db_errors: AtomicU64,
    db_micros: AtomicU64,
    notifications: AtomicU64,
    listener_connects: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> StoreStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreStats {
            db_calls: get(&self.db_calls),
            db_errors: get(&self.db_errors),
            db_micros: get(&self.db_micros),
            notifications: get(&self.notifications),
            listener_connects: get(&self.listener_connects),
        }
    }
}

/// The parsed templates, and the listing built from them.
#[derive(Default)]
struct Index {
    by_name: HashMap<TemplateName, Arc<Template>>,
    listing: Listing,
}

impl Index {
    fn new(by_name: HashMap<TemplateName, Arc<Template>>) -> Self {
        let listing = Listing::new(by_name.values().cloned());
        Self { by_name, listing }
    }
}

impl PgStore {
    /// Connects, applies the migrations, loads every template, and starts
    /// the listener thread.
    pub fn open(options: PgOptions) -> Result<Self, StoreError> {
        let mut config: postgres::Config = options.url.parse().map_err(|e| {
            // The parser's message names the bad part, not the whole string.
            backend(format!("invalid postgres connection string: {e}"))
        })?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("mcp-file-templates");
        }
        let shared = Arc::new(Shared {
            stats: Counters::default(),
            config,
            limits: options.limits,
            resync_interval: options.resync_interval,
            client: Mutex::new(None),
            index: ArcSwap::default(),
            stop: AtomicBool::new(false),
        });
        let loaded = shared.with_client(|client| {
            migrate(client)?;
            load_all(client)
        })?;
        shared.index.store(Arc::new(Index::new(loaded)));
        let listener = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("pg-template-listener".to_owned())
                .spawn(move || listen(&shared))
                .map_err(|e| backend(format!("cannot start the listener thread: {e}")))?
        };
        Ok(Self {
            shared,
            listener: Some(listener),
        })
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &StoreLimits {
        &self.shared.limits
    }

    /// Whether the database answers now (one round trip): for readiness.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.shared
            .with_client(|client| client.simple_query("SELECT 1").map(drop))
    }

    /// Compares every version with the database and reloads what differs,
    /// as the listener does after a reconnect.
    pub fn resync(&self) -> Result<(), StoreError> {
        self.shared
            .with_client(|client| resync(client, &self.shared.index))
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Closing a `postgres` connection runs its own runtime, which may
        // not happen on an async worker (the last reference to a server's
        // store is dropped on one): close it on a thread of its own.
        let client = self
            .shared
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Ok(closer) = std::thread::Builder::new()
            .name("pg-template-close".to_owned())
            .spawn(move || drop(client))
        {
            let _ = closer.join();
        }
        if let Some(listener) = self.listener.take() {
            // The listener wakes at least once a second to see `stop`.
            let _ = listener.join();
        }
    }
}

impl Shared {
    /// Runs `f` on the shared connection, (re)connecting first when there is
    /// none or it broke; a connection that breaks during `f` is dropped, so
    /// the next call reconnects instead of failing on it again.
    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = self.with_client_uncounted(f);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.db_calls.fetch_add(1, Ordering::Relaxed);
        self.stats.db_micros.fetch_add(micros, Ordering::Relaxed);
        if result.is_err() {
            self.stats.db_errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn with_client_uncounted<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut slot = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        let client = match slot.take() {
            Some(client) if !client.is_closed() => slot.insert(client),
            _ => slot.insert(connect(&self.config)?),
        };
        let result = f(client);
        if client.is_closed() {
            *slot = None;
        }
        result.map_err(db)
    }
}

impl TemplateStore for PgStore {
    fn list(&self) -> Result<Listing, StoreError> {
        Ok(self.shared.index.load().listing.clone())
    }

    fn get(&self, name: &TemplateName) -> Result<Template, StoreError> {
        if let Some(template) = self.shared.index.load().by_name.get(name) {
            return Ok(Template::clone(template));
        }
        // Not known here: perhaps saved through another replica a moment
        // ago, before its notification arrived.
        match self.shared.with_client(|client| load_one(client, name))? {
            Some(template) => {
                remember(&self.shared.index, name, Some(Arc::clone(&template)));
                Ok(Template::clone(&template))
            }
            None => Err(StoreError::NotFound(name.clone())),
        }
    }

    fn save(
        &self,
        name: &TemplateName,
        draft: TemplateDraft,
        expected_version: Option<&Version>,
    ) -> Result<SaveOutcome, StoreError> {
        let (text, template) = prepare_save(name, &draft, self.shared.limits.max_template_bytes)?;
        let template = Arc::new(template);
        let version = template.meta.version.as_str();

        let outcome = self.shared.with_client(|client| {
            let mut tx = client.transaction()?;
            let written = match expected_version {
                None => tx.execute(
                    "INSERT INTO mcp_templates (name, version, source) \
                     SELECT $1, $2, $3 WHERE (SELECT count(*) FROM mcp_templates) < $4 \
                     ON CONFLICT (name) DO NOTHING",
                    &[
                        &name.as_str(),
                        &version,
                        &text,
                        &i64::try_from(self.shared.limits.max_templates).unwrap_or(i64::MAX),
                    ],
                )?,
                Some(expected) => tx.execute(
                    "UPDATE mcp_templates SET version = $3, source = $4, updated_at = now() \
                     WHERE name = $1 AND version = $2",
                    &[&name.as_str(), &expected.as_str(), &version, &text],
                )?,
            };
            if written == 0 {
                let current = current_version(&mut tx, name)?;
                return Ok(Err(match (expected_version, current) {
                    (None, None) => StoreError::TooManyTemplates {
                        limit: self.shared.limits.max_templates,
                    },
                    (Some(_), None) => StoreError::NotFound(name.clone()),
                    (expected, current) => StoreError::Conflict {
                        name: name.clone(),
                        expected: expected.cloned(),
                        current,
                    },
                }));
            }
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &name.as_str()])?;
            tx.commit()?;
            let meta = template.meta.clone();
            Ok(Ok(match expected_version {
                None => SaveOutcome::Created(meta),
                Some(_) => SaveOutcome::Updated(meta),
            }))
        })??;
        remember(&self.shared.index, name, Some(template));
        Ok(outcome)
    }

    fn health(&self) -> Result<(), StoreError> {
        self.ping()
    }

    fn stats(&self) -> Option<StoreStats> {
        Some(self.shared.stats.snapshot())
    }

    fn delete(&self, name: &TemplateName, expected_version: &Version) -> Result<(), StoreError> {
        self.shared.with_client(|client| {
            let mut tx = client.transaction()?;
            let deleted = tx.execute(
                "DELETE FROM mcp_templates WHERE name = $1 AND version = $2",
                &[&name.as_str(), &expected_version.as_str()],
            )?;
            if deleted == 0 {
                return Ok(Err(match current_version(&mut tx, name)? {
                    None => StoreError::NotFound(name.clone()),
                    current => StoreError::Conflict {
                        name: name.clone(),
                        expected: Some(expected_version.clone()),
                        current,
                    },
                }));
            }
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &name.as_str()])?;
            tx.commit()?;
            Ok(Ok(()))
        })??;
        remember(&self.shared.index, name, None);
        Ok(())
    }
}

/// The listener: `LISTEN`, resync, then reload each notified name; on any
/// error reconnect with backoff (1 s doubling to [`MAX_BACKOFF`]) and resync.
fn listen(shared: &Shared) {
    let mut backoff = Duration::from_secs(1);
    while !shared.stop.load(Ordering::Relaxed) {
        match listen_once(shared) {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    retry_in_secs = backoff.as_secs(),
                    "template store listener lost the database; templates are served from memory until it is back"
                );
            }
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !shared.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's worth of listening; `Ok` only when asked to stop.
fn listen_once(shared: &Shared) -> Result<(), StoreError> {
    let mut client = connect(&shared.config)?;
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .map_err(db)?;
    shared
        .stats
        .listener_connects
        .fetch_add(1, Ordering::Relaxed);
    resync(&mut client, &shared.index).map_err(db)?;
    let mut last_resync = Instant::now();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut names = Vec::new();
        {
            // Wait up to a second for the first notification (so `stop` is
            // seen), then take the ones already received without waiting.
            let mut notifications = client.notifications();
            let first = notifications
                .timeout_iter(Duration::from_secs(1))
                .next()
                .map_err(db)?;
            if let Some(first) = first {
                names.push(first.payload().to_owned());
                let mut pending = notifications.iter();
                while let Some(notification) = pending.next().map_err(db)? {
                    names.push(notification.payload().to_owned());
                }
            }
        }
        shared.stats.notifications.fetch_add(
            u64::try_from(names.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        names.sort_unstable();
        names.dedup();
        for raw in names {
            match TemplateName::parse(&raw) {
                Ok(name) => {
                    let template = load_one(&mut client, &name).map_err(db)?;
                    remember(&shared.index, &name, template);
                }
                Err(_) => tracing::warn!(
                    payload = %raw.escape_debug(),
                    "ignored a template notification that names no valid template"
                ),
            }
        }
        if last_resync.elapsed() >= shared.resync_interval {
            resync(&mut client, &shared.index).map_err(db)?;
            last_resync = Instant::now();
        }
        if client.is_closed() {
            return Err(backend("the listener's connection closed".to_owned()));
        }
    }
}

fn connect(config: &postgres::Config) -> Result<Client, StoreError> {
    config.connect(NoTls).map_err(db)
}

fn migrate(client: &mut Client) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mcp_schema_migrations (\
         version integer PRIMARY KEY, \
         applied_at timestamptz NOT NULL DEFAULT now())",
    )?;
    for (version, sql) in MIGRATIONS {
        let applied = tx
            .query_opt(
                "SELECT 1 FROM mcp_schema_migrations WHERE version = $1",
                &[version],
            )?
            .is_some();
        if !applied {
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO mcp_schema_migrations (version) VALUES ($1)",
                &[version],
            )?;
            tracing::info!(version, "applied template store migration");
        }
    }
    tx.commit()
}

/// Every valid template; invalid rows are logged and skipped, as the
/// filesystem store skips invalid files.
fn load_all(client: &mut Client) -> Result<HashMap<TemplateName, Arc<Template>>, postgres::Error> {
    let rows = client.query("SELECT name, source FROM mcp_templates", &[])?;
    Ok(rows
        .iter()
        .filter_map(|row| parse_row(row.get(0), row.get(1)))
        .map(|t| (t.meta.name.clone(), t))
        .collect())
}

/// One template as the database holds it now; `None` when there is none
/// (or the row is invalid).
fn load_one(
    client: &mut impl postgres::GenericClient,
    name: &TemplateName,
) -> Result<Option<Arc<Template>>, postgres::Error> {
    let row = client.query_opt(
        "SELECT name, source FROM mcp_templates WHERE name = $1",
        &[&name.as_str()],
    )?;
    Ok(row.and_then(|row| parse_row(row.get(0), row.get(1))))
}

fn parse_row(name: &str, source: &str) -> Option<Arc<Template>> {
    let parsed_name = match TemplateName::parse(name) {
        Ok(name) => name,
        Err(e) => {
            tracing::warn!(name = %name.escape_debug(), error = %e, "skipped a template row with an invalid name");
            return None;
        }
    };
    match parse_file(&parsed_name, source.as_bytes()) {
        Ok(parsed) => Some(Arc::new(parsed.template)),
        Err(reason) => {
            tracing::warn!(name = %parsed_name, %reason, "skipped an invalid template row");
            None
        }
    }
}

/// Reloads every template whose version in the database differs from the
/// one in memory, and forgets those no longer there.
fn resync(client: &mut Client, index: &ArcSwap<Index>) -> Result<(), postgres::Error> {
    let rows = client.query("SELECT name, version FROM mcp_templates", &[])?;
    let current = index.load();
    let mut changed = Vec::new();
    let mut present = std::collections::HashSet::new();
    for row in &rows {
        let name: &str = row.get(0);
        let version: &str = row.get(1);
        let Ok(name) = TemplateName::parse(name) else {
            continue;
        };
        let known = current
            .by_name
            .get(&name)
            .is_some_and(|t| t.meta.version.as_str() == version);
        if !known {
            changed.push(name.clone());
        }
        present.insert(name);
    }
    let gone: Vec<TemplateName> = current
        .by_name
        .keys()
        .filter(|name| !present.contains(*name))
        .cloned()
        .collect();
    drop(current);
    for name in changed {
        let template = load_one(client, &name)?;
        remember(index, &name, template);
    }
    for name in gone {
        remember(index, &name, None);
    }
    Ok(())
}

/// Puts `template` (or its absence) into the index.
fn remember(index: &ArcSwap<Index>, name: &TemplateName, template: Option<Arc<Template>>) {
    index.rcu(|current| {
        let unchanged = match (&template, current.by_name.get(name)) {
            (Some(new), Some(old)) => new.meta.version == old.meta.version,
            (None, None) => true,
            _ => false,
        };
        if unchanged {
            return Arc::clone(current);
        }
        let mut by_name = current.by_name.clone();
        match &template {
            Some(t) => by_name.insert(name.clone(), Arc::clone(t)),
            None => by_name.remove(name),
        };
        Arc::new(Index::new(by_name))
    });
}

fn current_version(
    tx: &mut postgres::Transaction<'_>,
    name: &TemplateName,
) -> Result<Option<Version>, postgres::Error> {
    let row = tx.query_opt(
        "SELECT version FROM mcp_templates WHERE name = $1",
        &[&name.as_str()],
    )?;
    Ok(row.and_then(|row| Version::parse(row.get(0)).ok()))
}

fn backend(message: String) -> StoreError {
    StoreError::Backend { message }
}

/// A database error as a store error. `postgres::Error`'s display names
/// the failing step and the server's message, never the connection string.
fn db(e: postgres::Error) -> StoreError {
    backend(format!("postgres: {e}"))
}
