//! The user registry and share statistics, as ckpool keeps them.
//!
//! Shares are recorded by every core at once, so the per-share path
//! ([`ShareStats::record_accepted`], [`Registry::record_accepted`]) is
//! atomics only: no lock, no allocation. One stats thread periodically
//! calls [`Registry::tick`] to fold the accumulated work into decaying
//! [`Hashrates`], then [`Registry::write_status`] to write ckpool-style
//! status files; [`Registry::load`] reads them back at start-up.
//!
//! Each user also keeps The Bitcoin Game's best tiers: the best share and
//! share count of the current ISO week ([`crate::time::iso_week`]) and
//! the all-time best. [`Registry::record_accepted`] feeds them and returns a
//! [`BestUpdate`] (new bests, a finished week's [`WeeklySummary`]);
//! [`Registry::week_rollovers`] closes the weeks of idle users. They are
//! written to and restored from the user status files with the rest.
//!
//! Locks exist only off the share path: the registry's map (taken on
//! `mining.authorize` and by the stats thread's snapshots), each user's
//! worker map, and each account's folded averages (stats thread).

mod account;
mod atomic_f64;
pub mod file;
mod hashrate;
mod human;
mod load;
pub mod pool_file;
mod registry;
mod share_stats;
mod status;
mod user;
mod weekly;

pub use atomic_f64::AtomicF64;
pub use hashrate::{Hashrates, Window, HASHES_PER_DIFF1};
pub use human::{format_hashrate, parse_hashrate};
pub use pool_file::PoolStatus;
pub use registry::{Counts, PoolFigures, Registry, IDLE_SECS, MAX_WORKERS_PER_USER};
pub use share_stats::ShareStats;
pub use status::{
    is_safe_file_name, pool_status, pool_status_text, user_status_text, PoolStatusExtra,
};
pub use user::{User, Worker};
pub use weekly::{BestUpdate, WeeklySummary, MAX_WEEK};

#[cfg(test)]
mod persistence_tests;
