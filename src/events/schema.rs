//! The event schema: the frozen contract every downstream service builds
//! on. One definition: the [`Event`] values the pool creates, the JSON they
//! become ([`Event::write_json`]), and the field table ([`EventKind::fields`])
//! that the collector validates against. `docs/events.md` shows one example
//! of each; `tests/events_schema.rs` fails if the three drift apart.

use std::io::Write as _;
use std::sync::Arc;

use crate::bitcoin::{hex, Hash32};

/// Longest string from a miner written into an event (username, worker,
/// user agent are also bounded at the session; this is the last guard).
pub const MAX_STRING_BYTES: usize = 256;

/// Best-difficulty tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeframe {
    Session,
    Week,
    Alltime,
}

impl Timeframe {
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::Session => "session",
            Timeframe::Week => "week",
            Timeframe::Alltime => "alltime",
        }
    }
}

/// One mining event, compact: names are shared `Arc<str>`, no JSON yet.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ShareSubmitted {
        user: Arc<str>,
        worker: Arc<str>,
        client_id: u64,
        diff: f64,
        sdiff: f64,
        accepted: bool,
        reject_reason: Option<&'static str>,
        ip: Arc<str>,
    },
    BlockFound {
        user: Arc<str>,
        worker: Arc<str>,
        height: u32,
        hash: Hash32,
        diff: f64,
        network_diff: f64,
        reward_sats: u64,
        coinbase_sig: Arc<str>,
    },
    MinerConnected {
        user: Arc<str>,
        worker: Arc<str>,
        client_id: u64,
        ip: Arc<str>,
        useragent: Arc<str>,
        initial_diff: f64,
    },
    MinerDisconnected {
        user: Arc<str>,
        worker: Arc<str>,
        client_id: u64,
        ip: Arc<str>,
        session_duration: f64,
        shares_session: u64,
    },
    DiffUpdated {
        user: Arc<str>,
        worker: Arc<str>,
        client_id: u64,
        old_diff: f64,
        new_diff: f64,
    },
    HashrateUpdate {
        user: Arc<str>,
        worker: Arc<str>,
        hashrate_1m: f64,
        hashrate_5m: f64,
        hashrate_1h: f64,
        hashrate_1d: f64,
    },
    NewBlockNetwork {
        height: u32,
        hash: Hash32,
        diff: f64,
        prev_hash: Hash32,
    },
    ShareBestDiff {
        user: Arc<str>,
        worker: Arc<str>,
        new_best: f64,
        prev_best: f64,
        timeframe: Timeframe,
    },
    WeeklySummary {
        user: Arc<str>,
        week: u32,
        best_diff_week: f64,
        total_shares_week: u64,
    },
}

/// The nine event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    ShareSubmitted,
    BlockFound,
    MinerConnected,
    MinerDisconnected,
    DiffUpdated,
    HashrateUpdate,
    NewBlockNetwork,
    ShareBestDiff,
    WeeklySummary,
}

/// A field's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    /// A non-negative integer.
    Integer,
    Bool,
    /// 64 hex digits.
    Hash,
    /// One of `session`, `week`, `alltime`.
    Timeframe,
    /// A pool run's id: 16 lowercase hex digits ([`RunId`]).
    RunId,
}

use FieldType as F;

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::ShareSubmitted,
        EventKind::BlockFound,
        EventKind::MinerConnected,
        EventKind::MinerDisconnected,
        EventKind::DiffUpdated,
        EventKind::HashrateUpdate,
        EventKind::NewBlockNetwork,
        EventKind::ShareBestDiff,
        EventKind::WeeklySummary,
    ];

    /// The `event` member's value.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::ShareSubmitted => "share_submitted",
            EventKind::BlockFound => "block_found",
            EventKind::MinerConnected => "miner_connected",
            EventKind::MinerDisconnected => "miner_disconnected",
            EventKind::DiffUpdated => "diff_updated",
            EventKind::HashrateUpdate => "hashrate_update",
            EventKind::NewBlockNetwork => "new_block_network",
            EventKind::ShareBestDiff => "share_best_diff",
            EventKind::WeeklySummary => "weekly_summary",
        }
    }

    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The type's own fields, in the order they are written (after the
    /// envelope `event`, `ts`, `seq`, `pool`).
    pub fn fields(self) -> &'static [(&'static str, FieldType)] {
        match self {
            EventKind::ShareSubmitted => &[
                ("user", F::String),
                ("worker", F::String),
                ("client_id", F::Integer),
                ("diff", F::Number),
                ("sdiff", F::Number),
                ("accepted", F::Bool),
                ("reject_reason", F::String),
                ("ip", F::String),
            ],
            EventKind::BlockFound => &[
                ("user", F::String),
                ("worker", F::String),
                ("height", F::Integer),
                ("hash", F::Hash),
                ("diff", F::Number),
                ("network_diff", F::Number),
                ("reward_sats", F::Integer),
                ("coinbase_sig", F::String),
            ],
            EventKind::MinerConnected => &[
                ("user", F::String),
                ("worker", F::String),
                ("client_id", F::Integer),
                ("ip", F::String),
                ("useragent", F::String),
                ("initial_diff", F::Number),
            ],
            EventKind::MinerDisconnected => &[
                ("user", F::String),
                ("worker", F::String),
                ("client_id", F::Integer),
                ("ip", F::String),
                ("session_duration", F::Number),
                ("shares_session", F::Integer),
            ],
            EventKind::DiffUpdated => &[
                ("user", F::String),
                ("worker", F::String),
                ("client_id", F::Integer),
                ("old_diff", F::Number),
                ("new_diff", F::Number),
            ],
            EventKind::HashrateUpdate => &[
                ("user", F::String),
                ("worker", F::String),
                ("hashrate_1m", F::Number),
                ("hashrate_5m", F::Number),
                ("hashrate_1h", F::Number),
                ("hashrate_1d", F::Number),
            ],
            EventKind::NewBlockNetwork => &[
                ("height", F::Integer),
                ("hash", F::Hash),
                ("diff", F::Number),
                ("prev_hash", F::Hash),
            ],
            EventKind::ShareBestDiff => &[
                ("user", F::String),
                ("worker", F::String),
                ("new_best", F::Number),
                ("prev_best", F::Number),
                ("timeframe", F::Timeframe),
            ],
            EventKind::WeeklySummary => &[
                ("user", F::String),
                ("week", F::Integer),
                ("best_diff_week", F::Number),
                ("total_shares_week", F::Integer),
            ],
        }
    }
}

/// Envelope members every event carries, in order.
pub const ENVELOPE: [(&str, FieldType); 5] = [
    ("event", F::String),
    ("ts", F::Number),
    ("seq", F::Integer),
    ("pool", F::String),
    ("run", F::RunId),
];

/// One run of a pool process: random at start. `seq` restarts at 1 with
/// every run, so (`pool`, `run`, `seq`) names one event, even for two
/// pools given the same `pool_name` or a restart whose clock is behind.
/// Written as 16 hex digits (a JSON string): a 64-bit JSON number loses
/// digits in JavaScript and other double-based decoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunId(pub u64);

impl RunId {
    /// A fresh id from the OS's random source.
    pub fn random() -> RunId {
        use std::hash::{BuildHasher, Hasher};
        use std::io::Read as _;
        let mut bytes = [0u8; 8];
        let from_os =
            std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
        if from_os.is_ok() {
            return RunId(u64::from_le_bytes(bytes));
        }
        // No /dev/urandom (a chroot): std's hasher keys are OS-seeded too.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(crate::time::unix_micros() as u128);
        h.write_u32(std::process::id());
        RunId(h.finish())
    }

    /// Parse the 16 hex digits [`RunId`]'s `Display` writes.
    pub fn parse(text: &str) -> Option<RunId> {
        if text.len() != 16 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(RunId)
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What a sender adds to every event: when, its number, and whose.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// Unix time in microseconds.
    pub ts_us: u64,
    pub seq: u64,
    pub pool: &'a str,
    pub run: RunId,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::ShareSubmitted { .. } => EventKind::ShareSubmitted,
            Event::BlockFound { .. } => EventKind::BlockFound,
            Event::MinerConnected { .. } => EventKind::MinerConnected,
            Event::MinerDisconnected { .. } => EventKind::MinerDisconnected,
            Event::DiffUpdated { .. } => EventKind::DiffUpdated,
            Event::HashrateUpdate { .. } => EventKind::HashrateUpdate,
            Event::NewBlockNetwork { .. } => EventKind::NewBlockNetwork,
            Event::ShareBestDiff { .. } => EventKind::ShareBestDiff,
            Event::WeeklySummary { .. } => EventKind::WeeklySummary,
        }
    }

    /// Write the event as one JSON object (no newline) into `out`
    /// (no allocation once `out` has room).
    pub fn write_json(&self, envelope: &Envelope<'_>, out: &mut Vec<u8>) {
        // By hand, not with `write!`: the emitter formats one event per
        // share, and the formatting machinery was most of its time.
        let mut w = Writer { out };
        w.raw("{\"event\":\"");
        w.raw(self.kind().name());
        w.raw("\",\"ts\":");
        crate::json::write_u64(w.out, envelope.ts_us / 1_000_000);
        w.raw(".");
        crate::json::write_u64_padded(w.out, envelope.ts_us % 1_000_000, 6);
        w.int("seq", envelope.seq);
        w.str_field("pool", envelope.pool);
        // The 16 hex digits `RunId`'s `Display` writes.
        w.name("run");
        w.hex_string(&envelope.run.0.to_be_bytes());
        self.write_fields(&mut w);
        w.raw("}");
    }

    fn write_fields(&self, w: &mut Writer<'_>) {
        match self {
            Event::ShareSubmitted {
                user,
                worker,
                client_id,
                diff,
                sdiff,
                accepted,
                reject_reason,
                ip,
            } => {
                w.who(user, worker);
                w.int("client_id", *client_id);
                w.num("diff", *diff);
                w.num("sdiff", *sdiff);
                w.raw(if *accepted {
                    ",\"accepted\":true"
                } else {
                    ",\"accepted\":false"
                });
                // The contract's type is a string, never null: "" when
                // accepted (a typed consumer refused every accepted share
                // while this was null).
                w.str_field("reject_reason", reject_reason.unwrap_or(""));
                w.str_field("ip", ip);
            }
            Event::BlockFound {
                user,
                worker,
                height,
                hash,
                diff,
                network_diff,
                reward_sats,
                coinbase_sig,
            } => {
                w.who(user, worker);
                w.int("height", *height as u64);
                w.str_field("hash", &hex::encode_display(hash));
                w.num("diff", *diff);
                w.num("network_diff", *network_diff);
                w.int("reward_sats", *reward_sats);
                w.str_field("coinbase_sig", coinbase_sig);
            }
            Event::MinerConnected {
                user,
                worker,
                client_id,
                ip,
                useragent,
                initial_diff,
            } => {
                w.who(user, worker);
                w.int("client_id", *client_id);
                w.str_field("ip", ip);
                w.str_field("useragent", useragent);
                w.num("initial_diff", *initial_diff);
            }
            Event::MinerDisconnected {
                user,
                worker,
                client_id,
                ip,
                session_duration,
                shares_session,
            } => {
                w.who(user, worker);
                w.int("client_id", *client_id);
                w.str_field("ip", ip);
                w.num("session_duration", *session_duration);
                w.int("shares_session", *shares_session);
            }
            Event::DiffUpdated {
                user,
                worker,
                client_id,
                old_diff,
                new_diff,
            } => {
                w.who(user, worker);
                w.int("client_id", *client_id);
                w.num("old_diff", *old_diff);
                w.num("new_diff", *new_diff);
            }
            other => other.write_other_fields(w),
        }
    }

    fn write_other_fields(&self, w: &mut Writer<'_>) {
        match self {
            Event::HashrateUpdate {
                user,
                worker,
                hashrate_1m,
                hashrate_5m,
                hashrate_1h,
                hashrate_1d,
            } => {
                w.who(user, worker);
                w.num("hashrate_1m", *hashrate_1m);
                w.num("hashrate_5m", *hashrate_5m);
                w.num("hashrate_1h", *hashrate_1h);
                w.num("hashrate_1d", *hashrate_1d);
            }
            Event::NewBlockNetwork {
                height,
                hash,
                diff,
                prev_hash,
            } => {
                w.int("height", *height as u64);
                w.hash_field("hash", hash);
                w.num("diff", *diff);
                w.hash_field("prev_hash", prev_hash);
            }
            Event::ShareBestDiff {
                user,
                worker,
                new_best,
                prev_best,
                timeframe,
            } => {
                w.who(user, worker);
                w.num("new_best", *new_best);
                w.num("prev_best", *prev_best);
                w.str_field("timeframe", timeframe.as_str());
            }
            Event::WeeklySummary {
                user,
                week,
                best_diff_week,
                total_shares_week,
            } => {
                w.str_field("user", user);
                w.int("week", *week as u64);
                w.num("best_diff_week", *best_diff_week);
                w.int("total_shares_week", *total_shares_week);
            }
            _ => unreachable!("handled in write_fields"),
        }
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// A bounded, escaped JSON string.
    fn string(&mut self, s: &str) {
        let s = crate::text::prefix(s, MAX_STRING_BYTES);
        crate::json::write_string(self.out, s);
    }

    /// `,"name":` (names are the schema's own: nothing to escape).
    fn name(&mut self, name: &str) {
        self.raw(",\"");
        self.raw(name);
        self.raw("\":");
    }

    fn str_field(&mut self, name: &str, value: &str) {
        self.name(name);
        self.string(value);
    }

    /// A hash in display order (as explorers show it).
    fn hash_field(&mut self, name: &str, hash: &Hash32) {
        let mut display = *hash;
        display.reverse();
        self.name(name);
        self.hex_string(&display);
    }

    /// `bytes` as a JSON string of lowercase hex digits.
    fn hex_string(&mut self, bytes: &[u8]) {
        self.out.push(b'"');
        let start = self.out.len();
        self.out.resize(start + 2 * bytes.len(), 0);
        hex::encode_into(bytes, &mut self.out[start..]);
        self.out.push(b'"');
    }

    fn who(&mut self, user: &str, worker: &str) {
        self.str_field("user", user);
        self.str_field("worker", worker);
    }

    fn int(&mut self, name: &str, v: u64) {
        self.name(name);
        crate::json::write_u64(self.out, v);
    }

    /// A number as [`crate::json::Number`] writes it (finite, parseable).
    fn num(&mut self, name: &str, v: f64) {
        self.name(name);
        let _ = write!(self.out, "{}", crate::json::Number(v));
    }
}
