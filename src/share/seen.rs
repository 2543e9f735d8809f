//! Duplicate detection: 64-bit fingerprints of accepted share hashes, in
//! a bounded set (open addressing, linear probing).
//!
//! Two distinct headers share a fingerprint with probability 2^-64 per
//! pair, far below any concern. The set keeps the newest two generations
//! of at most `capacity` fingerprints each: when the current generation
//! is full it becomes the previous one, and the oldest is forgotten. Its
//! tables are allocated once, so steady state never allocates, and the
//! table that will hold the next generation is cleared a few slots per
//! insert, so no insert ever clears a whole table. A duplicate of a share
//! older than two generations passes — by then its job is long gone
//! (jobs go stale on a new block and are dropped after a few refreshes), so it is
//! refused as stale instead, unless a core takes more than `capacity`
//! shares within one job's life; size `seen_shares_per_core` for that.
//! A new block needs no clear: its headers cannot match older ones.

/// A bounded set of share fingerprints.
#[derive(Debug, Clone)]
pub struct SeenShares {
    /// Current, previous, and the one being cleared for the next
    /// generation: indexes into `tables` rotate.
    tables: [Vec<u64>; 3],
    current: usize,
    /// Fingerprints in the current generation.
    len: usize,
    /// Fingerprints per generation.
    capacity: usize,
    /// Slots of the spare table cleared so far.
    cleared: usize,
}

/// Marks an empty slot; a fingerprint of 0 is stored as 1.
const EMPTY: u64 = 0;

impl SeenShares {
    /// A set that remembers the newest two generations of `capacity`
    /// fingerprints each (three tables of `2 × capacity` slots).
    pub fn new(capacity: usize) -> SeenShares {
        let capacity = capacity.max(8);
        let slots = (capacity * 2).next_power_of_two();
        SeenShares {
            tables: [vec![EMPTY; slots], vec![EMPTY; slots], vec![EMPTY; slots]],
            current: 0,
            len: 0,
            capacity,
            cleared: slots,
        }
    }

    /// Fingerprints in the current generation.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fingerprint of a share hash (internal order: its low bytes
    /// are the random ones; the high bytes are the zeros of the work).
    #[inline]
    pub fn fingerprint(hash: &[u8; 32]) -> u64 {
        let mut low = [0u8; 8];
        low.copy_from_slice(&hash[..8]);
        u64::from_le_bytes(low)
    }

    /// Insert; `false` if it was already present (a duplicate).
    #[inline]
    pub fn insert(&mut self, fingerprint: u64) -> bool {
        let fp = if fingerprint == EMPTY { 1 } else { fingerprint };
        let previous = (self.current + 2) % 3;
        if contains(&self.tables[previous], fp) {
            return false;
        }
        // One probe of the current table finds the fingerprint or the
        // empty slot it goes in.
        let mut slot = match probe(&self.tables[self.current], fp) {
            Probe::Found => return false,
            Probe::Empty(i) => i,
        };
        if self.len == self.capacity {
            self.rotate();
            slot = match probe(&self.tables[self.current], fp) {
                Probe::Empty(i) => i,
                Probe::Found => unreachable!("a fresh table holds nothing"),
            };
        }
        self.clear_some();
        self.tables[self.current][slot] = fp;
        self.len += 1;
        true
    }

    /// The current generation becomes the previous one; the spare table,
    /// cleared by now, becomes current; the oldest becomes the spare.
    fn rotate(&mut self) {
        let spare = (self.current + 1) % 3;
        assert_eq!(
            self.cleared,
            self.tables[spare].len(),
            "the next generation's table is not cleared yet"
        );
        debug_assert!(self.tables[spare].iter().all(|&s| s == EMPTY));
        // Tables rotate current → previous → spare → current.
        self.current = spare;
        self.len = 0;
        self.cleared = 0;
    }

    /// Clear a few slots of the spare table: `capacity` inserts clear it
    /// all (it has `2 × capacity` slots, rounded up to a power of two,
    /// so at most 4 per insert).
    #[inline]
    fn clear_some(&mut self) {
        let spare = &mut self.tables[(self.current + 1) % 3];
        let end = (self.cleared + 4).min(spare.len());
        spare[self.cleared..end].fill(EMPTY);
        self.cleared = end;
    }
}

/// Where a probe for a fingerprint ended.
enum Probe {
    Found,
    /// Not there; this empty slot is where it would go.
    Empty(usize),
}

/// Linear probing from the fingerprint's own index (it is already
/// uniformly random); tables are at most half full, so it ends.
#[inline]
fn probe(table: &[u64], fp: u64) -> Probe {
    let mask = table.len() - 1;
    let mut i = (fp as usize) & mask;
    loop {
        match table[i] {
            EMPTY => return Probe::Empty(i),
            existing if existing == fp => return Probe::Found,
            _ => i = (i + 1) & mask,
        }
    }
}

fn contains(table: &[u64], fp: u64) -> bool {
    matches!(probe(table, fp), Probe::Found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(i: u64) -> u64 {
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    #[test]
    fn detects_duplicates_within_two_generations() {
        let mut seen = SeenShares::new(1000);
        for i in 1..=1000u64 {
            assert!(seen.insert(fp(i)));
        }
        for i in 1..=1000u64 {
            assert!(!seen.insert(fp(i)), "current generation");
        }
        // The next generation: the first is still remembered.
        for i in 1001..=2000u64 {
            assert!(seen.insert(fp(i)));
        }
        for i in 1..=2000u64 {
            assert!(!seen.insert(fp(i)), "two generations");
        }
        assert!(seen.insert(0));
        assert!(!seen.insert(0));
    }

    #[test]
    fn counts_the_current_generation() {
        let mut seen = SeenShares::new(100);
        assert!(seen.is_empty());
        assert_eq!(seen.len(), 0);
        seen.insert(fp(1));
        seen.insert(fp(2));
        seen.insert(fp(2)); // a duplicate is not counted
        assert!(!seen.is_empty());
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn stays_bounded_and_forgets_the_oldest_generation() {
        let mut seen = SeenShares::new(1000);
        let slots: usize = seen.tables.iter().map(Vec::len).sum();
        for i in 1..=100_000u64 {
            assert!(seen.insert(fp(i)));
            assert!(seen.len() <= 1000);
        }
        assert_eq!(seen.tables.iter().map(Vec::len).sum::<usize>(), slots);
        assert!(!seen.insert(fp(100_000)));
        assert!(!seen.insert(fp(99_000)), "previous generation");
        assert!(seen.insert(fp(1)), "long forgotten");
    }
}
