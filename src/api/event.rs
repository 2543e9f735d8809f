//! An event as the API reads it back (from a stream entry's `data` or a
//! `mining_events.payload`): the contract of docs/events.md, every field
//! optional so one struct reads all nine types. Fields the API does not
//! use are left out (serde skips them).

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    pub event: String,
    pub ts: f64,
    pub seq: u64,
    pub pool: String,
    pub run: String,
    pub user: String,
    pub worker: String,
    pub client_id: u64,
    pub diff: f64,
    pub sdiff: f64,
    pub accepted: bool,
    pub useragent: String,
    pub height: u64,
    pub hash: String,
    pub prev_hash: String,
    pub network_diff: f64,
    pub reward_sats: u64,
    pub new_best: f64,
    pub prev_best: f64,
    pub timeframe: String,
    pub new_diff: f64,
}

impl Event {
    /// Parse one event's JSON; `None` for anything that is not an object
    /// naming its type (a damaged entry is skipped, never a panic).
    pub fn parse(json: &[u8]) -> Option<Event> {
        let e: Event = serde_json::from_slice(json).ok()?;
        (!e.event.is_empty()).then_some(e)
    }

    /// The worker's name without the address (`rig1` of `addr.rig1`;
    /// public-pool's `name`), `""` for a bare address.
    pub fn worker_name(&self) -> &str {
        worker_name(&self.worker)
    }
}

/// `address.rig1` → `rig1`; `address` → `""`.
pub fn worker_name(worker: &str) -> &str {
    worker.split_once('.').map(|(_, n)| n).unwrap_or("")
}

/// The event types pushed to Server-Sent Events clients.
pub const LIVE_TYPES: [&str; 5] = [
    "share_submitted",
    "share_best_diff",
    "diff_updated",
    "block_found",
    "new_block_network",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_examples_and_refuses_junk() {
        let share = br#"{"event":"share_submitted","ts":1771502400.123456,"seq":1042,"pool":"tbg","run":"5f3c9a0e12d4b7a6","user":"bc1q","worker":"bc1q.bitaxe","client_id":17,"diff":1024,"sdiff":4711.5,"accepted":true,"reject_reason":"","ip":"192.0.2.10"}"#;
        let e = Event::parse(share).unwrap();
        assert_eq!((e.seq, e.client_id, e.sdiff), (1042, 17, 4711.5));
        assert_eq!(e.worker_name(), "bitaxe");
        assert!(e.accepted);
        for junk in [&b"[]"[..], b"{}", b"{\"event\":1}", b"\xff", b""] {
            assert!(Event::parse(junk).is_none());
        }
        assert_eq!(worker_name("addr"), "");
    }
}
