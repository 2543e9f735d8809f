//! Share counters written on the hot path by every core: atomics only,
//! no lock, no allocation.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::atomic_f64::AtomicF64;
use crate::share::RejectReason;

/// How many reject reasons there are (one counter each).
const REASONS: usize = RejectReason::ALL.len();

/// Where `reason` sits in [`RejectReason::ALL`], the index of its counter.
///
/// A linear search over nine entries, on the reject path only; kept here
/// rather than as a method on `RejectReason` so the share module does not
/// carry a counter layout it does not use.
fn reason_index(reason: RejectReason) -> usize {
    RejectReason::ALL
        .iter()
        .position(|r| *r == reason)
        .unwrap_or(REASONS - 1)
}

/// One account's share counters (a worker, a user or the whole pool).
///
/// "Work" is measured in difficulty-1 shares: a share accepted at job
/// difficulty `d` adds `d`. Aligned to a cache line so two accounts'
/// counters never share one (no false sharing between cores).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct ShareStats {
    /// Accepted work not yet folded into hashrates (drained by `take_work`).
    work: AtomicF64,
    accepted: AtomicU64,
    /// Best share difficulty since the pool started.
    best: AtomicF64,
    last_share: AtomicU64,
    rejected: [AtomicU64; REASONS],
    rejected_work: AtomicF64,
}

impl ShareStats {
    /// Counters at zero.
    pub fn new() -> ShareStats {
        ShareStats::default()
    }

    /// Count an accepted share: judged at `job_diff`, its hash worth
    /// `share_diff`, received at `unix_secs`.
    ///
    /// Lock-free and allocation-free. Non-finite or non-positive
    /// difficulties are not counted as work or best (they cannot come
    /// from a real share, and a NaN would poison the sum and the max).
    #[inline]
    pub fn record_accepted(&self, job_diff: f64, share_diff: f64, unix_secs: u64) {
        if job_diff > 0.0 && job_diff.is_finite() {
            self.work.add(job_diff);
        }
        self.accepted.fetch_add(1, Relaxed);
        if share_diff > 0.0 {
            self.best.fetch_max_non_negative(share_diff);
        }
        // fetch_max rather than store: cores stamp shares with their own
        // clock reads, which may arrive slightly out of order. Checked
        // first because most shares fall in a second already recorded.
        if unix_secs > self.last_share.load(Relaxed) {
            self.last_share.fetch_max(unix_secs, Relaxed);
        }
    }

    /// Count a refused share, judged at `job_diff` (0 if none was known).
    #[inline]
    pub fn record_rejected(&self, reason: RejectReason, job_diff: f64) {
        self.rejected[reason_index(reason)].fetch_add(1, Relaxed);
        if job_diff > 0.0 && job_diff.is_finite() {
            self.rejected_work.add(job_diff);
        }
    }

    /// Accepted shares since the pool started.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Relaxed)
    }

    /// Shares refused for `reason`.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected[reason_index(reason)].load(Relaxed)
    }

    /// Shares refused for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Work (difficulty-1 shares) of the refused shares.
    pub fn rejected_work(&self) -> f64 {
        self.rejected_work.load()
    }

    /// Best accepted share difficulty since the pool started (0 if none).
    pub fn best_diff(&self) -> f64 {
        self.best.load()
    }

    /// Unix time of the last accepted share (0 if none).
    pub fn last_share_secs(&self) -> u64 {
        self.last_share.load(Relaxed)
    }

    /// Drain the accepted work recorded since the last call (for the
    /// stats thread; shares recorded concurrently land in the next take).
    pub fn take_work(&self) -> f64 {
        self.work.swap(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_reason_has_its_own_counter() {
        let stats = ShareStats::new();
        for (i, reason) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(reason_index(*reason), i);
            for _ in 0..=i {
                stats.record_rejected(*reason, 2.0);
            }
        }
        for (i, reason) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(stats.rejected(*reason), i as u64 + 1, "{}", reason.as_str());
        }
        assert_eq!(stats.rejected_total(), 55);
        assert_eq!(stats.rejected_work(), 110.0);
        assert_eq!(stats.accepted(), 0);
    }

    #[test]
    fn accepted_work_best_and_time() {
        let stats = ShareStats::new();
        stats.record_accepted(0.5, 3.0, 100);
        stats.record_accepted(0.25, 1.0, 90);
        stats.record_accepted(f64::NAN, f64::NAN, 101);
        assert_eq!(stats.accepted(), 3);
        assert_eq!(stats.best_diff(), 3.0);
        assert_eq!(stats.last_share_secs(), 101);
        assert_eq!(stats.take_work(), 0.75);
        assert_eq!(stats.take_work(), 0.0);
    }

    #[test]
    fn eight_threads_count_exactly() {
        const THREADS: u64 = 8;
        const SHARES: u64 = 10_000;
        let stats = Arc::new(ShareStats::new());
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let stats = Arc::clone(&stats);
                std::thread::spawn(move || {
                    for i in 0..SHARES {
                        // Distinct share difficulties; the largest is known.
                        let share_diff = 1.0 + (t * SHARES + i) as f64 / 7.0;
                        stats.record_accepted(1.0, share_diff, 1_000 + i);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("recording thread panicked");
        }
        assert_eq!(stats.accepted(), THREADS * SHARES);
        // Sums of 1.0 are exact in f64 far beyond 80,000: no update was lost.
        assert_eq!(stats.take_work(), (THREADS * SHARES) as f64);
        assert_eq!(stats.best_diff(), 1.0 + (THREADS * SHARES - 1) as f64 / 7.0);
        assert_eq!(stats.last_share_secs(), 1_000 + SHARES - 1);
    }
}
