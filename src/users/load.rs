//! Reading `users/*` back at start-up so best-ever shares, accepted work
//! and hashrate averages survive a restart.

use std::fs;
use std::io;
use std::path::Path;

use super::account::{sane, Saved};
use super::file::{SavedFields, UserFile};
use super::hashrate::Hashrates;
use super::human::parse_hashrate;
use super::registry::{Registry, MAX_WORKERS_PER_USER};
use super::status::is_safe_file_name;
use super::user::User;
use super::weekly::{WeeklySummary, MAX_WEEK};

/// A user file larger than this is not ours: set aside rather than read
/// into memory. Ours cannot get near it: at most
/// [`MAX_WORKERS_PER_USER`] workers with a share, each at most
/// [`MAX_WORKER_ENTRY_BYTES`].
const MAX_FILE_BYTES: u64 = 16 << 20;
/// A worker's entry at its largest: the name escaped (at most 6 bytes a
/// byte) and the fixed fields.
const MAX_WORKER_ENTRY_BYTES: usize = 6 * crate::session::MAX_USERNAME_BYTES + 512;
const _: () = assert!(
    ((MAX_WORKERS_PER_USER + 1) * MAX_WORKER_ENTRY_BYTES) as u64 <= MAX_FILE_BYTES / 2,
    "a user file we write must always be loadable"
);

impl UserFile {
    /// The saved week, or an empty one (week 0) if `week` is not an ISO
    /// week number we could have written: a hand-edited or foreign value
    /// must not start a week that never ends or rolls over at once.
    fn saved_week(&self) -> WeeklySummary {
        let week = self.week;
        let valid = week.is_finite()
            && week.fract() == 0.0
            && (1.0..=f64::from(MAX_WEEK)).contains(&week)
            && (1..=53).contains(&(week as u32 % 100));
        if !valid {
            return WeeklySummary::default();
        }
        WeeklySummary {
            week: week as u32,
            best_diff_week: sane(self.bestweek),
            // Counts are whole and non-negative; anything else is 0.
            total_shares_week: secs(self.sharesweek),
        }
    }
}

/// Unix seconds (or a count) from a JSON number; anything odd is 0
/// ("never", "none").
fn secs(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value as u64
    } else {
        0
    }
}

impl SavedFields {
    /// What to restore; `authorised` is the user's (0 for a worker).
    fn saved(&self, authorised: f64) -> Saved {
        let rates = [
            &self.hashrate1m,
            &self.hashrate5m,
            &self.hashrate1hr,
            &self.hashrate1d,
            &self.hashrate7d,
        ]
        .map(|text| parse_hashrate(text).unwrap_or(0.0));
        Saved {
            shares: self.shares,
            // A file from an older run may only have raised bestshare.
            best_ever: self.bestever.max(self.bestshare),
            last_share: secs(self.lastshare),
            authorised: secs(authorised),
            hashrates: Hashrates::from_hashes_per_sec(rates),
        }
    }
}

/// The user in `path`, named `address`, or why not.
fn load_user(path: &Path, address: &str) -> Result<User, String> {
    let size = fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!("{size} bytes is too large"));
    }
    let mut bytes = fs::read(path).map_err(|e| e.to_string())?;
    let file: UserFile = simd_json::serde::from_slice(&mut bytes).map_err(|e| e.to_string())?;
    let user = User::new(address);
    user.restore(&file.fields.saved(file.authorised));
    // A restart in a later week keeps this one until the next share (or
    // the stats thread) rolls it over and reports it.
    user.restore_week(&file.saved_week());
    for entry in &file.worker {
        if entry.workername.is_empty() {
            continue;
        }
        user.worker(&entry.workername)
            .restore(&entry.fields.saved(0.0));
    }
    Ok(user)
}

/// A file that cannot be loaded is renamed to `<name>.bad` (or
/// `<name>.bad.<n>` if that exists), so no later write replaces it: it
/// may be the only record of a player's best-ever share.
fn set_aside(path: &Path, why: &str) {
    let mut target = path.with_extension("bad");
    let mut n = 1;
    while target.exists() && n < 1000 {
        target = path.with_extension(format!("bad.{n}"));
        n += 1;
    }
    match fs::rename(path, &target) {
        Ok(()) => log_error!(
            "users: cannot load {}: {why}; kept aside as {}",
            path.display(),
            target.display()
        ),
        Err(e) => log_error!(
            "users: cannot load {}: {why}; and cannot set it aside: {e}",
            path.display()
        ),
    }
}

/// A user who returns after leaving memory, read back from `dir`; `None`
/// if there is no file (or it was unreadable and set aside).
pub(super) fn load_returning(dir: &Path, address: &str) -> Option<User> {
    if !is_safe_file_name(address) {
        return None;
    }
    let path = dir.join(address);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        _ => {}
    }
    match load_user(&path, address) {
        Ok(user) => Some(user),
        Err(why) => {
            set_aside(&path, &why);
            None
        }
    }
}

impl Registry {
    /// A registry holding the users saved under `logdir/users/`, started
    /// now, reading users back from there when they return after
    /// [`Registry::evict_idle`]. A missing directory gives an empty
    /// registry; a file that cannot be read or parsed is logged as an
    /// error and set aside as `<name>.bad`, never overwritten. Never
    /// panics on what it finds on disk.
    pub fn load(logdir: &Path) -> Registry {
        let dir = logdir.join("users");
        let registry = Registry::new().with_store(dir.clone());
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return registry,
            Err(e) => {
                log_warn!("users: cannot read {}: {e}; starting empty", dir.display());
                return registry;
            }
        };
        let mut loaded = 0usize;
        for entry in entries.flatten() {
            let name = entry.file_name();
            // Our own temporaries and anything not named like an address.
            let Some(address) = name.to_str().filter(|n| is_safe_file_name(n)) else {
                continue;
            };
            match load_user(&entry.path(), address) {
                Ok(user) => {
                    registry.insert(user);
                    loaded += 1;
                }
                Err(why) => set_aside(&entry.path(), &why),
            }
        }
        log_info!("users: loaded {loaded} users from {}", dir.display());
        registry
    }
}
