//! The Bitcoin Game's weekly tier: per user, the best share difficulty
//! and the accepted-share count of the current ISO week, rolled over
//! exactly once when a new week begins. Atomics only: recorded by any
//! core on every accepted share.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::atomic_f64::AtomicF64;

/// Low bits of the packed tally word that hold the week's share count;
/// the ISO week number sits above them. One word, so starting a new week
/// (number and count together) is a single compare-and-swap and no share
/// is ever counted in a week that was already summarised.
const COUNT_BITS: u32 = 40;

/// The count's bits. 2^40 shares in one week is ~1.8 million a second
/// from one user for seven days: far beyond any pool, so the count never
/// carries into the week number.
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// The largest week number the tally holds (`16777215`, the year 167,772):
/// later weeks are counted as this one.
pub const MAX_WEEK: u32 = (1 << (64 - COUNT_BITS)) - 1;

/// One user's finished ISO week (or, from [`crate::users::User::current_week`],
/// the week so far).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WeeklySummary {
    /// The week as [`crate::time::iso_week`] numbers it, e.g. `202608`.
    pub week: u32,
    /// Best accepted share difficulty in that week (0: none).
    pub best_diff_week: f64,
    /// Accepted shares in that week (a count, not weighted by difficulty).
    pub total_shares_week: u64,
}

/// What one accepted share changed in its user's best tiers. Among all
/// cores racing, each strictly greater value is reported by exactly one
/// share, and each week's rollover by exactly one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BestUpdate {
    /// `(previous, new)` when the share strictly beat this week's best
    /// (`previous` is 0 for the week's first share).
    pub week: Option<(f64, f64)>,
    /// `(previous, new)` when the share strictly beat the all-time best
    /// (the status file's `bestever`, carried over restarts).
    pub alltime: Option<(f64, f64)>,
    /// The finished week, when this share was the first of a later one
    /// and the finished week had shares.
    pub rollover: Option<WeeklySummary>,
}

impl BestUpdate {
    /// Whether nothing happened (the usual case: no event to emit).
    pub fn is_empty(&self) -> bool {
        self.week.is_none() && self.alltime.is_none() && self.rollover.is_none()
    }
}

fn week_of(word: u64) -> u32 {
    // The shift leaves 24 bits: always fits.
    (word >> COUNT_BITS) as u32
}

fn count_of(word: u64) -> u64 {
    word & COUNT_MASK
}

fn pack(week: u32, count: u64) -> u64 {
    (u64::from(week.min(MAX_WEEK)) << COUNT_BITS) | count.min(COUNT_MASK)
}

/// A summary worth reporting: a week nobody shared in (an idle user
/// rolled over by the stats thread, or the very first week) is not.
fn non_empty(summary: WeeklySummary) -> Option<WeeklySummary> {
    (summary.total_shares_week > 0 || summary.best_diff_week > 0.0).then_some(summary)
}

/// One user's tally of the current ISO week.
#[derive(Debug, Default)]
pub(super) struct WeekTally {
    /// `week << COUNT_BITS | shares that week`; week 0: nothing counted yet.
    word: AtomicU64,
    /// Best share difficulty of the week in `word`.
    best: AtomicF64,
}

impl WeekTally {
    /// Count one accepted share of ISO week `week` worth `share_diff`.
    /// Returns the finished week if this share opened a later one, and
    /// `(previous, new)` if it strictly beat the week's best.
    ///
    /// A share stamped with an earlier week than the tally's (cores read
    /// the clock independently, so one may straddle Monday 00:00) counts
    /// in the tally's week: its own was already summarised.
    #[inline]
    pub(super) fn record(
        &self,
        week: u32,
        share_diff: f64,
    ) -> (Option<WeeklySummary>, Option<(f64, f64)>) {
        let week = week.min(MAX_WEEK);
        let rollover = if week_of(self.word.load(Relaxed)) >= week {
            // The common case, one add. A rollover landing between the
            // load and the add puts this share in the newer week, like
            // the late share above.
            self.word.fetch_add(1, Relaxed);
            None
        } else {
            match self.roll_to(week, 1) {
                Some(finished) => non_empty(finished),
                None => {
                    // Another core started this week first: just count.
                    self.word.fetch_add(1, Relaxed);
                    None
                }
            }
        };
        // `> 0.0` also refuses NaN, which would poison the maximum.
        let beaten = if share_diff > 0.0 {
            self.best.raise(share_diff).map(|prev| (prev, share_diff))
        } else {
            None
        };
        (rollover, beaten)
    }

    /// Start `week` if the tally holds an earlier one (the stats thread,
    /// for users who did not share since); the finished week if it had
    /// shares.
    pub(super) fn rollover_if_due(&self, week: u32) -> Option<WeeklySummary> {
        self.roll_to(week.min(MAX_WEEK), 0).and_then(non_empty)
    }

    /// Move the tally to `week`, starting it at `first_count` shares, if
    /// it holds an earlier week. Exactly one caller wins the
    /// compare-and-swap on the word and gets the finished week (even if
    /// empty); every other caller, and any call for a week not later than
    /// the tally's, gets `None`.
    fn roll_to(&self, week: u32, first_count: u64) -> Option<WeeklySummary> {
        let mut current = self.word.load(Relaxed);
        while week_of(current) < week {
            let next = pack(week, first_count);
            match self
                .word
                .compare_exchange_weak(current, next, Relaxed, Relaxed)
            {
                Ok(_) => {
                    // The count left with the CAS; the best goes now. A
                    // new-week share raising the best in the few
                    // nanoseconds between the two would be credited to
                    // the finished week: accepted rather than put a lock
                    // (or a spin) on the share path.
                    let best = self.best.swap(0.0);
                    return Some(WeeklySummary {
                        week: week_of(current),
                        best_diff_week: best,
                        total_shares_week: count_of(current),
                    });
                }
                Err(actual) => current = actual,
            }
        }
        None
    }

    /// The tally's week so far (week 0: nothing counted yet).
    pub(super) fn snapshot(&self) -> WeeklySummary {
        // One load gives a week and a count that belong together.
        let word = self.word.load(Relaxed);
        WeeklySummary {
            week: week_of(word),
            best_diff_week: self.best.load(),
            total_shares_week: count_of(word),
        }
    }

    /// Take over a week read back from disk (loading, before any share).
    /// Week 0 means none; `best` must be non-negative and finite.
    pub(super) fn restore(&self, saved: &WeeklySummary) {
        if saved.week == 0 {
            return;
        }
        self.word
            .store(pack(saved.week, saved.total_shares_week), Relaxed);
        self.best.store(saved.best_diff_week);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn first_share_of_a_week_rolls_over() {
        let tally = WeekTally::default();
        // The very first week: nothing to summarise.
        assert_eq!(tally.record(202_052, 5.0), (None, Some((0.0, 5.0))));
        assert_eq!(tally.record(202_052, 3.0), (None, None));
        assert_eq!(
            tally.record(202_052, 5.0),
            (None, None),
            "equal is not beaten"
        );
        assert_eq!(tally.record(202_052, f64::NAN), (None, None));
        let finished = WeeklySummary {
            week: 202_052,
            best_diff_week: 5.0,
            total_shares_week: 4,
        };
        assert_eq!(tally.snapshot(), finished);
        assert_eq!(
            tally.record(202_053, 1.0),
            (Some(finished), Some((0.0, 1.0)))
        );
        // A late share from the finished week counts in the current one.
        assert_eq!(tally.record(202_052, 2.0), (None, Some((1.0, 2.0))));
        let now = tally.snapshot();
        assert_eq!(
            (now.week, now.total_shares_week, now.best_diff_week),
            (202_053, 2, 2.0)
        );
    }

    #[test]
    fn idle_rollover_reports_only_weeks_with_shares() {
        let tally = WeekTally::default();
        assert_eq!(tally.rollover_if_due(202_101), None);
        tally.record(202_101, 7.0);
        assert_eq!(tally.rollover_if_due(202_101), None, "not due");
        let finished = tally.rollover_if_due(202_103).expect("due");
        assert_eq!((finished.week, finished.total_shares_week), (202_101, 1));
        assert_eq!(
            tally.snapshot(),
            WeeklySummary {
                week: 202_103,
                ..Default::default()
            }
        );
        // An empty week rolls over silently.
        assert_eq!(tally.rollover_if_due(202_104), None);
        assert_eq!(tally.snapshot().week, 202_104);
    }

    #[test]
    fn restore_and_saturation() {
        let tally = WeekTally::default();
        tally.restore(&WeeklySummary::default());
        assert_eq!(tally.snapshot(), WeeklySummary::default());
        let saved = WeeklySummary {
            week: 202_607,
            best_diff_week: 42.5,
            total_shares_week: 9,
        };
        tally.restore(&saved);
        assert_eq!(tally.snapshot(), saved);
        let (rollover, _) = tally.record(202_608, 1.0);
        assert_eq!(rollover, Some(saved));
        tally.record(u32::MAX, 1.0);
        assert_eq!(tally.snapshot().week, MAX_WEEK);
        assert_eq!(pack(1, u64::MAX), (1 << COUNT_BITS) | COUNT_MASK);
    }

    #[test]
    fn rollover_is_won_exactly_once_under_a_race() {
        const THREADS: usize = 8;
        const ROUNDS: u32 = 200;
        // Every share of week `200_002 + round` is worth `diff(round)`:
        // equal within a week, so the week's best does not depend on who
        // wins; falling from week to week, so a new-week share landing in
        // the documented window (between the winner's CAS and its swap)
        // cannot raise the finished week's best either.
        let diff = |round: u32| f64::from(1_000 - round);
        let tally = Arc::new(WeekTally::default());
        tally.record(200_001, 5_000.0);
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (tally, barrier) = (Arc::clone(&tally), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let mut won = Vec::new();
                    for round in 0..ROUNDS {
                        // Everyone sends the first share of a new week at once.
                        barrier.wait();
                        if let (Some(finished), _) = tally.record(200_002 + round, diff(round)) {
                            won.push(finished);
                        }
                        barrier.wait();
                    }
                    won
                })
            })
            .collect();
        let mut all: Vec<WeeklySummary> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("racing thread panicked"))
            .collect();
        all.sort_by_key(|s| s.week);
        assert_eq!(all.len(), ROUNDS as usize, "one winner per week");
        assert_eq!(
            all[0],
            WeeklySummary {
                week: 200_001,
                best_diff_week: 5_000.0,
                total_shares_week: 1
            }
        );
        for (round, finished) in all.iter().enumerate().skip(1) {
            let round = round as u32 - 1;
            assert_eq!(finished.week, 200_002 + round);
            // Every thread's share of that week, none lost or misplaced.
            assert_eq!(finished.total_shares_week, THREADS as u64);
            assert_eq!(finished.best_diff_week, diff(round));
        }
        let last = tally.snapshot();
        assert_eq!(
            (last.week, last.total_shares_week),
            (200_001 + ROUNDS, THREADS as u64)
        );
    }
}
