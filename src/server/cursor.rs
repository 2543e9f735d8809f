//! The fan-out cursor: which connection slot gets new work next. A pass
//! visits every slot once, in order, starting where the previous pass
//! (replaced by newer work) stopped, so a stream of new work never keeps
//! the same slots waiting. Pure: the core asks it for slots and does the
//! sending.

/// One pass over the slots `0..len` starting at `first` (`len` may grow
/// during the pass: slots added before the cursor wraps are visited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The next slot to visit.
    next: usize,
    /// Where the pass began; it ends on coming back there.
    first: usize,
    /// Whether the pass has gone past the last slot to slot 0.
    wrapped: bool,
}

impl Cursor {
    pub fn starting_at(first: usize) -> Cursor {
        Cursor {
            next: first,
            first,
            wrapped: first == 0,
        }
    }

    /// Where a pass taking over from this one starts.
    pub fn position(&self) -> usize {
        self.next
    }

    /// The next slot to visit among `len`, or `None` once the pass is
    /// over (every slot visited once since it began).
    pub fn next(&mut self, len: usize) -> Option<usize> {
        if self.next >= len {
            if self.wrapped {
                return None;
            }
            self.next = 0;
            self.wrapped = true;
        }
        // Back where it started, or (fewer slots than where it started)
        // past the last one again.
        if self.next >= len || (self.wrapped && self.first > 0 && self.next >= self.first) {
            self.next = len; // back where it started
            return None;
        }
        let slot = self.next;
        self.next += 1;
        Some(slot)
    }

    /// Whether the pass is over for `len` slots.
    pub fn done(&self, len: usize) -> bool {
        self.wrapped && self.next >= len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every slot of the pass, taken `chunk` at a time as the core does.
    fn pass(first: usize, len: usize, chunk: usize) -> Vec<usize> {
        let mut c = Cursor::starting_at(first);
        let mut seen = Vec::new();
        let mut chunks = 0;
        while !c.done(len) {
            for _ in 0..chunk {
                match c.next(len) {
                    Some(s) => seen.push(s),
                    None => break,
                }
            }
            chunks += 1;
            assert!(chunks <= len + 2, "the pass ends");
        }
        assert_eq!(c.next(len), None, "nothing after the end");
        seen
    }

    #[test]
    fn every_slot_once_from_any_start_in_any_chunk_size() {
        for len in 0..12 {
            for first in 0..=len + 1 {
                for chunk in 1..6 {
                    let seen = pass(first, len, chunk);
                    let mut want: Vec<usize> = (first.min(len)..len).collect();
                    want.extend(0..first.min(len));
                    assert_eq!(seen, want, "len {len} first {first} chunk {chunk}");
                }
            }
        }
    }

    #[test]
    fn slots_added_before_the_wrap_are_visited() {
        let mut c = Cursor::starting_at(2);
        assert_eq!(c.next(4), Some(2));
        assert_eq!(c.next(4), Some(3));
        // Two connections arrive: the pass goes on to them, then wraps.
        assert_eq!(c.next(6), Some(4));
        assert_eq!(c.next(6), Some(5));
        assert_eq!(c.next(6), Some(0));
        assert_eq!(c.next(6), Some(1));
        assert_eq!(c.next(6), None);
        assert!(c.done(6));
    }

    #[test]
    fn a_replacing_pass_starts_where_this_one_stopped() {
        let mut c = Cursor::starting_at(0);
        for want in 0..3 {
            assert_eq!(c.next(10), Some(want));
        }
        let mut next = Cursor::starting_at(c.position());
        assert_eq!(next.next(10), Some(3));
        assert!(!next.done(10));
    }
}
