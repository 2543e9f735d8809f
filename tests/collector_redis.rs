//! The Redis Streams sink against a real `redis-server`.

#[path = "common/redis.rs"]
mod redis_server;

use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::Commands;
use redis_server::RedisServer;
use tbg_pool::collector::redis_sink::{mark_field, mark_key, stream_key, RedisSink};
use tbg_pool::collector::{Sink, StoredEvent};
use tbg_pool::events::EventKind;

/// `ts` of the first test event: 2026-02-19 12:00:00.123456 UTC.
const T0_US: i64 = 1_771_502_400_123_456;
/// One hour in microseconds.
const HOUR_US: i64 = 3_600_000_000;
/// Stream length cap for tests that do not test trimming.
const MAXLEN: usize = 10_000;

/// The run of the tests' pool process.
const RUN: &str = "00000000000000a1";
/// A later run (a restart) of the same pool.
const RUN2: &str = "00000000000000b2";

/// An event of run [`RUN`] as the collector would hand it over.
fn event(kind: EventKind, pool: &str, seq: u64, ts_us: i64) -> StoredEvent {
    event_of(kind, pool, RUN, seq, ts_us)
}

fn event_of(kind: EventKind, pool: &str, run: &str, seq: u64, ts_us: i64) -> StoredEvent {
    let payload = format!(
        r#"{{"event":"{}","ts":{},"seq":{seq},"pool":"{pool}","run":"{run}","collector":"test"}}"#,
        kind.name(),
        ts_us as f64 / 1e6
    );
    StoredEvent {
        pool: pool.into(),
        run: run.into(),
        seq,
        kind,
        ts_us,
        payload: payload.into(),
    }
}

/// `share_submitted` events `seqs` of `pool` (run [`RUN`]), a second
/// apart from `t0_us`.
fn shares(pool: &str, seqs: std::ops::RangeInclusive<u64>, t0_us: i64) -> Vec<StoredEvent> {
    shares_of(pool, RUN, seqs, t0_us)
}

fn shares_of(
    pool: &str,
    run: &str,
    seqs: std::ops::RangeInclusive<u64>,
    t0_us: i64,
) -> Vec<StoredEvent> {
    seqs.map(|seq| {
        event_of(
            EventKind::ShareSubmitted,
            pool,
            run,
            seq,
            t0_us + seq as i64 * 1_000_000,
        )
    })
    .collect()
}

/// A connected sink.
fn sink(server: &RedisServer, maxlen: usize, group: Option<&str>) -> RedisSink {
    let mut sink = RedisSink::new(&server.url(), maxlen, group.map(str::to_string));
    sink.connect().expect("connect");
    sink
}

/// A plain connection for looking at what the sink stored.
fn inspect(server: &RedisServer) -> redis::Connection {
    let client = redis::Client::open(server.url()).expect("client");
    client.get_connection().expect("inspect connection")
}

/// (pool, seq) of every entry in a stream, in stream order.
fn stored(con: &mut redis::Connection, kind: EventKind) -> Vec<(String, u64)> {
    let reply: StreamRangeReply = con.xrange_all(stream_key(kind)).expect("XRANGE");
    reply
        .ids
        .iter()
        .map(|e| {
            let pool: String = e.get("pool").expect("pool field");
            let seq: String = e.get("seq").expect("seq field");
            (pool, seq.parse().expect("seq is an integer"))
        })
        .collect()
}

fn seqs(pool: &str, range: std::ops::RangeInclusive<u64>) -> Vec<(String, u64)> {
    range.map(|s| (pool.to_string(), s)).collect()
}

#[test]
fn batch_lands_in_type_streams_with_documented_fields() {
    let server = RedisServer::start();
    let mut sink = sink(&server, MAXLEN, None);
    assert_eq!(sink.name(), "redis");
    let batch = vec![
        event(EventKind::ShareSubmitted, "tbg", 1, T0_US),
        event(EventKind::BlockFound, "tbg", 2, T0_US + 500_000),
        event(EventKind::ShareSubmitted, "tbg", 3, T0_US + 1_000_000),
    ];
    sink.write(&batch).expect("write");

    let mut con = inspect(&server);
    let reply: StreamRangeReply = con.xrange_all("events:share_submitted").expect("XRANGE");
    assert_eq!(reply.ids.len(), 2);
    let first = &reply.ids[0];
    let mut names: Vec<&str> = first.map.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["data", "pool", "run", "seq", "ts"]);
    assert_eq!(first.get::<String>("pool").as_deref(), Some("tbg"));
    assert_eq!(first.get::<String>("run").as_deref(), Some(RUN));
    assert_eq!(first.get::<String>("seq").as_deref(), Some("1"));
    assert_eq!(
        first.get::<String>("ts").as_deref(),
        Some("1771502400.123456")
    );
    assert_eq!(
        first.get::<String>("data"),
        Some(batch[0].payload.to_string())
    );
    assert_eq!(stored(&mut con, EventKind::BlockFound), seqs("tbg", 2..=2));
    let blocks: StreamRangeReply = con.xrange_all("events:block_found").expect("XRANGE");
    assert_eq!(
        blocks.ids[0].get::<String>("ts").as_deref(),
        Some("1771502400.623456")
    );
    for kind in [EventKind::MinerConnected, EventKind::WeeklySummary] {
        let len: usize = con.xlen(stream_key(kind)).expect("XLEN");
        assert_eq!(len, 0, "{kind:?}");
    }
    let mark: Option<String> = con
        .hget(mark_key(EventKind::ShareSubmitted), mark_field("tbg", RUN))
        .expect("HGET");
    assert_eq!(mark.as_deref(), Some("3"));
}

#[test]
fn maxlen_approx_trims_streams() {
    const CAP: usize = 500;
    const BATCH: u64 = 100;
    let server = RedisServer::start();
    let mut sink = sink(&server, CAP, None);
    for start in (1..=3 * CAP as u64).step_by(BATCH as usize) {
        sink.write(&shares("tbg", start..=start + BATCH - 1, T0_US))
            .expect("write");
    }
    let mut con = inspect(&server);
    let len: usize = con.xlen("events:share_submitted").expect("XLEN");
    // `~` trims whole stream nodes (100 entries by default), never below CAP.
    assert!((CAP..=CAP + 100).contains(&len), "length {len}");
    let last = stored(&mut con, EventKind::ShareSubmitted).pop();
    assert_eq!(last, Some(("tbg".to_string(), 3 * CAP as u64)));
}

#[test]
fn same_batch_twice_stores_each_event_once() {
    let server = RedisServer::start();
    let mut sink = sink(&server, MAXLEN, None);
    let batch = shares("tbg", 1..=5, T0_US);
    sink.write(&batch).expect("write");
    sink.write(&batch).expect("replay");
    // A replay overlapping what is stored adds only the new tail.
    sink.write(&shares("tbg", 3..=8, T0_US)).expect("overlap");
    sink.write(&batch[..2]).expect("old replay");
    let mut con = inspect(&server);
    assert_eq!(
        stored(&mut con, EventKind::ShareSubmitted),
        seqs("tbg", 1..=8)
    );
}

/// A restart is a new run, stored from seq 1 whatever its clock says
/// (the ts-based guess before runs skipped a restart whose clock was
/// behind the previous run's newest event).
#[test]
fn a_new_run_is_stored_even_with_a_clock_behind() {
    let server = RedisServer::start();
    let mut sink = sink(&server, MAXLEN, None);
    sink.write(&shares("tbg", 1..=5, T0_US))
        .expect("first process");
    let restarted = shares_of("tbg", RUN2, 1..=3, T0_US - HOUR_US);
    sink.write(&restarted).expect("second process");
    sink.write(&restarted)
        .expect("replay of the second process");
    // One batch straddling the restart: old tail, then the new run.
    let mut straddle = shares("tbg", 4..=6, T0_US);
    straddle.extend(shares_of("tbg", RUN2, 3..=4, T0_US - HOUR_US));
    sink.write(&straddle).expect("straddling batch");
    let mut expected = seqs("tbg", 1..=5);
    expected.extend(seqs("tbg", 1..=3));
    expected.extend(seqs("tbg", 6..=6));
    expected.extend(seqs("tbg", 4..=4));
    let mut con = inspect(&server);
    assert_eq!(stored(&mut con, EventKind::ShareSubmitted), expected);
}

/// Two pools left at the same `pool_name`, events interleaved: before
/// runs, half of them were taken for replays and never stored.
#[test]
fn two_pools_with_the_same_name_lose_nothing() {
    let server = RedisServer::start();
    let mut sink = sink(&server, MAXLEN, None);
    for seq in 1..=50 {
        let mut batch = shares_of("tbg", RUN, seq..=seq, T0_US);
        batch.extend(shares_of("tbg", RUN2, seq..=seq, T0_US));
        sink.write(&batch).expect("write");
    }
    let mut con = inspect(&server);
    assert_eq!(stored(&mut con, EventKind::ShareSubmitted).len(), 100);
}

/// Collectors of different pools on one Redis: before, WATCH on the
/// shared mark hash aborted about a quarter of their writes (each a sink
/// failure: reconnect, spool, back-off). Now no write fails.
#[test]
fn collectors_of_different_pools_never_abort_each_other() {
    let server = RedisServer::start();
    let writers: Vec<_> = ["pool-a", "pool-b"]
        .into_iter()
        .map(|pool| {
            let url = server.url();
            std::thread::spawn(move || {
                let mut sink = RedisSink::new(&url, MAXLEN, None);
                sink.connect().expect("connect");
                for start in (1..=2_000u64).step_by(4) {
                    sink.write(&shares(pool, start..=start + 3, T0_US))
                        .expect("no write fails");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let mut con = inspect(&server);
    let all = stored(&mut con, EventKind::ShareSubmitted);
    for pool in ["pool-a", "pool-b"] {
        let mine: Vec<u64> = all.iter().filter(|e| e.0 == pool).map(|e| e.1).collect();
        assert_eq!(mine, (1..=2_000).collect::<Vec<_>>(), "{pool}");
    }
}

/// A server that lost its script cache (a restart, `SCRIPT FLUSH`, a new
/// cluster node) gets the script's text again: nothing fails.
#[test]
fn a_flushed_script_cache_is_refilled() {
    let server = RedisServer::start();
    let mut sink = sink(&server, MAXLEN, None);
    sink.write(&shares("tbg", 1..=2, T0_US)).expect("write");
    let mut con = inspect(&server);
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .exec(&mut con)
        .expect("SCRIPT FLUSH");
    sink.write(&shares("tbg", 2..=4, T0_US))
        .expect("write after the flush");
    assert_eq!(
        stored(&mut con, EventKind::ShareSubmitted),
        seqs("tbg", 1..=4)
    );
}

#[test]
fn two_pools_with_overlapping_seq_both_stored() {
    let server = RedisServer::start();
    let mut sink = sink(&server, MAXLEN, None);
    let mut batch = shares("pool-a", 1..=3, T0_US);
    batch.extend(shares("pool-b", 1..=3, T0_US));
    sink.write(&batch).expect("write");
    sink.write(&shares("pool-b", 2..=4, T0_US))
        .expect("pool-b alone");
    sink.write(&batch).expect("replay");
    let mut expected = seqs("pool-a", 1..=3);
    expected.extend(seqs("pool-b", 1..=4));
    let mut con = inspect(&server);
    assert_eq!(stored(&mut con, EventKind::ShareSubmitted), expected);
}

#[test]
fn consumer_group_created_and_xreadgroup_works() {
    let server = RedisServer::start();
    let mut sink = sink(&server, MAXLEN, Some("readers"));
    sink.connect().expect("reconnect: existing groups are fine");
    let mut con = inspect(&server);
    for kind in EventKind::ALL {
        let info: redis::streams::StreamInfoGroupsReply =
            con.xinfo_groups(stream_key(kind)).expect("XINFO GROUPS");
        let names: Vec<&str> = info.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["readers"], "{kind:?}");
    }
    sink.write(&shares("tbg", 1..=3, T0_US)).expect("write");
    let options = StreamReadOptions::default()
        .group("readers", "c1")
        .count(10);
    let reply: Option<StreamReadReply> = con
        .xread_options(&["events:share_submitted"], &[">"], &options)
        .expect("XREADGROUP");
    let reply = reply.expect("entries for the group");
    assert_eq!(reply.keys.len(), 1);
    let got: Vec<String> = reply.keys[0]
        .ids
        .iter()
        .filter_map(|e| e.get("seq"))
        .collect();
    assert_eq!(got, ["1", "2", "3"]);
}

#[test]
fn server_down_then_back_write_fails_then_recovers() {
    let mut server = RedisServer::start();
    let mut sink = sink(&server, MAXLEN, Some("readers"));
    sink.write(&shares("tbg", 1..=2, T0_US))
        .expect("write while up");
    server.stop();
    let batch = shares("tbg", 3..=4, T0_US);
    assert!(sink.write(&batch).is_err(), "write to a stopped server");
    assert!(sink.connect().is_err(), "connect to a stopped server");
    assert!(sink.write(&batch).is_err(), "write while still down");
    server.restart();
    sink.connect().expect("connect after restart");
    sink.write(&batch).expect("write after restart");
    // The restarted server kept nothing (no persistence): only the retry.
    let mut con = inspect(&server);
    assert_eq!(
        stored(&mut con, EventKind::ShareSubmitted),
        seqs("tbg", 3..=4)
    );
}

/// Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, mod 16384.
fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tag = match (
        key.find('{'),
        key.find('{').and_then(|o| key[o..].find('}')),
    ) {
        (Some(open), Some(len)) if len > 1 => &bytes[open + 1..open + len],
        _ => bytes,
    };
    let mut crc: u16 = 0;
    for &b in tag {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[test]
fn mark_hash_shares_its_stream_cluster_slot() {
    assert_eq!(key_slot("foo"), 12182); // CLUSTER KEYSLOT foo
    assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
    for kind in EventKind::ALL {
        assert_eq!(stream_key(kind), format!("events:{}", kind.name()));
        assert_eq!(
            key_slot(&mark_key(kind)),
            key_slot(&stream_key(kind)),
            "{kind:?}"
        );
    }
}
