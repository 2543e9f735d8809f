//! An `f64` kept in an `AtomicU64` as its bit pattern, so share
//! statistics can be updated from every core without a lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A lock-free `f64` cell.
///
/// Orderings are `Relaxed` throughout: these are statistics, every
/// read-modify-write on one cell is still totally ordered (no update is
/// lost), and nothing else is published through them.
#[derive(Debug, Default)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    /// A cell holding `value`.
    pub fn new(value: f64) -> AtomicF64 {
        AtomicF64(AtomicU64::new(value.to_bits()))
    }

    /// The current value.
    #[inline]
    pub fn load(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }

    /// Replace the value.
    #[inline]
    pub fn store(&self, value: f64) {
        self.0.store(value.to_bits(), Relaxed);
    }

    /// Replace the value, returning the old one (the stats thread drains
    /// an accumulator with `swap(0.0)`: nothing added concurrently is lost).
    #[inline]
    pub fn swap(&self, value: f64) -> f64 {
        f64::from_bits(self.0.swap(value.to_bits(), Relaxed))
    }

    /// Add `delta` with a compare-and-swap loop (there is no atomic float
    /// add on x86; under contention the loop retries, it never blocks).
    #[inline]
    pub fn add(&self, delta: f64) {
        let mut current = self.0.load(Relaxed);
        loop {
            let next = (f64::from_bits(current) + delta).to_bits();
            match self
                .0
                .compare_exchange_weak(current, next, Relaxed, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Raise the value to `candidate` if it is larger.
    ///
    /// One `fetch_max` on the bits: for non-negative, non-NaN floats
    /// (`+0.0`, subnormals, normals, `+inf`) the IEEE-754 bit patterns,
    /// read as unsigned integers, order exactly like the floats. Callers
    /// must keep to that domain; it is checked in debug builds, and the
    /// cell must hold such a value too (`new` / `store` with one).
    #[inline]
    pub fn fetch_max_non_negative(&self, candidate: f64) {
        debug_assert!(
            candidate >= 0.0,
            "fetch_max on bits needs x >= 0, got {candidate}"
        );
        let bits = candidate.to_bits();
        // Most candidates are not a new maximum: a plain load keeps the
        // cache line shared between cores instead of taking it for an RMW.
        if bits > self.0.load(Relaxed) {
            self.0.fetch_max(bits, Relaxed);
        }
    }

    /// Raise the value to `candidate` if it is strictly larger, returning
    /// the value it replaced (`None`: not raised).
    ///
    /// A compare-and-swap loop rather than [`fetch_max_non_negative`]:
    /// the caller learns whether *its* candidate won and what it beat, so
    /// among racing cores exactly one reports each new maximum. Same
    /// domain rule: non-negative, non-NaN values only.
    ///
    /// [`fetch_max_non_negative`]: AtomicF64::fetch_max_non_negative
    #[inline]
    pub fn raise(&self, candidate: f64) -> Option<f64> {
        debug_assert!(
            candidate >= 0.0,
            "raise on bits needs x >= 0, got {candidate}"
        );
        let bits = candidate.to_bits();
        let mut current = self.0.load(Relaxed);
        // Bits order like the floats (see above): comparing them is the
        // float comparison, and a plain load settles the common "not a
        // new best" case without taking the cache line.
        while bits > current {
            match self
                .0
                .compare_exchange_weak(current, bits, Relaxed, Relaxed)
            {
                Ok(_) => return Some(f64::from_bits(current)),
                Err(actual) => current = actual,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_float_bits_order_like_the_floats() {
        let mut values = vec![0.0, f64::MIN_POSITIVE / 4.0, f64::MIN_POSITIVE, 1e-8, 0.5];
        values.extend([1.0, 1.0000000000000002, 3.5, 1e12, 2f64.powi(200), f64::MAX]);
        values.push(f64::INFINITY);
        for a in &values {
            for b in &values {
                assert_eq!(
                    a.partial_cmp(b),
                    Some(a.to_bits().cmp(&b.to_bits())),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn max_add_swap() {
        let cell = AtomicF64::new(0.0);
        cell.fetch_max_non_negative(2.5);
        cell.fetch_max_non_negative(1.5);
        assert_eq!(cell.load(), 2.5);
        cell.add(0.25);
        assert_eq!(cell.swap(0.0), 2.75);
        assert_eq!(cell.load(), 0.0);
    }

    #[test]
    fn raise_reports_what_it_beat() {
        let cell = AtomicF64::new(0.0);
        assert_eq!(cell.raise(2.5), Some(0.0));
        assert_eq!(cell.raise(2.5), None, "equal is not beaten");
        assert_eq!(cell.raise(1.0), None);
        assert_eq!(cell.raise(3.0), Some(2.5));
        assert_eq!(cell.load(), 3.0);
    }
}
