//! The named scenarios. Each runs against every target in turn (fresh
//! processes per target) and returns its report section: a Markdown
//! table and the plots to draw.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use simd_json::prelude::*;

use crate::cli::Config;
use crate::load::{self, Kind, Load, Target};
use crate::procs;
use crate::report::{Plot, Section};

/// The p99 submit latency a rate must stay within to be sustainable.
const MAX_P99_US: u64 = 1_000;

/// The p99 at which the `max` ramp stops.
const MAX_RAMP_P99_US: u64 = 100_000;

/// Per-miner share rates the `max` ramp steps through (1,000 miners).
const MAX_STEPS: [f64; 9] = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Miners in each `max` and `events` step.
const STEP_MINERS: u64 = 1_000;

/// Blocks the `burst` scenario has the network find.
const BURST_BLOCKS: usize = 3;

/// Run scenario `name`, writing raw data under `dir`.
pub fn run(name: &str, cfg: &Config, dir: &Path) -> Result<Section, String> {
    match name {
        "steady" => steady(cfg, dir),
        "burst" => burst(cfg, dir),
        "max" => max(cfg, dir),
        "connections" => connections(cfg, dir),
        "events" => events(cfg, dir),
        "delivery" => delivery(cfg, dir),
        "capacity" => capacity(cfg, dir),
        "flood" => crate::flood::flood(cfg, dir),
        other => Err(format!("no scenario {other}")),
    }
}

fn mode(cfg: &Config) -> &'static str {
    if cfg.unchecked {
        "unchecked shares (unhashed nonces, judged and rejected as low difficulty at difficulty 1)"
    } else {
        "real shares (hashed by the swarm, accepted at difficulty 1e-8)"
    }
}

/// `steady`: many miners at a realistic rate (one share per 5 s each).
fn steady(cfg: &Config, dir: &Path) -> Result<Section, String> {
    let load = Load {
        miners: cfg.miners,
        rate: 0.2,
        secs: cfg.secs.unwrap_or(60),
        connect_rate: 2_000,
        swarm_cpus: None,
    };
    let mut s = Section::new("steady");
    let _ = writeln!(
        s.body,
        "{} miners × {}/s for {} s, {}.\n",
        load.miners,
        load.rate,
        load.secs,
        mode(cfg)
    );
    s.table_header(&[
        "pool",
        "judged shares/s",
        "accepted",
        "rejected",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "pool CPU cores",
        "shares/s per core",
        "pool RSS MiB",
    ]);
    let (mut curves, mut rates) = (Vec::new(), Vec::new());
    for kind in load::kinds(cfg) {
        let t = load::start(cfg, &kind, &dir.join("raw").join(label_of(&kind)), false)?;
        // Let connections ramp up before measuring.
        let run = load::swarm(
            &t,
            &load,
            cfg.unchecked,
            dir,
            &format!("steady-{}", t.label),
        )?;
        let cores = run.pool_cores_busy();
        s.row(&[
            t.label.clone(),
            format!("{:.0}", run.judged_per_sec()),
            run.count("accepted").to_string(),
            run.count("rejected").to_string(),
            run.latency("p50").to_string(),
            run.latency("p90").to_string(),
            run.latency("p99").to_string(),
            run.latency("p999").to_string(),
            run.latency("max").to_string(),
            format!("{cores:.2}"),
            per_core(run.judged_per_sec(), cores),
            format!("{:.0}", run.peak_rss_kib() as f64 / 1024.0),
        ]);
        curves.push((t.label.clone(), run.latency_curve()));
        rates.push((t.label.clone(), run.throughput_series()));
    }
    s.ratio_note(cfg);
    s.plots.push(latency_plot("steady-latency.png", curves));
    s.plots.push(Plot::new(
        "steady-throughput.png",
        "Judged shares per second",
        "seconds",
        "shares/s",
        rates,
    ));
    Ok(s)
}

fn label_of(kind: &Kind) -> &'static str {
    match kind {
        Kind::Ckpool(_) => "ckpool",
        _ => "tbg-pool",
    }
}

fn per_core(rate: f64, cores: f64) -> String {
    if cores > 0.01 {
        format!("{:.0}", rate / cores)
    } else {
        "-".into()
    }
}

fn latency_plot(file: &str, curves: Vec<(String, Vec<(f64, f64)>)>) -> Plot {
    Plot::new(
        file,
        "Submit → reply latency distribution",
        "percentile (nines: 1 = p90, 2 = p99, 3 = p99.9)",
        "µs",
        curves,
    )
}

/// `burst`: every miner connected, the network finds a block: how long
/// until every miner has the clean job.
fn burst(cfg: &Config, dir: &Path) -> Result<Section, String> {
    let ramp_secs = cfg.miners / 2_000 + 5;
    let load = Load {
        miners: cfg.miners,
        rate: 0.01,
        secs: ramp_secs + 6 * BURST_BLOCKS as u64 + 5,
        connect_rate: 2_000,
        swarm_cpus: None,
    };
    let mut s = Section::new("burst");
    let _ = writeln!(s.body, "{} miners connected (ramp {} s), then the node finds a block {} times, 6 s apart (`generatetoaddress`). Times are from the RPC call returning to the first and the last miner holding the clean job; the pool notices a new tip {}.\n", load.miners, ramp_secs, BURST_BLOCKS, if cfg.zmq { "from the node's ZMQ `hashblock` (`zmqblock`; `blockpoll` 100 ms as the fallback)" } else { "by polling (`blockpoll` 100 ms for both pools here)" });
    s.table_header(&[
        "pool",
        "block",
        "miners reached",
        "first miner ms",
        "last miner ms",
    ]);
    let mut points = Vec::new();
    for kind in load::kinds(cfg) {
        let t = load::start(cfg, &kind, &dir.join("raw").join(label_of(&kind)), false)?;
        let node = t
            .node
            .clone()
            .ok_or("burst needs the pool's node: --node")?;
        let trigger = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(ramp_secs));
            let mut t0s = Vec::new();
            for _ in 0..BURST_BLOCKS {
                let params = format!(r#"[1,"{}"]"#, procs::ADDRESS);
                if procs::rpc(&node, "generatetoaddress", &params).is_ok() {
                    t0s.push(unix_micros());
                }
                std::thread::sleep(Duration::from_secs(6));
            }
            t0s
        });
        let run = load::swarm(&t, &load, cfg.unchecked, dir, &format!("burst-{}", t.label))?;
        let t0s = trigger.join().unwrap_or_default();
        let waves = run.report["clean_job_waves"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut series = Vec::new();
        for (i, t0) in t0s.iter().enumerate() {
            let wave = waves
                .iter()
                .filter(|w| w["first_unix_us"].as_u64().unwrap_or(0) + 50_000 >= *t0)
                .min_by_key(|w| w["first_unix_us"].as_u64().unwrap_or(u64::MAX));
            let Some(w) = wave else { continue };
            let ms = |k: &str| (w[k].as_u64().unwrap_or(0) as f64 - *t0 as f64) / 1000.0;
            s.row(&[
                t.label.clone(),
                (i + 1).to_string(),
                w["miners"].as_u64().unwrap_or(0).to_string(),
                format!("{:.1}", ms("first_unix_us")),
                format!("{:.1}", ms("last_unix_us")),
            ]);
            series.push(((i + 1) as f64, ms("last_unix_us")));
        }
        points.push((t.label.clone(), series));
    }
    s.plots.push(Plot::new(
        "burst-fanout.png",
        "New block → last miner holds the clean job",
        "block",
        "ms",
        points,
    ));
    Ok(s)
}

/// One `max` step's figures.
struct Step {
    judged: f64,
    p99_us: u64,
    cores: f64,
}

/// The highest judged rate (and its rate per busy core) among `steps`
/// whose p99 stayed within `limit_us`.
fn sustainable(steps: &[Step], limit_us: u64) -> (f64, f64) {
    steps
        .iter()
        .filter(|s| s.p99_us <= limit_us)
        .map(|s| {
            (
                s.judged,
                if s.cores > 0.01 {
                    s.judged / s.cores
                } else {
                    0.0
                },
            )
        })
        .fold((0.0, 0.0), |best, x| if x.0 > best.0 { x } else { best })
}

/// `max`: 1,000 miners, the share rate doubled each step until p99
/// submit latency passes [`MAX_P99_US`] and keeps rising to
/// [`MAX_RAMP_P99_US`], or the pool stops keeping up.
fn max(cfg: &Config, dir: &Path) -> Result<Section, String> {
    let secs = cfg.secs.unwrap_or(10);
    let mut s = Section::new("max");
    let _ = writeln!(s.body, "{STEP_MINERS} miners; each step offers twice the shares of the one before for {secs} s; {}. The ramp goes on past p99 = {MAX_P99_US} µs (on a machine shared with the swarm the tail can pass it at any load) until p99 passes {MAX_RAMP_P99_US} µs or the pool judges under 90 % of what is offered. *Sustainable* is the highest judged rate whose p99 stayed within the limit.\n", mode(cfg));
    s.table_header(&[
        "pool",
        "offered/s",
        "judged/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "pool CPU cores",
        "judged/s per core",
    ]);
    let (mut p99s, mut summary) = (Vec::new(), Vec::new());
    for kind in load::kinds(cfg) {
        let t = load::start(cfg, &kind, &dir.join("raw").join(label_of(&kind)), false)?;
        let (mut steps, mut curve) = (Vec::new(), Vec::new());
        for rate in MAX_STEPS {
            let offered = rate * STEP_MINERS as f64;
            let load = step_load(rate, secs);
            let run = load::swarm(
                &t,
                &load,
                cfg.unchecked,
                dir,
                &format!("max-{}-{offered}", t.label),
            )?;
            let step = Step {
                judged: run.judged_per_sec(),
                p99_us: run.latency("p99"),
                cores: run.pool_cores_busy(),
            };
            s.row(&[
                t.label.clone(),
                format!("{offered:.0}"),
                format!("{:.0}", step.judged),
                run.latency("p50").to_string(),
                step.p99_us.to_string(),
                run.latency("p999").to_string(),
                format!("{:.2}", step.cores),
                per_core(step.judged, step.cores),
            ]);
            curve.push((offered, step.p99_us as f64));
            let stop = step.p99_us > MAX_RAMP_P99_US || step.judged < 0.9 * offered;
            steps.push(step);
            if stop {
                break;
            }
        }
        let peak = steps.iter().map(|x| x.judged).fold(0.0, f64::max);
        summary.push((
            t.label.clone(),
            sustainable(&steps, MAX_P99_US),
            sustainable(&steps, 10 * MAX_P99_US),
            peak,
        ));
        p99s.push((t.label.clone(), curve));
    }
    let _ = writeln!(s.body);
    for (label, (ms1, ms1_core), (ms10, ms10_core), peak) in &summary {
        let _ = writeln!(s.body, "**{label}**: sustainable {ms1:.0} judged shares/s with p99 ≤ 1 ms ({ms1_core:.0} per busy core); {ms10:.0}/s with p99 ≤ 10 ms ({ms10_core:.0} per busy core); peak {peak:.0}/s.  ");
    }
    if let [(a, (a1, a1c), (a10, a10c), ap), (b, (b1, b1c), (b10, b10c), bp)] = &summary[..] {
        let r = |x: &f64, y: &f64| {
            if *y > 0.0 {
                format!("{:.2}×", x / y)
            } else {
                "n/a (none within the limit)".into()
            }
        };
        let _ = writeln!(s.body, "\nRatios {a} / {b}: p99 ≤ 1 ms: {} shares/s, {} per busy core; p99 ≤ 10 ms: {} shares/s, {} per busy core; peak: {}.", r(a1, b1), r(a1c, b1c), r(a10, b10), r(a10c, b10c), r(ap, bp));
    }
    s.plots.push(Plot::new(
        "max-p99.png",
        "p99 submit latency as the offered rate rises",
        "offered shares/s",
        "p99 µs",
        p99s,
    ));
    Ok(s)
}

/// `connections`: ramp to N idle-ish connections; memory and accept rate.
fn connections(cfg: &Config, dir: &Path) -> Result<Section, String> {
    // The swarm and the pool each need a descriptor per connection.
    let limit = procs::open_files_limit().saturating_sub(1_000);
    let n = cfg.connections.min(limit).max(1);
    let load = Load {
        miners: n,
        rate: 0.001,
        secs: n / 5_000 + 20,
        connect_rate: 5_000,
        swarm_cpus: None,
    };
    let mut s = Section::new("connections");
    let _ = writeln!(s.body, "Ramp to {n} connections at up to 5,000 new connections/s (asked for {}; this machine's open-files limit is {}), each subscribed and authorized, almost no shares.\n", cfg.connections, procs::open_files_limit());
    s.table_header(&[
        "pool",
        "connections opened",
        "open at end",
        "ramp s",
        "accepted conn/s",
        "RSS idle MiB",
        "RSS at peak MiB",
        "KiB per connection",
    ]);
    let (mut rss, mut open) = (Vec::new(), Vec::new());
    for kind in load::kinds(cfg) {
        let t = load::start(cfg, &kind, &dir.join("raw").join(label_of(&kind)), false)?;
        std::thread::sleep(Duration::from_secs(1));
        let idle = t.pid.map_or(0, procs::rss_kib);
        let run = load::swarm(
            &t,
            &load,
            cfg.unchecked,
            dir,
            &format!("connections-{}", t.label),
        )?;
        let series = run.open_series();
        let peak_open = series.iter().map(|p| p.1).fold(0.0, f64::max);
        let ramp = series
            .iter()
            .find(|p| p.1 >= 0.99 * peak_open)
            .map_or(0.0, |p| p.0);
        let peak = run.peak_rss_kib();
        let per_conn = if peak_open > 0.0 {
            (peak.saturating_sub(idle)) as f64 / peak_open
        } else {
            0.0
        };
        s.row(&[
            t.label.clone(),
            run.count("connections_opened").to_string(),
            run.count("open_at_end").to_string(),
            format!("{ramp:.0}"),
            if ramp > 0.0 {
                format!("{:.0}", peak_open / ramp)
            } else {
                "-".into()
            },
            format!("{:.1}", idle as f64 / 1024.0),
            format!("{:.1}", peak as f64 / 1024.0),
            format!("{per_conn:.2}"),
        ]);
        rss.push((
            t.label.clone(),
            run.samples
                .iter()
                .map(|x| (x.t_secs, x.rss_kib as f64 / 1024.0))
                .collect(),
        ));
        open.push((t.label.clone(), series));
    }
    s.plots.push(Plot::new(
        "connections-rss.png",
        "Pool memory during the ramp",
        "seconds",
        "RSS MiB",
        rss,
    ));
    s.plots.push(Plot::new(
        "connections-open.png",
        "Open connections",
        "seconds",
        "connections",
        open,
    ));
    Ok(s)
}

/// `events`: this pool with a collector; share rate vs events lost.
fn events(cfg: &Config, dir: &Path) -> Result<Section, String> {
    let secs = cfg.secs.unwrap_or(10);
    let mut s = Section::new("events");
    let _ = writeln!(s.body, "This pool and `tbg-collector` (receiving, validating and counting; no sinks, so the socket path itself is measured) on one machine; {STEP_MINERS} miners per step for {secs} s, {}. *Lost* = events the pool queued that the collector did not receive; the pool's own counters say where (queue full / no reader).\n", mode(cfg));
    s.table_header(&[
        "offered shares/s",
        "judged/s",
        "events queued",
        "sent",
        "received by collector",
        "lost",
        "lost %",
        "dropped: queue full",
        "dropped: no reader",
    ]);
    let kind = load::kinds(cfg).remove(0);
    if kind != Kind::This {
        return Err("events needs this pool started here (no --pool)".into());
    }
    let t = load::start(cfg, &kind, &dir.join("raw").join("tbg-pool"), true)?;
    let mut lost_curve = Vec::new();
    for rate in [1.0, 2.0, 5.0, 10.0, 20.0, 50.0] {
        let before = counters(&t);
        let load = step_load(rate, secs);
        let run = load::swarm(&t, &load, cfg.unchecked, dir, &format!("events-{rate}"))?;
        let after = settled_counters(&t);
        let d = |i: usize| after[i].saturating_sub(before[i]);
        let lost = d(0).saturating_sub(d(4));
        let pct = if d(0) > 0 {
            100.0 * lost as f64 / d(0) as f64
        } else {
            0.0
        };
        s.row(&[
            format!("{:.0}", rate * STEP_MINERS as f64),
            format!("{:.0}", run.judged_per_sec()),
            d(0).to_string(),
            d(1).to_string(),
            d(4).to_string(),
            lost.to_string(),
            format!("{pct:.3}"),
            d(2).to_string(),
            d(3).to_string(),
        ]);
        lost_curve.push((run.judged_per_sec(), pct));
    }
    s.plots.push(Plot::new(
        "events-lost.png",
        "Events lost end to end",
        "judged shares/s",
        "lost %",
        vec![("tbg-pool".into(), lost_curve)],
    ));
    Ok(s)
}

/// One step of the fixed-rate scenarios: [`STEP_MINERS`] miners at
/// `rate` shares/s each for `secs`, connecting at 5,000/s.
fn step_load(rate: f64, secs: u64) -> Load {
    Load {
        miners: STEP_MINERS,
        rate,
        secs,
        connect_rate: 5_000,
        swarm_cpus: None,
    }
}

/// Per-miner share rates of the `delivery` steps (1,000 miners).
const DELIVERY_STEPS: [f64; 3] = [10.0, 20.0, 40.0];

/// `delivery`: what sending events costs the pool. One pool core
/// (`threads` 1, pinned to CPU 0), unchecked shares at fixed rates, run
/// twice side by side: with no collector (events are formatted into the
/// backlog, which drops its oldest) and with one reading (no sinks).
fn delivery(cfg: &Config, dir: &Path) -> Result<Section, String> {
    let secs = cfg.secs.unwrap_or(10);
    let mut s = Section::new("delivery");
    let _ = writeln!(s.body, "One pool core (`threads` 1, every pool thread pinned to CPU 0 with `taskset`), {STEP_MINERS} swarm miners submitting unchecked shares (judged in full, refused as low difficulty: each is a `share_submitted` event) for {secs} s per step, on CPU 1 with the collector. *CPU per judged share* is the pool process's user + system time over the shares it judged. Goal: with a collector reading ≤ 1.15× with none.\n");
    s.table_header(&[
        "offered shares/s",
        "no collector: judged/s",
        "µs CPU / share",
        "collector reading: judged/s",
        "µs CPU / share",
        "ratio",
        "events sent",
        "dropped (queue full / no reader)",
    ]);
    let mut none_curve = Vec::new();
    let mut with_curve = Vec::new();
    for rate in DELIVERY_STEPS {
        let mut cells = vec![format!("{:.0}", rate * STEP_MINERS as f64)];
        let mut per_share = [0.0f64; 2];
        let (mut sent, mut dropped) = (0, 0);
        for (i, collector) in [false, true].into_iter().enumerate() {
            let raw = dir.join("raw").join(format!("delivery-{rate}-{collector}"));
            let t = load::start_on_one_core(cfg, &Kind::This, &raw, collector)?;
            let load = step_load(rate, secs);
            let tag = format!("delivery-{rate}-{collector}");
            let run = load::swarm(&t, &load, true, dir, &tag)?;
            let judged = run.judged_per_sec();
            per_share[i] = run.pool_cores_busy() / judged.max(1.0) * 1e6;
            cells.push(format!("{judged:.0}"));
            cells.push(format!("{:.2}", per_share[i]));
            if collector {
                let c = settled_counters(&t);
                (sent, dropped) = (c[1], c[2] + c[3]);
            }
            let curve = if collector {
                &mut with_curve
            } else {
                &mut none_curve
            };
            curve.push((judged, per_share[i]));
        }
        cells.push(format!("{:.2}×", per_share[1] / per_share[0].max(1e-9)));
        cells.push(sent.to_string());
        cells.push(dropped.to_string());
        s.row(&cells);
    }
    s.plots.push(Plot::new(
        "delivery-cpu.png",
        "Pool CPU per judged share, with and without a collector",
        "judged shares/s",
        "µs CPU per share",
        vec![
            ("no collector".into(), none_curve),
            ("collector reading".into(), with_curve),
        ],
    ));
    Ok(s)
}

/// Offered shares/s per `capacity` step (1,000 miners).
const CAPACITY_STEPS: [f64; 7] = [2.0, 10.0, 20.0, 40.0, 60.0, 120.0, 160.0];

/// `capacity`: each pool on one pinned core (CPU 0; this pool with
/// `threads` 1 and a collector reading its events), the swarm, node and
/// collector on CPU 1; unchecked shares at fixed offered rates. What one
/// core judges, at what latency, for what CPU.
fn capacity(cfg: &Config, dir: &Path) -> Result<Section, String> {
    let secs = cfg.secs.unwrap_or(10);
    let mut s = Section::new("capacity");
    let _ = writeln!(s.body, "Each pool alone on CPU 0 (this pool: `threads` 1, every thread pinned, a `tbg-collector` reading its events; ckpool: every thread pinned), the swarm ({STEP_MINERS} miners), the node and the collector on CPU 1; unchecked shares (each judged in full and refused as low difficulty: one `share_submitted` event each in this pool) for {secs} s per step. *µs CPU / share* is the pool process's user + system time over the shares it judged.\n");
    s.table_header(&[
        "pool",
        "offered/s",
        "judged/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "pool CPU cores",
        "µs CPU / share",
        "events sent / dropped",
        "loop pass p99 / max",
    ]);
    let (mut p99s, mut judged_curves) = (Vec::new(), Vec::new());
    for kind in load::kinds(cfg) {
        let collector = kind == Kind::This;
        let raw = dir.join("raw").join(label_of(&kind));
        let t = load::start_on_one_core(cfg, &kind, &raw, collector)?;
        let (mut p99, mut judged_curve) = (Vec::new(), Vec::new());
        for rate in CAPACITY_STEPS {
            let offered = rate * STEP_MINERS as f64;
            let load = Load {
                swarm_cpus: Some("1"),
                ..step_load(rate, secs)
            };
            let before = counters(&t);
            let passes_before = t.loop_passes();
            let run = load::swarm(
                &t,
                &load,
                true,
                dir,
                &format!("capacity-{}-{offered}", t.label),
            )?;
            let judged = run.judged_per_sec();
            let cores = run.pool_cores_busy();
            let events = if collector {
                let after = settled_counters(&t);
                format!(
                    "{} / {}",
                    after[1] - before[1],
                    (after[2] + after[3]) - (before[2] + before[3])
                )
            } else {
                "—".into()
            };
            s.row(&[
                t.label.clone(),
                format!("{offered:.0}"),
                format!("{judged:.0}"),
                run.latency("p50").to_string(),
                run.latency("p99").to_string(),
                run.latency("p999").to_string(),
                run.latency("max").to_string(),
                format!("{cores:.2}"),
                format!("{:.2}", cores / judged.max(1.0) * 1e6),
                events,
                pass_quantiles(&passes_before, &t.loop_passes()),
            ]);
            p99.push((offered, run.latency("p99") as f64));
            judged_curve.push((offered, judged));
            if judged < 0.5 * offered {
                break; // far behind: higher rates only queue more
            }
        }
        p99s.push((t.label.clone(), p99));
        judged_curves.push((t.label.clone(), judged_curve));
    }
    s.plots.push(Plot::new(
        "capacity-judged.png",
        "Shares judged per second on one core vs offered",
        "offered shares/s",
        "judged shares/s",
        judged_curves,
    ));
    s.plots.push(Plot::new(
        "capacity-p99.png",
        "p99 submit latency on one core vs offered rate",
        "offered shares/s",
        "p99 µs",
        p99s,
    ));
    Ok(s)
}

/// The 99th percentile and the largest of the loop passes between two
/// reads of `tbg_pool_loop_pass_seconds`, as their buckets' upper bounds.
fn pass_quantiles(before: &[(f64, u64)], after: &[(f64, u64)]) -> String {
    if before.len() != after.len() || after.is_empty() {
        return "—".into();
    }
    let cum: Vec<(f64, u64)> = after
        .iter()
        .zip(before)
        .map(|(a, b)| (a.0, a.1.saturating_sub(b.1)))
        .collect();
    let total = cum.last().map_or(0, |c| c.1);
    let bound = |share: f64| {
        let le = cum
            .iter()
            .find(|c| c.1 as f64 >= share * total as f64)
            .map_or(f64::INFINITY, |c| c.0);
        match le {
            le if le.is_infinite() => "> 100 ms".to_string(),
            le if le >= 1e-3 => format!("≤ {} ms", le * 1e3),
            le => format!("≤ {} µs", (le * 1e6).round()),
        }
    };
    if total == 0 {
        return "—".into();
    }
    format!("{} / {}", bound(0.99), bound(1.0))
}

/// The counters once the collector has caught up with its socket's
/// backlog (two reads a second apart agree; the pool writes
/// events.status every second), or after 20 s.
fn settled_counters(t: &Target) -> [u64; 5] {
    let mut last = counters(t);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(1_000));
        let now = counters(t);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// [queued, sent, dropped queue full, dropped no reader, collector received].
fn counters(t: &Target) -> [u64; 5] {
    let status = t
        .logdir
        .as_ref()
        .and_then(|d| tbg_pool::events::EventsStatus::read(&d.join("pool/events.status")))
        .unwrap_or_default();
    let metrics = t
        .collector_metrics
        .as_deref()
        .map(|m| procs::http_get(m, "/metrics"))
        .unwrap_or_default();
    let received: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("tbg_collector_received_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    [
        status.counters.queued,
        status.counters.sent,
        status.counters.dropped_queue_full,
        status.counters.dropped_no_reader,
        received,
    ]
}

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
