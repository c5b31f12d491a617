//! MCP sessions shared by every replica, in Redis (`sessions.backend =
//! "redis"`).
//!
//! One hash per session, `mcp-file-templates:session:<id>`, with two
//! fields and one expiry:
//!
//! - `state`: what rmcp needs to bring the session back on a replica that
//!   has never seen it (its `SessionState`, the client's `initialize`
//!   parameters). rmcp writes it after the handshake, reads it on a miss and
//!   deletes the hash on `DELETE`, through the [`SessionStore`] impl here.
//! - `owner`: the [`Owner`] (issuer + subject or client), written by
//!   `authz::authorize` before the `initialize` answer leaves the replica, so
//!   no client can present the id before its owner is known everywhere. A
//!   hash without an owner is nobody's: every replica answers 404 (fail
//!   closed).
//! - The expiry is the idle timeout, renewed while the session is used
//!   ([`SharedSessions::touch`]), so a session expires in Redis as it does
//!   in memory.
//!
//! Every call is one round trip on one multiplexed, reconnecting connection
//! (`redis::aio::ConnectionManager`) with short timeouts, and is counted in
//! [`SharedStats`]. When Redis cannot be reached the replicas keep serving
//! the sessions they hold; a session they do not hold is answered 404, which
//! tells a client to initialize again (MCP transport, "Session
//! management").

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};

use crate::config::Secret;
use crate::identity::Owner;

/// Prefix of every key this server writes, so that a Redis shared with
/// other applications stays readable.
const KEY_PREFIX: &str = "mcp-file-templates:session:";
const FIELD_STATE: &str = "state";
const FIELD_OWNER: &str = "owner";
/// A connection attempt that takes longer has failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A command that takes longer has failed: a request waits at most this
/// long on Redis.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// Why a shared-session call failed. Neither variant carries the URL or
/// its password.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// The `redis://` URL is not one the client accepts.
    #[error("sessions.redis_url is not a valid redis:// URL ({0})")]
    Url(String),
    /// Redis could not be reached or refused the command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored field is not what this server writes.
    #[error("a stored session field is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Calls to Redis, read by `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedStats {
    /// Commands sent.
    pub calls: u64,
    /// Commands that failed (unreachable, timed out, refused).
    pub errors: u64,
    /// Time spent waiting on Redis, in microseconds.
    pub micros: u64,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    micros: AtomicU64,
}

/// The Redis-backed session records; see the module documentation.
pub struct SharedSessions {
    connection: ConnectionManager,
    ttl: Duration,
    counters: Counters,
}

impl std::fmt::Debug for SharedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSessions")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SharedSessions {
    /// A client for `url` whose records expire after `ttl` unused. Connects
    /// lazily: a replica starts while Redis is down, and `/readyz` says so.
    /// Must run inside a Tokio runtime.
    ///
    /// # Errors
    /// [`SharedError::Url`] when `url` is not a Redis URL.
    pub fn new(url: &Secret, ttl: Duration) -> Result<Self, SharedError> {
        // The client's own message may quote the URL, password included.
        let client = redis::Client::open(url.expose())
            .map_err(|e| SharedError::Url(e.category().to_owned()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            connection,
            ttl,
            counters: Counters::default(),
        })
    }

    /// How long an unused record lives.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Who owns session `id`: `None` when no replica created it, it ended,
    /// or it expired.
    ///
    /// # Errors
    /// [`SharedError`] when Redis cannot answer or the record is corrupt.
    pub async fn owner(&self, id: &str) -> Result<Option<Owner>, SharedError> {
        let key = key(id);
        let json: Option<String> = self
            .timed(|mut c| {
                let key = key.clone();
                async move { c.hget(key, FIELD_OWNER).await }
            })
            .await?;
        Ok(json.as_deref().map(serde_json::from_str).transpose()?)
    }

    /// Records `owner` as the owner of session `id` and restarts its expiry.
    ///
    /// # Errors
    /// [`SharedError`] when Redis cannot answer.
    pub async fn bind(&self, id: &str, owner: &Owner) -> Result<(), SharedError> {
        self.set_field(id, FIELD_OWNER, serde_json::to_string(owner)?)
            .await
    }

    /// Restarts the expiry of session `id`; `false` when it has no record
    /// any more (deleted through another replica, expired, or lost with a
    /// Redis restart).
    ///
    /// # Errors
    /// [`SharedError`] when Redis cannot answer.
    pub async fn touch(&self, id: &str) -> Result<bool, SharedError> {
        let (key, ttl) = (key(id), self.ttl_millis());
        self.timed(|mut c| {
            let key = key.clone();
            async move { c.pexpire(key, ttl).await }
        })
        .await
    }

    /// One `PING`: whether Redis answers now.
    ///
    /// # Errors
    /// [`SharedError`] when it does not.
    pub async fn ping(&self) -> Result<(), SharedError> {
        self.timed(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
            .await
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> SharedStats {
        SharedStats {
            calls: self.counters.calls.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            micros: self.counters.micros.load(Ordering::Relaxed),
        }
    }

    fn ttl_millis(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Sets one field of session `id`'s hash and restarts its expiry, in
    /// one atomic round trip.
    async fn set_field(&self, id: &str, field: &str, value: String) -> Result<(), SharedError> {
        let key = key(id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(&key, field, value)
            .ignore()
            .pexpire(&key, self.ttl_millis())
            .ignore();
        self.timed(|mut c| {
            let pipe = pipe.clone();
            async move { pipe.query_async::<()>(&mut c).await }
        })
        .await
    }

    /// Runs `call` on the connection, counted and timed. Every command here
    /// is idempotent, so one that failed because the connection dropped
    /// (Redis restarted, a network blip) is sent once more: the connection
    /// manager has reconnected by then, or the second failure is reported.
    async fn timed<T, F, Fut>(&self, call: F) -> Result<T, SharedError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let mut retried = false;
        loop {
            let started = Instant::now();
            let result = call(self.connection.clone()).await;
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.counters.calls.fetch_add(1, Ordering::Relaxed);
            self.counters.micros.fetch_add(micros, Ordering::Relaxed);
            match result {
                Ok(value) => return Ok(value),
                Err(error) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    let dropped = error.is_connection_dropped()
                        || error.is_io_error()
                        || error.is_connection_refusal();
                    if retried || !dropped {
                        return Err(error.into());
                    }
                    retried = true;
                }
            }
        }
    }
}

fn key(id: &str) -> String {
    format!("{KEY_PREFIX}{id}")
}

#[async_trait::async_trait]
impl SessionStore for SharedSessions {
    /// A record that cannot be read is answered as absent: rmcp then
    /// answers 404 and the client initializes again, where an error would
    /// become a 500.
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let key = key(session_id);
        let json: Result<Option<String>, _> = self
            .timed(|mut c| {
                let key = key.clone();
                async move { c.hget(key, FIELD_STATE).await }
            })
            .await;
        let state = json.and_then(|json| {
            Ok(json
                .as_deref()
                .map(serde_json::from_str::<SessionState>)
                .transpose()?)
        });
        Ok(state.unwrap_or_else(|error| {
            tracing::warn!(%error, "shared session could not be read; answering as unknown");
            None
        }))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let state = serde_json::to_string(state)?;
        Ok(self.set_field(session_id, FIELD_STATE, state).await?)
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        let key = key(session_id);
        Ok(self
            .timed(|mut c| {
                let key = key.clone();
                async move { c.del::<_, ()>(key).await }
            })
            .await?)
    }
}
