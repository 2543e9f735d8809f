//! What the API knows, in memory: per user the three best-difficulty
//! tiers (and per worker), the week's shares and a 24-hour chart; the
//! live sessions; the network tip; the blocks found. Built at start from
//! PostgreSQL (src/api/store.rs) and kept current by applying the stream
//! entries (src/api/stream.rs). Every handler reads it under one lock, so
//! no request waits on Redis or PostgreSQL.
//!
//! Applying is idempotent: each (type, pool, run) keeps the highest `seq`
//! applied (PostgreSQL's at start), and an entry at or below it is
//! skipped. That is what makes a restart, a rewound group or a redelivered
//! entry count nothing twice (docs/api.md). The marks are per type
//! because each type is its own stream: the streams interleave, but within
//! one a run's `seq` only grows.

use std::collections::{HashMap, VecDeque};

use super::event::{worker_name, Event};
use super::model::{self, iso_time, BlockInfo, ChartPoint, FoundBlock, Network};
use crate::time::iso_week;

/// Seconds per chart slot (public-pool's 10 minutes) and slots per chart.
pub const SLOT_SECS: u64 = 600;
pub const CHART_SLOTS: u64 = 144;
/// Expected hashes per unit of difficulty.
const HASHES_PER_DIFF: f64 = 4_294_967_296.0;
/// A session's hashrate is over its last ten one-minute buckets.
const RATE_MINUTES: usize = 10;

/// Bounds on what is held (config keys `max_users`, `max_sessions`,
/// `max_blocks`, `active_window_secs`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_users: usize,
    pub max_sessions: usize,
    pub max_blocks: usize,
    pub active_window_secs: u64,
}

/// Accepted difficulty per 10-minute slot, oldest first, last 24 h.
#[derive(Debug, Default, Clone)]
pub struct Slots(VecDeque<(u64, f64)>);

impl Slots {
    pub fn add(&mut self, ts: f64, diff: f64) {
        let slot = ts.max(0.0) as u64 / SLOT_SECS;
        match self.0.iter_mut().rev().find(|(s, _)| *s == slot) {
            Some((_, sum)) => *sum += diff,
            None => {
                // Entries arrive nearly in time order; keep the deque sorted.
                let at = self.0.partition_point(|(s, _)| *s < slot);
                self.0.insert(at, (slot, diff));
            }
        }
        while self.0.len() as u64 > CHART_SLOTS + 1 {
            self.0.pop_front();
        }
    }

    /// The 144 slots ending with the current one, as hashrates: complete
    /// slots over 600 s, the current one over the part already past.
    pub fn chart(&self, now: f64) -> Vec<ChartPoint> {
        let current = now.max(0.0) as u64 / SLOT_SECS;
        let first = current.saturating_sub(CHART_SLOTS - 1);
        (first..=current)
            .map(|slot| {
                let sum = self.sum(slot);
                let secs = if slot == current {
                    (now - (slot * SLOT_SECS) as f64).clamp(60.0, SLOT_SECS as f64)
                } else {
                    SLOT_SECS as f64
                };
                ChartPoint {
                    label: iso_time((slot * SLOT_SECS) as f64),
                    data: sum * HASHES_PER_DIFF / secs,
                }
            })
            .collect()
    }

    fn sum(&self, slot: u64) -> f64 {
        self.0
            .iter()
            .find(|(s, _)| *s == slot)
            .map_or(0.0, |(_, d)| *d)
    }
}

/// One worker's tiers beyond the session (per connection).
#[derive(Debug, Default, Clone)]
pub struct WorkerBest {
    pub week: u32,
    pub week_best: f64,
    pub all_time: f64,
}

#[derive(Debug, Default, Clone)]
pub struct User {
    /// Full worker name → tiers.
    pub workers: HashMap<String, WorkerBest>,
    pub week: u32,
    pub week_best: f64,
    pub all_time: f64,
    pub weekly_shares: u64,
    pub chart: Slots,
    /// When the all-time best was set, and the user agent last seen.
    pub best_at: f64,
    pub useragent: String,
}

impl User {
    /// Move to `week` if it is newer: the week's counters start again.
    fn roll_week(&mut self, week: u32) {
        if week > self.week {
            self.week = week;
            self.week_best = 0.0;
            self.weekly_shares = 0;
        }
    }

    fn best(&mut self, worker: &str, week: u32, diff: f64, ts: f64) {
        self.roll_week(week);
        if week == self.week {
            self.week_best = self.week_best.max(diff);
        }
        if diff > self.all_time {
            self.all_time = diff;
            self.best_at = ts;
        }
        let w = self.workers.entry(worker.to_string()).or_default();
        if week > w.week {
            w.week = week;
            w.week_best = 0.0;
        }
        if week == w.week {
            w.week_best = w.week_best.max(diff);
        }
        w.all_time = w.all_time.max(diff);
    }
}

/// One connection of a miner, named by (pool, run, client_id).
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub user: String,
    pub worker: String,
    pub useragent: String,
    pub start: f64,
    pub last_seen: f64,
    pub best: f64,
    /// (unix minute, accepted difficulty) for the last ten minutes.
    minutes: VecDeque<(u64, f64)>,
}

impl Session {
    fn add(&mut self, ts: f64, diff: f64) {
        let minute = ts.max(0.0) as u64 / 60;
        match self.minutes.back_mut() {
            Some((m, sum)) if *m == minute => *sum += diff,
            _ => self.minutes.push_back((minute, diff)),
        }
        while self.minutes.len() > RATE_MINUTES {
            self.minutes.pop_front();
        }
    }

    /// Hashes per second over the last ten minutes (or the session's
    /// life, when shorter, but at least a minute: a first share is no rate).
    pub fn hashrate(&self, now: f64) -> f64 {
        let since = (now.max(0.0) as u64 / 60).saturating_sub(RATE_MINUTES as u64 - 1);
        let sum: f64 = self
            .minutes
            .iter()
            .filter(|(m, _)| *m >= since)
            .fold(0.0, |a, (_, d)| a + d);
        let secs = (now - self.start).clamp(60.0, (RATE_MINUTES * 60) as f64);
        sum * HASHES_PER_DIFF / secs
    }
}

pub type SessionKey = (String, String, u64);

#[derive(Debug)]
pub struct State {
    pub limits: Limits,
    /// (event type, pool, run) → highest `seq` applied.
    marks: HashMap<(String, String, String), u64>,
    pub users: HashMap<String, User>,
    pub sessions: HashMap<SessionKey, Session>,
    pub network: Option<Network>,
    pub blocks: VecDeque<BlockInfo>,
    pub pool_chart: Slots,
    /// Entries applied and skipped (already counted), for the log.
    pub applied: u64,
    pub skipped: u64,
    pub started: f64,
}

impl State {
    pub fn new(limits: Limits, now: f64) -> State {
        State {
            limits,
            marks: HashMap::new(),
            users: HashMap::new(),
            sessions: HashMap::new(),
            network: None,
            blocks: VecDeque::new(),
            pool_chart: Slots::default(),
            applied: 0,
            skipped: 0,
            started: now,
        }
    }

    /// Record that everything of (type, pool, run) up to `seq` is counted.
    pub fn set_mark(&mut self, kind: &str, pool: &str, run: &str, seq: u64) {
        let key = (kind.to_string(), pool.to_string(), run.to_string());
        let mark = self.marks.entry(key).or_insert(0);
        *mark = (*mark).max(seq);
    }

    /// Apply one event unless already counted; true when applied.
    pub fn apply(&mut self, e: &Event) -> bool {
        let key = (e.event.clone(), e.pool.clone(), e.run.clone());
        match self.marks.get_mut(&key) {
            Some(mark) if e.seq <= *mark => {
                self.skipped += 1;
                return false;
            }
            Some(mark) => *mark = e.seq,
            None => {
                self.marks.insert(key, e.seq);
            }
        }
        self.applied += 1;
        self.fold(e);
        true
    }

    /// The event's effect, without the idempotency check (also used to
    /// load history whose marks are set apart).
    pub fn fold(&mut self, e: &Event) {
        match e.event.as_str() {
            "share_submitted" => self.share(e),
            "share_best_diff" => self.best(e),
            "miner_connected" => self.connected(e),
            "miner_disconnected" => {
                self.sessions.remove(&session_key(e));
            }
            "new_block_network" => self.tip(e),
            "block_found" => self.block(e),
            _ => {}
        }
    }

    fn user_mut(&mut self, address: &str) -> Option<&mut User> {
        if !self.users.contains_key(address) && self.users.len() >= self.limits.max_users {
            return None;
        }
        Some(self.users.entry(address.to_string()).or_default())
    }

    fn share(&mut self, e: &Event) {
        if let Some(s) = self.session_mut(e) {
            s.last_seen = s.last_seen.max(e.ts);
            if e.accepted {
                s.add(e.ts, e.diff);
                s.best = s.best.max(e.sdiff);
            }
        }
        if !e.accepted {
            return;
        }
        self.pool_chart.add(e.ts, e.diff);
        let week = week_of(e.ts);
        if let Some(u) = self.user_mut(&e.user) {
            u.chart.add(e.ts, e.diff);
            u.roll_week(week);
            if week == u.week {
                u.weekly_shares += 1;
            }
        }
    }

    /// The tiers follow the pool's `share_best_diff` events alone: the
    /// pool computes their difficulty apart from a share's `sdiff` (they
    /// can differ in the last bit), and its word is the one players see.
    fn best(&mut self, e: &Event) {
        let week = week_of(e.ts);
        if let Some(u) = self.user_mut(&e.user) {
            u.best(&e.worker, week, e.new_best, e.ts);
        }
    }

    /// The session of a share or connection event, created on first
    /// sight (a share of a connection made before the history loaded).
    fn session_mut(&mut self, e: &Event) -> Option<&mut Session> {
        let key = session_key(e);
        if !self.sessions.contains_key(&key) && self.sessions.len() >= self.limits.max_sessions {
            self.prune(e.ts);
        }
        if !self.sessions.contains_key(&key) && self.sessions.len() >= self.limits.max_sessions {
            return None;
        }
        Some(self.sessions.entry(key).or_insert_with(|| Session {
            user: e.user.clone(),
            worker: e.worker.clone(),
            start: e.ts,
            last_seen: e.ts,
            ..Session::default()
        }))
    }

    fn connected(&mut self, e: &Event) {
        if let Some(u) = self.user_mut(&e.user) {
            u.useragent = e.useragent.clone();
        }
        if let Some(s) = self.session_mut(e) {
            s.useragent = e.useragent.clone();
            s.start = s.start.min(e.ts);
        }
    }

    fn tip(&mut self, e: &Event) {
        if self.network.as_ref().is_some_and(|n| n.height > e.height) {
            return;
        }
        let old = self.network.take().unwrap_or_default();
        self.network = Some(Network {
            blocks: e.height,
            height: e.height,
            difficulty: e.diff,
            hash: e.hash.clone(),
            prev_hash: e.prev_hash.clone(),
            time: iso_time(e.ts),
            ..old
        });
    }

    /// What the node said (`node_url`): its mining info always; its tip
    /// unless an event already told of a higher one.
    pub fn node_info(&mut self, info: Network) {
        let n = self.network.get_or_insert_with(Network::default);
        n.networkhashps = info.networkhashps;
        n.pooledtx = info.pooledtx;
        n.chain = info.chain;
        if info.height >= n.height {
            n.blocks = info.blocks;
            n.height = info.height;
            n.difficulty = info.difficulty;
            if n.hash != info.hash {
                n.hash = info.hash;
                n.prev_hash = info.prev_hash;
                n.time = info.time;
            }
        }
    }

    fn block(&mut self, e: &Event) {
        self.blocks.push_back(BlockInfo {
            height: e.height,
            hash: e.hash.clone(),
            finder: e.user.clone(),
            worker: e.worker.clone(),
            reward_sats: e.reward_sats,
            difficulty: e.diff,
            network_difficulty: e.network_diff,
            pool: e.pool.clone(),
            time: iso_time(e.ts),
            verdict: None,
        });
        while self.blocks.len() > self.limits.max_blocks {
            self.blocks.pop_front();
        }
    }

    /// History: `n` accepted shares of `user` in `week` so far.
    pub fn load_weekly(&mut self, user: &str, week: u32, n: u64) {
        if let Some(u) = self.user_mut(user) {
            u.roll_week(week);
            if u.week == week {
                u.weekly_shares += n;
            }
        }
    }

    /// History: `diff` accepted by `user` in the chart slot starting at `ts`.
    pub fn load_slot(&mut self, user: &str, ts: f64, diff: f64) {
        self.pool_chart.add(ts, diff);
        if let Some(u) = self.user_mut(user) {
            u.chart.add(ts, diff);
        }
    }

    /// History: a session's accepted difficulty (`e.diff`, best `e.sdiff`)
    /// in the minute starting at `e.ts`, its last share at `last`.
    pub fn load_session_minute(&mut self, e: &Event, last: f64) {
        if let Some(s) = self.session_mut(e) {
            s.add(e.ts, e.diff);
            s.best = s.best.max(e.sdiff);
            s.last_seen = s.last_seen.max(last);
            s.start = s.start.min(e.ts);
        }
    }

    /// Forget sessions silent for longer than the active window (their
    /// disconnect may never come: a pool killed, an event lost).
    pub fn prune(&mut self, now: f64) {
        let window = self.limits.active_window_secs as f64;
        self.sessions.retain(|_, s| now - s.last_seen <= window);
    }

    /// Live sessions (a share within the active window) of `user`, or of
    /// everyone with `None`.
    pub fn active<'a>(
        &'a self,
        user: Option<&'a str>,
        now: f64,
    ) -> impl Iterator<Item = (&'a SessionKey, &'a Session)> + 'a {
        let window = self.limits.active_window_secs as f64;
        self.sessions
            .iter()
            .filter(move |(_, s)| now - s.last_seen <= window && user.is_none_or(|u| u == s.user))
    }

    pub fn found_blocks(&self) -> Vec<FoundBlock> {
        self.blocks
            .iter()
            .map(|b| FoundBlock {
                height: b.height,
                miner_address: b.finder.clone(),
                worker: worker_name(&b.worker).to_string(),
                session_id: String::new(),
            })
            .collect()
    }

    /// The current network height (0 before any tip is known).
    pub fn height(&self) -> u64 {
        self.network.as_ref().map_or(0, |n| n.height)
    }

    pub fn network(&self) -> model::Network {
        self.network.clone().unwrap_or_default()
    }
}

pub fn session_key(e: &Event) -> SessionKey {
    (e.pool.clone(), e.run.clone(), e.client_id)
}

/// `<pool>:<run>:<client_id>`, the session id the API shows.
pub fn session_id(key: &SessionKey) -> String {
    format!("{}:{}:{}", key.0, key.1, key.2)
}

pub fn week_of(ts: f64) -> u32 {
    iso_week(ts.max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_users: 10,
            max_sessions: 10,
            max_blocks: 2,
            active_window_secs: 1800,
        }
    }

    fn share(seq: u64, ts: f64, sdiff: f64) -> Event {
        Event {
            event: "share_submitted".into(),
            ts,
            seq,
            pool: "p".into(),
            run: "r".into(),
            user: "u".into(),
            worker: "u.rig".into(),
            client_id: 1,
            diff: 1.0,
            sdiff,
            accepted: true,
            ..Event::default()
        }
    }

    #[test]
    fn an_entry_is_counted_once() {
        let mut s = State::new(limits(), 0.0);
        let t = 1771502400.0;
        assert!(s.apply(&share(1, t, 5.0)));
        assert!(!s.apply(&share(1, t, 5.0)));
        assert!(s.apply(&share(2, t + 1.0, 7.0)));
        // Another type of the same run has its own mark.
        let best = Event {
            event: "share_best_diff".into(),
            seq: 1,
            new_best: 9.0,
            timeframe: "week".into(),
            ..share(1, t, 0.0)
        };
        assert!(s.apply(&best));
        let u = &s.users["u"];
        assert_eq!((u.weekly_shares, u.all_time, u.week_best), (2, 9.0, 9.0));
        assert_eq!(u.workers["u.rig"].all_time, 9.0);
        assert!(!s.apply(&best));
        let sess = s.sessions.values().next().unwrap();
        assert_eq!(sess.best, 7.0);
        s.set_mark("share_submitted", "p", "r", 10);
        assert!(!s.apply(&share(9, t, 1.0)));
        assert_eq!(s.users["u"].weekly_shares, 2);
    }

    #[test]
    fn a_new_week_starts_its_tiers_again() {
        let mut s = State::new(limits(), 0.0);
        let monday = 1771804800.0; // 2026-02-23 00:00 UTC
        let best = |seq, ts, new_best| Event {
            event: "share_best_diff".into(),
            new_best,
            ..share(seq, ts, 0.0)
        };
        s.apply(&share(1, monday - 10.0, 50.0));
        s.apply(&best(1, monday - 10.0, 50.0));
        s.apply(&share(2, monday + 10.0, 3.0));
        s.apply(&best(2, monday + 10.0, 3.0));
        let u = &s.users["u"];
        assert_eq!((u.week_best, u.all_time, u.weekly_shares), (3.0, 50.0, 1));
        assert_eq!(u.workers["u.rig"].week_best, 3.0);
    }

    #[test]
    fn chart_and_hashrate() {
        let mut s = State::new(limits(), 0.0);
        let t = 1771502400.0; // a slot boundary
        for i in 0..10 {
            s.apply(&share(i + 1, t + i as f64, 1.0));
        }
        let chart = s.users["u"].chart.chart(t + 300.0);
        assert_eq!(chart.len(), 144);
        let last = chart.last().unwrap();
        assert_eq!(last.label, "2026-02-19T12:00:00.000Z");
        assert!((last.data - 10.0 * HASHES_PER_DIFF / 300.0).abs() < 1.0);
        let sess = s.sessions.values().next().unwrap();
        assert!((sess.hashrate(t + 120.0) - 10.0 * HASHES_PER_DIFF / 120.0).abs() < 1.0);
        assert_eq!(s.active(Some("u"), t + 100.0).count(), 1);
        assert_eq!(s.active(Some("u"), t + 4000.0).count(), 0);
        assert_eq!(s.active(Some("x"), t).count(), 0);
    }

    #[test]
    fn bounded() {
        let mut s = State::new(limits(), 0.0);
        for i in 0..20u64 {
            let e = Event {
                user: format!("u{i}"),
                client_id: i,
                ..share(1, 1.0e9, 1.0)
            };
            s.fold(&e);
            let b = Event {
                event: "block_found".into(),
                height: i,
                ..e
            };
            s.fold(&b);
        }
        assert_eq!(
            (s.users.len(), s.sessions.len(), s.blocks.len()),
            (10, 10, 2)
        );
        assert_eq!(s.blocks.back().unwrap().height, 19);
    }
}
