//! Unix time: the clock read as seconds or microseconds since the epoch,
//! and ISO 8601 week numbers and civil dates from it, in UTC, by integer
//! date arithmetic: no time-zone database, no allocation, cheap enough
//! for the share path (a few dozen integer operations).

use std::time::{SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: u64 = 86_400;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar.
const EPOCH_SHIFT: i64 = 719_468;

/// Days in one 400-year Gregorian cycle (the calendar repeats after it).
const DAYS_PER_ERA: i64 = 146_097;

/// The civil date `(year, month 1–12, day 1–31)` of `days` since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`). Years are counted
/// from March inside the arithmetic so the leap day falls at the end of
/// one and the month lengths follow a fixed pattern.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(DAYS_PER_ERA);
    let doe = z.rem_euclid(DAYS_PER_ERA); // day of era, [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of March-year, [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date; the inverse of
/// [`civil_from_days`].
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * DAYS_PER_ERA + doe - EPOCH_SHIFT
}

/// ISO weekday of `days` since 1970-01-01: Monday 1 … Sunday 7
/// (1970-01-01 was a Thursday).
fn iso_weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7) + 1
}

/// The ISO 8601 week-numbering year and week of `unix_secs` (UTC) as one
/// number, `year * 100 + week`: what `date -u +%G%V` prints, e.g.
/// 2021-01-03 → `202053`, 2021-01-04 → `202101`, 2024-12-30 → `202501`.
///
/// Weeks run Monday to Sunday and belong to the year holding their
/// Thursday, so the number only ever increases with time and a new value
/// starts each Monday 00:00 UTC. Beyond the year 42,949,672 (where the
/// number no longer fits) it saturates at `u32::MAX`.
pub fn iso_week(unix_secs: u64) -> u32 {
    // u64::MAX / 86_400 < 2^48: always fits in an i64.
    let days = (unix_secs / SECS_PER_DAY) as i64;
    // The Thursday of this Monday-to-Sunday week decides the year; week 1
    // is then the week holding that year's first Thursday.
    let thursday = days + 4 - iso_weekday(days);
    let (year, _, _) = civil_from_days(thursday);
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    u32::try_from(year * 100 + week).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: i64, month: i64, day: i64) -> u64 {
        let days = days_from_civil(year, month, day);
        u64::try_from(days).expect("after 1970") * SECS_PER_DAY
    }

    #[test]
    fn examples_from_date_utility() {
        let cases = [
            ((2026, 2, 19), 202_608),
            ((2020, 12, 31), 202_053),
            ((2021, 1, 3), 202_053),
            ((2021, 1, 4), 202_101),
            ((2024, 12, 30), 202_501),
            ((2027, 1, 1), 202_653),
            ((1970, 1, 1), 197_001),
            ((2099, 12, 31), 209_953),
            ((2100, 1, 1), 209_953),
        ];
        for ((y, m, d), week) in cases {
            assert_eq!(iso_week(at(y, m, d)), week, "{y}-{m}-{d}");
        }
        assert_eq!(at(2026, 2, 19), 1_771_459_200);
        assert_eq!(at(2020, 12, 31), 1_609_372_800);
    }

    #[test]
    fn week_changes_at_monday_midnight_utc() {
        let monday = at(2021, 1, 4);
        assert_eq!(iso_week(monday - 1), 202_053);
        assert_eq!(iso_week(monday), 202_101);
        let monday = at(2024, 12, 30);
        assert_eq!(iso_week(monday - 1), 202_452);
        assert_eq!(iso_week(monday), 202_501);
        assert_eq!(iso_week(u64::MAX), u32::MAX);
    }

    /// Dec 29 … Jan 3 around each new year, as `date -u +%G%V` prints them.
    #[test]
    fn new_year_edges_match_date_utility() {
        #[rustfmt::skip]
        let table: [(i64, [u32; 6]); 26] = [
            (2003, [200401, 200401, 200401, 200401, 200401, 200401]),
            (2004, [200453, 200453, 200453, 200453, 200453, 200501]),
            (2005, [200552, 200552, 200552, 200552, 200601, 200601]),
            (2006, [200652, 200652, 200652, 200701, 200701, 200701]),
            (2007, [200752, 200752, 200801, 200801, 200801, 200801]),
            (2008, [200901, 200901, 200901, 200901, 200901, 200901]),
            (2009, [200953, 200953, 200953, 200953, 200953, 200953]),
            (2010, [201052, 201052, 201052, 201052, 201052, 201101]),
            (2011, [201152, 201152, 201152, 201152, 201201, 201201]),
            (2012, [201252, 201252, 201301, 201301, 201301, 201301]),
            (2013, [201352, 201401, 201401, 201401, 201401, 201401]),
            (2014, [201501, 201501, 201501, 201501, 201501, 201501]),
            (2015, [201553, 201553, 201553, 201553, 201553, 201553]),
            (2016, [201652, 201652, 201652, 201652, 201701, 201701]),
            (2017, [201752, 201752, 201752, 201801, 201801, 201801]),
            (2018, [201852, 201852, 201901, 201901, 201901, 201901]),
            (2019, [201952, 202001, 202001, 202001, 202001, 202001]),
            (2020, [202053, 202053, 202053, 202053, 202053, 202053]),
            (2021, [202152, 202152, 202152, 202152, 202152, 202201]),
            (2022, [202252, 202252, 202252, 202252, 202301, 202301]),
            (2023, [202352, 202352, 202352, 202401, 202401, 202401]),
            (2024, [202452, 202501, 202501, 202501, 202501, 202501]),
            (2025, [202601, 202601, 202601, 202601, 202601, 202601]),
            (2026, [202653, 202653, 202653, 202653, 202653, 202653]),
            (2027, [202752, 202752, 202752, 202752, 202752, 202801]),
            (2028, [202852, 202852, 202852, 202901, 202901, 202901]),
        ];
        for (year, weeks) in table {
            let dec29 = at(year, 12, 29);
            for (i, week) in weeks.into_iter().enumerate() {
                let secs = dec29 + i as u64 * SECS_PER_DAY;
                // First and last second of the day alike.
                assert_eq!(iso_week(secs), week, "{year}-12-29 + {i} days");
                assert_eq!(
                    iso_week(secs + SECS_PER_DAY - 1),
                    week,
                    "{year} + {i}, 23:59:59"
                );
            }
        }
    }

    /// A year has 53 ISO weeks exactly when it starts on a Thursday, or is
    /// a leap year starting on a Wednesday.
    fn has_53_weeks(year: i64) -> bool {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        match iso_weekday(days_from_civil(year, 1, 1)) {
            4 => true,
            3 => leap,
            _ => false,
        }
    }

    #[test]
    fn every_day_from_1970_to_2500_is_consistent() {
        let mut prev = iso_week(0);
        let mut long_years = Vec::new();
        for days in 1..days_from_civil(2500, 1, 1) {
            let week = iso_week(days as u64 * SECS_PER_DAY);
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
            if iso_weekday(days) != 1 {
                assert_eq!(week, prev, "{year}-{month}-{day} is not a Monday");
                continue;
            }
            let (prev_year, prev_week) = (prev / 100, prev % 100);
            if week / 100 == prev_year {
                assert_eq!(week, prev + 1, "{year}-{month}-{day}");
            } else {
                // A new ISO year: week 1, after week 52 or 53 of the last.
                assert_eq!((week / 100, week % 100), (prev_year + 1, 1));
                assert_eq!(prev_week == 53, has_53_weeks(i64::from(prev_year)));
                assert!(prev_week == 52 || prev_week == 53, "{prev}");
                if prev_week == 53 {
                    long_years.push(prev_year);
                }
                // Week 1 always holds January 4th.
                assert!((month == 12 && day >= 29) || (month == 1 && day <= 4));
            }
            prev = week;
        }
        for year in [
            1976, 1981, 1987, 1992, 1998, 2004, 2009, 2015, 2020, 2026, 2032, 2037,
        ] {
            assert!(long_years.contains(&year), "{year}");
        }
        // 71 of every 400 years are long.
        let in_one_era = long_years
            .iter()
            .filter(|y| (2000..2400).contains(*y))
            .count();
        assert_eq!(in_one_era, 71);
    }
}
