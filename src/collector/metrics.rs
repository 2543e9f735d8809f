//! The collector's counters and their Prometheus text exposition, served
//! by a plain thread on `metrics_addr`.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::events::EventKind;

/// Upper bounds (seconds) of the batch latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];
/// Reasons a datagram is invalid (see `events::validate`).
pub const INVALID_REASONS: [&str; 9] = [
    "oversize",
    "malformed_json",
    "not_an_object",
    "unknown_event",
    "missing_field",
    "wrong_type",
    "too_many_fields",
    "duplicate_field",
    "reserved_field",
];

/// One sink's counters.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    pub written: AtomicU64,
    pub errors: AtomicU64,
    pub queue_depth: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
}

impl SinkMetrics {
    /// Record one batch write's duration.
    pub fn observe_batch(&self, secs: f64) {
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything the collector counts.
#[derive(Debug, Default)]
pub struct Metrics {
    pub received: [AtomicU64; 9],
    pub invalid: [AtomicU64; INVALID_REASONS.len()],
    pub seq_gaps: AtomicU64,
    pub sinks: Vec<(&'static str, Arc<SinkMetrics>)>,
}

fn kind_index(kind: EventKind) -> usize {
    EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl Metrics {
    pub fn count_received(&self, kind: EventKind) {
        self.received[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_invalid(&self, reason: &str) {
        if let Some(i) = INVALID_REASONS.iter().position(|r| *r == reason) {
            self.invalid[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Prometheus text format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(s, "# TYPE tbg_collector_received_total counter");
        for (kind, n) in EventKind::ALL.iter().zip(&self.received) {
            let _ = writeln!(
                s,
                "tbg_collector_received_total{{event=\"{}\"}} {}",
                kind.name(),
                load(n)
            );
        }
        let _ = writeln!(s, "# TYPE tbg_collector_invalid_total counter");
        for (reason, n) in INVALID_REASONS.iter().zip(&self.invalid) {
            let _ = writeln!(
                s,
                "tbg_collector_invalid_total{{reason=\"{reason}\"}} {}",
                load(n)
            );
        }
        let _ = writeln!(
            s,
            "# TYPE tbg_collector_seq_gaps_total counter\ntbg_collector_seq_gaps_total {}",
            load(&self.seq_gaps)
        );
        for (name, m) in &self.sinks {
            render_sink(&mut s, name, m);
        }
        s
    }
}

fn render_sink(s: &mut String, sink: &str, m: &SinkMetrics) {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    for (name, labels, value) in [
        ("tbg_collector_written_total", "", &m.written),
        ("tbg_collector_sink_errors_total", "", &m.errors),
        ("tbg_collector_queue_depth", "", &m.queue_depth),
        ("tbg_collector_spool_bytes", "", &m.spool_bytes),
        (
            "tbg_collector_dropped_total",
            ",reason=\"queue_full\"",
            &m.dropped_queue_full,
        ),
    ] {
        let _ = writeln!(s, "{name}{{sink=\"{sink}\"{labels}}} {}", load(value));
    }
    let mut cumulative = 0;
    for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += load(&m.latency_buckets[i]);
        let _ = writeln!(
            s,
            "tbg_collector_batch_seconds_bucket{{sink=\"{sink}\",le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += load(&m.latency_buckets[LATENCY_BUCKETS.len()]);
    let _ = writeln!(
        s,
        "tbg_collector_batch_seconds_bucket{{sink=\"{sink}\",le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(
        s,
        "tbg_collector_batch_seconds_sum{{sink=\"{sink}\"}} {}",
        load(&m.latency_sum_us) as f64 / 1e6
    );
    let _ = writeln!(
        s,
        "tbg_collector_batch_seconds_count{{sink=\"{sink}\"}} {}",
        load(&m.latency_count)
    );
}

/// Serve `GET /metrics` (any path) forever on `listener`.
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let body = metrics.render();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}
