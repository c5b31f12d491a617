//! Unit tests of [`Offload`]: the bounded wait, the bound on work at once,
//! panics as errors, and slots held by the work rather than by its caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::{Offload, OffloadError, OffloadLimits};

fn offload(max_concurrent: usize, max_wait: Duration) -> Offload {
    Offload::new(OffloadLimits {
        max_concurrent,
        max_wait,
    })
}

/// Polls until `offload` has `free` free slots (bounded: a missed state
/// fails the test instead of hanging it).
async fn until_free(offload: &Offload, free: usize) {
    for _ in 0..1000 {
        if offload.free_slots() == free {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{} free slots, expected {free}", offload.free_slots());
}

/// Takes one slot with work that blocks until the returned sender is dropped
/// or sent to; returns the sender and the caller's task.
async fn hold_one_slot(
    offload: &Offload,
) -> (
    mpsc::Sender<()>,
    tokio::task::JoinHandle<Result<(), OffloadError>>,
) {
    let before = offload.free_slots();
    let (release, wait) = mpsc::channel::<()>();
    let caller = {
        let offload = offload.clone();
        tokio::spawn(async move {
            offload
                .run(move || {
                    let _ = wait.recv();
                })
                .await
        })
    };
    until_free(offload, before - 1).await;
    (release, caller)
}

#[tokio::test]
async fn a_caller_waits_at_most_max_wait_then_gets_busy() {
    let offload = offload(1, Duration::from_millis(50));
    let (release, holder) = hold_one_slot(&offload).await;

    match offload.run(|| "never run").await {
        Err(OffloadError::Busy(waited)) => assert_eq!(waited, Duration::from_millis(50)),
        other => panic!("expected Busy, got {other:?}"),
    }

    drop(release);
    assert!(matches!(holder.await, Ok(Ok(()))));
    assert_eq!(offload.run(|| 7).await.ok(), Some(7));
}

#[tokio::test]
async fn a_panic_in_the_work_is_a_typed_error_and_frees_its_slot() {
    let offload = offload(1, Duration::from_secs(5));
    let result: Result<(), OffloadError> = offload.run(|| panic!("boom in a render")).await;
    assert!(matches!(result, Err(OffloadError::Panicked)), "{result:?}");
    assert_eq!(offload.free_slots(), 1);
    assert_eq!(offload.run(|| 7).await.ok(), Some(7));
}

#[tokio::test]
async fn no_more_work_than_slots_runs_at_once() {
    let offload = offload(2, Duration::from_secs(30));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let calls = (0..8).map(|_| {
        let (running, most) = (Arc::clone(&running), Arc::clone(&most));
        let offload = offload.clone();
        async move {
            offload
                .run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
        }
    });
    for result in futures::future::join_all(calls).await {
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(most.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_work_keeps_its_slot_after_its_caller_gives_up() {
    let offload = offload(1, Duration::from_secs(5));
    let (release, caller) = hold_one_slot(&offload).await;
    // The request timed out or its client went away: the caller is dropped,
    // the work on the blocking thread is not, and neither is its slot.
    caller.abort();
    assert!(caller.await.is_err_and(|e| e.is_cancelled()));
    assert_eq!(offload.free_slots(), 0);
    drop(release);
    until_free(&offload, 1).await;
}

#[test]
fn the_default_is_two_slots_per_cpu_and_a_one_second_wait() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limits = OffloadLimits::for_this_machine();
    assert_eq!(limits.max_concurrent, (2 * cpus).min(512));
    assert_eq!(limits.max_wait, Duration::from_secs(1));
}
