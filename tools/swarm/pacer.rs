//! Pacing shares to `--rate` per miner: a token bucket kept as one
//! instant (the time the next token is due), so it costs nothing to store
//! for a million connections.

use std::time::{Duration, Instant};

/// Tokens a miner may save up while it waits (for a job, a reply, or
/// hashing): a short catch-up burst, not a flood.
pub const BURST: u32 = 2;

/// A token bucket of [`BURST`] tokens refilled every `interval`.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// `None`: unpaced (`--rate 0`).
    interval: Option<Duration>,
    /// When the next token is due; earlier instants mean saved tokens.
    next: Instant,
}

impl Pacer {
    /// Pacer for `rate` shares per second, the first token due at
    /// `first` (callers spread miners over the first interval).
    pub fn new(rate: f64, first: Instant) -> Pacer {
        let interval = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
        Pacer {
            interval,
            next: first,
        }
    }

    /// Whether a share may be sent at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.interval.is_none() || now >= self.next
    }

    /// When the next token is due (`None` if unpaced).
    pub fn due(&self) -> Option<Instant> {
        self.interval.map(|_| self.next)
    }

    /// Spend one token at `now` (call only when [`ready`](Self::ready)).
    pub fn take(&mut self, now: Instant) {
        if let Some(interval) = self.interval {
            let oldest = now.checked_sub(interval * (BURST - 1)).unwrap_or(now);
            self.next = self.next.max(oldest) + interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_with_a_small_burst() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pacer::new(10.0, t0 + ms(50));
        assert!(!p.ready(t0));
        assert!(p.ready(t0 + ms(50)));
        p.take(t0 + ms(50));
        assert_eq!(p.due(), Some(t0 + ms(150)));
        // Idle for a second: only BURST tokens were saved.
        let late = t0 + ms(1150);
        for _ in 0..BURST {
            assert!(p.ready(late));
            p.take(late);
        }
        assert!(!p.ready(late));
        assert_eq!(p.due(), Some(late + ms(100)));
    }

    #[test]
    fn rate_zero_is_unpaced() {
        let t0 = Instant::now();
        let mut p = Pacer::new(0.0, t0 + Duration::from_secs(9));
        assert!(p.ready(t0));
        p.take(t0);
        assert!(p.ready(t0));
        assert_eq!(p.due(), None);
    }
}
