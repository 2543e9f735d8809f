//! Duplicate detection: a set of 64-bit fingerprints of accepted share
//! hashes (open addressing, linear probing).
//!
//! Two distinct headers share a fingerprint with probability 2^-64 per
//! pair, far below any concern. The table grows by doubling when half
//! full; that allocation is amortised over thousands of shares and sized
//! up front by `with_capacity` so that steady state never allocates.
//! Cleared when a new network block makes every older job stale.

/// A set of share fingerprints.
#[derive(Debug, Clone)]
pub struct SeenShares {
    slots: Vec<u64>,
    len: usize,
}

/// Marks an empty slot; a fingerprint of 0 is stored as 1.
const EMPTY: u64 = 0;

impl SeenShares {
    /// A set that holds `capacity` fingerprints before it first grows.
    pub fn with_capacity(capacity: usize) -> SeenShares {
        let slots = (capacity.max(8) * 2).next_power_of_two();
        SeenShares {
            slots: vec![EMPTY; slots],
            len: 0,
        }
    }

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
        u64::from_le_bytes(hash[..8].try_into().unwrap())
    }

    /// Insert; `false` if it was already present (a duplicate).
    #[inline]
    pub fn insert(&mut self, fingerprint: u64) -> bool {
        let fp = if fingerprint == EMPTY { 1 } else { fingerprint };
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        // The fingerprint is already uniformly random: use it as the index.
        let mut i = (fp as usize) & mask;
        loop {
            match self.slots[i] {
                EMPTY => {
                    self.slots[i] = fp;
                    self.len += 1;
                    return true;
                }
                existing if existing == fp => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Forget everything (a new block made all older shares stale).
    pub fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.len = 0;
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.len = 0;
        for fp in old.into_iter().filter(|&fp| fp != EMPTY) {
            self.insert(fp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_duplicates_across_growth() {
        let mut seen = SeenShares::with_capacity(4);
        for i in 1..=10_000u64 {
            assert!(seen.insert(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
        assert_eq!(seen.len(), 10_000);
        for i in 1..=10_000u64 {
            assert!(!seen.insert(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
        assert!(seen.insert(0));
        assert!(!seen.insert(0));
        seen.clear();
        assert!(seen.is_empty());
        assert!(seen.insert(5));
    }
}
