//! The stream reader: one thread reading the `events:<type>` streams
//! with the API's consumer group (`XREADGROUP … >`), applying each entry
//! to the state, handing live types to the SSE hub, and acknowledging
//! (`XACK`) what it applied or found already counted.
//!
//! Resuming without double counting: the state is rebuilt from
//! PostgreSQL at every start together with the highest `seq` of each
//! (type, pool, run) it held, and an entry at or below its mark is
//! skipped (src/api/state.rs). So the group can be rewound safely, and it
//! is, once per process start: to PostgreSQL's newest event less
//! `replay_margin_ms`. Without the rewind, entries a previous API process
//! acknowledged but PostgreSQL did not have yet (its sink behind, down,
//! spooling) would be in neither place for the new process. The group's
//! pending list is not relied on for this: an entry is acknowledged once
//! applied, so nothing of it is left pending that the rewind misses.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redis::streams::StreamReadReply;
use redis::{Connection, RedisResult};

use super::event::{Event, LIVE_TYPES};
use super::sse::{Hub, Live};
use super::state::State;

/// The streams read: every type the state or the browsers use.
pub const TYPES: [&str; 7] = [
    "share_submitted",
    "share_best_diff",
    "diff_updated",
    "block_found",
    "new_block_network",
    "miner_connected",
    "miner_disconnected",
];

/// How long one `XREADGROUP` blocks waiting (the stop flag's latency).
const BLOCK_MS: u64 = 500;
/// Entries older than this when applied are not pushed to browsers (a
/// rewind's catch-up is history, not news).
const LIVE_AGE_SECS: f64 = 60.0;
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ReaderConfig {
    pub url: String,
    pub group: String,
    pub consumer: String,
    pub count: usize,
    /// Rewind the group to this stream id at the first connect.
    pub start_id: String,
}

pub fn key(kind: &str) -> String {
    format!("events:{kind}")
}

/// The stream id to rewind to: `newest_ms − margin`, or the beginning
/// when PostgreSQL had nothing (or could not be read).
pub fn start_id(newest_ms: u64, margin_ms: u64) -> String {
    if newest_ms == 0 {
        "0".into()
    } else {
        format!("{}-0", newest_ms.saturating_sub(margin_ms))
    }
}

/// Start the reader thread; it runs until `stop` is set.
pub fn start(
    cfg: ReaderConfig,
    state: Arc<Mutex<State>>,
    hub: Hub,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("stream".into())
        .spawn(move || run(&cfg, &state, &hub, &stop))
}

fn run(cfg: &ReaderConfig, state: &Mutex<State>, hub: &Hub, stop: &AtomicBool) {
    let mut rewound = false;
    let mut logged = false;
    while !stop.load(Ordering::Relaxed) {
        let result = connect(cfg, &mut rewound).and_then(|mut conn| {
            log_info!(
                "reading the event streams as {}/{}",
                cfg.group,
                cfg.consumer
            );
            logged = false;
            read_loop(&mut conn, cfg, state, hub, stop)
        });
        if let Err(e) = result {
            // One line per outage, not one per retry.
            if !logged {
                log_warn!("event streams: {e}; retrying every {RETRY:?}");
                logged = true;
            }
            std::thread::sleep(RETRY);
        }
    }
}

fn connect(cfg: &ReaderConfig, rewound: &mut bool) -> RedisResult<Connection> {
    let client = redis::Client::open(cfg.url.as_str())?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(5))?;
    conn.set_read_timeout(Some(Duration::from_millis(BLOCK_MS * 4)))?;
    for kind in TYPES {
        create_group(&mut conn, &key(kind), &cfg.group)?;
        if !*rewound {
            redis::cmd("XGROUP")
                .arg("SETID")
                .arg(key(kind))
                .arg(&cfg.group)
                .arg(&cfg.start_id)
                .query::<()>(&mut conn)?;
        }
    }
    if !*rewound {
        log_info!(
            "event streams: group {} rewound to {}",
            cfg.group,
            cfg.start_id
        );
    }
    *rewound = true;
    Ok(conn)
}

/// `XGROUP CREATE … MKSTREAM`, leaving an existing group as it is.
fn create_group(conn: &mut Connection, key: &str, group: &str) -> RedisResult<()> {
    let r = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query::<()>(conn);
    match r {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

fn read_loop(
    conn: &mut Connection,
    cfg: &ReaderConfig,
    state: &Mutex<State>,
    hub: &Hub,
    stop: &AtomicBool,
) -> RedisResult<()> {
    while !stop.load(Ordering::Relaxed) {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(&cfg.group).arg(&cfg.consumer);
        cmd.arg("COUNT").arg(cfg.count).arg("BLOCK").arg(BLOCK_MS);
        cmd.arg("STREAMS");
        for kind in TYPES {
            cmd.arg(key(kind));
        }
        for _ in TYPES {
            cmd.arg(">");
        }
        let reply: Option<StreamReadReply> = cmd.query(conn)?;
        let Some(reply) = reply else { continue };
        for stream in reply.keys {
            let ids = apply_entries(&stream, state, hub);
            if !ids.is_empty() {
                redis::cmd("XACK")
                    .arg(&stream.key)
                    .arg(&cfg.group)
                    .arg(&ids)
                    .query::<()>(conn)?;
            }
        }
    }
    Ok(())
}

/// Apply one stream's entries (one lock for all); returns their ids to
/// acknowledge — damaged entries too, so they are not delivered forever.
fn apply_entries(
    stream: &redis::streams::StreamKey,
    state: &Mutex<State>,
    hub: &Hub,
) -> Vec<String> {
    let now = super::now();
    let mut live = Vec::new();
    {
        let mut state = state.lock();
        for entry in &stream.ids {
            let Some(data) = entry.get::<Vec<u8>>("data") else {
                continue;
            };
            let Some(event) = Event::parse(&data) else {
                continue;
            };
            let fresh = now - event.ts < LIVE_AGE_SECS;
            if state.apply(&event) && fresh && LIVE_TYPES.contains(&event.event.as_str()) {
                live.push(Live {
                    kind: event.event.clone(),
                    user: event.user.clone(),
                    id: entry.id.clone(),
                    json: String::from_utf8_lossy(&data).into_owned(),
                });
            }
        }
    }
    // Published after the lock: a request sees the state before the browser
    // hears of the event, so a page reloading on an event is never behind.
    for l in live {
        hub.publish(l);
    }
    stream.ids.iter().map(|e| e.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ids() {
        assert_eq!(start_id(0, 10_000), "0");
        assert_eq!(start_id(1_771_502_400_000, 10_000), "1771502390000-0");
        assert_eq!(start_id(5, 10_000), "0-0");
    }
}
