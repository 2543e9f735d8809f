//! A latency histogram of fixed buckets, made of atomics: observing is a
//! bucket search over a few integers and three relaxed adds — no lock, no
//! allocation — so it can sit on a hot path; a scrape reads a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `N` finite buckets (upper bounds in seconds, increasing); `+Inf` is
/// the count.
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    bounds: &'static [f64; N],
    /// The bounds in nanoseconds: an observation compares integers.
    bounds_ns: [u64; N],
    /// Observations per finite bucket (not cumulative: one add each).
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    pub fn new(bounds: &'static [f64; N]) -> Histogram<N> {
        assert!(
            bounds.windows(2).all(|w| w[0] < w[1]) && bounds.iter().all(|b| *b > 0.0),
            "histogram bounds must be positive and increasing"
        );
        Histogram {
            bounds,
            bounds_ns: bounds.map(|b| (b * 1e9).round() as u64),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Count one observation.
    #[inline]
    pub fn observe(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        if let Some(i) = self.bounds_ns.iter().position(|b| ns <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now, cumulative as the exposition wants them.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut snapshot = HistogramSnapshot::empty(self.bounds);
        snapshot.add(self);
        snapshot
    }
}

/// A histogram's counts at one moment, or the sum of several (one per
/// core) with the same bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub bounds: &'static [f64],
    /// Observations at or below each bound.
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_secs: f64,
}

impl HistogramSnapshot {
    /// No observations, in buckets of `bounds` (to add histograms to).
    pub fn empty(bounds: &'static [f64]) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds,
            cumulative: vec![0; bounds.len()],
            count: 0,
            sum_secs: 0.0,
        }
    }

    /// Add `h`'s counts (same bounds) to these.
    pub fn add<const N: usize>(&mut self, h: &Histogram<N>) {
        assert_eq!(
            self.bounds,
            &h.bounds[..],
            "adding histograms of other buckets"
        );
        let mut running = 0;
        for (total, bucket) in self.cumulative.iter_mut().zip(&h.buckets) {
            running += bucket.load(Ordering::Relaxed);
            *total += running;
        }
        // Read apart from the buckets, the count can lag an observation
        // being made; `+Inf` must never be below the last bucket.
        self.count += h.count.load(Ordering::Relaxed).max(running);
        self.sum_secs += h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static BOUNDS: [f64; 3] = [1e-6, 1e-3, 1.0];

    #[test]
    fn bounds_are_inclusive_and_snapshots_add_up() {
        let (a, b) = (Histogram::new(&BOUNDS), Histogram::new(&BOUNDS));
        a.observe(Duration::from_nanos(1000)); // exactly on the first bound
        a.observe(Duration::from_nanos(1001));
        b.observe(Duration::from_secs(5));
        let mut s = a.snapshot();
        assert_eq!((s.cumulative.clone(), s.count), (vec![1, 2, 2], 2));
        s.add(&b);
        assert_eq!((s.cumulative.clone(), s.count), (vec![1, 2, 2], 3));
        assert!((s.sum_secs - 5.000002001).abs() < 1e-12, "{}", s.sum_secs);
    }

    #[test]
    #[should_panic(expected = "increasing")]
    fn bounds_must_increase() {
        static BAD: [f64; 2] = [1.0, 0.5];
        Histogram::new(&BAD);
    }
}
