//! The collector's counters and their Prometheus text (served by
//! `metrics::http` on `metrics_addr`; every family in docs/operations.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::events::EventKind;
use crate::metrics::{Exposition, Family, Histogram};

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
#[derive(Debug)]
pub struct SinkMetrics {
    pub written: AtomicU64,
    pub errors: AtomicU64,
    pub queue_depth: AtomicU64,
    pub spool_bytes: AtomicU64,
    /// Torn tails cut from the spool when it was opened.
    pub spool_torn: AtomicU64,
    /// Bytes of damaged spool records skipped by replays.
    pub spool_skipped_bytes: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    /// Events lost because the spool could not be written (a full disk).
    pub dropped_spool_error: AtomicU64,
    batch_seconds: Histogram<{ LATENCY_BUCKETS.len() }>,
}

impl Default for SinkMetrics {
    fn default() -> Self {
        SinkMetrics {
            written: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            queue_depth: AtomicU64::new(0),
            spool_bytes: AtomicU64::new(0),
            spool_torn: AtomicU64::new(0),
            spool_skipped_bytes: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_spool_error: AtomicU64::new(0),
            batch_seconds: Histogram::new(&LATENCY_BUCKETS),
        }
    }
}

impl SinkMetrics {
    /// Record one batch write's duration.
    pub fn observe_batch(&self, secs: f64) {
        let elapsed = Duration::try_from_secs_f64(secs).unwrap_or_default();
        self.batch_seconds.observe(elapsed);
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

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
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

    /// The Prometheus text of every family.
    pub fn render(&self) -> String {
        let mut x = Exposition::new();
        self.render_datagrams(&mut x);
        self.render_sinks(&mut x);
        x.into_text()
    }

    fn render_datagrams(&self, x: &mut Exposition) {
        let mut f = x.counter(
            "tbg_collector_received_total",
            "Valid events received, by event type.",
        );
        for (kind, n) in EventKind::ALL.iter().zip(&self.received) {
            f.sample(&[("event", kind.name())], load(n));
        }
        let mut f = x.counter(
            "tbg_collector_invalid_total",
            "Datagrams refused by the schema check, by reason.",
        );
        for (reason, n) in INVALID_REASONS.iter().zip(&self.invalid) {
            f.sample(&[("reason", reason)], load(n));
        }
        x.counter(
            "tbg_collector_seq_gaps_total",
            "Events missing from a pool's seq sequence (lost before the collector).",
        )
        .sample(&[], load(&self.seq_gaps));
    }

    /// One family per sink counter, each with one sample per sink.
    fn render_sinks(&self, x: &mut Exposition) {
        let f = x.counter("tbg_collector_written_total", "Events a sink stored.");
        self.per_sink(f, |m| &m.written);
        let help = "Failed batch writes (the batch is spooled).";
        let f = x.counter("tbg_collector_sink_errors_total", help);
        self.per_sink(f, |m| &m.errors);
        let help = "Events waiting in a sink's memory queue.";
        let f = x.gauge("tbg_collector_queue_depth", help);
        self.per_sink(f, |m| &m.queue_depth);
        let help = "Bytes in a sink's spool, waiting for replay.";
        let f = x.gauge("tbg_collector_spool_bytes", help);
        self.per_sink(f, |m| &m.spool_bytes);
        self.render_spool_damage(x);
        let mut f = x.counter(
            "tbg_collector_dropped_total",
            "Events a sink lost, by reason (queue_full: its memory queue was full; spool_error: its spool could not be written).",
        );
        for (sink, m) in &self.sinks {
            f.sample(
                &[("sink", sink), ("reason", "queue_full")],
                load(&m.dropped_queue_full),
            );
            f.sample(
                &[("sink", sink), ("reason", "spool_error")],
                load(&m.dropped_spool_error),
            );
        }
        let mut h = x.histogram(
            "tbg_collector_batch_seconds",
            "Time to write one batch into a sink.",
        );
        for (sink, m) in &self.sinks {
            h.series(&[("sink", sink)], &m.batch_seconds.snapshot());
        }
    }

    /// What the spools' checks found (docs/storage.md, "The spool").
    fn render_spool_damage(&self, x: &mut Exposition) {
        let help =
            "Torn spool tails (a crash or a full disk mid-append) cut when the collector started.";
        let f = x.counter("tbg_collector_spool_torn_total", help);
        self.per_sink(f, |m| &m.spool_torn);
        let help = "Bytes of damaged spool records skipped by replays.";
        let f = x.counter("tbg_collector_spool_skipped_bytes_total", help);
        self.per_sink(f, |m| &m.spool_skipped_bytes);
    }

    /// A sample per sink of one of its counters.
    fn per_sink(&self, mut f: Family<'_>, value: fn(&SinkMetrics) -> &AtomicU64) {
        for (sink, m) in &self.sinks {
            f.sample(&[("sink", sink)], load(value(m)));
        }
    }
}
