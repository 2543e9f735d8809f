//! Both processes' `/metrics` against real processes: a pool on the
//! simulated node with a collector beside it (its sinks down), a real
//! miner's shares (and a duplicate, and a block), then the counters that
//! moved, the 404 for other paths, and `promtool check metrics` on both
//! pages.

mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/stack.rs"]
mod stack;

use common::miner::{Miner, Share};
use common::{http_get, metric_value, promtool_check, PoolProcess, SimNode, TempDir};
use simd_json::prelude::*;
use stack::{wait_until, CollectorProcess};
use tbg_pool::bitcoin::target::{difficulty_to_share_target, hash_meets};

const USER: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.rig1";

/// A network difficulty of ~1e-5 (`--bits`), ten times the pool's
/// share difficulty in tests: about one share in ten is a block.
const BITS: &str = "1f01869f";

/// A share meeting the job's difficulty that is (or is not) a block.
fn share(m: &mut Miner, block: bool) -> Share {
    m.find_share(|h, is_block, job| {
        is_block == block && hash_meets(h, &difficulty_to_share_target(job.diff))
    })
}

fn accepted(m: &mut Miner, s: &Share) -> bool {
    m.submit(USER, s)["result"].as_bool() == Some(true)
}

#[test]
fn pool_and_collector_metrics_count_mining_and_pass_promtool() {
    let node = SimNode::start(&["--bits", BITS]);
    let dir = TempDir::new("metrics-e2e");
    // Sinks that cannot be reached: they spool, and every per-sink
    // family has samples for promtool to check.
    let (redis, pg) = (common::dead_port_addr(), common::dead_port_addr());
    let (host, port) = pg.split_once(':').unwrap();
    let collector = CollectorProcess::start(
        &dir.path,
        "m",
        &format!("redis://{redis}/"),
        &format!("host={host} port={port} user=tbg dbname=tbg"),
    );
    let pool_dir = dir.path.join("pool");
    std::fs::create_dir_all(&pool_dir).unwrap();
    let extra = format!(
        r#""event_socket_path":"{}","metrics_addr":"127.0.0.1:0""#,
        collector.socket.display()
    );
    let pool = PoolProcess::start(&node, &pool_dir, &extra);

    let mut m = Miner::ready(&pool.addr, USER);
    let mut last = None;
    for _ in 0..3 {
        let s = share(&mut m, false);
        assert!(accepted(&mut m, &s));
        last = Some(s);
    }
    assert!(!accepted(&mut m, &last.unwrap()), "a duplicate");
    let block = share(&mut m, true);
    assert!(accepted(&mut m, &block), "a block");

    let value = |page: &str, name: &str| metric_value(page, name);
    wait_until("the node took the block", || {
        value(&pool.metrics(), "tbg_pool_blocks_accepted_total") == 1.0
    });
    wait_until("the collector has every share", || {
        collector.metric(r#"tbg_collector_received_total{event="share_submitted"}"#) == 5.0
    });
    let node_label = format!(r#"node="{}""#, node.addr);
    // The block counts as accepted before the template after it is fetched.
    let gbt = format!(r#"tbg_pool_node_rpc_calls_total{{{node_label},method="getblocktemplate"}}"#);
    wait_until("the new block's template", || {
        let page = pool.metrics();
        value(&page, "tbg_pool_templates_total") >= 2.0 && value(&page, &gbt) >= 2.0
    });
    let page = pool.metrics();
    for (name, want) in [
        (r#"tbg_pool_submits_total{verdict="accepted"}"#, 4.0),
        (r#"tbg_pool_submits_total{verdict="duplicate"}"#, 1.0),
        (r#"tbg_pool_submits_total{verdict="stale"}"#, 0.0),
        ("tbg_pool_share_check_seconds_count", 5.0),
        (r#"tbg_pool_share_check_seconds_bucket{le="+Inf"}"#, 5.0),
        ("tbg_pool_connections", 1.0),
        ("tbg_pool_connections_accepted_total", 1.0),
        ("tbg_pool_authorized_miners", 1.0),
        ("tbg_pool_blocks_found_total", 1.0),
        ("tbg_pool_blocks_submitted_total", 1.0),
        ("tbg_pool_event_queue_depth", 0.0),
        (r#"tbg_pool_events_dropped_total{reason="queue_full"}"#, 0.0),
    ] {
        assert_eq!(value(&page, name), want, "{name}\n{page}");
    }
    let calls = |method: &str| {
        let name = format!(r#"tbg_pool_node_rpc_calls_total{{{node_label},method="{method}"}}"#);
        value(&page, &name)
    };
    assert!(
        calls("getblocktemplate") >= 2.0,
        "start and the new block\n{page}"
    );
    assert!(
        calls("getbestblockhash") >= 1.0 && calls("submitblock") == 1.0,
        "{page}"
    );
    assert!(calls("getblockchaininfo") >= 1.0, "{page}");
    assert!(value(&page, "tbg_pool_templates_total") >= 2.0, "{page}");
    // Every request was read in some pass of a core's loop.
    let passes = value(&page, "tbg_pool_loop_pass_seconds_count");
    assert!(
        passes >= 6.0,
        "the handshake and five submits, each awaited\n{page}"
    );
    assert_eq!(
        value(&page, r#"tbg_pool_loop_pass_seconds_bucket{le="+Inf"}"#),
        passes
    );
    // The connected, five submitted and best-difficulty events at least.
    assert!(value(&page, "tbg_pool_events_sent_total") >= 6.0, "{page}");
    let age = page
        .lines()
        .find_map(|l| l.strip_prefix("tbg_pool_template_age_seconds "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("a template age");
    assert!((0.0..60.0).contains(&age), "{age}");
    let rpc_seconds = format!(r#"tbg_pool_node_rpc_seconds_count{{{node_label}}}"#);
    assert!(value(&page, &rpc_seconds) >= 4.0, "{page}");

    let (status, _) = http_get(&pool.metrics_addr(), "/");
    assert!(status.starts_with("HTTP/1.1 404 "), "{status}");

    promtool_check("the pool's metrics", &page);
    promtool_check("the collector's metrics", &collector.metrics());

    // A closed connection leaves the gauges.
    drop(m);
    wait_until("the miner's connection is gone", || {
        let page = pool.metrics();
        value(&page, "tbg_pool_connections") == 0.0
            && value(&page, "tbg_pool_authorized_miners") == 0.0
    });
}

#[test]
fn metrics_are_off_unless_configured() {
    let node = SimNode::start(&[]);
    let dir = TempDir::new("metrics-off");
    let mut pool = PoolProcess::start(&node, &dir.path, r#""event_enabled":false"#);
    let _m = Miner::ready(&pool.addr, USER);
    pool.stop();
    assert!(!pool.log().contains("metrics on http://"), "{}", pool.log());
}
