//! Variable difficulty: aim each connection at one share every
//! `target_secs`, within `[floor, maxdiff]`.
//!
//! Shares are counted over a window with the work they carry (the
//! difficulty each was judged at); once it holds enough shares (or enough
//! time, or a few shares that say the difficulty is far too low), the
//! work rate gives the new difficulty. Counting work rather
//! than shares matters: a new difficulty reaches cpuminer-style miners
//! only with their next job, and until then their shares still come at
//! the old rate and difficulty — counted as shares they would push the
//! difficulty up again and again (seen: 1e-8 to 7.9e20 under load). Small
//! deviations (within ×0.7…×1.4) are left alone so a miner's difficulty
//! does not flap; a miner that sends nothing for long has its difficulty
//! cut by 4 per quiet window.

use std::time::{Duration, Instant};

/// Shares that make a window worth judging.
const WINDOW_SHARES: u32 = 12;
/// Fewer shares close a window early when they already say the
/// difficulty is [`FAR_RATIO`] times too low: a new miner at `startdiff`
/// is raised after a handful of shares, not a dozen.
const FAST_SHARES: u32 = 4;
const FAR_RATIO: f64 = 8.0;
/// Ratio band inside which the difficulty is kept.
const KEEP_BAND: (f64, f64) = (0.7, 1.4);
/// Largest change in one step (either way).
const MAX_STEP: f64 = 64.0;
/// Cut applied when a window passes without shares.
const QUIET_CUT: f64 = 4.0;

/// One connection's vardiff state.
#[derive(Debug, Clone)]
pub struct Vardiff {
    target_secs: f64,
    window_start: Instant,
    window_shares: u32,
    /// Sum of the difficulties the window's shares were judged at.
    window_work: f64,
    /// Lowest difficulty allowed (mindiff, or the miner's suggestion).
    pub floor: f64,
    /// Highest difficulty allowed (0 = none).
    pub ceiling: f64,
}

impl Vardiff {
    pub fn new(target_secs: f64, floor: f64, ceiling: f64, now: Instant) -> Vardiff {
        assert!(target_secs > 0.0 && floor > 0.0);
        Vardiff {
            target_secs,
            window_start: now,
            window_shares: 0,
            window_work: 0.0,
            floor,
            ceiling,
        }
    }

    /// Clamp a difficulty to the allowed range.
    pub fn clamp(&self, diff: f64) -> f64 {
        let d = diff.max(self.floor);
        if self.ceiling > 0.0 {
            d.min(self.ceiling)
        } else {
            d
        }
    }

    /// Start a new window (after a difficulty change).
    pub fn reset(&mut self, now: Instant) {
        self.window_start = now;
        self.window_shares = 0;
        self.window_work = 0.0;
    }

    /// Count an accepted share judged at `judged_diff` while the
    /// connection's difficulty is `diff`; `Some(new_diff)` when it is time
    /// to change.
    pub fn on_share(&mut self, judged_diff: f64, diff: f64, now: Instant) -> Option<f64> {
        self.window_shares += 1;
        self.window_work += judged_diff;
        let elapsed = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64();
        let enough_time = elapsed >= self.target_secs * WINDOW_SHARES as f64;
        // Shares arriving faster than the clock can tell apart count as a
        // burst: judge them as if a millisecond had passed.
        let work_per_sec = self.window_work / elapsed.max(0.001);
        let ratio = (work_per_sec * self.target_secs / diff).clamp(1.0 / MAX_STEP, MAX_STEP);
        let far = self.window_shares >= FAST_SHARES && ratio >= FAR_RATIO;
        if self.window_shares < WINDOW_SHARES && !enough_time && !far {
            return None;
        }
        self.retarget(diff, ratio, now)
    }

    /// Periodic check for miners that went quiet.
    pub fn on_tick(&mut self, diff: f64, now: Instant) -> Option<f64> {
        let quiet = Duration::from_secs_f64((self.target_secs * WINDOW_SHARES as f64).max(30.0));
        if self.window_shares == 0 && now.saturating_duration_since(self.window_start) >= quiet {
            return self.retarget(diff, 1.0 / QUIET_CUT, now);
        }
        None
    }

    fn retarget(&mut self, diff: f64, ratio: f64, now: Instant) -> Option<f64> {
        self.reset(now);
        if (KEEP_BAND.0..=KEEP_BAND.1).contains(&ratio) {
            return None;
        }
        let new = self.clamp(whole(diff * ratio));
        ((new - diff).abs() > diff * 1e-9).then_some(new)
    }
}

/// A difficulty of 1 or more, rounded down to a whole number. ESP-Miner
/// up to 2.13 and NerdQAxe++ read `mining.set_difficulty` as an integer
/// (cJSON `valueint`, ArduinoJson `as<uint32_t>()`): sent 1234.56, they
/// mine at 1234 and every share between the two would be refused.
fn whole(diff: f64) -> f64 {
    if diff >= 1.0 {
        diff.floor()
    } else {
        diff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed shares at a fixed rate of difficulty-1 work per second.
    fn converge(work_per_sec: f64, start: f64) -> f64 {
        let t0 = Instant::now();
        let mut v = Vardiff::new(3.33, 1e-8, 0.0, t0);
        let mut diff = start;
        let mut now = t0;
        for _ in 0..200 {
            now += Duration::from_secs_f64(diff / work_per_sec);
            if let Some(d) = v.on_share(diff, diff, now) {
                diff = d;
            }
        }
        diff
    }

    #[test]
    fn converges_to_the_target_interval() {
        for (rate, start) in [(1000.0, 42.0), (0.01, 42.0), (5e6, 1.0), (1e-4, 1.0)] {
            let diff = converge(rate, start);
            let interval = diff / rate;
            assert!(
                (interval / 3.33 - 1.0).abs() < 0.5,
                "rate {rate}: diff {diff}, interval {interval}"
            );
        }
    }

    #[test]
    fn quiet_miners_are_cut_and_clamps_hold() {
        let t0 = Instant::now();
        let mut v = Vardiff::new(3.33, 0.5, 100.0, t0);
        assert_eq!(v.on_tick(42.0, t0 + Duration::from_secs(10)), None);
        assert_eq!(v.on_tick(42.0, t0 + Duration::from_secs(41)), Some(10.0));
        assert_eq!(v.clamp(1e-9), 0.5);
        assert_eq!(v.clamp(1e9), 100.0);
        let mut v = Vardiff::new(3.33, 0.5, 0.0, t0);
        assert_eq!(v.clamp(1e30), 1e30, "no ceiling");
        // A steady miner at the target keeps its difficulty.
        let mut now = t0;
        for _ in 0..50 {
            now += Duration::from_secs_f64(3.33);
            assert_eq!(v.on_share(8.0, 8.0, now), None);
        }
    }

    /// Difficulties from 1 up are whole numbers (firmware that reads them
    /// as integers would otherwise mine below them); below 1 they stay
    /// fractional, for NerdMiners.
    #[test]
    fn retargets_of_one_and_more_are_whole() {
        let t0 = Instant::now();
        let mut v = Vardiff::new(3.33, 1e-8, 0.0, t0);
        let mut now = t0;
        let mut got = None;
        // 12 shares at difficulty 1000 in 10 s: ratio 3.996.
        for _ in 0..12 {
            now += Duration::from_secs_f64(10.0 / 12.0);
            got = got.or(v.on_share(1000.0, 1000.0, now));
        }
        let d = got.expect("a retarget");
        assert_eq!(d, d.floor(), "{d}");
        assert!((3995.0..=3996.0).contains(&d), "{d}");
        for diff in [1.0, 1.9, 10.5, 1234.56, 1e15 + 0.5] {
            assert_eq!(whole(diff), diff.floor());
        }
        assert_eq!(whole(0.37), 0.37);
        assert_eq!(whole(2.5e-5), 2.5e-5);
        // The quiet cut of a fractional difficulty below 1 stays exact.
        let mut v = Vardiff::new(3.33, 1e-8, 0.0, t0);
        assert_eq!(v.on_tick(0.5, t0 + Duration::from_secs(41)), Some(0.125));
    }

    /// A miner that keeps sending shares at its old difficulty after a
    /// raise (it applies the new one only with its next job) does not make
    /// vardiff raise again and again.
    #[test]
    fn a_raise_not_yet_applied_does_not_compound() {
        let t0 = Instant::now();
        let mut v = Vardiff::new(3.33, 1e-8, 0.0, t0);
        let (old, mut diff, mut now) = (1e-8, 1e-8, t0);
        for _ in 0..2_000 {
            // 20 shares a second, all judged at the old difficulty.
            now += Duration::from_millis(50);
            if let Some(d) = v.on_share(old, diff, now) {
                diff = d;
            }
        }
        let ideal = 20.0 * old * 3.33;
        assert!(
            diff / ideal < 2.0 && ideal / diff < 2.0,
            "diff {diff} vs ideal {ideal}"
        );
    }

    fn secs(t0: Instant, s: f64) -> Instant {
        t0 + Duration::from_secs_f64(s)
    }

    /// A window closes at its twelfth share, or at its first share after
    /// twelve target intervals; not before either (while the shares say
    /// the difficulty is less than [`FAR_RATIO`] times too low).
    #[test]
    fn a_window_is_twelve_shares_or_twelve_intervals() {
        let t0 = Instant::now();
        let mut v = Vardiff::new(10.0, 1e-8, 0.0, t0);
        // A share every 2 s at difficulty 1, for a 10 s target.
        for i in 1..WINDOW_SHARES {
            let now = secs(t0, 2.0 * f64::from(i));
            assert_eq!(v.on_share(1.0, 1.0, now), None, "share {i}");
        }
        // The twelfth: work 12 in 24 s, five times the target rate.
        assert_eq!(v.on_share(1.0, 1.0, secs(t0, 24.0)), Some(5.0));
        // A new window from there: three shares, the third after 120 s.
        assert_eq!(v.on_share(5.0, 5.0, secs(t0, 84.0)), None);
        assert_eq!(v.on_share(5.0, 5.0, secs(t0, 143.9)), None);
        // Work 15 in 120 s: a quarter of the target rate (5 → 1.25 → 1).
        assert_eq!(v.on_share(5.0, 5.0, secs(t0, 144.0)), Some(1.0));
    }

    /// A new miner far below its difficulty is raised after four shares:
    /// three are not enough to tell, nor is a ratio under eight.
    #[test]
    fn far_too_easy_is_raised_after_four_shares() {
        let t0 = Instant::now();
        let mut v = Vardiff::new(10.0, 1e-8, 0.0, t0);
        // A share a second at difficulty 1 for a 10 s target: ×10.
        for i in 1..FAST_SHARES {
            assert_eq!(
                v.on_share(1.0, 1.0, secs(t0, f64::from(i))),
                None,
                "share {i}"
            );
        }
        assert_eq!(v.on_share(1.0, 1.0, secs(t0, 4.0)), Some(10.0));
        // ×7.5 (four shares in 5.33 s): not far enough, the window goes on.
        let mut v = Vardiff::new(10.0, 1e-8, 0.0, t0);
        for i in 1..=FAST_SHARES {
            let now = secs(t0, f64::from(i) * 4.0 / 3.0);
            assert_eq!(v.on_share(1.0, 1.0, now), None, "share {i}");
        }
    }

    /// Shares before a reset (a difficulty change) are not counted in
    /// the next window.
    #[test]
    fn a_reset_forgets_the_window() {
        let t0 = Instant::now();
        let mut v = Vardiff::new(10.0, 1e-8, 0.0, t0);
        for i in 1..WINDOW_SHARES {
            assert_eq!(v.on_share(1.0, 1.0, secs(t0, 2.0 * f64::from(i))), None);
        }
        v.reset(secs(t0, 23.0));
        assert_eq!(v.on_share(1.0, 1.0, secs(t0, 24.0)), None, "one share");
        assert_eq!(v.window_shares, 1);
        assert_eq!(v.window_work, 1.0);
    }

    /// A retarget the clamp holds at the current difficulty is no change.
    #[test]
    fn a_clamped_retarget_is_no_change() {
        let t0 = Instant::now();
        for (diff, ceiling) in [(100.0, 100.0), (1e-8, 1e-8)] {
            let mut v = Vardiff::new(10.0, 1e-9, ceiling, t0);
            let got: Vec<_> = (0..WINDOW_SHARES)
                .filter_map(|_| v.on_share(diff, diff, t0))
                .collect();
            assert!(got.is_empty(), "at the ceiling {ceiling}: {got:?}");
        }
    }

    /// Shares the clock cannot tell apart are a burst: the largest step.
    #[test]
    fn a_burst_raises_by_the_largest_step() {
        let t0 = Instant::now();
        let mut v = Vardiff::new(10.0, 1e-8, 0.0, t0);
        let mut got = None;
        for _ in 0..WINDOW_SHARES {
            got = got.or(v.on_share(0.5, 0.5, t0));
        }
        assert_eq!(got, Some(0.5 * MAX_STEP));
    }

    /// A miner is quiet after twelve target intervals without a share,
    /// and never sooner than 30 s.
    #[test]
    fn quiet_means_twelve_intervals_and_at_least_30_s() {
        let t0 = Instant::now();
        let v = || Vardiff::new(3.33, 1e-8, 0.0, t0);
        assert_eq!(v().on_tick(8.0, secs(t0, 35.0)), None);
        assert_eq!(v().on_tick(8.0, secs(t0, 39.95)), None);
        assert_eq!(v().on_tick(8.0, secs(t0, 39.97)), Some(2.0));
        let v = || Vardiff::new(1.0, 1e-8, 0.0, t0);
        assert_eq!(v().on_tick(8.0, secs(t0, 29.9)), None);
        assert_eq!(v().on_tick(8.0, secs(t0, 30.0)), Some(2.0));
        // A share in the window: not quiet.
        let mut v = v();
        assert_eq!(v.on_share(8.0, 8.0, secs(t0, 1.0)), None);
        assert_eq!(v.on_tick(8.0, secs(t0, 100.0)), None);
    }
}
