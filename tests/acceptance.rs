//! The seed's twelve Phase-1 acceptance checks, one test each, against
//! real processes: `tbg-simnode`, `tbg-pool`, `tbg-collector`,
//! `tbg-swarm` (cpuminer's handshake), a throwaway `redis-server` and a
//! throwaway PostgreSQL cluster, each on free ports with its own state,
//! torn down when the test ends (passing or failing). docs/acceptance.md
//! maps each check to its test.

mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/stack.rs"]
mod stack;

use common::miner::Miner;
use common::{SimNode, TempDir};
use simd_json::prelude::*;
use stack::{
    assert_mined, events_status, pg_count, redis_len, start_pool, swarm, swarm_count, swarm_report,
    wait_until, CollectorProcess, Stack, ADDRESS, POOL_NAME,
};

/// Check 1: the project builds and lints with zero warnings. Runs the
/// same cargo the tests were built with, in the same target directory,
/// so it reuses (and replays the diagnostics of) what is already built.
#[test]
fn check_01_build_and_clippy_are_warning_free() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for args in [
        &["build", "--locked", "--bins", "--lib"][..],
        &[
            "clippy",
            "--locked",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ][..],
    ] {
        let out = std::process::Command::new(&cargo)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "cargo {args:?} failed:\n{stderr}");
        assert!(
            !stderr.contains("warning"),
            "cargo {args:?} warned:\n{stderr}"
        );
    }
}

/// Check 2: the pool logs that its event emitter is up, with the socket.
#[test]
fn check_02_event_emitter_initialized() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let want = format!(
        "Event emitter initialized: {}",
        stack.collector.socket.display()
    );
    wait_until("the emitter's log line", || {
        stack.pool.log().contains(&want)
    });
}

/// Check 3: cpuminer-style miners (the swarm speaks cpuminer 2.5.1's
/// handshake and hashes real SHA-256d) get their shares accepted.
#[test]
fn check_03_cpuminer_style_miners_get_accepted_shares() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let report = stack.swarm(4, 3);
    assert_mined(&report, 4);
    assert!(swarm_count(&report, "notifies") >= 4, "{report:?}");
}

/// Check 4: the collector receives the pool's events, all valid, no gaps.
#[test]
fn check_04_collector_receives_events() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let report = stack.swarm(2, 2);
    assert_mined(&report, 2);
    let accepted = swarm_count(&report, "accepted") as f64;
    let received = r#"tbg_collector_received_total{event="share_submitted"}"#;
    wait_until("the collector counts every share", || {
        stack.collector.metric(received) >= accepted
    });
    let connected = r#"tbg_collector_received_total{event="miner_connected"}"#;
    assert_eq!(stack.collector.metric(connected), 2.0);
    assert_eq!(stack.collector.metric("tbg_collector_seq_gaps_total"), 0.0);
    let metrics = stack.collector.metrics();
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("tbg_collector_invalid_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
}

/// Check 5: events land in Redis Streams, one stream per type, with the
/// pool's values.
#[test]
fn check_05_events_in_redis() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let report = stack.swarm(2, 2);
    assert_mined(&report, 2);
    let accepted = swarm_count(&report, "accepted") as i64;
    wait_until("every share in Redis", || {
        redis_len(&stack.redis, "events:share_submitted") >= accepted
    });
    let shares = stack.stream("share_submitted");
    assert!(shares.iter().all(|s| s["user"].as_str() == Some(ADDRESS)
        && s["pool"].as_str() == Some(POOL_NAME)
        && s["accepted"].as_bool() == Some(true)));
    assert_eq!(stack.stream("miner_connected").len(), 2);
}

/// Check 6: events land in PostgreSQL, once each, with their payload.
#[test]
fn check_06_events_in_postgres() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let report = stack.swarm(2, 2);
    assert_mined(&report, 2);
    let accepted = swarm_count(&report, "accepted") as i64;
    wait_until("every share in PostgreSQL", || {
        stack.rows("event_type = 'share_submitted'") >= accepted
    });
    assert_eq!(
        stack.rows("event_type = 'share_submitted' and payload->>'user' <> $$bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080$$"),
        0
    );
    assert_eq!(
        pg_count(
            &stack.pg,
            "select count(*) - count(distinct (pool, seq)) from mining_events"
        ),
        0
    );
    assert_eq!(stack.rows("event_type = 'miner_connected'"), 2);
}

/// Check 7: connecting and disconnecting miners are events, paired by
/// client id, with the miner's agent and session figures.
#[test]
fn check_07_connect_and_disconnect_events() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let report = stack.swarm(3, 2);
    assert_mined(&report, 3);
    wait_until("three disconnects in both sinks", || {
        stack.rows("event_type = 'miner_disconnected'") == 3
            && redis_len(&stack.redis, "events:miner_disconnected") == 3
    });
    assert_eq!(
        stack.rows("event_type = 'miner_connected' and payload->>'useragent' = 'cpuminer/2.5.1' and payload->>'ip' = '127.0.0.1'"),
        3
    );
    let client_ids = |kind: &str| {
        let mut ids: Vec<u64> = stack
            .stream(kind)
            .iter()
            .map(|e| e["client_id"].as_u64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(
        client_ids("miner_connected"),
        client_ids("miner_disconnected")
    );
    let shares: u64 = stack
        .stream("miner_disconnected")
        .iter()
        .map(|e| e["shares_session"].as_u64().unwrap())
        .sum();
    assert!(shares >= swarm_count(&report, "accepted"), "{report:?}");
}

/// Check 8: a difficulty change is an event with the old and new value.
#[test]
fn check_08_difficulty_updates() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let mut m = Miner::connect(&stack.pool.addr);
    m.subscribe();
    m.authorize(&format!("{ADDRESS}.rig8"));
    m.wait_job(|_| true);
    m.request("mining.suggest_difficulty", "[0.00002]");
    wait_until("diff_updated in both sinks", || {
        stack.rows("event_type = 'diff_updated'") == 1
            && redis_len(&stack.redis, "events:diff_updated") == 1
    });
    let update = &stack.stream("diff_updated")[0];
    assert_eq!(
        update["worker"].as_str(),
        Some("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.rig8")
    );
    assert_eq!(update["old_diff"].cast_f64(), Some(0.000001));
    assert_eq!(update["new_diff"].cast_f64(), Some(0.00002));
    assert_eq!(
        stack.rows("event_type = 'diff_updated' and (payload->>'new_diff')::float8 = 0.00002"),
        1
    );
}

/// Check 9: blocks found by the network (the simulated node's timer) are
/// events, once per block, chained by their hashes.
#[test]
fn check_09_network_block_events() {
    let stack = Stack::start(&["--bits", "1d00ffff", "--block-interval-secs", "1"]);
    wait_until("three network blocks in PostgreSQL", || {
        stack.rows("event_type = 'new_block_network'") >= 3
    });
    wait_until("three network blocks in Redis", || {
        redis_len(&stack.redis, "events:new_block_network") >= 3
    });
    let blocks = stack.stream("new_block_network");
    for pair in blocks.windows(2) {
        assert_eq!(
            pair[1]["height"].as_u64(),
            pair[0]["height"].as_u64().map(|h| h + 1),
            "{blocks:?}"
        );
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "{blocks:?}");
    }
    assert!(blocks[0]["height"].as_u64().unwrap() > 100);
    assert!(blocks
        .iter()
        .all(|b| (b["diff"].cast_f64().unwrap() - 1.0).abs() < 1e-9));
}

/// Check 10: shares of rising difficulty raise the miner's personal bests
/// in the session, week and all-time tiers, in that order, each event
/// carrying the share's difficulty and the tier's previous best.
#[test]
fn check_10_best_difficulty_tiers() {
    use tbg_pool::bitcoin::target::{difficulty_to_share_target, hash_difficulty, hash_meets};
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let user = format!("{ADDRESS}.rig10");
    let mut m = Miner::connect(&stack.pool.addr);
    m.subscribe();
    m.authorize(&user);
    m.wait_job(|_| true);
    let mut bests = Vec::new();
    let mut best = 0.0f64;
    for _ in 0..3 {
        let share = m.find_share(|h, is_block, job| {
            !is_block
                && hash_meets(h, &difficulty_to_share_target(job.diff))
                && hash_difficulty(h) > best * 1.5
        });
        assert_eq!(m.submit(&user, &share)["result"].as_bool(), Some(true));
        let hash = tbg_pool::bitcoin::hex::decode(&share.hash).unwrap();
        let mut internal: [u8; 32] = hash.try_into().unwrap();
        internal.reverse();
        best = hash_difficulty(&internal);
        bests.push(best);
    }
    wait_until("nine best-difficulty events", || {
        redis_len(&stack.redis, "events:share_best_diff") == 9
            && stack.rows("event_type = 'share_best_diff'") == 9
    });
    let events = stack.stream("share_best_diff");
    let mut previous = 0.0;
    for (i, tiers) in events.chunks(3).enumerate() {
        let names: Vec<&str> = tiers
            .iter()
            .map(|e| e["timeframe"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["session", "week", "alltime"], "{events:?}");
        for e in tiers {
            let new_best = e["new_best"].cast_f64().unwrap();
            assert!(
                (new_best / bests[i] - 1.0).abs() < 1e-6,
                "{e:?} vs {bests:?}"
            );
            assert_eq!(e["prev_best"].cast_f64(), Some(previous), "{e:?}");
        }
        previous = tiers[0]["new_best"].cast_f64().unwrap();
    }
}

/// Check 11: the collector started first, then the pool: nothing the pool
/// emits is lost, from its very first event (seq 1).
#[test]
fn check_11_collector_started_first_loses_nothing() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let report = stack.swarm(2, 2);
    assert_mined(&report, 2);
    let last_seq = || {
        pg_count(
            &stack.pg,
            &format!("select coalesce(max(seq), 0) from mining_events where pool = '{POOL_NAME}'"),
        )
    };
    wait_until("some events stored", || last_seq() > 0);
    wait_until("events 1..=max(seq) all stored", || {
        let max = last_seq();
        max > 0 && stack.rows("true") == max
    });
    assert_eq!(stack.rows("seq = 1"), 1);
    assert_eq!(stack.collector.metric("tbg_collector_seq_gaps_total"), 0.0);
}

/// Check 12: the pool runs without a collector (events dropped and
/// counted, mining unaffected), and events flow once one starts.
#[test]
fn check_12_pool_runs_without_a_collector() {
    let (redis, pg) = (redis_server::RedisServer::start(), pg::PgServer::start());
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("acceptance");
    let socket = dir.path.join("later.sock");
    let pool = start_pool(&node, &dir.path, &socket);
    let report_path = dir.path.join("swarm.json");
    let report = swarm_report(swarm(&pool.addr, ADDRESS, 2, 2, &report_path), &report_path);
    assert_mined(&report, 2);
    let pool_dir = dir.path.join("pool");
    let accepted = swarm_count(&report, "accepted");
    let status = || events_status(&pool_dir).unwrap_or_default();
    wait_until("events made while no collector reads", || {
        status().counters.queued > accepted
    });
    // Held for a collector, not dropped (the emitter's backlog).
    assert_eq!(status().counters.dropped_no_reader, 0);
    assert_eq!(status().counters.sent, 0);
    assert!(pool.log().contains("Event emitter initialized"));

    let collector = CollectorProcess::start_at(&dir.path, "late", &socket, &redis.url(), &pg.url());
    let mut m = Miner::connect(&pool.addr);
    m.subscribe();
    m.authorize(&format!("{ADDRESS}.late"));
    m.wait_job(|_| true);
    let share = m.valid_share();
    assert_eq!(
        m.submit(&format!("{ADDRESS}.late"), &share)["result"].as_bool(),
        Some(true)
    );
    wait_until("the late miner's events stored", || {
        pg_count(
            &pg,
            "select count(*) from mining_events where payload->>'worker' like '%.late'",
        ) >= 2
    });
    // And every share from before the collector came, held meanwhile.
    let shares = "select count(*) from mining_events where event_type = 'share_submitted'";
    assert!(pg_count(&pg, shares) as u64 > accepted);
    assert_eq!(pg_count(&pg, "select min(seq) from mining_events"), 1);
    assert_eq!(collector.metric("tbg_collector_seq_gaps_total"), 0.0);
    drop(collector);
}
