//! What a run reports: the progress line every second, the final
//! summary as text, and the same summary as JSON (`--report-json`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::stats::{Counters, Totals};

/// `t=5s conns=1000 acc=4321 rej=0 p50=45us p99=120us` (latencies of the
/// last second).
pub fn progress_line(elapsed: Duration, c: &Counters, recent: &Histogram<u64>) -> String {
    format!(
        "t={}s conns={} acc={} rej={} p50={} p99={}",
        elapsed.as_secs(),
        c.open,
        c.accepted,
        c.rejected,
        micros(recent, 50.0),
        micros(recent, 99.0)
    )
}

/// A quantile as `45us`, or `-` without samples.
fn micros(h: &Histogram<u64>, percentile: f64) -> String {
    if h.is_empty() {
        "-".to_string()
    } else {
        format!("{}us", h.value_at_percentile(percentile))
    }
}

/// The run's shape, for the summary header.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub pool: String,
    pub miners: usize,
    pub threads: usize,
    pub rate_per_miner: f64,
    pub duration_secs: f64,
}

/// Submit→reply latency quantiles in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// One progress tick: totals so far and the last second's latencies.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Second {
    pub t_secs: u64,
    pub open: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// 0 when no reply arrived in that second.
    pub p50_us: u64,
    pub p99_us: u64,
}

impl Second {
    /// The tick at `elapsed` from the summed counters and recent latencies.
    pub fn new(elapsed: Duration, c: &Counters, recent: &Histogram<u64>) -> Second {
        let q = |p| {
            if recent.is_empty() {
                0
            } else {
                recent.value_at_percentile(p)
            }
        };
        Second {
            t_secs: elapsed.as_secs(),
            open: c.open,
            accepted: c.accepted,
            rejected: c.rejected,
            p50_us: q(50.0),
            p99_us: q(99.0),
        }
    }
}

/// One point of the latency distribution: `percentile` of replies came
/// within `us`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CurvePoint {
    pub percentile: f64,
    pub us: u64,
}

/// The percentiles the distribution curve is drawn through.
const CURVE_PERCENTILES: [f64; 20] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 97.0, 99.0, 99.5, 99.7, 99.9,
    99.95, 99.99, 99.999, 100.0,
];

/// How one block's clean jobs reached the miners (wall clock).
#[derive(Debug, Clone, Serialize)]
pub struct WaveReport {
    /// Previous-block hash as block explorers show it.
    pub prevhash: String,
    pub miners: u64,
    pub first_unix_us: u64,
    pub last_unix_us: u64,
}

/// The final summary (also the JSON report's shape).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub run: RunInfo,
    pub shares_per_sec: f64,
    pub latency_us: Latency,
    pub counts: BTreeMap<&'static str, u64>,
    pub rejects: BTreeMap<String, u64>,
    /// The latency distribution, for plotting.
    pub latency_curve: Vec<CurvePoint>,
    /// One entry per progress tick.
    pub series: Vec<Second>,
    /// Clean jobs by block, oldest first.
    pub clean_job_waves: Vec<WaveReport>,
}

/// Build the summary of a run that mined for `info.duration_secs`.
pub fn summarize(info: RunInfo, totals: &Totals, series: Vec<Second>) -> Summary {
    let h = &totals.latency;
    let q = |p: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_percentile(p)
        }
    };
    let latency_us = Latency {
        count: h.len(),
        p50: q(50.0),
        p90: q(90.0),
        p99: q(99.0),
        p999: q(99.9),
        max: if h.is_empty() { 0 } else { h.max() },
        mean: if h.is_empty() { 0.0 } else { h.mean() },
    };
    let secs = info.duration_secs.max(f64::MIN_POSITIVE);
    let latency_curve = if h.is_empty() {
        Vec::new()
    } else {
        CURVE_PERCENTILES
            .iter()
            .map(|&percentile| CurvePoint {
                percentile,
                us: h.value_at_percentile(percentile),
            })
            .collect()
    };
    let mut clean_job_waves: Vec<WaveReport> = totals
        .waves
        .iter()
        .map(|(prevhash, w)| WaveReport {
            prevhash: display_prevhash(prevhash),
            miners: w.miners,
            first_unix_us: w.first_unix_us,
            last_unix_us: w.last_unix_us,
        })
        .collect();
    clean_job_waves.sort_by_key(|w| w.first_unix_us);
    Summary {
        shares_per_sec: totals.counters.accepted as f64 / secs,
        run: info,
        latency_us,
        counts: counts(&totals.counters),
        rejects: totals.rejects.clone(),
        latency_curve,
        series,
        clean_job_waves,
    }
}

/// A notify's prevhash (words byte-reversed) in block-explorer order.
fn display_prevhash(words_swapped: &[u8; 32]) -> String {
    let internal = crate::job::unswap_prevhash(words_swapped);
    internal.iter().rev().map(|b| format!("{b:02x}")).collect()
}

/// Every counter by name (the gauge `open` is left out: always 0 at the end).
fn counts(c: &Counters) -> BTreeMap<&'static str, u64> {
    BTreeMap::from([
        ("connect_attempts", c.connect_attempts),
        ("connections_opened", c.connections_opened),
        ("connect_failed", c.connect_failed),
        ("closed_by_pool", c.closed_by_pool),
        ("open_at_end", c.open_at_end),
        ("protocol_errors", c.protocol_errors),
        ("oversize_lines", c.oversize_lines),
        ("subscribed", c.subscribed),
        ("authorized", c.authorized),
        ("auth_refused", c.auth_refused),
        ("reconnect_requests", c.reconnect_requests),
        ("show_messages", c.show_messages),
        ("version_masks", c.version_masks),
        ("set_extranonce", c.set_extranonce),
        ("notifies", c.notifies),
        ("clean_jobs", c.clean_jobs),
        ("set_difficulty", c.set_difficulty),
        ("submitted", c.submitted),
        ("accepted", c.accepted),
        ("rejected", c.rejected),
        ("timed_out", c.timed_out),
        ("unanswered", c.unanswered),
        ("hashes", c.hashes),
    ])
}

/// The summary as the lines printed at the end.
pub fn render_text(s: &Summary) -> String {
    let n = |k: &str| s.counts.get(k).copied().unwrap_or(0);
    let l = &s.latency_us;
    let r = &s.run;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tbg-swarm: {} miners on {} threads against {} for {:.1} s (rate {}/s per miner)",
        r.miners, r.threads, r.pool, r.duration_secs, r.rate_per_miner
    );
    let _ = writeln!(out, "  shares: {} submitted, {} accepted ({:.1}/s), {} rejected, {} timed out, {} unanswered; {} hashes", n("submitted"), n("accepted"), s.shares_per_sec, n("rejected"), n("timed_out"), n("unanswered"), n("hashes"));
    if l.count == 0 {
        out.push_str("  latency: no replies\n");
    } else {
        let _ = writeln!(
            out,
            "  latency: p50 {}us  p90 {}us  p99 {}us  p99.9 {}us  max {}us  ({} replies)",
            l.p50, l.p90, l.p99, l.p999, l.max, l.count
        );
    }
    let _ = writeln!(
        out,
        "  connections: {} attempts, {} opened, {} failed, {} closed by pool, {} open at end",
        n("connect_attempts"),
        n("connections_opened"),
        n("connect_failed"),
        n("closed_by_pool"),
        n("open_at_end")
    );
    let _ = writeln!(
        out,
        "  handshake: {} subscribed, {} authorized, {} refused",
        n("subscribed"),
        n("authorized"),
        n("auth_refused")
    );
    let _ = writeln!(out, "  from pool: {} notify ({} clean_jobs), {} set_difficulty, {} set_extranonce, {} client.reconnect, {} show_message, {} set_version_mask", n("notifies"), n("clean_jobs"), n("set_difficulty"), n("set_extranonce"), n("reconnect_requests"), n("show_messages"), n("version_masks"));
    let _ = writeln!(
        out,
        "  errors: {} protocol, {} oversize lines",
        n("protocol_errors"),
        n("oversize_lines")
    );
    for (reason, count) in &s.rejects {
        let _ = writeln!(out, "  rejected {count} x {reason}");
    }
    out
}

/// The summary as pretty JSON.
pub fn render_json(s: &Summary) -> String {
    simd_json::to_string_pretty(s).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stats;

    #[test]
    fn progress_and_summary() {
        let mut stats = Stats::default();
        stats.counters.open = 3;
        stats.counters.accepted = 10;
        stats.record_latency(Duration::from_micros(45));
        stats.record_reject("23 Low difficulty share");
        let line = progress_line(Duration::from_secs(5), &stats.counters, &stats.recent);
        assert_eq!(line, "t=5s conns=3 acc=10 rej=1 p50=45us p99=45us");
        let empty = progress_line(
            Duration::ZERO,
            &Counters::default(),
            &crate::stats::new_histogram(),
        );
        assert_eq!(empty, "t=0s conns=0 acc=0 rej=0 p50=- p99=-");

        let info = RunInfo {
            pool: "127.0.0.1:3333".into(),
            miners: 3,
            threads: 1,
            rate_per_miner: 0.2,
            duration_secs: 2.0,
        };
        let s = summarize(info, &Totals::merge(&[stats]), Vec::new());
        assert_eq!(s.shares_per_sec, 5.0);
        assert_eq!(
            (s.latency_us.count, s.latency_us.p50, s.latency_us.max),
            (1, 45, 45)
        );
        let text = render_text(&s);
        assert!(text.contains("10 accepted (5.0/s), 1 rejected"), "{text}");
        assert!(
            text.contains("rejected 1 x 23 Low difficulty share"),
            "{text}"
        );
        let mut json = render_json(&s).into_bytes();
        let v = simd_json::to_owned_value(&mut json).unwrap();
        use simd_json::prelude::*;
        assert_eq!(v["counts"]["accepted"].as_u64(), Some(10));
        assert_eq!(v["rejects"]["23 Low difficulty share"].as_u64(), Some(1));
        assert_eq!(v["latency_us"]["p99"].as_u64(), Some(45));
    }
}
