//! Many pools, many collectors, one Redis Cluster: two pool processes left
//! at the same `pool_name` (two runs), each with its own collector, write
//! 100,000 events into a real 3-master Redis Cluster while the node that
//! holds the share stream is killed and restarted. Every event is stored
//! exactly once.

mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::time::Duration;

use common::TempDir;
use redis_server::RedisCluster;
use stack::{wait_for, CollectorProcess};

/// Events each pool sends.
const EVENTS_PER_POOL: u64 = 50_000;
/// The two pools' runs (both are named `tbg`).
const RUNS: [&str; 2] = ["00000000000000a1", "00000000000000b2"];
const STREAM: &str = "events:share_submitted";

fn cluster_connection(cluster: &RedisCluster) -> redis::cluster::ClusterConnection {
    let seeds: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    redis::cluster::ClusterClient::new(seeds)
        .expect("cluster client")
        .get_connection()
        .expect("cluster connection")
}

/// Entries of the share stream, or `None` while the cluster cannot answer.
fn stream_len(cluster: &RedisCluster) -> Option<u64> {
    let seeds: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let mut conn = redis::cluster::ClusterClient::builder(seeds)
        .connection_timeout(Duration::from_secs(1))
        .response_timeout(Duration::from_secs(1))
        .build()
        .ok()?
        .get_connection()
        .ok()?;
    redis::cmd("XLEN").arg(STREAM).query(&mut conn).ok()
}

/// How often each (run, seq) of pool `tbg` is in the share stream.
fn stored_counts(conn: &mut redis::cluster::ClusterConnection) -> HashMap<(String, u64), u32> {
    let mut counts = HashMap::new();
    let mut start = "-".to_string();
    loop {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(STREAM)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query(conn)
            .expect("XRANGE");
        let Some(last) = reply.ids.last() else {
            return counts;
        };
        start = format!("({}", last.id);
        for entry in &reply.ids {
            let pool: String = entry.get("pool").expect("pool");
            let run: String = entry.get("run").expect("run");
            let seq: String = entry.get("seq").expect("seq");
            assert_eq!(pool, "tbg");
            *counts
                .entry((run, seq.parse().expect("a seq")))
                .or_insert(0) += 1;
        }
    }
}

#[test]
fn two_pools_two_collectors_one_cluster_with_a_node_restart_store_every_event_once() {
    let dir = TempDir::new("collector-cluster");
    let mut cluster = RedisCluster::start(3);
    let extra = r#""redis_cluster":true,"redis_maxlen":1000000"#;
    let collectors: Vec<CollectorProcess> = (0..2)
        .map(|i| {
            let name = format!("c{i}");
            let socket = dir.path.join(format!("{name}.sock"));
            CollectorProcess::start_configured(
                &dir.path,
                &name,
                &socket,
                &cluster.urls(),
                "",
                extra,
            )
        })
        .collect();
    let senders: Vec<std::process::Child> = collectors
        .iter()
        .zip(RUNS)
        .map(|(c, run)| {
            std::process::Command::new(env!("CARGO_BIN_EXE_tbg-eventload"))
                .arg("--socket")
                .arg(&c.socket)
                .args(["--events", &EVENTS_PER_POOL.to_string()])
                .args(["--pool", "tbg", "--run", run])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("start tbg-eventload")
        })
        .collect();

    // Kill the node holding the share stream (and its marks) mid-load:
    // the collectors' writes fail, they spool, and replay once it is back.
    let holder = cluster.node_of(STREAM);
    wait_for("some events stored", Duration::from_secs(60), || {
        stream_len(&cluster).is_some_and(|n| n >= 10_000)
    });
    cluster.nodes[holder].restart();
    cluster.wait_ok();

    for mut sender in senders {
        assert!(sender.wait().expect("tbg-eventload").success());
    }
    let total = 2 * EVENTS_PER_POOL;
    wait_for("every event stored", Duration::from_secs(180), || {
        stream_len(&cluster) == Some(total)
    });
    let mut conn = cluster_connection(&cluster);
    let counts = stored_counts(&mut conn);
    for run in RUNS {
        for seq in 1..=EVENTS_PER_POOL {
            assert_eq!(
                counts.get(&(run.to_string(), seq)),
                Some(&1),
                "run {run} seq {seq}"
            );
        }
    }
    assert_eq!(counts.len() as u64, total);
    for c in &collectors {
        assert_eq!(c.metric("tbg_collector_seq_gaps_total"), 0.0);
        let errors = c.metric("tbg_collector_sink_errors_total{sink=\"redis\"}");
        eprintln!("collector: {errors} failed writes across the node restart");
    }
}
