//! The whole stack as real processes for end-to-end tests: a
//! `tbg-collector` (and its metrics), the `tbg-swarm` load tool, and
//! queries against the sinks. Included with `#[path]` next to
//! `common`, `pg` and `redis_server`, whose servers it queries.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use simd_json::prelude::*;

use crate::common::{PoolProcess, SimNode, TempDir};
use crate::pg::PgServer;
use crate::redis_server::RedisServer;

/// The payout address the stack's miners use (regtest P2WPKH).
pub const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// The `pool_name` of the stack's pool.
pub const POOL_NAME: &str = "acceptance";

/// Node, Redis, PostgreSQL, collector and pool, started in that order
/// (fields drop in order: the pool stops first, the servers last).
pub struct Stack {
    pub pool: PoolProcess,
    pub collector: CollectorProcess,
    pub node: SimNode,
    pub redis: RedisServer,
    pub pg: PgServer,
    pub dir: TempDir,
}

impl Stack {
    /// The whole stack; `node_flags` go to the simulated node.
    pub fn start(node_flags: &[&str]) -> Stack {
        Self::start_with(
            RedisServer::start(),
            SimNode::start(node_flags),
            "127.0.0.1:0",
        )
    }

    /// The stack around a given Redis and node, the pool on `listen`.
    pub fn start_with(redis: RedisServer, node: SimNode, listen: &str) -> Stack {
        let pg = PgServer::start();
        let dir = TempDir::new("acceptance");
        let collector = CollectorProcess::start(&dir.path, "c1", &redis.url(), &pg.url());
        let pool = start_pool_on(&node, listen, &dir.path, &collector.socket);
        Stack {
            pool,
            collector,
            node,
            redis,
            pg,
            dir,
        }
    }

    /// `select count(*) from mining_events where <filter>` for this pool.
    pub fn rows(&self, filter: &str) -> i64 {
        pg_count(
            &self.pg,
            &format!("select count(*) from mining_events where pool = '{POOL_NAME}' and {filter}"),
        )
    }

    /// A Redis stream's payloads (`data` fields), oldest first.
    pub fn stream(&self, kind: &str) -> Vec<simd_json::OwnedValue> {
        redis_entries(&self.redis, &format!("events:{kind}"))
            .into_iter()
            .map(|fields| {
                let data = fields.into_iter().find(|(k, _)| k == "data").unwrap().1;
                simd_json::to_owned_value(&mut data.into_bytes()).unwrap()
            })
            .collect()
    }

    /// Wait until Redis holds `n` disconnects of [`ADDRESS`]'s miners and
    /// every event of their run up to the last of them, in whichever
    /// stream: a miner's disconnect is its last event, so then every event
    /// of theirs is stored. (An accepted reply does not say its events
    /// are: the best that share set may still be on its way. Nor does one
    /// stream's entry say another's earlier one is there: the collector
    /// writes a batch type by type.)
    pub fn wait_disconnects(&self, n: usize) {
        wait_until(
            "the miners' disconnects and all before them in Redis",
            || {
                let ends: Vec<(String, u64)> = self
                    .stream("miner_disconnected")
                    .iter()
                    .filter(|e| e["user"].as_str() == Some(ADDRESS))
                    .filter_map(|e| Some((e["run"].as_str()?.to_string(), e["seq"].as_u64()?)))
                    .collect();
                let Some((run, last)) = ends.iter().max_by_key(|(_, seq)| *seq).cloned() else {
                    return false;
                };
                let mut seqs: Vec<u64> = tbg_pool::events::EventKind::ALL
                    .iter()
                    .flat_map(|k| self.stream(k.name()))
                    .filter(|e| e["run"].as_str() == Some(run.as_str()))
                    .filter_map(|e| e["seq"].as_u64())
                    .filter(|&seq| seq <= last)
                    .collect();
                seqs.sort_unstable();
                seqs.dedup();
                ends.len() >= n && seqs.len() as u64 == last
            },
        );
    }

    /// Run `miners` swarm miners for `secs` seconds; returns the report.
    pub fn swarm(&self, miners: u32, secs: u32) -> simd_json::OwnedValue {
        let report = self.dir.path.join(format!("swarm-{miners}-{secs}.json"));
        swarm_report(
            swarm(&self.pool.addr, ADDRESS, miners, secs, &report),
            &report,
        )
    }
}

/// A pool in `dir/pool` sending events to `socket`.
pub fn start_pool(node: &SimNode, dir: &Path, socket: &Path) -> PoolProcess {
    start_pool_on(node, "127.0.0.1:0", dir, socket)
}

/// [`start_pool`] listening on `listen`.
pub fn start_pool_on(node: &SimNode, listen: &str, dir: &Path, socket: &Path) -> PoolProcess {
    let pool_dir = dir.join("pool");
    std::fs::create_dir_all(&pool_dir).unwrap();
    let extra = format!(
        r#""event_socket_path":"{}","pool_name":"{POOL_NAME}","stats_interval_secs":1"#,
        socket.display()
    );
    PoolProcess::start_on(node, listen, &pool_dir, &extra)
}

/// A running `tbg-collector`, killed when dropped.
pub struct CollectorProcess {
    child: std::process::Child,
    /// The Unix datagram socket it reads events from.
    pub socket: PathBuf,
    metrics: String,
    /// Its config file (tests may edit it before [`CollectorProcess::restart`]).
    pub config: PathBuf,
    dir: PathBuf,
}

impl CollectorProcess {
    /// Start a collector named `name` in `dir` with its socket at
    /// `dir/<name>.sock`; an empty URL leaves that sink out.
    pub fn start(dir: &Path, name: &str, redis: &str, postgres: &str) -> CollectorProcess {
        let socket = dir.join(format!("{name}.sock"));
        Self::start_at(dir, name, &socket, redis, postgres)
    }

    /// [`CollectorProcess::start`] with the socket at `socket`.
    pub fn start_at(
        dir: &Path,
        name: &str,
        socket: &Path,
        redis: &str,
        postgres: &str,
    ) -> CollectorProcess {
        Self::start_configured(dir, name, socket, redis, postgres, "")
    }

    /// [`CollectorProcess::start_at`] with `extra` config members (JSON
    /// `"key":value` pairs, comma-separated) added.
    pub fn start_configured(
        dir: &Path,
        name: &str,
        socket: &Path,
        redis: &str,
        postgres: &str,
        extra: &str,
    ) -> CollectorProcess {
        let config = dir.join(format!("{name}-collector.json"));
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(",{extra}")
        };
        let text = format!(
            r#"{{"socket_path":"{}","redis_url":"{redis}","postgres_url":"{postgres}","spool_dir":"{}","metrics_addr":"127.0.0.1:0","batch_max_ms":50,"collector_name":"{name}"{extra}}}"#,
            socket.display(),
            dir.join(format!("{name}-spool")).display()
        );
        std::fs::write(&config, text).unwrap();
        Self::spawn(dir, socket.to_path_buf(), config)
    }

    fn spawn(dir: &Path, socket: PathBuf, config: PathBuf) -> CollectorProcess {
        let ready = dir.join(format!("{}.ready", socket.display()));
        let _ = std::fs::remove_file(&ready);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tbg-collector"))
            .arg("-c")
            .arg(&config)
            .arg("--ready-file")
            .arg(&ready)
            .spawn()
            .expect("start tbg-collector");
        for _ in 0..400 {
            if let Ok(metrics) = std::fs::read_to_string(&ready) {
                if !metrics.is_empty() {
                    return CollectorProcess {
                        child,
                        socket,
                        metrics,
                        config,
                        dir: dir.to_path_buf(),
                    };
                }
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "collector exited early"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("collector never became ready");
    }

    /// SIGTERM (the collector drains or spools what it holds), wait.
    pub fn stop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// SIGTERM, wait, start again with the same config.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// SIGKILL (a crash: nothing drained, spooled or saved), wait.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start again after [`CollectorProcess::stop`] or
    /// [`CollectorProcess::kill`], with the config file as it is now.
    pub fn start_again(&mut self) {
        let (dir, socket, config) = (self.dir.clone(), self.socket.clone(), self.config.clone());
        *self = Self::spawn(&dir, socket, config);
    }

    /// The Prometheus text from its metrics endpoint.
    pub fn metrics(&self) -> String {
        crate::common::http_get(&self.metrics, "/metrics").1
    }

    /// One metric's value (`name` with its labels), 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        crate::common::metric_value(&self.metrics(), name)
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `f` every 100 ms until it holds; fail after 30 s.
pub fn wait_until(what: &str, f: impl FnMut() -> bool) {
    wait_for(what, Duration::from_secs(30), f)
}

/// Poll `f` every 100 ms until it holds; fail after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// A count query's answer; -1 while PostgreSQL cannot answer.
pub fn pg_count(pg: &PgServer, sql: &str) -> i64 {
    match postgres::Client::connect(&pg.url(), postgres::NoTls) {
        Ok(mut c) => c
            .query_one(sql, &[])
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(-1),
        Err(_) => -1,
    }
}

/// `XLEN stream`; -1 while Redis cannot answer.
pub fn redis_len(redis: &RedisServer, stream: &str) -> i64 {
    let Ok(client) = redis::Client::open(redis.url()) else {
        return -1;
    };
    let Ok(mut c) = client.get_connection() else {
        return -1;
    };
    redis::cmd("XLEN")
        .arg(stream)
        .query::<i64>(&mut c)
        .unwrap_or(-1)
}

/// Every entry of a Redis stream as (field, value) pairs, oldest first.
pub fn redis_entries(redis: &RedisServer, stream: &str) -> Vec<Vec<(String, String)>> {
    let mut c = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let reply: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(&mut c)
        .unwrap();
    reply.into_iter().map(|(_, fields)| fields).collect()
}

/// The pool's `logs/pool/events.status` counters (`None` until written).
pub fn events_status(pool_dir: &Path) -> Option<tbg_pool::events::EventsStatus> {
    tbg_pool::events::EventsStatus::read(&pool_dir.join("logs/pool/events.status"))
}

/// `tbg-swarm` mining against `pool`: `miners` cpuminer-style
/// connections for `secs` seconds as `user`, at the lowest difficulty.
pub fn swarm(pool: &str, user: &str, miners: u32, secs: u32, report: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_tbg-swarm"))
        .args([
            "--pool",
            pool,
            "--user",
            user,
            "--password",
            "x,d=0.00000001",
        ])
        .args(["--miners", &miners.to_string(), "--rate", "5"])
        .args(["--duration-secs", &secs.to_string(), "--quiet"])
        .arg("--report-json")
        .arg(report)
        .spawn()
        .expect("run tbg-swarm")
}

/// Wait for a swarm run and read its JSON report.
pub fn swarm_report(mut child: std::process::Child, report: &Path) -> simd_json::OwnedValue {
    assert!(child.wait().unwrap().success(), "tbg-swarm failed");
    let mut bytes = std::fs::read(report).expect("swarm report");
    simd_json::to_owned_value(&mut bytes).unwrap()
}

/// One of a swarm report's counts.
pub fn swarm_count(report: &simd_json::OwnedValue, key: &str) -> u64 {
    report["counts"]
        .get(key)
        .and_then(|c| c.as_u64())
        .unwrap_or(0)
}

/// A swarm run all of whose shares were accepted.
pub fn assert_mined(report: &simd_json::OwnedValue, miners: u64) {
    assert_eq!(swarm_count(report, "authorized"), miners, "{report:?}");
    assert!(swarm_count(report, "accepted") > 0, "{report:?}");
    assert_eq!(swarm_count(report, "rejected"), 0, "{report:?}");
}
