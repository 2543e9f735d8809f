//! One pool under test (started here or already running) and one swarm
//! run against it, with the pool's memory and CPU sampled meanwhile.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use simd_json::prelude::*;
use simd_json::OwnedValue;

use crate::cli::Config;
use crate::procs::{self, Proc, ADDRESS};

/// Which pool a target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// This project's pool, started here.
    This,
    /// ckpool, started here from `--ckpool`.
    Ckpool(PathBuf),
    /// Already running at `--pool`.
    External,
}

/// A pool under test and what it runs with.
pub struct Target {
    pub label: String,
    pub addr: String,
    pub pid: Option<u32>,
    /// Node RPC address, for triggering blocks.
    pub node: Option<String>,
    /// This pool's logdir (events.status) when started here.
    pub logdir: Option<PathBuf>,
    /// The collector's metrics address (events scenario).
    pub collector_metrics: Option<String>,
    /// This pool's `/metrics` address, when started here.
    pub pool_metrics: Option<String>,
    // Field order: the pool stops before its node and collector.
    _pool: Option<Proc>,
    _collector: Option<Proc>,
    _node: Option<Proc>,
}

impl Target {
    /// This pool's loop pass histogram now: (upper bound in seconds,
    /// cumulative count) per bucket, `+Inf` last; empty for other pools.
    pub fn loop_passes(&self) -> Vec<(f64, u64)> {
        let Some(addr) = &self.pool_metrics else {
            return Vec::new();
        };
        let page = procs::http_get(addr, "/metrics");
        page.lines()
            .filter_map(|l| l.strip_prefix("tbg_pool_loop_pass_seconds_bucket{le=\""))
            .filter_map(|l| {
                let (le, rest) = l.split_once("\"}")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, rest.trim().parse().ok()?))
            })
            .collect()
    }

    /// Pin the pool's every thread to `pool_cpus`, and the node and the
    /// collector started with it to `helper_cpus` (taskset's list syntax),
    /// so the pool has its CPUs to itself.
    pub fn pin(&self, pool_cpus: &str, helper_cpus: &str) -> Result<(), String> {
        let pool = self.pid.ok_or("no pool pid to pin")?;
        let helpers = [&self._node, &self._collector];
        let helpers = helpers.iter().filter_map(|p| p.as_ref().map(Proc::pid));
        for (pid, cpus) in
            std::iter::once((pool, pool_cpus)).chain(helpers.map(|p| (p, helper_cpus)))
        {
            procs::pin(pid, cpus)?;
        }
        Ok(())
    }
}

/// A pool on one core: `threads` 1 in this pool's config (ckpool has no
/// such key and is not given it), every pool thread pinned to CPU 0, its
/// node and collector to CPU 1.
pub fn start_on_one_core(
    cfg: &Config,
    kind: &Kind,
    dir: &Path,
    collector: bool,
) -> Result<Target, String> {
    let t = start_with(cfg, kind, dir, collector, r#","threads":1"#)?;
    t.pin("0", "1")?;
    Ok(t)
}

/// The targets a run compares, in order: this pool (or `--pool`), then ckpool.
pub fn kinds(cfg: &Config) -> Vec<Kind> {
    let mut kinds = vec![if cfg.pool.is_some() {
        Kind::External
    } else {
        Kind::This
    }];
    if let Some(path) = &cfg.ckpool {
        kinds.push(Kind::Ckpool(path.clone()));
    }
    kinds
}

/// Start `kind` with throwaway state in `dir`; `collector` adds a
/// tbg-collector (no sinks) for this pool's events.
pub fn start(cfg: &Config, kind: &Kind, dir: &Path, collector: bool) -> Result<Target, String> {
    start_with(cfg, kind, dir, collector, "")
}

/// [`start`], with `extra` JSON members in this pool's config.
pub fn start_with(
    cfg: &Config,
    kind: &Kind,
    dir: &Path,
    collector: bool,
    extra: &str,
) -> Result<Target, String> {
    // Throwaway state: a previous run's files (its events.status, say)
    // must not be read as this one's.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut t = Target {
        label: match kind {
            Kind::This if cfg.event_pack_bytes > 0 => "tbg-pool-packed".into(),
            Kind::This => "tbg-pool".into(),
            Kind::Ckpool(_) => "ckpool".into(),
            Kind::External => cfg.pool.clone().unwrap_or_default(),
        },
        addr: cfg.pool.clone().unwrap_or_default(),
        pid: cfg.pool_pid,
        node: cfg.node.clone(),
        logdir: None,
        collector_metrics: None,
        pool_metrics: None,
        _pool: None,
        _collector: None,
        _node: None,
    };
    if *kind == Kind::External {
        return Ok(t);
    }
    let zmq = if cfg.zmq {
        Some(procs::free_addr()?)
    } else {
        None
    };
    let (node, node_addr) = procs::start_node(dir, zmq.as_deref())?;
    // Both pools take ckpool's key.
    let zmqblock = zmq.map_or(String::new(), |a| format!(r#","zmqblock":"tcp://{a}""#));
    let pack = match cfg.event_pack_bytes {
        0 => String::new(),
        n => format!(r#","event_pack_bytes":{n}"#),
    };
    t.node = Some(node_addr.clone());
    t._node = Some(node);
    let socket = dir.join("events.sock");
    if collector {
        let (c, metrics) = procs::start_collector(dir, &socket)?;
        t._collector = Some(c);
        t.collector_metrics = Some(metrics);
    }
    let (pool, addr) = match kind {
        Kind::Ckpool(binary) => procs::start_ckpool(binary, dir, &node_addr, &zmqblock)?,
        _ => {
            // Real shares need a difficulty a swarm can hash for; unchecked
            // ones are judged at ckpool's floor, 1, like ckpool's.
            let diff = if cfg.unchecked { 1.0 } else { 0.00000001 };
            t.logdir = Some(dir.join("logs"));
            let metrics = procs::free_addr()?;
            let settings = format!(r#"{extra}{zmqblock}{pack},"metrics_addr":"{metrics}""#);
            t.pool_metrics = Some(metrics);
            procs::start_pool(dir, &node_addr, diff, &socket, &settings)?
        }
    };
    t.addr = addr;
    t.pid = Some(pool.pid());
    t._pool = Some(pool);
    Ok(t)
}

/// The shape of one swarm run.
#[derive(Debug, Clone)]
pub struct Load {
    pub miners: u64,
    /// Shares per second per miner.
    pub rate: f64,
    pub secs: u64,
    pub connect_rate: u64,
    /// CPUs the swarm runs on (taskset's list syntax), or anywhere.
    pub swarm_cpus: Option<&'static str>,
}

/// One sample of the pool process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub t_secs: f64,
    pub rss_kib: u64,
    pub cpu_secs: f64,
}

/// A finished swarm run: its JSON report and the pool's samples.
pub struct Run {
    pub report: OwnedValue,
    pub samples: Vec<Sample>,
}

impl Run {
    /// A count from the swarm's report.
    pub fn count(&self, key: &str) -> u64 {
        self.report["counts"]
            .get(key)
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    }

    /// A latency quantile in µs (`p50`, `p90`, `p99`, `p999`, `max`).
    pub fn latency(&self, key: &str) -> u64 {
        self.report["latency_us"]
            .get(key)
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    }

    /// Shares the pool judged (accepted or rejected) per second.
    pub fn judged_per_sec(&self) -> f64 {
        let secs = self.report["run"]["duration_secs"]
            .cast_f64()
            .unwrap_or(1.0);
        (self.count("accepted") + self.count("rejected")) as f64 / secs.max(1e-9)
    }

    /// CPU cores the pool kept busy on average (0 when not sampled).
    pub fn pool_cores_busy(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) if b.t_secs > a.t_secs => {
                (b.cpu_secs - a.cpu_secs) / (b.t_secs - a.t_secs)
            }
            _ => 0.0,
        }
    }

    /// Highest RSS seen, KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.samples.iter().map(|s| s.rss_kib).max().unwrap_or(0)
    }

    /// (seconds, judged shares in that second) from the progress ticks.
    pub fn throughput_series(&self) -> Vec<(f64, f64)> {
        let ticks = self.report["series"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let judged = |v: &OwnedValue| {
            v["accepted"].as_u64().unwrap_or(0) + v["rejected"].as_u64().unwrap_or(0)
        };
        ticks
            .windows(2)
            .map(|w| {
                let t = w[1]["t_secs"].as_u64().unwrap_or(0) as f64;
                (t, judged(&w[1]).saturating_sub(judged(&w[0])) as f64)
            })
            .collect()
    }

    /// (seconds, open connections) from the progress ticks.
    pub fn open_series(&self) -> Vec<(f64, f64)> {
        self.report["series"]
            .as_array()
            .map(|ticks| {
                ticks
                    .iter()
                    .map(|v| {
                        (
                            v["t_secs"].as_u64().unwrap_or(0) as f64,
                            v["open"].as_u64().unwrap_or(0) as f64,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// (nines, µs): the latency distribution with percentile p drawn at
    /// -log10(1 - p/100), so 90 % → 1, 99 % → 2, 99.9 % → 3.
    pub fn latency_curve(&self) -> Vec<(f64, f64)> {
        self.report["latency_curve"]
            .as_array()
            .map(|points| {
                points
                    .iter()
                    .filter_map(|p| {
                        let pct = p["percentile"].cast_f64()?;
                        (pct < 100.0).then(|| {
                            let nines = -(1.0 - pct / 100.0).log10();
                            (nines, p["us"].as_u64().unwrap_or(0) as f64)
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Run `tbg-swarm` against `t`, printing its progress lines tagged with
/// `tag`, sampling the pool's memory and CPU every second.
pub fn swarm(
    t: &Target,
    load: &Load,
    unchecked: bool,
    dir: &Path,
    tag: &str,
) -> Result<Run, String> {
    let report = dir.join(format!("{tag}.swarm.json"));
    let mut cmd = match load.swarm_cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(procs::sibling("tbg-swarm"));
            c
        }
        None => Command::new(procs::sibling("tbg-swarm")),
    };
    cmd.args([
        "--pool",
        &t.addr,
        "--user",
        ADDRESS,
        "--password",
        "x,d=0.00000001",
    ])
    .args(["--miners", &load.miners.to_string()])
    // A payout address per 1,000 miners: this pool allows
    // `max_workers_per_user` (1,024 by default) workers per address.
    .args(["--users", &load.miners.div_ceil(1000).to_string()])
    .args(["--rate", &load.rate.to_string()])
    .args(["--duration-secs", &load.secs.to_string()])
    .args(["--connect-rate", &load.connect_rate.to_string()])
    .arg("--report-json")
    .arg(&report)
    .stdout(Stdio::piped());
    if load.miners > 5_000 {
        // Spread over many source addresses: one has ~28k ephemeral ports,
        // and the previous run's connections linger in TIME_WAIT.
        cmd.args(["--source-ips", "127.0.0.2-127.0.10.254"]);
    }
    if unchecked {
        cmd.arg("--unchecked-shares");
    }
    let mut child = cmd.spawn().map_err(|e| format!("start tbg-swarm: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = t.pid.map(|pid| {
        let stop = stop.clone();
        std::thread::spawn(move || sample(pid, &stop))
    });
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if line.starts_with("t=") {
                println!("  [{tag}] {line}");
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    stop.store(true, Ordering::Release);
    let samples = sampler
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    if !status.success() {
        return Err(format!("tbg-swarm failed ({status}) against {}", t.addr));
    }
    let mut bytes = std::fs::read(&report).map_err(|e| format!("{}: {e}", report.display()))?;
    let report = simd_json::to_owned_value(&mut bytes).map_err(|e| e.to_string())?;
    Ok(Run { report, samples })
}

/// Sample `pid` every second until `stop`.
fn sample(pid: u32, stop: &AtomicBool) -> Vec<Sample> {
    let start = Instant::now();
    let mut samples = Vec::new();
    while !stop.load(Ordering::Acquire) {
        samples.push(Sample {
            t_secs: start.elapsed().as_secs_f64(),
            rss_kib: procs::rss_kib(pid),
            cpu_secs: procs::cpu_secs(pid),
        });
        std::thread::sleep(Duration::from_secs(1));
    }
    samples
}
