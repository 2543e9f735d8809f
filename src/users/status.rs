//! ckpool-style status files: `pool/pool.status` and one `users/<address>`
//! per user, each replaced atomically and durably
//! ([`crate::fs::write_atomic`]).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::file::{hashrate_texts, SavedFields, UserFile, WorkerFile};
use super::hashrate::Window;
use super::pool_file::{PoolHashrates, PoolRun, PoolShares, PoolStatus};
use super::registry::Registry;
use super::user::{User, Worker};
use crate::fs::write_atomic;
use crate::time::unix_now;

/// What the caller knows that the registry does not, for `pool.status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolStatusExtra {
    /// Connected clients (written as `Clients`).
    pub clients: u64,
    /// ckpool's `Disconnected`: clients gone but not yet forgotten.
    pub disconnected: u64,
    /// Current network difficulty, for `diff` (0 if unknown).
    pub network_diff: f64,
    /// The server's limit counters, written as a fourth line after
    /// ckpool's three.
    pub limits: Option<BTreeMap<String, u64>>,
}

/// Whether `name` can be a file name under `users/` without escaping it:
/// addresses are base58 or bech32, so anything else (a `/`, a `..`) is
/// refused rather than sanitised into a name another user could own.
pub fn is_safe_file_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn worker_file(worker: &Worker) -> WorkerFile {
    WorkerFile {
        workername: worker.name.to_string(),
        fields: SavedFields::of(
            worker.last_share_secs(),
            worker.shares(),
            worker.stats.best_diff(),
            worker.best_ever(),
            &worker.hashrates(),
        ),
    }
}

/// The `users/<address>` file ([`UserFile`]): one JSON object and a
/// newline, ckpool's fields and the weekly tier.
pub fn user_status_text(user: &User) -> String {
    // Workers that never had a share have nothing to keep: leaving them
    // out bounds the file by the workers that did real work.
    let worker: Vec<WorkerFile> = user
        .workers()
        .into_iter()
        .filter(|w| w.has_shares())
        .map(|w| worker_file(&w))
        .collect();
    let week = user.current_week();
    UserFile {
        fields: SavedFields::of(
            user.last_share_secs(),
            user.shares(),
            user.stats.best_diff(),
            user.best_ever(),
            &user.hashrates(),
        ),
        workers: worker.len() as f64,
        bestweek: week.best_diff_week,
        sharesweek: week.total_shares_week as f64,
        week: f64::from(week.week),
        authorised: user.authorised_at() as f64,
        worker,
    }
    .to_text()
}

/// The `pool/pool.status` file at `now` ([`PoolStatus`]).
pub fn pool_status(registry: &Registry, extra: &PoolStatusExtra, now: u64) -> PoolStatus {
    let counts = registry.counts(now);
    let figures = registry.pool_figures();
    let pool = registry.pool();
    let diff_percent = if extra.network_diff > 0.0 {
        (figures.round_work / extra.network_diff * 10_000.0).round() / 100.0
    } else {
        0.0
    };
    let [m1, m5, h1, d1, d7] = hashrate_texts(&figures.hashrates);
    let sps = |w| figures.shares_per_sec.diff1_per_sec(w);
    PoolStatus {
        run: PoolRun {
            runtime: now.saturating_sub(registry.started()),
            lastupdate: now,
            users: counts.users as u64,
            workers: counts.workers as u64,
            idle: counts.idle as u64,
            disconnected: extra.disconnected,
            clients: extra.clients,
        },
        hashrates: PoolHashrates {
            hashrate1m: m1,
            hashrate5m: m5,
            hashrate1hr: h1,
            hashrate1d: d1,
            hashrate7d: d7,
        },
        shares: PoolShares {
            diff: diff_percent,
            accepted: figures.accepted_work,
            rejected: pool.rejected_work(),
            bestshare: pool.best_diff(),
            sps1m: sps(Window::M1),
            sps5m: sps(Window::M5),
            sps1h: sps(Window::H1),
        },
        limits: extra.limits.clone(),
    }
}

/// The `pool/pool.status` file's text at `now`.
pub fn pool_status_text(registry: &Registry, extra: &PoolStatusExtra, now: u64) -> String {
    pool_status(registry, extra, now).to_text()
}

impl Registry {
    /// Write `logdir/pool/pool.status` and every `logdir/users/<address>`
    /// (stats thread, after [`Registry::tick`]). A user file that cannot be
    /// written is logged and the rest still written; the first error is
    /// returned.
    pub fn write_status(&self, logdir: &Path, extra: &PoolStatusExtra) -> io::Result<()> {
        let now = unix_now();
        let pool_dir = logdir.join("pool");
        let users_dir = logdir.join("users");
        fs::create_dir_all(&pool_dir)?;
        fs::create_dir_all(&users_dir)?;
        let mut first_error = None;
        let pool_text = pool_status_text(self, extra, now);
        if let Err(e) = write_atomic(&pool_dir.join("pool.status"), pool_text.as_bytes()) {
            log_warn!(
                "users: cannot write {}/pool.status: {e}",
                pool_dir.display()
            );
            first_error = Some(e);
        }
        for user in self.users() {
            // Users who never had a share (a made-up address authorized
            // once) get no file: nothing of them is worth keeping.
            if !user.has_shares() {
                continue;
            }
            if !is_safe_file_name(&user.address) {
                log_debug!(
                    "users: no status file for {:?}: not safe as a file name",
                    user.address
                );
                continue;
            }
            let path = users_dir.join(&*user.address);
            if let Err(e) = write_atomic(&path, user_status_text(&user).as_bytes()) {
                log_warn!("users: cannot write {}: {e}", path.display());
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names() {
        assert!(is_safe_file_name(
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
        ));
        assert!(is_safe_file_name("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"));
        for bad in [
            "",
            "..",
            "a/b",
            "a.tmp",
            "../../etc/passwd",
            "bøb",
            &"a".repeat(129),
        ] {
            assert!(!is_safe_file_name(bad), "{bad}");
        }
    }

    #[test]
    fn pool_status_is_three_json_lines() {
        let registry = Registry::started_at(1_000);
        let (user, worker) = registry.authorise("addr", "addr.1", 8, 1_000).unwrap();
        registry.record_accepted(&user, &worker, 1_000.0, 5_000.0, 1_030);
        registry.tick(60.0);
        let extra = PoolStatusExtra {
            clients: 1,
            disconnected: 2,
            network_diff: 4_000.0,
            limits: None,
        };
        let text = pool_status_text(&registry, &extra, 1_060);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "{\"runtime\":60,\"lastupdate\":1060,\"Users\":1,\"Workers\":1,\"Idle\":0,\
             \"Disconnected\":2,\"Clients\":1}"
        );
        assert!(
            lines[1].starts_with("{\"hashrate1m\":\"45.2G\",\"hashrate5m\":"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].ends_with("\"hashrate7d\":\"7.1M\"}"),
            "{}",
            lines[1]
        );
        assert!(lines[2]
            .starts_with("{\"diff\":25,\"accepted\":1000,\"rejected\":0,\"bestshare\":5000,"));
        for line in lines {
            let mut bytes = line.as_bytes().to_vec();
            simd_json::to_owned_value(&mut bytes).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }
}
