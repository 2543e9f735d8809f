//! Status files written, read back, and survived corruption.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::time::unix_now;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "tbg_users_{tag}_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let path = std::env::temp_dir().join(unique);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const ADDRESS: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
const NASTY: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq.r\"ig\\1\n\u{1}☃🚀";

fn parse(text: &str) -> simd_json::OwnedValue {
    let mut bytes = text.as_bytes().to_vec();
    simd_json::to_owned_value(&mut bytes).unwrap_or_else(|e| panic!("not JSON: {e}\n{text}"))
}

/// A registry with one user and two workers, shares recorded and folded.
fn sample_registry() -> Registry {
    let registry = Registry::new();
    let now = unix_now();
    let (user, plain) = registry
        .authorise(ADDRESS, &format!("{ADDRESS}.plain"), 8, now)
        .unwrap();
    let nasty = user.worker(NASTY);
    registry.record_accepted(&user, &plain, 1_000.0, 12_345.5, now);
    registry.record_accepted(&user, &nasty, 1_000.0, 777.25, now);
    registry.record_accepted(&user, &nasty, 500.0, 600.0, now);
    registry.tick(60.0);
    registry
}

#[test]
fn round_trip_keeps_best_ever_and_shares() {
    let dir = TempDir::new("round_trip");
    let registry = sample_registry();
    registry
        .write_status(dir.path(), &PoolStatusExtra::default())
        .expect("write status");
    let pool = crate::users::PoolStatus::read(&dir.path().join("pool/pool.status"));
    let pool = pool.expect("pool.status reads back");
    assert_eq!((pool.run.users, pool.limits), (1, None));

    let loaded = Registry::load(dir.path());
    let user = loaded.get(ADDRESS).expect("user loaded");
    assert_eq!((user.best_ever(), user.shares()), (12_345.5, 2_500.0));
    // bestshare is this run's: a new run starts at 0.
    assert_eq!(user.stats.best_diff(), 0.0);
    assert_eq!(user.authorised_at(), registry.user(ADDRESS).authorised_at());
    let workers = user.workers();
    assert_eq!(workers.len(), 2);
    let nasty = user.worker(NASTY);
    assert_eq!((nasty.best_ever(), nasty.shares()), (777.25, 1_500.0));
    let plain = user.worker(&format!("{ADDRESS}.plain"));
    assert_eq!((plain.best_ever(), plain.shares()), (12_345.5, 1_000.0));
    // Averages restored to the file's three significant digits.
    let before = registry
        .user(ADDRESS)
        .hashrates()
        .hashes_per_sec(Window::H1);
    let after = user.hashrates().hashes_per_sec(Window::H1);
    assert!(
        (after - before).abs() <= before * 0.005,
        "{before} vs {after}"
    );
    // Nothing read back is live in the new run.
    assert_eq!(loaded.counts(unix_now()), Counts::default());
}

#[test]
fn hostile_worker_names_are_escaped() {
    let dir = TempDir::new("escape");
    sample_registry()
        .write_status(dir.path(), &PoolStatusExtra::default())
        .expect("write");
    let text = fs::read_to_string(dir.path().join("users").join(ADDRESS)).expect("user file");
    assert_eq!(
        text.lines().count(),
        1,
        "one line: newlines in names are escaped"
    );
    use simd_json::prelude::*;
    let value = parse(&text);
    let workers = value
        .get("worker")
        .and_then(|w| w.as_array())
        .expect("worker array");
    let names: Vec<&str> = workers
        .iter()
        .filter_map(|w| w.get_str("workername"))
        .collect();
    assert!(names.contains(&NASTY), "{names:?}");
    assert_eq!(value.get_u64("workers"), Some(2));
    assert_eq!(
        value.get_str("hashrate1m").map(|h| h.ends_with('G')),
        Some(true)
    );
}

#[test]
fn corrupt_and_foreign_files_are_skipped() {
    let dir = TempDir::new("corrupt");
    let users = dir.path().join("users");
    sample_registry()
        .write_status(dir.path(), &PoolStatusExtra::default())
        .expect("write");
    fs::write(users.join("1BadJson"), b"{\"bestever\": 12, oops").expect("write");
    fs::write(users.join("1WrongTypes"), b"{\"bestever\": \"high\"}").expect("write");
    fs::write(users.join("1NotObject"), b"[1,2,3]").expect("write");
    fs::write(users.join("1Empty"), b"").expect("write");
    fs::write(users.join("1Binary"), [0xff, 0xfe, 0x00, 0x7b]).expect("write");
    fs::write(
        users.join("1Negative"),
        b"{\"bestever\":-5,\"shares\":-1,\"lastshare\":-3}",
    )
    .expect("write");
    fs::write(users.join("1Huge"), b"{\"bestever\":1e400}").expect("write");
    fs::write(users.join(format!("{ADDRESS}.tmp")), b"{}").expect("write");
    fs::create_dir(users.join("1Directory")).expect("mkdir");
    let loaded = Registry::load(dir.path());
    let mut names: Vec<String> = loaded
        .users()
        .iter()
        .map(|u| u.address.to_string())
        .collect();
    names.sort();
    assert!(names.contains(&ADDRESS.to_string()));
    for bad in [
        "1BadJson",
        "1WrongTypes",
        "1NotObject",
        "1Empty",
        "1Binary",
        "1Directory",
    ] {
        assert!(!names.contains(&bad.to_string()), "{bad} loaded: {names:?}");
    }
    let negative = loaded.get("1Negative").expect("parses, values clamped");
    assert_eq!(
        (
            negative.best_ever(),
            negative.shares(),
            negative.last_share_secs()
        ),
        (0.0, 0.0, 0)
    );
    // 1e400 overflows f64: refused or clamped, never a panic or an inf.
    if let Some(huge) = loaded.get("1Huge") {
        assert!(huge.best_ever().is_finite());
    }
}

#[test]
fn missing_dir_is_an_empty_registry() {
    let dir = TempDir::new("missing");
    let loaded = Registry::load(&dir.path().join("nowhere"));
    assert!(loaded.users().is_empty());
}

#[test]
fn ckpool_written_file_loads() {
    let dir = TempDir::new("ckpool");
    fs::create_dir_all(dir.path().join("users")).expect("mkdir");
    let text = "{\"hashrate1m\": \"1.5T\", \"hashrate5m\": \"1.4T\", \"hashrate1hr\": \"1.3T\", \
        \"hashrate1d\": \"1.2T\", \"hashrate7d\": \"1.1T\", \"lastshare\": 1700000000, \
        \"workers\": 1, \"shares\": 123456789, \"bestshare\": 9876.5, \"bestever\": 55555, \
        \"authorised\": 1690000000, \"worker\": [{\"workername\": \"1Abc.w\", \
        \"hashrate1m\": \"1.5T\", \"lastshare\": 1700000000, \"shares\": 123456789, \
        \"bestshare\": 9876.5, \"bestever\": 55555}]}";
    fs::write(dir.path().join("users/1Abc"), text).expect("write");
    let loaded = Registry::load(dir.path());
    let user = loaded.get("1Abc").expect("loaded");
    assert_eq!(
        (user.best_ever(), user.shares(), user.last_share_secs()),
        (55_555.0, 123_456_789.0, 1_700_000_000)
    );
    assert_eq!(user.hashrates().hashes_per_sec(Window::D7), 1.1e12);
    assert_eq!(user.worker("1Abc.w").best_ever(), 55_555.0);
}

/// Thursday 2026-02-19 00:00 UTC, in ISO week 202608.
const THURSDAY: u64 = 1_771_459_200;

#[test]
fn week_fields_round_trip_and_roll_over_after_restart() {
    let dir = TempDir::new("week");
    let registry = Registry::new();
    let (user, worker) = registry
        .authorise(ADDRESS, &format!("{ADDRESS}.w"), 8, THURSDAY)
        .unwrap();
    for diff in [300.0, 4_096.25, 17.0] {
        registry.record_accepted(&user, &worker, 1.0, diff, THURSDAY + 60);
    }
    registry
        .write_status(dir.path(), &PoolStatusExtra::default())
        .expect("write status");
    let text = fs::read_to_string(dir.path().join("users").join(ADDRESS)).expect("user file");
    use simd_json::prelude::*;
    let value = parse(&text);
    assert_eq!(value.get_f64("bestweek"), Some(4_096.25));
    assert_eq!(value.get_u64("sharesweek"), Some(3));
    assert_eq!(value.get_u64("week"), Some(202_608));
    assert_eq!(value.get_f64("bestever"), Some(4_096.25));

    // Restart in the same week: the tally carries on.
    let saved = WeeklySummary {
        week: 202_608,
        best_diff_week: 4_096.25,
        total_shares_week: 3,
    };
    let loaded = Registry::load(dir.path());
    let again = loaded.get(ADDRESS).expect("user loaded");
    assert_eq!(again.current_week(), saved);
    let w = again.worker(&format!("{ADDRESS}.w"));
    let update = loaded.record_accepted(&again, &w, 1.0, 5_000.0, THURSDAY + 3_600);
    assert_eq!(update.rollover, None);
    assert_eq!(update.week, Some((4_096.25, 5_000.0)));
    assert_eq!(
        update.alltime,
        Some((4_096.25, 5_000.0)),
        "bestever restored"
    );
    assert_eq!(again.current_week().total_shares_week, 4);

    // Restart in a later week: the first share reports the saved week.
    let later = Registry::load(dir.path());
    let user = later.get(ADDRESS).expect("user loaded");
    let w = user.worker(&format!("{ADDRESS}.w"));
    let update = later.record_accepted(&user, &w, 1.0, 2.0, THURSDAY + 7 * 86_400);
    assert_eq!(update.rollover, Some(saved));
    assert_eq!(update.week, Some((0.0, 2.0)));
    assert_eq!(update.alltime, None);
    assert_eq!(user.current_week().week, 202_609);
}

#[test]
fn odd_week_fields_load_as_no_week() {
    let dir = TempDir::new("week_odd");
    let users = dir.path().join("users");
    fs::create_dir_all(&users).expect("mkdir");
    let files: [(&str, &[u8]); 6] = [
        ("1Old", b"{\"bestever\":9}"),
        ("1Week0", b"{\"week\":0,\"bestweek\":5,\"sharesweek\":2}"),
        (
            "1Week54",
            b"{\"week\":202654,\"bestweek\":5,\"sharesweek\":2}",
        ),
        ("1Fraction", b"{\"week\":202608.5,\"bestweek\":5}"),
        ("1Huge", b"{\"week\":1e30,\"bestweek\":5}"),
        (
            "1Negative",
            b"{\"week\":202608,\"bestweek\":-5,\"sharesweek\":-2}",
        ),
    ];
    for (name, text) in files {
        fs::write(users.join(name), text).expect("write");
    }
    let loaded = Registry::load(dir.path());
    for (name, _) in &files[..5] {
        let user = loaded.get(name).expect("loaded");
        assert_eq!(user.current_week(), WeeklySummary::default(), "{name}");
        // No saved week: the first share opens one without a summary.
        assert_eq!(user.record_best(1.0, THURSDAY).rollover, None, "{name}");
    }
    let negative = loaded.get("1Negative").expect("loaded");
    assert_eq!(
        negative.current_week(),
        WeeklySummary {
            week: 202_608,
            ..WeeklySummary::default()
        }
    );
    assert_eq!(loaded.get("1Old").expect("loaded").best_ever(), 9.0);
}

#[test]
fn idle_users_leave_memory_and_come_back_from_their_file() {
    let dir = TempDir::new("evict");
    let registry = Registry::load(dir.path());
    let now = unix_now();
    let (user, worker) = registry
        .authorise(ADDRESS, &format!("{ADDRESS}.rig"), 8, now)
        .unwrap();
    registry.record_accepted(&user, &worker, 1.0, 4_321.0, now);
    // Made-up addresses that only authorized: never kept once let go.
    for i in 0..5 {
        registry
            .authorise(&format!("bc1qmadeup{i}"), "x", 8, now)
            .unwrap();
    }
    registry.tick(60.0);
    registry
        .write_status(dir.path(), &PoolStatusExtra::default())
        .unwrap();
    let files = fs::read_dir(dir.path().join("users")).unwrap().count();
    assert_eq!(files, 1, "only the user with a share has a file");
    assert_eq!(registry.evict_idle(now, 3_600), 5);
    // Held by a connection: stays, however idle.
    assert_eq!(registry.evict_idle(now + 7_200, 3_600), 0);
    drop((user, worker));
    assert_eq!(registry.evict_idle(now + 7_200, 3_600), 1);
    assert!(registry.is_empty());
    // Back: read from its file, best-ever intact.
    let back = registry.user(ADDRESS);
    assert_eq!(back.best_ever(), 4_321.0);
    assert_eq!(registry.len(), 1);
}

#[test]
fn workers_no_connection_holds_make_room_for_new_ones() {
    let user = User::new(ADDRESS);
    let held = user.worker_at_most("a.1", 2).unwrap();
    let idle = user.worker_at_most("a.2", 2).unwrap();
    drop(idle);
    // a.2 never had a share and nobody holds it: it gives way.
    assert!(user.worker_at_most("a.3", 2).is_some());
    let _kept = user.worker_at_most("a.3", 2).unwrap();
    assert!(user.worker_at_most("a.4", 2).is_none(), "both held");
    assert!(std::sync::Arc::ptr_eq(
        &held,
        &user.worker_at_most("a.1", 2).unwrap()
    ));
}

#[test]
fn an_unreadable_user_file_is_set_aside_on_return() {
    let dir = TempDir::new("bad");
    let registry = Registry::load(dir.path());
    let users = dir.path().join("users");
    fs::create_dir_all(&users).unwrap();
    fs::write(users.join(ADDRESS), b"{not json").unwrap();
    let user = registry.user(ADDRESS);
    assert_eq!(user.best_ever(), 0.0);
    assert_eq!(
        fs::read(users.join(format!("{ADDRESS}.bad"))).unwrap(),
        b"{not json"
    );
    assert!(!users.join(ADDRESS).exists());
}
