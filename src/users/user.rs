//! Users (one payout address) and their workers ("address.worker").

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::account::{Folded, Saved};
use super::hashrate::Hashrates;
use super::share_stats::ShareStats;
use super::weekly::{BestUpdate, WeekTally, WeeklySummary};
use crate::time::iso_week;

/// One worker name as the miner sent it, e.g. `bc1q….rig1`.
#[derive(Debug)]
pub struct Worker {
    /// The name as the miner sent it in `mining.authorize`.
    pub name: Arc<str>,
    /// Hot counters: recorded by any core, lock-free.
    pub stats: ShareStats,
    folded: Folded,
}

/// One payout address and the workers mining to it.
#[derive(Debug)]
pub struct User {
    /// The payout address.
    pub address: Arc<str>,
    /// Hot counters for the whole user: recorded by any core, lock-free.
    pub stats: ShareStats,
    folded: Folded,
    /// The current ISO week's best and share count (The Bitcoin Game).
    week: WeekTally,
    workers: Mutex<HashMap<Arc<str>, Arc<Worker>>>,
}

/// The read side shared by users and workers (for the stats thread and
/// status files), so the two cannot drift apart.
macro_rules! account_getters {
    () => {
        /// The decaying averages as of the last tick.
        pub fn hashrates(&self) -> Hashrates {
            self.folded.hashrates()
        }

        /// Accepted work over every run (difficulty-1 shares), as of the
        /// last tick.
        pub fn shares(&self) -> f64 {
            self.folded.shares()
        }

        /// Best share difficulty of this run and every earlier one.
        pub fn best_ever(&self) -> f64 {
            self.folded.best_ever(&self.stats)
        }

        /// Unix time of the last accepted share, this run or earlier (0: never).
        pub fn last_share_secs(&self) -> u64 {
            self.folded.last_share(&self.stats)
        }

        /// Unix time of the last `mining.authorize` (0: never).
        pub fn authorised_at(&self) -> u64 {
            self.folded.authorised_at()
        }

        /// Whether it ever had an accepted share (this run or earlier):
        /// only then is it worth keeping and saving.
        pub fn has_shares(&self) -> bool {
            self.stats.accepted() > 0 || self.shares() > 0.0 || self.best_ever() > 0.0
        }

        /// Note a successful `mining.authorize` at `unix_secs`.
        pub fn set_authorised(&self, unix_secs: u64) {
            self.folded.set_authorised(unix_secs);
        }

        /// Drain the hot work accumulator into the averages (stats thread).
        pub(super) fn fold(&self, elapsed_secs: f64) {
            self.folded.fold(&self.stats, elapsed_secs);
        }

        /// Take over an earlier run's figures (loading).
        pub(super) fn restore(&self, saved: &Saved) {
            self.folded.restore(saved);
        }
    };
}

impl Worker {
    /// A worker with no shares.
    pub fn new(name: &str) -> Worker {
        Worker {
            name: Arc::from(name),
            stats: ShareStats::new(),
            folded: Folded::default(),
        }
    }

    account_getters!();
}

impl User {
    /// A user with no workers.
    pub fn new(address: &str) -> User {
        User {
            address: Arc::from(address),
            stats: ShareStats::new(),
            folded: Folded::default(),
            week: WeekTally::default(),
            workers: Mutex::new(HashMap::new()),
        }
    }

    account_getters!();

    /// The worker called `name`, created if new. Takes a lock and may
    /// allocate: call it on `mining.authorize`, keep the `Arc` for shares.
    pub fn worker(&self, name: &str) -> Arc<Worker> {
        let mut workers = self.workers.lock();
        if let Some(worker) = workers.get(name) {
            return Arc::clone(worker);
        }
        let worker = Arc::new(Worker::new(name));
        workers.insert(Arc::clone(&worker.name), Arc::clone(&worker));
        worker
    }

    /// [`User::worker`], unless that would make more than `max` workers:
    /// then workers that no connection holds and that never had a share
    /// are forgotten first to make room (so connections that authorize
    /// made-up names cannot lock the address's owner out), and `None` if
    /// there is still none.
    pub fn worker_at_most(&self, name: &str, max: usize) -> Option<Arc<Worker>> {
        let mut workers = self.workers.lock();
        if let Some(worker) = workers.get(name) {
            return Some(Arc::clone(worker));
        }
        if workers.len() >= max {
            // Held only by this map (no session has it) and nothing to keep.
            workers.retain(|_, w| Arc::strong_count(w) > 1 || w.has_shares());
        }
        if workers.len() >= max {
            return None;
        }
        let worker = Arc::new(Worker::new(name));
        workers.insert(Arc::clone(&worker.name), Arc::clone(&worker));
        Some(worker)
    }

    /// Forget workers that no connection holds and that never had a share
    /// (nothing of them is worth keeping or saving).
    pub fn forget_idle_workers(&self) {
        self.workers
            .lock()
            .retain(|_, w| Arc::strong_count(w) > 1 || w.has_shares());
    }

    /// Every worker, sorted by name (a snapshot: the lock is not held).
    pub fn workers(&self) -> Vec<Arc<Worker>> {
        let mut all: Vec<_> = self.workers.lock().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// How many workers this user has had.
    pub fn worker_count(&self) -> usize {
        self.workers.lock().len()
    }

    /// Feed one accepted share, worth `share_diff` and received at
    /// `unix_secs`, to the weekly and all-time best tiers: counts it in its
    /// ISO week (rolling the week over first if it is a later one) and
    /// says what it beat. Lock-free and allocation-free.
    ///
    /// [`Registry::record_accepted`](super::Registry::record_accepted)
    /// already calls this and returns the result: call it directly only
    /// for shares that do not go through the registry, or the week's
    /// count would take the share twice.
    #[inline]
    pub fn record_best(&self, share_diff: f64, unix_secs: u64) -> BestUpdate {
        let (rollover, week) = self.week.record(iso_week(unix_secs), share_diff);
        // `> 0.0` also refuses NaN, as `ShareStats::record_accepted` does.
        let alltime = if share_diff > 0.0 {
            self.folded
                .raise_best(share_diff)
                .map(|prev| (prev, share_diff))
        } else {
            None
        };
        BestUpdate {
            week,
            alltime,
            rollover,
        }
    }

    /// Start the ISO week of `unix_secs` if this user's tally is still on
    /// an earlier one, for the stats thread to close the weeks of users
    /// who stopped sharing. The finished week if it had shares; `None`
    /// when not due, already rolled over by a share, or empty.
    pub fn week_rollover_if_due(&self, unix_secs: u64) -> Option<WeeklySummary> {
        self.week.rollover_if_due(iso_week(unix_secs))
    }

    /// The week being tallied so far: its number (0: no share yet), best
    /// share difficulty and accepted-share count. Possibly an earlier week
    /// than today's for a user idle since (until a share or
    /// [`User::week_rollover_if_due`] moves it on).
    pub fn current_week(&self) -> WeeklySummary {
        self.week.snapshot()
    }

    /// Take over a week read back from disk (loading only).
    pub(super) fn restore_week(&self, saved: &WeeklySummary) {
        self.week.restore(saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_is_created_once() {
        let user = User::new("bc1qexample");
        let a = user.worker("bc1qexample.rig1");
        let b = user.worker("bc1qexample.rig1");
        assert!(Arc::ptr_eq(&a, &b));
        user.worker("bc1qexample.rig0");
        let names: Vec<_> = user.workers().iter().map(|w| w.name.to_string()).collect();
        assert_eq!(names, ["bc1qexample.rig0", "bc1qexample.rig1"]);
    }

    #[test]
    fn best_ever_and_shares_span_runs() {
        let worker = Worker::new("w");
        let saved = Saved {
            shares: 10.0,
            best_ever: 500.0,
            last_share: 7,
            ..Saved::default()
        };
        worker.restore(&saved);
        worker.stats.record_accepted(2.0, 100.0, 9);
        assert_eq!(worker.best_ever(), 500.0);
        worker.stats.record_accepted(2.0, 900.0, 11);
        assert_eq!(worker.best_ever(), 900.0);
        assert_eq!(worker.stats.best_diff(), 900.0);
        assert_eq!(worker.shares(), 10.0);
        worker.fold(10.0);
        assert_eq!(worker.shares(), 14.0);
        assert_eq!(worker.last_share_secs(), 11);
    }

    /// `(previous, new)` events from many threads, checked to form one
    /// chain from `start` to `max`: each strictly greater value reported
    /// once, nothing reported twice, nothing skipped between reports.
    fn assert_chain(mut events: Vec<(f64, f64)>, start: f64, max: f64) {
        events.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut expected_prev = start;
        for (prev, new) in &events {
            assert_eq!(*prev, expected_prev, "{events:?}");
            assert!(new > prev, "{events:?}");
            expected_prev = *new;
        }
        assert_eq!(expected_prev, max);
    }

    #[test]
    fn best_tiers_under_eight_threads() {
        const THREADS: u64 = 8;
        const SHARES: u64 = 5_000;
        // 2026-02-19, Thursday: every share in ISO week 202608.
        const THURSDAY: u64 = 1_771_459_200;
        let user = Arc::new(User::new("addr"));
        let earlier = Saved {
            best_ever: 20_000.5,
            ..Saved::default()
        };
        user.restore(&earlier);
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let user = Arc::clone(&user);
                std::thread::spawn(move || {
                    let (mut week, mut alltime) = (Vec::new(), Vec::new());
                    for i in 0..SHARES {
                        // Increasing, distinct across threads, interleaved.
                        let diff = 1.0 + (i * THREADS + t) as f64 / 2.0;
                        let update = user.record_best(diff, THURSDAY + i);
                        assert_eq!(update.rollover, None);
                        week.extend(update.week);
                        alltime.extend(update.alltime);
                    }
                    (week, alltime)
                })
            })
            .collect();
        let (mut week, mut alltime) = (Vec::new(), Vec::new());
        for handle in handles {
            let (w, a) = handle.join().expect("recording thread panicked");
            week.extend(w);
            alltime.extend(a);
        }
        let max = 1.0 + (SHARES * THREADS - 1) as f64 / 2.0;
        assert_chain(week, 0.0, max);
        assert_chain(alltime, 20_000.5, max);
        let now = user.current_week();
        assert_eq!((now.week, now.best_diff_week), (202_608, max));
        assert_eq!(now.total_shares_week, THREADS * SHARES);
        assert_eq!(user.best_ever(), max);
    }

    #[test]
    fn rollover_summary_comes_before_the_reset() {
        let user = User::new("addr");
        // Sunday 2021-01-03 23:59:59, then Monday 00:00:00 (week 202101).
        let monday = 1_609_718_400;
        user.record_best(10.0, monday - 10);
        let late = user.record_best(30.0, monday - 1);
        assert_eq!(late.week, Some((10.0, 30.0)));
        assert_eq!(late.alltime, Some((10.0, 30.0)));
        let first = user.record_best(5.0, monday);
        assert_eq!(
            first.rollover,
            Some(WeeklySummary {
                week: 202_053,
                best_diff_week: 30.0,
                total_shares_week: 2
            })
        );
        assert_eq!(first.week, Some((0.0, 5.0)));
        assert_eq!(first.alltime, None, "below the all-time best");
        assert!(user.record_best(5.0, monday + 1).is_empty());
        // A week later, with no share: the stats thread closes it.
        assert_eq!(user.week_rollover_if_due(monday + 3_600), None);
        let closed = user.week_rollover_if_due(monday + 7 * 86_400);
        assert_eq!(
            closed.map(|s| (s.week, s.total_shares_week)),
            Some((202_101, 2))
        );
        assert_eq!(user.current_week().week, 202_102);
    }
}
