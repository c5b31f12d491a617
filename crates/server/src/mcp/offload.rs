//! Rendering and template store I/O off the async workers, a bounded number
//! at a time: [`Offload`].
//!
//! A render may burn its whole fuel budget (about 14 ms of CPU in a release
//! build, more on a busy machine) and a store call `stat`s, reads, parses or
//! `fsync`s files. On a tokio worker either one stalls every other request
//! scheduled there, so each runs on tokio's blocking pool
//! (`spawn_blocking`), and only [`OffloadLimits::max_concurrent`] of them at
//! once: a caller first takes a slot of one semaphore, waiting at most
//! [`OffloadLimits::max_wait`], and otherwise gets
//! [`OffloadError::Busy`], which the tools report as an `isError` result
//! with the `busy` outcome (and resources and the prompt as a JSON-RPC
//! internal error): a precise answer the caller can retry, never a 500.
//! A panic in the blocking work comes back as [`OffloadError::Panicked`].
//!
//! The slot is held by the blocking work itself, not by the request: a
//! request that times out or is cancelled while its render runs leaves the
//! slot taken until the render ends, so the count is the work really in
//! progress.
//!
//! Why the semaphore lives here and not in the store: what it rations is
//! this server's blocking threads and CPU, which renders (the `Renderer`,
//! not part of the store) and store calls share, so one semaphore must
//! cover both; `templates` is a synchronous, runtime-agnostic library whose
//! other backends should not inherit a tokio semaphore, and a blocking
//! semaphore inside it would park the very thread it was meant to spare;
//! and "busy, retry" is an answer to an MCP caller, which only this crate
//! speaks. Listing (`list_templates`, `resources/list`) takes no slot: the
//! store answers it from memory without I/O, so it stays available while
//! every slot is taken. The store's index refresher (`crate::deps`) takes
//! none either: it is one task running one refresh at a time.
//!
//! Cost on the steady-state path: one semaphore acquire and one
//! `spawn_blocking` (a boxed task handed to the blocking pool, a few
//! microseconds with a thread switch each way) per render or store call.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// How much rendering and store I/O runs at once, and how long a caller
/// waits for a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffloadLimits {
    /// Renders and store calls running at once on blocking threads.
    pub max_concurrent: usize,
    /// How long a caller waits for a slot before it is told the server is
    /// busy.
    pub max_wait: Duration,
}

impl OffloadLimits {
    /// Slots per CPU by default: a render is CPU-bound, a store call mostly
    /// waits on the disk, so a little more than one per CPU keeps the CPUs
    /// busy without queueing a backlog of work on the OS scheduler.
    pub const SLOTS_PER_CPU: usize = 2;
    /// Most slots there may be: tokio's default blocking pool size. Beyond
    /// it, work would queue inside tokio, where no caller's wait is bounded.
    pub const MAX_SLOTS: usize = 512;
    /// How long a caller waits for a slot by default: about seventy
    /// worst-case renders per slot, far below the request timeout.
    pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(1);

    /// [`Self::SLOTS_PER_CPU`] slots for each CPU this process may use (one
    /// if that cannot be told), and [`Self::DEFAULT_MAX_WAIT`].
    #[must_use]
    pub fn for_this_machine() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self {
            max_concurrent: cpus
                .saturating_mul(Self::SLOTS_PER_CPU)
                .min(Self::MAX_SLOTS),
            max_wait: Self::DEFAULT_MAX_WAIT,
        }
    }
}

/// Why offloaded work did not produce its result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OffloadError {
    /// Every slot stayed taken for the whole `max_wait`; nothing was run.
    #[error("every render and store slot stayed taken for {0:?}")]
    Busy(Duration),
    /// The work panicked; the panic was caught on its blocking thread.
    #[error("the render or store call panicked")]
    Panicked,
    /// The runtime shut down before the work ran to completion.
    #[error("the render or store call was cancelled by shutdown")]
    Cancelled,
}

/// Runs blocking work on tokio's blocking pool, at most `max_concurrent`
/// at a time (see the module doc). Cheap to clone: the slots are shared.
#[derive(Clone, Debug)]
pub struct Offload {
    slots: Arc<Semaphore>,
    max_wait: Duration,
}

impl Offload {
    /// `limits.max_concurrent` slots (at least one, at most
    /// [`OffloadLimits::MAX_SLOTS`]).
    pub fn new(limits: OffloadLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(
                limits.max_concurrent.clamp(1, OffloadLimits::MAX_SLOTS),
            )),
            max_wait: limits.max_wait,
        }
    }

    /// Runs `work` on a blocking thread once a slot is free, and returns its
    /// result. Waits at most `max_wait` for the slot (first come, first
    /// served); the slot is released when `work` returns or panics.
    pub async fn run<T, F>(&self, work: F) -> Result<T, OffloadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = match tokio::time::timeout(
            self.max_wait,
            Arc::clone(&self.slots).acquire_owned(),
        )
        .await
        {
            Ok(Ok(slot)) => slot,
            Err(_elapsed) => return Err(OffloadError::Busy(self.max_wait)),
            // The semaphore is never closed; treat it as shutting down.
            Ok(Err(_closed)) => return Err(OffloadError::Cancelled),
        };
        let task = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        });
        match task.await {
            Ok(value) => Ok(value),
            Err(error) if error.is_panic() => {
                tracing::error!(%error, "a render or store call panicked");
                Err(OffloadError::Panicked)
            }
            Err(_) => Err(OffloadError::Cancelled),
        }
    }

    /// Slots free now (for tests and diagnostics).
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests;
