//! What one account (a worker or a user) keeps beside its hot counters:
//! the figures the stats thread folds and the ones restored from disk.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

use super::atomic_f64::AtomicF64;
use super::hashrate::Hashrates;
use super::share_stats::ShareStats;

/// An account's figures as read back from a status file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Saved {
    /// Accepted work over every run (difficulty-1 shares).
    pub shares: f64,
    /// Best share difficulty ever.
    pub best_ever: f64,
    /// Unix time of the last accepted share.
    pub last_share: u64,
    /// Unix time of the last authorisation.
    pub authorised: u64,
    /// The decaying averages as they were written.
    pub hashrates: Hashrates,
}

/// The slow half of an account: written by the stats thread (folds), by
/// `mining.authorize` and by loading; never on the share path.
#[derive(Debug, Default)]
pub(super) struct Folded {
    hashrates: Mutex<Hashrates>,
    /// Accepted work over every run, as of the last fold.
    shares: AtomicF64,
    /// Best share of earlier runs and, for a user, of every share passed
    /// through `User::record_best` (the all-time tier, which must know
    /// what each new best beat); the rest of this run's best lives in
    /// `ShareStats`, and [`Folded::best_ever`] takes the larger.
    best_known: AtomicF64,
    last_share_before: AtomicU64,
    authorised_at: AtomicU64,
}

impl Folded {
    /// Drain `stats`' accumulated work into the averages and the total.
    pub(super) fn fold(&self, stats: &ShareStats, elapsed_secs: f64) {
        let work = stats.take_work();
        self.shares.add(work);
        self.hashrates.lock().tick(work, elapsed_secs);
    }

    /// Take over figures from an earlier run.
    pub(super) fn restore(&self, saved: &Saved) {
        self.shares.store(sane(saved.shares));
        self.best_known.store(sane(saved.best_ever));
        self.last_share_before.store(saved.last_share, Relaxed);
        self.authorised_at.store(saved.authorised, Relaxed);
        *self.hashrates.lock() = saved.hashrates;
    }

    pub(super) fn hashrates(&self) -> Hashrates {
        *self.hashrates.lock()
    }

    pub(super) fn shares(&self) -> f64 {
        self.shares.load()
    }

    pub(super) fn best_ever(&self, stats: &ShareStats) -> f64 {
        self.best_known.load().max(stats.best_diff())
    }

    /// Raise the all-time best to `share_diff` if strictly larger; the
    /// value it beat. `share_diff` must be positive (not NaN).
    pub(super) fn raise_best(&self, share_diff: f64) -> Option<f64> {
        self.best_known.raise(share_diff)
    }

    pub(super) fn last_share(&self, stats: &ShareStats) -> u64 {
        self.last_share_before
            .load(Relaxed)
            .max(stats.last_share_secs())
    }

    pub(super) fn authorised_at(&self) -> u64 {
        self.authorised_at.load(Relaxed)
    }

    pub(super) fn set_authorised(&self, unix_secs: u64) {
        self.authorised_at.store(unix_secs, Relaxed);
    }
}

/// A figure from disk that must be a non-negative finite number (the
/// best-share cell relies on it, see `AtomicF64::fetch_max_non_negative`).
pub(super) fn sane(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        0.0
    }
}
