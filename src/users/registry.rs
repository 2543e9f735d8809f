//! Every user the pool knows, the pool-wide counters, and the stats
//! thread's periodic fold of accumulators into hashrates.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::hashrate::Hashrates;
use super::share_stats::ShareStats;
use super::user::{User, Worker};
use super::weekly::{BestUpdate, WeeklySummary};
use crate::share::RejectReason;
use crate::time::unix_now;

/// A worker with no share (nor authorisation) for this long is idle, as
/// ckpool marks its clients.
pub const IDLE_SECS: u64 = 600;
/// Most workers a user may have (`max_workers_per_user` is at most this):
/// with every name at its longest, their user file stays well under the
/// size the loader reads, so no one can grow a user's file past it.
pub const MAX_WORKERS_PER_USER: usize = 4096;

/// The pool-wide figures the stats thread folds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolFigures {
    /// Decaying averages of accepted work.
    pub hashrates: Hashrates,
    /// Decaying averages of accepted shares (counted, not weighted): the
    /// per-second reading is ckpool's `SPS`.
    pub shares_per_sec: Hashrates,
    /// Accepted work since the pool started (difficulty-1 shares).
    pub accepted_work: f64,
    /// Accepted work since the last [`Registry::reset_round`] (a block).
    pub round_work: f64,
}

#[derive(Debug, Default)]
struct PoolFolded {
    figures: PoolFigures,
    /// Accepted-share count at the last fold, to take the difference.
    last_accepted: u64,
}

/// Live user and worker counts for the status file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Users with at least one live worker.
    pub users: usize,
    /// Workers authorised or sharing during this run.
    pub workers: usize,
    /// Live workers silent for more than [`IDLE_SECS`].
    pub idle: usize,
}

/// The user registry: users by address, the pool's own counters.
#[derive(Debug)]
pub struct Registry {
    users: RwLock<HashMap<Arc<str>, Arc<User>>>,
    pool: ShareStats,
    pool_folded: Mutex<PoolFolded>,
    started: u64,
    /// `logdir/users`, where users left out of memory are read back from.
    store: Option<PathBuf>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    /// An empty registry, started now.
    pub fn new() -> Registry {
        Registry::started_at(unix_now())
    }

    /// An empty registry whose run began at `started` (Unix seconds).
    pub fn started_at(started: u64) -> Registry {
        Registry {
            users: RwLock::new(HashMap::new()),
            pool: ShareStats::new(),
            pool_folded: Mutex::new(PoolFolded::default()),
            started,
            store: None,
        }
    }

    /// Read users that are not in memory back from `dir` when they return.
    pub fn with_store(mut self, dir: PathBuf) -> Registry {
        self.store = Some(dir);
        self
    }

    /// When this run began (Unix seconds).
    pub fn started(&self) -> u64 {
        self.started
    }

    /// The user for `address`: in memory, else read back from the store
    /// (evicted earlier), else new. Takes a lock, may allocate and read a
    /// file: call it on `mining.authorize`, keep the `Arc` for shares.
    pub fn user(&self, address: &str) -> Arc<User> {
        if let Some(user) = self.users.read().get(address) {
            return Arc::clone(user);
        }
        let stored = self
            .store
            .as_deref()
            .and_then(|dir| super::load::load_returning(dir, address));
        let mut users = self.users.write();
        // Another thread may have created it between the two locks.
        let user = users
            .entry(Arc::from(address))
            .or_insert_with(|| Arc::new(stored.unwrap_or_else(|| User::new(address))));
        Arc::clone(user)
    }

    /// Users in memory.
    pub fn len(&self) -> usize {
        self.users.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.read().is_empty()
    }

    /// Leave out of memory (stats thread, just after their files were
    /// written) every user no connection holds that either never had a
    /// share or has been silent for `idle_secs`; forget the workers no
    /// connection holds that never had a share. Their files stay and
    /// [`Registry::user`] reads them back when they return.
    pub fn evict_idle(&self, now: u64, idle_secs: u64) -> usize {
        let mut users = self.users.write();
        let before = users.len();
        users.retain(|_, user| {
            // Only the map holds it (under the write lock nobody can
            // clone it from here): no connection can record a share.
            if Arc::strong_count(user) == 1 {
                if !user.has_shares() {
                    return false; // nothing worth keeping
                }
                let heard = user.authorised_at().max(user.last_share_secs());
                if self.store.is_some() && now.saturating_sub(heard) >= idle_secs {
                    return false; // its file holds it
                }
            }
            user.forget_idle_workers();
            true
        });
        before - users.len()
    }

    /// The user for `address` if known.
    pub fn get(&self, address: &str) -> Option<Arc<User>> {
        self.users.read().get(address).cloned()
    }

    /// A successful `mining.authorize` of `worker_name` paying `address`
    /// at `unix_secs`: the user and worker, created if new, both stamped;
    /// `None` if the user has `max_workers` workers and this is a new one.
    pub fn authorise(
        &self,
        address: &str,
        worker_name: &str,
        max_workers: usize,
        unix_secs: u64,
    ) -> Option<(Arc<User>, Arc<Worker>)> {
        let user = self.user(address);
        let worker = user.worker_at_most(worker_name, max_workers)?;
        user.set_authorised(unix_secs);
        worker.set_authorised(unix_secs);
        Some((user, worker))
    }

    /// The pool-wide hot counters.
    pub fn pool(&self) -> &ShareStats {
        &self.pool
    }

    /// The pool-wide folded figures, as of the last tick.
    pub fn pool_figures(&self) -> PoolFigures {
        self.pool_folded.lock().figures
    }

    /// Record an accepted share for the worker, its user and the pool,
    /// and feed the user's weekly and all-time best tiers
    /// ([`User::record_best`]): the returned [`BestUpdate`] says which
    /// tiers the share beat and whether it closed the user's week, for
    /// the caller to emit as events (usually it is empty). Lock-free and
    /// allocation-free (four sets of atomics).
    #[inline]
    pub fn record_accepted(
        &self,
        user: &User,
        worker: &Worker,
        job_diff: f64,
        share_diff: f64,
        unix_secs: u64,
    ) -> BestUpdate {
        // Here rather than left to callers, so every accepted share
        // reaches the all-time tier exactly once and the events it emits
        // agree with the status files' `bestever`.
        let best = user.record_best(share_diff, unix_secs);
        worker
            .stats
            .record_accepted(job_diff, share_diff, unix_secs);
        user.stats.record_accepted(job_diff, share_diff, unix_secs);
        self.pool.record_accepted(job_diff, share_diff, unix_secs);
        best
    }

    /// Record a refused share; `who` is `None` when the submit named no
    /// authorised worker (it then counts for the pool only).
    #[inline]
    pub fn record_rejected(
        &self,
        who: Option<(&User, &Worker)>,
        reason: RejectReason,
        job_diff: f64,
    ) {
        if let Some((user, worker)) = who {
            worker.stats.record_rejected(reason, job_diff);
            user.stats.record_rejected(reason, job_diff);
        }
        self.pool.record_rejected(reason, job_diff);
    }

    /// A node took a block the pool found (the node thread calls this):
    /// start counting the next round's work (the status file's `diff` is
    /// this round's work as a share of network difficulty).
    pub fn reset_round(&self) {
        self.pool_folded.lock().figures.round_work = 0.0;
    }

    /// Every user (a snapshot: the registry lock is not held after).
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// Drain every worker's, user's and the pool's accumulated work into
    /// their hashrates; `elapsed_secs` since the previous tick. Run by the
    /// stats thread only; takes no lock the share path uses.
    pub fn tick(&self, elapsed_secs: f64) {
        for user in self.users() {
            user.fold(elapsed_secs);
            for worker in user.workers() {
                worker.fold(elapsed_secs);
            }
        }
        let work = self.pool.take_work();
        let accepted = self.pool.accepted();
        let mut folded = self.pool_folded.lock();
        let new_shares = accepted.saturating_sub(folded.last_accepted);
        folded.last_accepted = accepted;
        let figures = &mut folded.figures;
        figures.hashrates.tick(work, elapsed_secs);
        figures.shares_per_sec.tick(new_shares as f64, elapsed_secs);
        figures.accepted_work += work;
        figures.round_work += work;
    }

    /// Close the finished ISO weeks of users who have not shared since the
    /// week of `unix_secs` began (stats thread, e.g. once a tick): each
    /// user whose finished week had shares, with its summary. Users who
    /// did share this week were already rolled over by that share (its
    /// [`BestUpdate::rollover`]), so no week is reported twice.
    pub fn week_rollovers(&self, unix_secs: u64) -> Vec<(Arc<User>, WeeklySummary)> {
        self.users()
            .into_iter()
            .filter_map(|user| {
                let finished = user.week_rollover_if_due(unix_secs)?;
                Some((user, finished))
            })
            .collect()
    }

    /// Live users, workers and idle workers at `now` (Unix seconds).
    /// Accounts only read back from disk are not live until they
    /// authorise or share again.
    pub fn counts(&self, now: u64) -> Counts {
        let mut counts = Counts::default();
        for user in self.users() {
            let mut live = 0;
            for worker in user.workers() {
                let seen = worker.authorised_at().max(worker.stats.last_share_secs());
                if seen < self.started && worker.stats.accepted() == 0 {
                    continue;
                }
                live += 1;
                let heard = worker.authorised_at().max(worker.last_share_secs());
                if now.saturating_sub(heard) > IDLE_SECS {
                    counts.idle += 1;
                }
            }
            counts.workers += live;
            counts.users += usize::from(live > 0);
        }
        counts
    }

    /// Add a user read back from disk (loading only).
    pub(super) fn insert(&self, user: User) {
        self.users
            .write()
            .insert(Arc::clone(&user.address), Arc::new(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::hashrate::{Window, HASHES_PER_DIFF1};

    #[test]
    fn user_is_created_once() {
        let registry = Registry::started_at(1_000);
        let a = registry.user("addr");
        assert!(Arc::ptr_eq(&a, &registry.user("addr")));
        assert!(registry.get("other").is_none());
        assert_eq!(registry.users().len(), 1);
    }

    #[test]
    fn tick_drains_every_level() {
        let registry = Registry::started_at(1_000);
        let (user, worker) = registry.authorise("addr", "addr.rig", 8, 1_000).unwrap();
        for _ in 0..60 {
            registry.record_accepted(&user, &worker, 2.0, 3.0, 1_010);
        }
        registry.record_rejected(Some((&user, &worker)), RejectReason::Stale, 2.0);
        registry.record_rejected(None, RejectReason::Unauthorized, 0.0);
        registry.tick(60.0);
        let expected = 2.0 * (1.0 - (-1.0f64).exp()) * HASHES_PER_DIFF1;
        for rates in [
            user.hashrates(),
            worker.hashrates(),
            registry.pool_figures().hashrates,
        ] {
            assert!((rates.hashes_per_sec(Window::M1) - expected).abs() < 1.0);
        }
        assert_eq!((user.shares(), worker.shares()), (120.0, 120.0));
        let pool = registry.pool_figures();
        assert_eq!((pool.accepted_work, pool.round_work), (120.0, 120.0));
        assert!(
            (pool.shares_per_sec.diff1_per_sec(Window::M1) - (1.0 - (-1.0f64).exp())).abs() < 1e-12
        );
        assert_eq!(
            (
                worker.stats.rejected_total(),
                registry.pool().rejected_total()
            ),
            (1, 2)
        );
        // Drained: a second tick adds nothing.
        registry.tick(60.0);
        assert_eq!(worker.shares(), 120.0);
        registry.reset_round();
        assert_eq!(registry.pool_figures().round_work, 0.0);
    }

    #[test]
    fn accepted_shares_feed_the_best_tiers() {
        let registry = Registry::started_at(1_000);
        let (user, worker) = registry.authorise("a", "a.1", 8, 1_000).unwrap();
        let (_, idle) = registry.authorise("b", "b.1", 8, 1_000).unwrap();
        // Monday 2021-01-04 00:00 UTC starts ISO week 202101.
        let monday = 1_609_718_400;
        let first = registry.record_accepted(&user, &worker, 1.0, 8.0, monday);
        assert_eq!(
            (first.week, first.alltime),
            (Some((0.0, 8.0)), Some((0.0, 8.0)))
        );
        assert!(registry
            .record_accepted(&user, &worker, 1.0, 2.0, monday)
            .is_empty());
        assert_eq!(user.best_ever(), 8.0);
        registry.record_accepted(&registry.user("b"), &idle, 1.0, 1.0, monday);
        assert!(registry.week_rollovers(monday + 86_400).is_empty());
        // Next week "a" shares (and rolls over itself), "b" stays idle.
        let next = monday + 7 * 86_400;
        let rolled = registry.record_accepted(&user, &worker, 1.0, 1.0, next);
        assert_eq!(rolled.rollover.map(|s| s.total_shares_week), Some(2));
        let closed = registry.week_rollovers(next);
        assert_eq!(closed.len(), 1);
        assert_eq!(&*closed[0].0.address, "b");
        assert_eq!(
            (closed[0].1.week, closed[0].1.best_diff_week),
            (202_101, 1.0)
        );
        assert!(registry.week_rollovers(next).is_empty(), "once only");
    }

    #[test]
    fn counts_live_and_idle() {
        let registry = Registry::started_at(1_000);
        registry.authorise("a", "a.1", 8, 1_000).unwrap();
        let (user, worker) = registry.authorise("a", "a.2", 8, 1_000).unwrap();
        registry.record_accepted(&user, &worker, 1.0, 1.0, 1_500);
        registry.authorise("b", "b.1", 8, 1_100).unwrap();
        // Read back from disk, never seen this run.
        registry.user("c").worker("c.1").set_authorised(900);
        let counts = registry.counts(1_650);
        assert_eq!(
            counts,
            Counts {
                users: 2,
                workers: 3,
                idle: 1
            }
        );
    }
}
