//! Resilience beyond the seed's checks, against real processes: the
//! collector, the pool, Redis and PostgreSQL, and the node each go away
//! mid-run and come back. Mining never stops, nothing the pool counted
//! as sent is lost, and what is dropped is counted.

mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/stack.rs"]
mod stack;

use std::time::Duration;

use common::miner::Miner;
use common::{dead_port_addr, PoolProcess, SimNode, TempDir};
use simd_json::prelude::*;
use stack::{
    assert_mined, events_status, pg_count, redis_len, swarm, swarm_count, swarm_report, wait_until,
    Stack, ADDRESS, POOL_NAME,
};

/// The pool's final event counters (after it stopped).
fn final_counts(stack: &Stack) -> (i64, i64, i64) {
    let status = events_status(&stack.pool.dir).expect("events.status written at stop");
    let count = |n: u64| n as i64;
    (
        count(status.counters.queued),
        count(status.counters.sent),
        count(status.dropped()),
    )
}

/// The collector restarts while miners mine: mining is unaffected, and
/// every event the pool sent is stored, the rest counted as dropped by
/// the pool (none vanish between the two).
#[test]
fn collector_restarted_mid_run() {
    let mut stack = Stack::start(&["--bits", "1d00ffff"]);
    let report = stack.dir.path.join("swarm.json");
    let run = swarm(&stack.pool.addr, ADDRESS, 3, 5, &report);
    wait_until("shares stored", || {
        stack.rows("event_type = 'share_submitted'") > 5
    });
    stack.collector.restart();
    let report = swarm_report(run, &report);
    assert_mined(&report, 3);
    let before_stop = stack.rows("true");
    stack.pool.stop();
    let (queued, sent, dropped) = final_counts(&stack);
    assert_eq!(sent + dropped, queued, "every event sent or counted");
    let what = format!("all {sent} sent events stored ({queued} queued, {dropped} dropped)");
    wait_until(&what, || stack.rows("true") == sent);
    assert!(sent > before_stop / 2 && sent > 0);
    // Events from after the restart arrived through the new collector.
    let received = r#"tbg_collector_received_total{event="share_submitted"}"#;
    assert!(stack.collector.metric(received) > 0.0);
}

/// The pool restarts while miners mine: they reconnect to the same
/// address and carry on; shares and best difficulties survive.
#[test]
fn pool_restarted_mid_run() {
    let listen = dead_port_addr();
    let mut stack = Stack::start_with(
        redis_server::RedisServer::start(),
        SimNode::start(&["--bits", "1d00ffff"]),
        &listen,
    );
    let users = stack.pool.dir.join("logs/users").join(ADDRESS);
    let user_stat = |key: &str| {
        let mut bytes = std::fs::read(&users).unwrap_or_default();
        simd_json::to_owned_value(&mut bytes)
            .ok()
            .and_then(|v| v[key].cast_f64())
            .unwrap_or(0.0)
    };
    let report = stack.dir.path.join("swarm.json");
    let run = swarm(&listen, ADDRESS, 3, 8, &report);
    wait_until("shares counted in the user's file", || {
        user_stat("sharesweek") >= 10.0
    });
    stack.pool.restart();
    let (shares, best) = (user_stat("sharesweek"), user_stat("bestever"));
    assert!(best > 0.0);
    let report = swarm_report(run, &report);
    assert!(
        swarm_count(&report, "connections_opened") >= 6,
        "{report:?}"
    );
    assert!(swarm_count(&report, "accepted") > 0, "{report:?}");
    wait_until("more shares after the restart, none forgotten", || {
        user_stat("sharesweek") > shares + 5.0
    });
    assert!(user_stat("bestever") >= best);
    // The restarted pool's events reached the sinks: its seq restarted at 1.
    wait_until("two seq 1 events (one per pool run)", || {
        stack.rows("seq = 1") == 2 && stack.rows("event_type = 'miner_connected'") >= 6
    });
}

/// Redis and PostgreSQL each stop and come back while miners mine:
/// both end up with every share event exactly once, in step.
#[test]
fn redis_and_postgres_restarted_mid_run() {
    let mut stack = Stack::start_with(
        redis_server::RedisServer::start_durable(),
        SimNode::start(&["--bits", "1d00ffff"]),
        "127.0.0.1:0",
    );
    let report = stack.dir.path.join("swarm.json");
    let run = swarm(&stack.pool.addr, ADDRESS, 3, 6, &report);
    std::thread::sleep(Duration::from_millis(1500));
    stack.redis.stop();
    stack.pg.stop();
    std::thread::sleep(Duration::from_millis(1500));
    stack.redis.restart();
    std::thread::sleep(Duration::from_millis(500));
    stack.pg.start_again();
    let report = swarm_report(run, &report);
    assert_mined(&report, 3);
    stack.pool.stop();
    let (_, sent, _) = final_counts(&stack);
    wait_until("every event in PostgreSQL", || stack.rows("true") == sent);
    let shares = stack.rows("event_type = 'share_submitted'");
    assert!(shares >= swarm_count(&report, "accepted") as i64);
    wait_until("every share in Redis", || {
        redis_len(&stack.redis, "events:share_submitted") == shares
    });
    assert_eq!(
        pg_count(
            &stack.pg,
            "select count(*) - count(distinct (pool, seq)) from mining_events"
        ),
        0
    );
    assert_eq!(stack.collector.metric("tbg_collector_seq_gaps_total"), 0.0);
}

/// The node is unreachable for a while: miners keep mining the last
/// work, the pool does not crash, and a node back at the same address
/// (with a new tip) gives every miner a clean job on it.
#[test]
fn node_unreachable_for_a_while() {
    let node_addr = dead_port_addr();
    let mut node = SimNode::start_on(&node_addr, &["--bits", "1d00ffff"]);
    let dir = TempDir::new("resilience");
    let extra = format!(
        r#""event_socket_path":"{}","pool_name":"{POOL_NAME}""#,
        dir.path.join("nobody.sock").display()
    );
    let mut pool = PoolProcess::start(&node, &dir.path, &extra);
    let user = format!("{ADDRESS}.rig");
    let mut m = Miner::connect(&pool.addr);
    m.subscribe();
    m.authorize(&user);
    let first = m.wait_job(|_| true);
    let share = m.valid_share();
    assert_eq!(m.submit(&user, &share)["result"].as_bool(), Some(true));

    node.stop();
    std::thread::sleep(Duration::from_secs(2));
    for _ in 0..3 {
        let share = m.valid_share();
        assert_eq!(m.submit(&user, &share)["result"].as_bool(), Some(true));
    }
    assert!(pool.is_running());
    assert_eq!(m.job.as_ref().unwrap().prevhash, first.prevhash);

    let _node = SimNode::start_on(&node_addr, &["--bits", "1d00ffff", "--start-height", "150"]);
    let job = m.wait_job(|j| j.clean && j.prevhash != first.prevhash);
    let share = m.valid_share();
    assert_eq!(m.submit(&user, &share)["result"].as_bool(), Some(true));
    assert!(job.clean);
    assert!(pool.log().contains(&node_addr), "the outage is logged");
    pool.stop();
}
