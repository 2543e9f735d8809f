//! Extranonce1 values: unique among live connections, whatever
//! `nonce1length` is. Two live connections with one extranonce1 would
//! get identical work: their shares collide as duplicates on one core and
//! are both credited on two. Touched on accept and close only.

use std::collections::HashSet;

use parking_lot::Mutex;

/// The live extranonce1 values and the next one to try.
#[derive(Debug)]
pub struct Extranonces {
    len: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    live: HashSet<u64>,
}

impl Extranonces {
    /// Values of `len` bytes (1..=8); the config guarantees there are at
    /// least twice as many as connections, so a free one is always near.
    pub fn new(len: usize) -> Extranonces {
        assert!((1..=8).contains(&len));
        Extranonces {
            len,
            state: Mutex::new(State {
                next: 1,
                live: HashSet::new(),
            }),
        }
    }

    fn space(&self) -> u64 {
        if self.len == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * self.len)) - 1
        }
    }

    /// A value no live connection holds, as `len` big-endian bytes (the
    /// low bytes of a counter, so the last byte changes first).
    pub fn allocate(&self) -> Vec<u8> {
        let mut s = self.state.lock();
        assert!(
            (s.live.len() as u64) < self.space(),
            "every extranonce1 value is in use"
        );
        loop {
            let value = s.next & self.space();
            s.next = s.next.wrapping_add(1);
            if s.live.insert(value) {
                return value.to_be_bytes()[8 - self.len..].to_vec();
            }
        }
    }

    /// A closed connection's value becomes free again.
    pub fn release(&self, en1: &[u8]) {
        assert_eq!(en1.len(), self.len);
        let mut bytes = [0u8; 8];
        bytes[8 - self.len..].copy_from_slice(en1);
        let removed = self.state.lock().live.remove(&u64::from_be_bytes(bytes));
        assert!(removed, "an extranonce1 released that was not live");
    }

    /// Live values.
    pub fn live(&self) -> usize {
        self.state.lock().live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_among_live_connections_for_short_lengths() {
        let e = Extranonces::new(1);
        let held: Vec<Vec<u8>> = (0..200).map(|_| e.allocate()).collect();
        let distinct: HashSet<&Vec<u8>> = held.iter().collect();
        assert_eq!(distinct.len(), 200);
        assert!(held.iter().all(|v| v.len() == 1));
        // Around the wrap, values still live are skipped.
        for v in &held[..100] {
            e.release(v);
        }
        let more: Vec<Vec<u8>> = (0..50).map(|_| e.allocate()).collect();
        for v in &more {
            assert!(!held[100..].contains(v), "{v:?} is live");
        }
        assert_eq!(e.live(), 150);
    }

    #[test]
    fn low_bytes_change_first() {
        let e = Extranonces::new(4);
        assert_eq!(e.allocate(), vec![0, 0, 0, 1]);
        assert_eq!(e.allocate(), vec![0, 0, 0, 2]);
        let e = Extranonces::new(2);
        assert_eq!(e.allocate(), vec![0, 1]);
    }
}
