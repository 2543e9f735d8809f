//! The Redis Streams sink: one stream per event type, `events:<type>`
//! (entry fields `pool`, `seq`, `ts`, `data`), trimmed with `MAXLEN ~`.
//!
//! Idempotency: for each stream a hash `{events:<type>}:seq` holds, per
//! pool, the last stored `seq` and the newest stored `ts` (`"<seq> <ts_us>"`).
//! A write WATCHes and reads the marks, skips what is already stored, then
//! adds the entries and moves the marks in one MULTI/EXEC. The hash tag
//! `{events:<type>}` puts each mark hash in its stream's cluster slot, so a
//! cluster writer can run one such transaction per type; this sink uses one
//! plain (non-cluster) connection and one transaction per batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use redis::streams::StreamMaxlen;
use redis::{Connection, RedisError, RedisResult};

use super::record::StoredEvent;
use super::sink::{Sink, SinkError};
use crate::events::EventKind;

/// Longest wait for the TCP connection to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a reply (or for room to send) once connected.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// A `seq` this far below a pool's mark means a new pool process, whatever
/// the timestamps say (a clock stepped back over the restart).
pub const RESTART_SEQ_GAP: u64 = 1_000_000;
/// The stream key prefix (`events:<type>`).
const STREAM_PREFIX: &str = "events:";
/// Redis's reply code when a consumer group already exists.
const BUSYGROUP: &str = "BUSYGROUP";

/// The stream of one event type: `events:<type>`.
pub fn stream_key(kind: EventKind) -> String {
    format!("{STREAM_PREFIX}{}", kind.name())
}

/// The high-water-mark hash of one stream: `{events:<type>}:seq`, in the
/// same cluster slot as [`stream_key`] (its hash tag is the stream's name).
pub fn mark_key(kind: EventKind) -> String {
    format!("{{{}}}:seq", stream_key(kind))
}

/// Unix microseconds as the `ts` field's text: seconds with six decimals.
pub fn unix_seconds_text(ts_us: i64) -> String {
    let sign = if ts_us < 0 { "-" } else { "" };
    let abs = ts_us.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// A pool's high-water mark in one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    /// The last stored `seq`.
    seq: u64,
    /// The newest `ts` stored since the pool process started (unix µs).
    ts_us: i64,
}

impl Mark {
    /// Parse a hash value `"<seq> <ts_us>"`; `None` if malformed.
    fn parse(text: &str) -> Option<Mark> {
        let (seq, ts_us) = text.split_once(' ')?;
        Some(Mark {
            seq: seq.parse().ok()?,
            ts_us: ts_us.parse().ok()?,
        })
    }

    /// The hash value for this mark.
    fn to_value(self) -> String {
        format!("{} {}", self.seq, self.ts_us)
    }
}

/// The mark after `event`, or `None` when `event` is already stored.
///
/// Above the mark: new. At or below it: a replay, unless the pool was
/// restarted (seq from 1 again): far below the mark, or newer than
/// anything stored (a replayed event was stored, so it is never newer).
fn next_mark(mark: Option<Mark>, event: &StoredEvent) -> Option<Mark> {
    let fresh = Mark {
        seq: event.seq,
        ts_us: event.ts_us,
    };
    match mark {
        None => Some(fresh),
        Some(m) if event.seq > m.seq => Some(Mark {
            seq: event.seq,
            ts_us: m.ts_us.max(event.ts_us),
        }),
        Some(m) if m.seq - event.seq > RESTART_SEQ_GAP || event.ts_us > m.ts_us => Some(fresh),
        Some(_) => None,
    }
}

/// The pools in a batch, per event type.
type Wanted<'a> = BTreeMap<EventKind, BTreeSet<&'a str>>;

/// Current marks, by (type, pool).
type Marks<'a> = HashMap<(EventKind, &'a str), Mark>;

/// What one batch adds: the new entries and the marks to move.
struct Plan<'a> {
    store: Vec<&'a StoredEvent>,
    marks: BTreeMap<EventKind, Vec<(&'a str, String)>>,
}

/// Which (type, pool) marks a batch needs.
fn wanted(batch: &[StoredEvent]) -> Wanted<'_> {
    let mut wanted = Wanted::new();
    for event in batch {
        wanted
            .entry(event.kind)
            .or_default()
            .insert(event.pool.as_str());
    }
    wanted
}

/// WATCH the batch's mark hashes and read their marks (one round trip).
fn read_marks<'a>(conn: &mut Connection, wanted: &Wanted<'a>) -> RedisResult<Marks<'a>> {
    let mut pipe = redis::pipe();
    let mut watch = redis::cmd("WATCH");
    for kind in wanted.keys() {
        watch.arg(mark_key(*kind));
    }
    pipe.add_command(watch).ignore();
    for (kind, pools) in wanted {
        let pools: Vec<&str> = pools.iter().copied().collect();
        pipe.cmd("HMGET").arg(mark_key(*kind)).arg(pools);
    }
    let replies: Vec<Vec<Option<String>>> = pipe.query(conn)?;
    let mut marks = Marks::new();
    for ((kind, pools), values) in wanted.iter().zip(replies) {
        for (pool, value) in pools.iter().zip(values) {
            // A malformed mark counts as none; the commit overwrites it.
            if let Some(mark) = value.as_deref().and_then(Mark::parse) {
                marks.insert((*kind, *pool), mark);
            }
        }
    }
    Ok(marks)
}

/// Decide, in batch order, which events are new and where the marks end.
fn plan<'a>(batch: &'a [StoredEvent], mut marks: Marks<'a>) -> Plan<'a> {
    let mut store = Vec::new();
    let mut moved = BTreeSet::new();
    for event in batch {
        let key = (event.kind, event.pool.as_str());
        if let Some(next) = next_mark(marks.get(&key).copied(), event) {
            marks.insert(key, next);
            moved.insert(key);
            store.push(event);
        }
    }
    let mut updates: BTreeMap<EventKind, Vec<(&str, String)>> = BTreeMap::new();
    for key in moved {
        if let Some(mark) = marks.get(&key) {
            updates
                .entry(key.0)
                .or_default()
                .push((key.1, mark.to_value()));
        }
    }
    Plan {
        store,
        marks: updates,
    }
}

/// Add the entries and move the marks in one MULTI/EXEC. `None` when
/// EXEC was aborted because a watched mark changed meanwhile.
fn commit(conn: &mut Connection, plan: &Plan, maxlen: usize) -> RedisResult<Option<()>> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for event in &plan.store {
        let seq = event.seq.to_string();
        let ts = unix_seconds_text(event.ts_us);
        let fields = [
            ("pool", event.pool.as_str()),
            ("seq", seq.as_str()),
            ("ts", ts.as_str()),
            ("data", event.payload.as_str()),
        ];
        pipe.xadd_maxlen(
            stream_key(event.kind),
            StreamMaxlen::Approx(maxlen),
            "*",
            &fields,
        )
        .ignore();
    }
    for (kind, marks) in &plan.marks {
        pipe.cmd("HSET").arg(mark_key(*kind)).arg(marks).ignore();
    }
    pipe.query(conn)
}

/// A Redis error as a sink error, with what was being done.
fn failed(doing: &str, e: RedisError) -> SinkError {
    SinkError(format!("redis: {doing}: {e}"))
}

/// Store one batch on an open connection (see the module docs).
fn write_batch(
    conn: &mut Connection,
    batch: &[StoredEvent],
    maxlen: usize,
) -> Result<(), SinkError> {
    let marks = read_marks(conn, &wanted(batch)).map_err(|e| failed("read marks", e))?;
    let plan = plan(batch, marks);
    if plan.store.is_empty() {
        return redis::cmd("UNWATCH")
            .exec(conn)
            .map_err(|e| failed("unwatch", e));
    }
    match commit(conn, &plan, maxlen) {
        Ok(Some(())) => Ok(()),
        Ok(None) => Err(SinkError(
            "redis: a mark changed during the write (another writer?); batch not stored".into(),
        )),
        Err(e) => Err(failed("write", e)),
    }
}

/// Create `group` on every event stream (at its end, creating the stream),
/// leaving groups that already exist alone.
fn create_groups(conn: &mut Connection, group: &str) -> Result<(), SinkError> {
    for kind in EventKind::ALL {
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream_key(kind))
            .arg(group)
            .arg("$")
            .arg("MKSTREAM")
            .exec(conn);
        match created {
            Err(e) if e.code() != Some(BUSYGROUP) => {
                return Err(failed(
                    &format!("create group {group} on {}", stream_key(kind)),
                    e,
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes events to Redis Streams (see the module docs).
pub struct RedisSink {
    url: String,
    maxlen: usize,
    consumer_group: Option<String>,
    conn: Option<Connection>,
}

impl RedisSink {
    /// A sink for the server at `url` (`redis://host:port/db`), trimming
    /// each stream to about `maxlen` entries and, with `consumer_group`,
    /// creating that group on every stream when connecting. Nothing is
    /// opened until [`Sink::connect`].
    pub fn new(url: &str, maxlen: usize, consumer_group: Option<String>) -> RedisSink {
        RedisSink {
            url: url.to_string(),
            maxlen,
            consumer_group,
            conn: None,
        }
    }

    /// Open a connection with timeouts set.
    fn open(&self) -> Result<Connection, SinkError> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| failed("bad url", e))?;
        let conn = client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(|e| failed(&format!("connect to {}", self.url), e))?;
        conn.set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| conn.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| failed("set timeouts", e))?;
        Ok(conn)
    }
}

impl Sink for RedisSink {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn connect(&mut self) -> Result<(), SinkError> {
        self.conn = None;
        let mut conn = self.open()?;
        if let Some(group) = &self.consumer_group {
            create_groups(&mut conn, group)?;
        }
        self.conn = Some(conn);
        Ok(())
    }

    /// Store `batch`; on `Err` the connection is dropped (a later write or
    /// [`Sink::connect`] opens a new one) and nothing needs undoing: a
    /// replay skips whatever did get stored.
    fn write(&mut self, batch: &[StoredEvent]) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.conn.is_none() {
            self.connect()?;
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(SinkError("redis: not connected".into()));
        };
        let result = write_batch(conn, batch, self.maxlen);
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, ts_us: i64) -> StoredEvent {
        StoredEvent {
            pool: "p".into(),
            seq,
            kind: EventKind::ShareSubmitted,
            ts_us,
            payload: String::new(),
        }
    }

    #[test]
    fn keys_and_ts_text() {
        assert_eq!(stream_key(EventKind::BlockFound), "events:block_found");
        assert_eq!(mark_key(EventKind::BlockFound), "{events:block_found}:seq");
        assert_eq!(
            unix_seconds_text(1_771_502_400_123_456),
            "1771502400.123456"
        );
        assert_eq!(unix_seconds_text(1_500_000), "1.500000");
        assert_eq!(unix_seconds_text(-1_500_000), "-1.500000");
    }

    #[test]
    fn marks_skip_replays_and_see_restarts() {
        let m = Some(Mark {
            seq: 10,
            ts_us: 100,
        });
        assert_eq!(
            next_mark(m, &event(11, 90)),
            Some(Mark {
                seq: 11,
                ts_us: 100
            })
        );
        assert_eq!(next_mark(m, &event(10, 100)), None);
        assert_eq!(next_mark(m, &event(3, 50)), None);
        assert_eq!(
            next_mark(m, &event(1, 200)),
            Some(Mark { seq: 1, ts_us: 200 })
        );
        let far = Some(Mark {
            seq: RESTART_SEQ_GAP + 5,
            ts_us: 100,
        });
        assert_eq!(
            next_mark(far, &event(1, 50)),
            Some(Mark { seq: 1, ts_us: 50 })
        );
        assert_eq!(Mark::parse("7 -3"), Some(Mark { seq: 7, ts_us: -3 }));
        assert_eq!(Mark::parse("7"), None);
    }
}
