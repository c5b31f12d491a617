//! [`TokenBucket`]: a lock-free token bucket that bounds how often the
//! introspection endpoint is called for tokens local validation cannot
//! decide (see [`crate::IntrospectionConfig::calls_per_sec`]).
//!
//! It is the Generic Cell Rate Algorithm (GCRA, the algorithm of the
//! `governor` crate), which keeps a token bucket in one number: the
//! theoretical arrival time (TAT) of the next call. A call at `now` is
//! admitted when `max(TAT, now) + interval <= now + burst × interval`, and
//! then moves TAT there; an idle bucket refills by itself because `now`
//! catches up with TAT. One `AtomicU64` and a compare-exchange loop: no lock,
//! no background refill task, no allocation. Over any window of length `w`
//! it admits at most `burst + w / interval` calls, and `interval` is rounded
//! up, so the sustained rate never exceeds the configured one.
//!
//! Written here rather than taken from `governor`: the whole algorithm is the
//! loop in [`TokenBucket::try_acquire_at`], and `governor` would bring a clock
//! abstraction, `quanta` and keyed-limiter machinery this crate does not use.

use std::{
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Instant,
};

/// Admits at most `burst` calls at once and `per_sec` calls per second
/// sustained. Shared by reference; every method takes `&self`.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    /// The zero of the nanosecond clock below (a monotonic clock: the wall
    /// clock may step).
    origin: Instant,
    /// Nanoseconds between two admissions at the sustained rate, rounded up.
    interval: u64,
    /// `burst × interval`: how far TAT may run ahead of `now`.
    capacity: u64,
    /// The theoretical arrival time, in nanoseconds since `origin`.
    tat: AtomicU64,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(per_sec: NonZeroU32, burst: NonZeroU32) -> Self {
        let interval = 1_000_000_000_u64.div_ceil(u64::from(per_sec.get()));
        TokenBucket {
            origin: Instant::now(),
            interval,
            capacity: u64::from(burst.get()).saturating_mul(interval),
            tat: AtomicU64::new(0),
        }
    }

    /// Takes one token if there is one: `true` admits the call.
    pub(crate) fn try_acquire(&self) -> bool {
        let now = self.origin.elapsed().as_nanos();
        self.try_acquire_at(u64::try_from(now).unwrap_or(u64::MAX))
    }

    /// [`TokenBucket::try_acquire`] at `now` nanoseconds since `origin`.
    fn try_acquire_at(&self, now: u64) -> bool {
        let limit = now.saturating_add(self.capacity);
        let mut tat = self.tat.load(Relaxed);
        loop {
            let next = tat.max(now).saturating_add(self.interval);
            if next > limit {
                return false;
            }
            // Relaxed: the counter publishes no other memory.
            match self.tat.compare_exchange_weak(tat, next, Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(current) => tat = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    // A failed unwrap is a failed test, with the error in the panic message.
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::AtomicUsize;

    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn bucket(per_sec: u32, burst: u32) -> TokenBucket {
        TokenBucket::new(
            NonZeroU32::new(per_sec).unwrap(),
            NonZeroU32::new(burst).unwrap(),
        )
    }

    fn admitted(b: &TokenBucket, now: u64, tries: usize) -> usize {
        (0..tries).filter(|_| b.try_acquire_at(now)).count()
    }

    #[test]
    fn full_bucket_admits_burst_then_refuses() {
        let b = bucket(50, 100);
        assert_eq!(admitted(&b, 0, 1000), 100);
    }

    #[test]
    fn refills_at_the_sustained_rate() {
        let b = bucket(50, 100);
        assert_eq!(admitted(&b, 0, 1000), 100);
        // 20 ms per token at 50/s.
        assert_eq!(admitted(&b, SEC / 50 - 1, 10), 0);
        assert_eq!(admitted(&b, SEC / 50, 10), 1);
        assert_eq!(admitted(&b, SEC / 50 + SEC, 1000), 50);
    }

    #[test]
    fn an_idle_bucket_holds_at_most_burst() {
        let b = bucket(50, 100);
        assert_eq!(admitted(&b, 3600 * SEC, 1000), 100);
    }

    #[test]
    fn any_window_admits_at_most_burst_plus_rate_times_length() {
        // A call every millisecond for 10 s against 7/s, burst 3.
        let b = bucket(7, 3);
        let times: Vec<u64> = (0..10_000).map(|ms| ms * 1_000_000).collect();
        let admitted: Vec<u64> = times
            .iter()
            .copied()
            .filter(|&t| b.try_acquire_at(t))
            .collect();
        for (i, &start) in admitted.iter().enumerate() {
            for (j, &end) in admitted.iter().enumerate().skip(i) {
                let window = end - start;
                let bound = 3 + (window * 7).div_ceil(SEC);
                assert!((j - i + 1) as u64 <= bound, "{} in {window} ns", j - i + 1);
            }
        }
        // And it does admit the sustained rate: 3 + 7 × 10 s, give or take one.
        assert!(admitted.len() >= 72, "{}", admitted.len());
    }

    #[test]
    fn concurrent_callers_share_one_budget() {
        // Lock-free, not racy: threads hammering one instant get exactly the
        // burst between them.
        let b = bucket(1, 1000);
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    total.fetch_add(admitted(&b, 5, 10_000), Relaxed);
                });
            }
        });
        assert_eq!(total.load(Relaxed), 1000);
    }

    #[test]
    fn extreme_rates_do_not_overflow() {
        let b = bucket(u32::MAX, u32::MAX);
        assert!(b.try_acquire_at(u64::MAX));
        let b = bucket(1, 1);
        assert!(b.try_acquire());
        assert!(!b.try_acquire());
    }
}
