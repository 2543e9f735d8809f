//! The pool's metrics: per-core counters the share path bumps, and the
//! Prometheus page the metrics thread renders from them and from what
//! the rest of the pool already counts (connection limits, event
//! counters, node metrics). Every family is listed in docs/operations.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Limit, Shared};
use crate::metrics::{Exposition, Histogram, HistogramSnapshot};
use crate::share::RejectReason;

/// Upper bounds (seconds) of the share check buckets: a check is
/// ~0.2 µs with a cached merkle root and a few µs without (docs/design.md);
/// the upper buckets catch a core stalled by its machine.
pub const SHARE_CHECK_BUCKETS: [f64; 12] = [
    1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 1e-3, 1e-2,
];

/// Upper bounds (seconds) of the loop pass buckets: one pass of a core's
/// loop (the ready connections served, a fan-out chunk, a tick chunk) is
/// the longest a request that arrived meanwhile waits before it is read.
pub const LOOP_PASS_BUCKETS: [f64; 12] = [
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 1e-1,
];

/// `verdict` label values: accepted, then every reject reason.
const VERDICTS: usize = 1 + RejectReason::ALL.len();

/// One core's counters, written by that core alone (relaxed adds on
/// its own cache lines: no lock, no allocation, no contention) and read
/// by the metrics thread, which sums the cores at scrape time.
#[derive(Debug)]
#[repr(align(128))]
pub struct CoreMetrics {
    /// Submits by verdict: `[0]` accepted, `[1 + reason]` refused.
    submits: [AtomicU64; VERDICTS],
    share_check: Histogram<{ SHARE_CHECK_BUCKETS.len() }>,
    loop_pass: Histogram<{ LOOP_PASS_BUCKETS.len() }>,
    connections_accepted: AtomicU64,
    /// Connections of this core that have authorized (a gauge).
    authorized: AtomicU64,
    vardiff_up: AtomicU64,
    vardiff_down: AtomicU64,
    blocks_found: AtomicU64,
}

impl Default for CoreMetrics {
    fn default() -> Self {
        CoreMetrics {
            submits: Default::default(),
            share_check: Histogram::new(&SHARE_CHECK_BUCKETS),
            loop_pass: Histogram::new(&LOOP_PASS_BUCKETS),
            connections_accepted: AtomicU64::new(0),
            authorized: AtomicU64::new(0),
            vardiff_up: AtomicU64::new(0),
            vardiff_down: AtomicU64::new(0),
            blocks_found: AtomicU64::new(0),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

impl CoreMetrics {
    /// A submit answered: accepted (`None`) or why not.
    #[inline]
    pub fn submit(&self, reject: Option<RejectReason>) {
        bump(&self.submits[reject.map_or(0, |r| 1 + r as usize)]);
    }

    /// How long one share's hash check took.
    #[inline]
    pub fn share_checked(&self, elapsed: Duration) {
        self.share_check.observe(elapsed);
    }

    /// How long one pass of the core's loop took that did any work.
    #[inline]
    pub fn loop_pass(&self, elapsed: Duration) {
        self.loop_pass.observe(elapsed);
    }

    pub fn connection_accepted(&self) {
        bump(&self.connections_accepted);
    }

    /// A connection authorized its first worker.
    pub fn authorized(&self) {
        bump(&self.authorized);
    }

    /// An authorized connection closed.
    pub fn deauthorized(&self) {
        self.authorized.fetch_sub(1, Ordering::Relaxed);
    }

    /// Vardiff moved a connection's difficulty from `old` to `new`.
    pub fn vardiff_change(&self, old: f64, new: f64) {
        bump(if new > old {
            &self.vardiff_up
        } else {
            &self.vardiff_down
        });
    }

    pub fn block_found(&self) {
        bump(&self.blocks_found);
    }
}

/// The pool's Prometheus page.
pub fn render(shared: &Shared) -> String {
    let mut x = Exposition::new();
    render_connections(&mut x, shared);
    render_shares(&mut x, &shared.core_metrics);
    shared.node_metrics.render(&mut x);
    render_events(&mut x, shared);
    x.into_text()
}

/// The sum of one counter over the cores.
fn sum(cores: &[std::sync::Arc<CoreMetrics>], f: impl Fn(&CoreMetrics) -> &AtomicU64) -> u64 {
    cores.iter().map(|c| f(c).load(Ordering::Relaxed)).sum()
}

/// [`sum`] for a histogram every core keeps (`bounds` are its buckets).
fn sum_histograms<const N: usize>(
    cores: &[std::sync::Arc<CoreMetrics>],
    bounds: &'static [f64; N],
    f: impl Fn(&CoreMetrics) -> &Histogram<N>,
) -> HistogramSnapshot {
    let mut total = HistogramSnapshot::empty(bounds);
    for c in cores {
        total.add(f(c));
    }
    total
}

fn render_connections(x: &mut Exposition, shared: &Shared) {
    let cores = &shared.core_metrics;
    x.gauge("tbg_pool_connections", "Open miner connections.")
        .sample(&[], shared.limits.connections());
    x.counter(
        "tbg_pool_connections_accepted_total",
        "Miner connections accepted (past the connection limits).",
    )
    .sample(&[], sum(cores, |c| &c.connections_accepted));
    x.gauge(
        "tbg_pool_authorized_miners",
        "Open connections that have authorized a worker.",
    )
    .sample(&[], sum(cores, |c| &c.authorized));
    let mut f = x.counter(
        "tbg_pool_limit_hits_total",
        "Times each connection limit refused, paused or closed a client (pool.status's fourth line).",
    );
    for limit in Limit::ALL {
        f.sample(&[("limit", limit.name())], shared.limit_counters.get(limit));
    }
}

fn render_shares(x: &mut Exposition, cores: &[std::sync::Arc<CoreMetrics>]) {
    let mut f = x.counter(
        "tbg_pool_submits_total",
        "mining.submit requests answered, by verdict (accepted, or the reject reason).",
    );
    f.sample(&[("verdict", "accepted")], sum(cores, |c| &c.submits[0]));
    for r in RejectReason::ALL {
        let n = sum(cores, |c| &c.submits[1 + r as usize]);
        f.sample(&[("verdict", r.as_str())], n);
    }
    let total = sum_histograms(cores, &SHARE_CHECK_BUCKETS, |c| &c.share_check);
    x.histogram(
        "tbg_pool_share_check_seconds",
        "Time to check one share that reached the hash check (merkle root, header hash, targets, duplicate check).",
    )
    .series(&[], &total);
    let passes = sum_histograms(cores, &LOOP_PASS_BUCKETS, |c| &c.loop_pass);
    x.histogram(
        "tbg_pool_loop_pass_seconds",
        "Time a core spent on one pass of its loop that did work (ready connections served, a fan-out chunk, a tick chunk): the longest a request arriving meanwhile waits to be read.",
    )
    .series(&[], &passes);
    let mut f = x.counter(
        "tbg_pool_vardiff_changes_total",
        "Difficulty changes made by vardiff, by direction.",
    );
    f.sample(&[("direction", "up")], sum(cores, |c| &c.vardiff_up));
    f.sample(&[("direction", "down")], sum(cores, |c| &c.vardiff_down));
    x.counter(
        "tbg_pool_blocks_found_total",
        "Shares that met the network target (each is written to disk and submitted).",
    )
    .sample(&[], sum(cores, |c| &c.blocks_found));
}

fn render_events(x: &mut Exposition, shared: &Shared) {
    let counters = shared.event_counters.lock().clone();
    let (c, depth, backlog) = counters
        .map(|c| {
            let backlog = c.backlog.load(std::sync::atomic::Ordering::Relaxed);
            (c.snapshot(), c.queue_depth(), backlog)
        })
        .unwrap_or_default();
    x.gauge(
        "tbg_pool_event_queue_depth",
        "Events waiting in the producers' queues for the emitter.",
    )
    .sample(&[], depth);
    x.gauge(
        "tbg_pool_event_backlog",
        "Events formatted and held by the emitter for a collector that is away or behind.",
    )
    .sample(&[], backlog);
    x.counter(
        "tbg_pool_events_queued_total",
        "Events the cores, node and stats threads queued.",
    )
    .sample(&[], c.queued);
    x.counter(
        "tbg_pool_events_sent_total",
        "Events sent to the collector's socket.",
    )
    .sample(&[], c.sent);
    let mut f = x.counter(
        "tbg_pool_events_dropped_total",
        "Events dropped, by reason (each leaves a seq gap downstream).",
    );
    for (reason, n) in [
        ("queue_full", c.dropped_queue_full),
        ("no_reader", c.dropped_no_reader),
        ("oversize", c.dropped_oversize),
        ("send_error", c.dropped_send_error),
    ] {
        f.sample(&[("reason", reason)], n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_reasons_index_in_declaration_order() {
        // `submit` indexes by `r as usize`; ALL must list them in order.
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }

    #[test]
    fn a_core_counts_submits_checks_and_vardiff() {
        let c = CoreMetrics::default();
        c.submit(None);
        c.submit(Some(RejectReason::Duplicate));
        c.share_checked(Duration::from_nanos(300));
        c.vardiff_change(1.0, 2.0);
        c.authorized();
        c.authorized();
        c.deauthorized();
        assert_eq!(c.submits[0].load(Ordering::Relaxed), 1);
        let dup = 1 + RejectReason::Duplicate as usize;
        assert_eq!(c.submits[dup].load(Ordering::Relaxed), 1);
        assert_eq!(c.share_check.snapshot().cumulative[2], 1);
        assert_eq!(c.vardiff_up.load(Ordering::Relaxed), 1);
        assert_eq!(c.authorized.load(Ordering::Relaxed), 1);
    }
}
