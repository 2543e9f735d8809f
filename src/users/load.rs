//! Reading `users/*` back at start-up so best-ever shares, accepted work
//! and hashrate averages survive a restart.

use std::fs;
use std::io;
use std::path::Path;

use serde::Deserialize;

use super::account::{sane, Saved};
use super::hashrate::Hashrates;
use super::human::parse_hashrate;
use super::registry::Registry;
use super::status::is_safe_file_name;
use super::user::User;
use super::weekly::{WeeklySummary, MAX_WEEK};

/// A user file larger than this is not ours (they hold a few hundred
/// bytes per worker): skipped rather than read into memory.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// The fields of a status file we read back; numbers as `f64` so a file
/// written by ckpool or by hand with either form still loads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SavedFields {
    hashrate1m: String,
    hashrate5m: String,
    hashrate1hr: String,
    hashrate1d: String,
    hashrate7d: String,
    lastshare: f64,
    shares: f64,
    bestshare: f64,
    bestever: f64,
    authorised: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WorkerFile {
    workername: String,
    #[serde(flatten)]
    fields: SavedFields,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserFile {
    #[serde(flatten)]
    fields: SavedFields,
    /// The weekly tier (users only; absent from older and ckpool files).
    bestweek: f64,
    sharesweek: f64,
    week: f64,
    worker: Vec<WorkerFile>,
}

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
    fn saved(&self) -> Saved {
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
            authorised: secs(self.authorised),
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
    user.restore(&file.fields.saved());
    // A restart in a later week keeps this one until the next share (or
    // the stats thread) rolls it over and reports it.
    user.restore_week(&file.saved_week());
    for entry in &file.worker {
        if entry.workername.is_empty() {
            continue;
        }
        user.worker(&entry.workername)
            .restore(&entry.fields.saved());
    }
    Ok(user)
}

impl Registry {
    /// A registry holding the users saved under `logdir/users/`, started
    /// now. A missing directory gives an empty registry; a file that
    /// cannot be read or parsed is logged and skipped. Never panics on
    /// what it finds on disk.
    pub fn load(logdir: &Path) -> Registry {
        let registry = Registry::new();
        let dir = logdir.join("users");
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
                Err(why) => log_warn!("users: skipping {}: {why}", entry.path().display()),
            }
        }
        log_info!("users: loaded {loaded} users from {}", dir.display());
        registry
    }
}
