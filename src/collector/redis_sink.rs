//! The Redis Streams sink: one stream per event type, `events:<type>`
//! (entry fields `pool`, `run`, `seq`, `ts`, `data`), trimmed with `MAXLEN ~`.
//!
//! Idempotency: for each stream a hash `{events:<type>}:seq` holds, per
//! pool run, the last stored `seq` (field `<run>:<pool>`; a run is 16 hex
//! digits, so the field names one (pool, run) without ambiguity). A batch
//! is written by one server-side script call per event type ([`WRITE`]):
//! it skips what the mark says is stored, adds the rest and moves the
//! marks, atomically, in one round trip. No WATCH, so writers never abort
//! each other: collectors of different pools touch different fields, and
//! two pools given the same `pool_name` have different runs. The hash tag
//! `{events:<type>}` puts each mark hash in its stream's cluster slot, so
//! the same call works on a Redis Cluster (`redis_cluster`), where a
//! script may only touch keys of one slot.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Connection, ConnectionLike, RedisError, RedisResult};

use super::record::StoredEvent;
use super::sink::{Sink, SinkError};
use crate::events::EventKind;

/// Longest wait for the TCP connection to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a reply (or for room to send) once connected.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The stream key prefix (`events:<type>`).
const STREAM_PREFIX: &str = "events:";
/// Redis's reply code when a consumer group already exists.
const BUSYGROUP: &str = "BUSYGROUP";
/// Redis's reply code when a script is not in the server's cache.
const NOSCRIPT: &str = "NOSCRIPT";

/// The write of one event type's part of a batch. KEYS: the stream and
/// its mark hash (one slot). ARGV[1]: the `MAXLEN ~` bound; then per
/// event, in batch order: mark field, seq, pool, run, ts, data. Seqs are
/// compared as decimal text (length, then digits) so every u64 is exact;
/// a Lua number is exact only to 2^53. Returns the number stored.
pub const WRITE: &str = r#"
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local marks, moved, stored = {}, {}, 0
for i = 2, #ARGV, 6 do
  local field, seq = ARGV[i], ARGV[i + 1]
  local mark = marks[field]
  if mark == nil then
    mark = redis.call('HGET', KEYS[2], field) or '0'
  end
  if newer(seq, mark) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'pool', ARGV[i + 2],
      'run', ARGV[i + 3], 'seq', seq, 'ts', ARGV[i + 4], 'data', ARGV[i + 5])
    mark = seq
    moved[field] = seq
    stored = stored + 1
  end
  marks[field] = mark
end
for field, seq in pairs(moved) do
  redis.call('HSET', KEYS[2], field, seq)
end
return stored
"#;

/// The stream of one event type: `events:<type>`.
pub fn stream_key(kind: EventKind) -> String {
    format!("{STREAM_PREFIX}{}", kind.name())
}

/// The high-water-mark hash of one stream: `{events:<type>}:seq`, in the
/// same cluster slot as [`stream_key`] (its hash tag is the stream's name).
pub fn mark_key(kind: EventKind) -> String {
    format!("{{{}}}:seq", stream_key(kind))
}

/// A pool run's field in a mark hash: `<run>:<pool>`.
pub fn mark_field(pool: &str, run: &str) -> String {
    format!("{run}:{pool}")
}

/// Unix microseconds as the `ts` field's text: seconds with six decimals.
pub fn unix_seconds_text(ts_us: i64) -> String {
    let sign = if ts_us < 0 { "-" } else { "" };
    let abs = ts_us.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// A batch split by event type, batch order kept within each type (the
/// marks need each run's events in `seq` order, as they arrived).
fn by_kind(batch: &[StoredEvent]) -> BTreeMap<EventKind, Vec<&StoredEvent>> {
    let mut kinds: BTreeMap<EventKind, Vec<&StoredEvent>> = BTreeMap::new();
    for event in batch {
        kinds.entry(event.kind).or_default().push(event);
    }
    kinds
}

/// [`WRITE`]'s SHA-1 in hex, the name `EVALSHA` calls it by.
fn write_sha() -> &'static str {
    static SHA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SHA.get_or_init(|| {
        use bitcoin_hashes::sha1;
        crate::bitcoin::hex::encode(&sha1::Hash::hash(WRITE.as_bytes()).to_byte_array())
    })
}

/// One script call per event type, pipelined: by SHA, or with the
/// script's text when `with_text` (after a server said NOSCRIPT: a
/// restarted server, or a cluster node new to this script).
fn write_pipeline(batch: &[StoredEvent], maxlen: usize, with_text: bool) -> redis::Pipeline {
    let sha = write_sha();
    let mut pipe = redis::pipe();
    for (kind, events) in by_kind(batch) {
        let mut call = if with_text {
            let mut c = redis::cmd("EVAL");
            c.arg(WRITE);
            c
        } else {
            let mut c = redis::cmd("EVALSHA");
            c.arg(sha);
            c
        };
        call.arg(2)
            .arg(stream_key(kind))
            .arg(mark_key(kind))
            .arg(maxlen);
        for event in events {
            call.arg(mark_field(&event.pool, &event.run))
                .arg(event.seq)
                .arg(&*event.pool)
                .arg(&*event.run)
                .arg(unix_seconds_text(event.ts_us))
                .arg(&*event.payload);
        }
        pipe.add_command(call);
    }
    pipe
}

/// A Redis error as a sink error, with what was being done.
fn failed(doing: &str, e: RedisError) -> SinkError {
    SinkError(format!("redis: {doing}: {e}"))
}

/// Store one batch on an open connection (see the module docs); returns
/// how many events were new. A retry after a partial failure is safe:
/// the marks skip what the first attempt stored.
fn write_batch(conn: &mut Conn, batch: &[StoredEvent], maxlen: usize) -> Result<u64, SinkError> {
    let stored = match conn.run(&write_pipeline(batch, maxlen, false)) {
        Err(e) if e.code() == Some(NOSCRIPT) => conn.run(&write_pipeline(batch, maxlen, true)),
        other => other,
    };
    stored
        .map(|per_kind| per_kind.iter().sum())
        .map_err(|e| failed("write", e))
}

/// Create `group` on every event stream (at its end, creating the stream),
/// leaving groups that already exist alone.
fn create_groups(conn: &mut dyn ConnectionLike, group: &str) -> Result<(), SinkError> {
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

/// A connection to one server or to a cluster.
enum Conn {
    Single(Connection),
    /// Boxed: four times the size of a single connection.
    Cluster(Box<ClusterConnection>),
}

impl Conn {
    fn get(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => c.as_mut(),
        }
    }

    /// The pipeline's replies. A cluster connection takes no plain
    /// pipeline (its commands may go to different nodes): there the
    /// calls go one by one, at most one per event type.
    fn run(&mut self, pipe: &redis::Pipeline) -> RedisResult<Vec<u64>> {
        match self {
            Conn::Single(c) => pipe.query(c),
            Conn::Cluster(c) => pipe.cmd_iter().map(|call| call.query(c.as_mut())).collect(),
        }
    }
}

/// Writes events to Redis Streams (see the module docs).
pub struct RedisSink {
    url: String,
    cluster: bool,
    maxlen: usize,
    consumer_group: Option<String>,
    conn: Option<Conn>,
}

impl RedisSink {
    /// A sink for the server at `url` (`redis://host:port/db`), trimming
    /// each stream to about `maxlen` entries and, with `consumer_group`,
    /// creating that group on every stream when connecting. Nothing is
    /// opened until [`Sink::connect`].
    pub fn new(url: &str, maxlen: usize, consumer_group: Option<String>) -> RedisSink {
        RedisSink {
            url: url.to_string(),
            cluster: false,
            maxlen,
            consumer_group,
            conn: None,
        }
    }

    /// The same for a Redis Cluster: `urls` is a comma-separated list of
    /// seed nodes (`redis://host:port`); the rest is discovered.
    pub fn cluster(urls: &str, maxlen: usize, consumer_group: Option<String>) -> RedisSink {
        RedisSink {
            cluster: true,
            ..RedisSink::new(urls, maxlen, consumer_group)
        }
    }

    /// Open a connection with timeouts set.
    fn open(&self) -> Result<Conn, SinkError> {
        if self.cluster {
            let seeds: Vec<&str> = self.url.split(',').map(str::trim).collect();
            let client = ClusterClient::builder(seeds)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(IO_TIMEOUT)
                .build()
                .map_err(|e| failed("bad cluster urls", e))?;
            let conn = client
                .get_connection()
                .map_err(|e| failed(&format!("connect to cluster {}", self.url), e))?;
            return Ok(Conn::Cluster(Box::new(conn)));
        }
        let client = redis::Client::open(self.url.as_str()).map_err(|e| failed("bad url", e))?;
        let conn = client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(|e| failed(&format!("connect to {}", self.url), e))?;
        conn.set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| conn.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| failed("set timeouts", e))?;
        Ok(Conn::Single(conn))
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
            create_groups(conn.get(), group)?;
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
        result.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arguments per event after `ARGV[1]` in [`WRITE`].
    const ARGS_PER_EVENT: usize = 6;

    #[test]
    fn keys_and_ts_text() {
        assert_eq!(stream_key(EventKind::BlockFound), "events:block_found");
        assert_eq!(mark_key(EventKind::BlockFound), "{events:block_found}:seq");
        assert_eq!(
            mark_field("tbg", "00000000000000a1"),
            "00000000000000a1:tbg"
        );
        assert_eq!(
            unix_seconds_text(1_771_502_400_123_456),
            "1771502400.123456"
        );
        assert_eq!(unix_seconds_text(1_500_000), "1.500000");
        assert_eq!(unix_seconds_text(-1_500_000), "-1.500000");
    }

    #[test]
    fn one_script_call_per_event_type_in_batch_order() {
        let mut batch: Vec<StoredEvent> =
            (1..=4).map(crate::collector::record::test_event).collect();
        batch[1].kind = EventKind::ShareSubmitted;
        let pipe = write_pipeline(&batch, 100, false);
        let calls: Vec<_> = pipe.cmd_iter().collect();
        assert_eq!(calls.len(), 2, "share_submitted and weekly_summary");
        let args = |i: usize| -> Vec<String> {
            calls[i]
                .args_iter()
                .map(|a| match a {
                    redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => String::new(),
                })
                .collect()
        };
        assert!(WRITE.contains(&format!("#ARGV, {ARGS_PER_EVENT} do")));
        let weekly = args(1);
        assert_eq!(weekly[0], "EVALSHA");
        assert_eq!(
            &weekly[3..5],
            ["events:weekly_summary", "{events:weekly_summary}:seq"]
        );
        let seqs: Vec<&str> = weekly[6..]
            .chunks(ARGS_PER_EVENT)
            .map(|e| e[1].as_str())
            .collect();
        assert_eq!(seqs, ["1", "3", "4"]);
        assert_eq!(args(0)[0], "EVALSHA");
        let with_text = write_pipeline(&batch, 100, true);
        let first = with_text.cmd_iter().next().expect("a call");
        let mut text = first.args_iter();
        assert!(matches!(text.next(), Some(redis::Arg::Simple(b"EVAL"))));
        assert!(matches!(text.next(), Some(redis::Arg::Simple(b)) if b == WRITE.as_bytes()));
    }
}
