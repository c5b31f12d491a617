//! MCP sessions with owners and limits (stateful mode only).
//!
//! Two pieces share one [`Sessions`] registry:
//!
//! - [`OwnedSessionManager`] is the `rmcp` `SessionManager`: it delegates
//!   every operation to rmcp's `LocalSessionManager` and, when a session ends
//!   (`DELETE`, idle timeout, init timeout, shutdown: rmcp calls
//!   `close_session` for each), forgets its owner and frees its slot. So the
//!   registry holds exactly the live sessions, pruned in O(1) per session as
//!   it ends, with no scan and no timer.
//! - `authz::authorize` (the middleware) reserves a slot for the caller
//!   before an `initialize` reaches rmcp ([`Sessions::reserve`]), binds the
//!   new session id to the caller when rmcp answers with one
//!   ([`Reservation::bind`]) and checks the owner of every later request
//!   that names a session ([`Sessions::owned_by`]).
//!
//! Limits (MCP security best practices, "session hijacking" and resource
//! exhaustion): at most [`SessionLimits::max_per_owner`] live sessions per
//! owner (HTTP 429 beyond) and [`SessionLimits::max_total`] in all (HTTP 503
//! beyond), both with `Retry-After`. A reservation counts against both
//! limits from the check on, so concurrent `initialize` requests cannot
//! overshoot them.
//!
//! The registry is two lock-free maps (`papaya`) and an atomic: no request
//! waits on a lock held by another, and no lock can be poisoned. A session id
//! without a bound owner is refused like a foreign one (fail closed).
//!
//! With `sessions.backend = "redis"` ([`shared`]) the registry is this
//! replica's cache of the shared records: a session created elsewhere is
//! adopted ([`Sessions::adopt`]) once its shared owner is checked, and a
//! session held here is re-checked against Redis at most once per
//! [`RECHECK_EVERY`] ([`Sessions::claim_recheck`]). The limits count the
//! sessions this replica holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::{EventStore, ServerSseMessage};
use rmcp::transport::streamable_http_server::{RestoreOutcome, SessionId, SessionManager};

use crate::identity::Owner;

pub mod shared;

/// How stale this replica's view of a shared session may be: a session
/// deleted through another replica (or lost with Redis) is refused here at
/// most this much later, and a session in use renews its shared expiry once
/// per period, not once per request.
pub const RECHECK_EVERY: Duration = Duration::from_secs(1);

/// How many sessions may live, and for how long they may idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Live sessions one owner (issuer + subject or client) may hold.
    pub max_per_owner: usize,
    /// Live sessions in all.
    pub max_total: usize,
    /// A session with no request for this long is closed.
    pub idle_timeout: Duration,
}

impl SessionLimits {
    /// Default [`SessionLimits::max_per_owner`]: far above what one client
    /// needs (one session per connection), far below what hurts the server.
    pub const DEFAULT_MAX_PER_OWNER: usize = 100;
    /// Default [`SessionLimits::max_total`].
    pub const DEFAULT_MAX_TOTAL: usize = 10_000;
    /// Default [`SessionLimits::idle_timeout`]: rmcp's own default.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = SessionConfig::DEFAULT_KEEP_ALIVE;
    /// `Retry-After` of a refusal: sessions free up as clients close them or
    /// as they idle out, neither of which the server can predict.
    pub const RETRY_AFTER_SECS: u64 = 30;
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_per_owner: Self::DEFAULT_MAX_PER_OWNER,
            max_total: Self::DEFAULT_MAX_TOTAL,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Why no session slot was free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    /// The caller holds [`SessionLimits::max_per_owner`] sessions.
    #[error("this caller already holds the most sessions allowed")]
    Owner,
    /// The server holds [`SessionLimits::max_total`] sessions.
    #[error("the server holds the most sessions allowed")]
    Total,
}

impl Full {
    /// Metrics reason.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Owner => "session_limit_owner",
            Self::Total => "session_limit_total",
        }
    }
}

/// Whether a session id belongs to a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// The session is bound to this caller.
    Owned,
    /// The session is bound to someone else.
    Foreign,
    /// No live session has this id (or it has no owner yet).
    Unknown,
}

/// The live sessions, their owners and the counts the limits apply to.
#[derive(Debug)]
pub struct Sessions {
    limits: SessionLimits,
    owners: papaya::HashMap<SessionId, Bound>,
    counts: papaya::HashMap<Owner, usize>,
    total: AtomicUsize,
    /// The zero of [`Bound::checked_ms`].
    epoch: Instant,
}

/// A session's owner and when the shared record was last confirmed.
#[derive(Debug)]
struct Bound {
    owner: Owner,
    /// Milliseconds since [`Sessions::epoch`].
    checked_ms: AtomicU64,
}

impl Sessions {
    /// An empty registry enforcing `limits`.
    #[must_use]
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            limits,
            owners: papaya::HashMap::new(),
            counts: papaya::HashMap::new(),
            total: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The limits enforced.
    #[must_use]
    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// Live sessions plus reservations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Whether no session lives and none is reserved.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether session `id` belongs to `owner`. Allocates nothing.
    #[must_use]
    pub fn owned_by(&self, id: &str, is_owner: impl FnOnce(&Owner) -> bool) -> Ownership {
        match self.owners.pin().get(id) {
            Some(bound) if is_owner(&bound.owner) => Ownership::Owned,
            Some(_) => Ownership::Foreign,
            None => Ownership::Unknown,
        }
    }

    /// Whether the caller should re-check session `id` against the shared
    /// store now: `true` for exactly one caller per `every` per session.
    #[must_use]
    pub fn claim_recheck(&self, id: &str, every: Duration) -> bool {
        let now = self.now_ms();
        let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        let owners = self.owners.pin();
        let Some(bound) = owners.get(id) else {
            return false;
        };
        let last = bound.checked_ms.load(Ordering::Acquire);
        now.saturating_sub(last) >= every
            && bound
                .checked_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Takes a slot for session `id`, created by another replica and owned
    /// by `owner` (checked by the caller), and binds it.
    ///
    /// # Errors
    /// [`Full`] when either limit is reached; nothing is taken then.
    pub fn adopt(self: &Arc<Self>, id: SessionId, owner: Owner) -> Result<(), Full> {
        self.reserve(owner)?.bind(id);
        Ok(())
    }

    /// Takes a slot for a session `owner` is about to create.
    ///
    /// # Errors
    /// [`Full`] when either limit is reached; nothing is taken then.
    pub fn reserve(self: &Arc<Self>, owner: Owner) -> Result<Reservation, Full> {
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limits.max_total).then_some(n + 1)
            })
            .map_err(|_| Full::Total)?;
        let max = self.limits.max_per_owner;
        let counts = self.counts.pin();
        let taken = counts.compute(owner.clone(), |entry| match entry {
            Some((_, &n)) if n >= max => papaya::Operation::Abort(()),
            Some((_, &n)) => papaya::Operation::Insert(n + 1),
            None if max == 0 => papaya::Operation::Abort(()),
            None => papaya::Operation::Insert(1),
        });
        let aborted = matches!(taken, papaya::Compute::Aborted(()));
        drop(counts);
        if aborted {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Full::Owner);
        }
        Ok(Reservation {
            sessions: Arc::clone(self),
            owner: Some(owner),
        })
    }

    /// Forgets session `id` and frees its slot; nothing when it is unknown
    /// (rmcp may close one session twice: on `DELETE`, then as its worker ends).
    pub fn forget(&self, id: &str) {
        let removed = self
            .owners
            .pin()
            .remove(id)
            .map(|bound| bound.owner.clone());
        if let Some(owner) = removed {
            self.release(owner);
        }
    }

    fn release(&self, owner: Owner) {
        self.counts.pin().compute(owner, |entry| match entry {
            Some((_, &n)) if n > 1 => papaya::Operation::Insert(n - 1),
            Some(_) => papaya::Operation::Remove,
            None => papaya::Operation::Abort(()),
        });
        self.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A slot taken by [`Sessions::reserve`]: bound to a session id by
/// [`Reservation::bind`], or freed when dropped.
#[derive(Debug)]
#[must_use = "a reservation is freed when dropped"]
pub struct Reservation {
    sessions: Arc<Sessions>,
    owner: Option<Owner>,
}

impl Reservation {
    /// The caller the slot is held for.
    #[must_use]
    pub fn owner(&self) -> Option<&Owner> {
        self.owner.as_ref()
    }

    /// Makes the slot session `id`'s, owned by the reserving caller. When
    /// `id` is bound already (two requests adopting one shared session at
    /// once), the slot is freed instead: one session holds one slot.
    pub fn bind(mut self, id: SessionId) {
        let Some(owner) = self.owner.take() else {
            return;
        };
        let bound = Bound {
            owner: owner.clone(),
            checked_ms: AtomicU64::new(self.sessions.now_ms()),
        };
        if self.sessions.owners.pin().try_insert(id, bound).is_err() {
            // Dropping `self` now frees the slot.
            self.owner = Some(owner);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            self.sessions.release(owner);
        }
    }
}

/// rmcp's `LocalSessionManager`, telling [`Sessions`] when a session ends.
#[derive(Debug)]
pub struct OwnedSessionManager {
    inner: LocalSessionManager,
    sessions: Arc<Sessions>,
}

impl OwnedSessionManager {
    /// A manager whose sessions idle out after `sessions`' idle timeout.
    #[must_use]
    pub fn new(sessions: Arc<Sessions>) -> Self {
        let mut inner = LocalSessionManager::default();
        inner.session_config.keep_alive = Some(sessions.limits.idle_timeout);
        Self { inner, sessions }
    }

    /// The registry this manager reports to.
    #[must_use]
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }
}

impl SessionManager for OwnedSessionManager {
    type Error = LocalSessionManagerError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let closed = self.inner.close_session(id).await;
        self.sessions.forget(id);
        closed
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }

    /// rmcp calls this only with a session store configured
    /// ([`shared::SharedSessions`]), after `authz::authorize` has adopted the
    /// session for its owner.
    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.inner.restore_session(id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}

#[cfg(test)]
mod tests;
