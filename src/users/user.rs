//! Users (one payout address) and their workers ("address.worker").

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::account::{Folded, Saved};
use super::hashrate::Hashrates;
use super::share_stats::ShareStats;

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
}
