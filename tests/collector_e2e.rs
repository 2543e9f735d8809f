//! The whole event path against real servers: simulated node + pool +
//! `tbg-collector` + a throwaway `redis-server` and PostgreSQL cluster.
//! Events reach both sinks; two pools share them; sinks and the collector
//! restarting lose nothing; bad datagrams are counted.

mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/stack.rs"]
mod stack;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use common::miner::Miner;
use common::{PoolProcess, SimNode, TempDir};
use simd_json::prelude::*;
use stack::{pg_count, redis_len, wait_for, wait_until, CollectorProcess};

const USER: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.rig1";

fn pool_for(node: &SimNode, dir: &Path, collector: &CollectorProcess, name: &str) -> PoolProcess {
    let pool_dir = dir.join(name);
    std::fs::create_dir_all(&pool_dir).unwrap();
    let extra = format!(
        r#""event_socket_path":"{}","pool_name":"{name}""#,
        collector.socket.display()
    );
    PoolProcess::start(node, &pool_dir, &extra)
}

/// Mine `n` accepted shares.
fn mine(pool: &PoolProcess, n: usize) -> Miner {
    let mut m = Miner::connect(&pool.addr);
    m.subscribe();
    m.authorize(USER);
    m.wait_job(|_| true);
    for _ in 0..n {
        let share = m.valid_share();
        assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
    }
    m
}

const STREAM_SHARES: &str = "events:share_submitted";
const SHARES_SQL: &str = "select count(*) from mining_events where event_type = 'share_submitted'";

#[test]
fn events_reach_redis_and_postgres_and_two_pools_share_them() {
    let (redis, pg) = (redis_server::RedisServer::start(), pg::PgServer::start());
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("collector-e2e");
    let (ca, cb) = (
        CollectorProcess::start(&dir.path, "a", &redis.url(), &pg.url()),
        CollectorProcess::start(&dir.path, "b", &redis.url(), &pg.url()),
    );
    let (pa, pb) = (
        pool_for(&node, &dir.path, &ca, "pool-a"),
        pool_for(&node, &dir.path, &cb, "pool-b"),
    );
    let _ma = mine(&pa, 3);
    let _mb = mine(&pb, 2);
    wait_until("5 shares in PostgreSQL", || pg_count(&pg, SHARES_SQL) == 5);
    wait_until("5 shares in Redis", || {
        redis_len(&redis, STREAM_SHARES) == 5
    });
    // Both pools' seq 1 (their miner_connected) are stored: the key is (pool, seq).
    let both = pg_count(
        &pg,
        "select count(*) from mining_events where seq = 1 and pool in ('pool-a','pool-b')",
    );
    assert_eq!(both, 2);
    assert_eq!(
        pg_count(
            &pg,
            "select count(*) from mining_events where payload->>'collector' in ('a','b')"
        ),
        pg_count(&pg, "select count(*) from mining_events")
    );
    let metrics = ca.metrics();
    assert!(
        metrics.contains("tbg_collector_received_total{event=\"share_submitted\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tbg_collector_seq_gaps_total 0"),
        "{metrics}"
    );
}

#[test]
fn sinks_and_collector_restarting_lose_nothing() {
    let (mut redis, mut pg) = (redis_server::RedisServer::start(), pg::PgServer::start());
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("collector-e2e");
    let mut collector = CollectorProcess::start(&dir.path, "c", &redis.url(), &pg.url());
    let pool = pool_for(&node, &dir.path, &collector, "pool-c");
    let mut m = mine(&pool, 2);
    wait_until("2 shares in both sinks", || {
        pg_count(&pg, SHARES_SQL) == 2 && redis_len(&redis, STREAM_SHARES) == 2
    });

    // Both sinks down: events spool.
    redis.stop();
    pg.stop();
    for _ in 0..3 {
        let share = m.valid_share();
        assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
    }
    wait_until("spooled", || {
        collector
            .metrics()
            .lines()
            .any(|l| l.starts_with("tbg_collector_spool_bytes") && !l.ends_with(" 0"))
    });
    // The collector restarts while the sinks are still down; its spool survives.
    collector.restart();
    redis.restart();
    pg.start_again();
    wait_until("5 shares in PostgreSQL", || pg_count(&pg, SHARES_SQL) == 5);
    // Redis restarted empty (no persistence in tests): it receives what was
    // spooled for it, once.
    wait_until("3 shares in Redis", || {
        redis_len(&redis, STREAM_SHARES) == 3
    });
    assert_eq!(
        pg_count(&pg, "select count(distinct (pool, seq)) from mining_events"),
        pg_count(&pg, "select count(*) from mining_events")
    );
    drop(collector);
}

#[test]
fn bad_datagrams_are_counted_and_the_collector_carries_on() {
    let dir = TempDir::new("collector-e2e");
    let collector = CollectorProcess::start(&dir.path, "d", "", "");
    let sender = UnixDatagram::unbound().unwrap();
    for bad in [
        &b"not json"[..],
        b"[1,2]",
        br#"{"event":"party","ts":1,"seq":1,"pool":"p"}"#,
        br#"{"event":"weekly_summary","ts":1,"seq":1,"pool":"p"}"#,
    ] {
        sender.send_to(bad, &collector.socket).unwrap();
    }
    sender
        .send_to(&vec![b'x'; 5000], &collector.socket)
        .unwrap();
    wait_until("invalid counted", || {
        let m = collector.metrics();
        [
            "malformed_json",
            "not_an_object",
            "unknown_event",
            "missing_field",
            "oversize",
        ]
        .iter()
        .all(|r| m.contains(&format!("tbg_collector_invalid_total{{reason=\"{r}\"}} 1")))
    });
}

/// Datagrams as the pool's emitter writes them, from the library's own
/// writer: `seq` from `first`, pool `pool`.
fn datagrams(pool: &str, first: u64, events: &[tbg_pool::events::Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut out = Vec::new();
            e.write_json(
                &tbg_pool::events::Envelope {
                    ts_us: tbg_pool::time::unix_micros(),
                    seq: first + i as u64,
                    pool,
                    run: tbg_pool::events::RunId(1),
                },
                &mut out,
            );
            out
        })
        .collect()
}

#[test]
fn every_event_type_lands_in_both_sinks_with_its_payload() {
    let (redis, pg) = (redis_server::RedisServer::start(), pg::PgServer::start());
    let dir = TempDir::new("collector-e2e");
    let collector = CollectorProcess::start(&dir.path, "n", &redis.url(), &pg.url());
    let sender = UnixDatagram::unbound().unwrap();
    for d in datagrams("nine", 1, &common::sample_events()) {
        sender.send_to(&d, &collector.socket).unwrap();
    }
    wait_until("nine rows", || {
        pg_count(&pg, "select count(distinct event_type) from mining_events") == 9
    });
    for kind in tbg_pool::events::EventKind::ALL {
        wait_until(kind.name(), || {
            redis_len(&redis, &format!("events:{}", kind.name())) == 1
        });
    }
    let checks = [
        "select count(*) from mining_events where event_type='share_submitted' and (payload->>'sdiff')::float = 3.5 and payload->>'ip' = '10.0.0.1'",
        "select count(*) from mining_events where event_type='block_found' and (payload->>'height')::int = 7 and payload->>'coinbase_sig' = '/s/'",
        "select count(*) from mining_events where event_type='weekly_summary' and (payload->>'week')::int = 202608",
        "select count(*) from mining_events where event_type='share_best_diff' and payload->>'timeframe' = 'week'",
        "select count(*) from mining_events where pool = 'nine' and payload->>'collector' = 'n' and payload ? 'received_at'",
    ];
    let expected = [1, 1, 1, 1, 9];
    for (sql, want) in checks.iter().zip(expected) {
        assert_eq!(pg_count(&pg, sql), want, "{sql}");
    }
}

/// 100k events streamed while Redis and PostgreSQL are each killed and
/// restarted: every one present exactly once in both.
#[test]
fn a_hundred_thousand_events_survive_sink_restarts() {
    const N: u64 = 100_000;
    let (mut redis, mut pg) = (
        redis_server::RedisServer::start_durable(),
        pg::PgServer::start(),
    );
    let dir = TempDir::new("collector-e2e");
    let mut collector = CollectorProcess::start(&dir.path, "s", &redis.url(), &pg.url());
    // Room for every event in one stream (the default cap would trim).
    let config = std::fs::read_to_string(&collector.config).unwrap().replace(
        "\"batch_max_ms\"",
        "\"redis_maxlen\":1000000,\"batch_max_events\":2000,\"batch_max_ms\"",
    );
    std::fs::write(&collector.config, config).unwrap();
    collector.restart();
    let template = common::sample_events().remove(0);
    let sender = UnixDatagram::unbound().unwrap();
    // A blocking send waits for room like the pool's emitter: nothing dropped here.
    sender.set_write_timeout(None).unwrap();
    for seq in 1..=N {
        let mut d = Vec::with_capacity(300);
        template.write_json(
            &tbg_pool::events::Envelope {
                ts_us: 1_771_502_400_000_000 + seq,
                seq,
                pool: "stream",
                run: tbg_pool::events::RunId(1),
            },
            &mut d,
        );
        sender.send_to(&d, &collector.socket).unwrap();
        if seq == N / 4 {
            redis.stop();
        }
        if seq == N / 2 {
            redis.restart();
            pg.stop();
        }
        if seq == 3 * N / 4 {
            pg.start_again();
        }
    }
    let n = N as i64;
    wait_until_long("all in PostgreSQL", || {
        pg_count(
            &pg,
            "select count(*) from mining_events where pool = 'stream'",
        ) == n
    });
    wait_until_long("all in Redis", || redis_len(&redis, STREAM_SHARES) == n);
    assert_eq!(
        pg_count(
            &pg,
            "select count(distinct seq) from mining_events where pool = 'stream'"
        ),
        n
    );
    let mut c = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let entries: Vec<redis::Value> = redis::cmd("XRANGE")
        .arg(STREAM_SHARES)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(3)
        .query(&mut c)
        .unwrap();
    assert_eq!(entries.len(), 3);
    drop(collector);
}

fn wait_until_long(what: &str, f: impl FnMut() -> bool) {
    wait_for(what, Duration::from_secs(240), f)
}
