//! Decaying hashrate averages, as ckpool keeps them, folded by the stats
//! thread from the work drained out of [`ShareStats`](super::ShareStats).

/// Hashes behind one difficulty-1 share (2³²).
pub const HASHES_PER_DIFF1: f64 = 4_294_967_296.0;

/// An averaging window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// One minute.
    M1,
    /// Five minutes.
    M5,
    /// One hour.
    H1,
    /// One day.
    D1,
    /// Seven days.
    D7,
}

impl Window {
    /// Every window, shortest first (the order of [`Hashrates`]' rates).
    pub const ALL: [Window; 5] = [Window::M1, Window::M5, Window::H1, Window::D1, Window::D7];

    /// Length in seconds.
    pub fn secs(self) -> f64 {
        match self {
            Window::M1 => 60.0,
            Window::M5 => 300.0,
            Window::H1 => 3_600.0,
            Window::D1 => 86_400.0,
            Window::D7 => 604_800.0,
        }
    }

    /// The suffix in ckpool's status keys (`hashrate1m`, `hashrate1hr`…).
    pub fn key(self) -> &'static str {
        match self {
            Window::M1 => "1m",
            Window::M5 => "5m",
            Window::H1 => "1hr",
            Window::D1 => "1d",
            Window::D7 => "7d",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Below this a rate is zero: ckpool does the same so that a long idle
/// account decays to a clean 0 instead of crawling through subnormals.
const FLUSH_TO_ZERO: f64 = 2e-16;

/// Exponentially decaying averages of accepted work per second, one per
/// [`Window`], in difficulty-1 shares per second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Hashrates {
    dsps: [f64; 5],
}

impl Hashrates {
    /// All averages at zero.
    pub fn new() -> Hashrates {
        Hashrates::default()
    }

    /// Averages restored from hashes per second (e.g. read back from a
    /// status file); negative or non-finite values become 0.
    pub fn from_hashes_per_sec(rates: [f64; 5]) -> Hashrates {
        let mut dsps = [0.0; 5];
        for (slot, rate) in dsps.iter_mut().zip(rates) {
            if rate.is_finite() && rate > 0.0 {
                *slot = rate / HASHES_PER_DIFF1;
            }
        }
        Hashrates { dsps }
    }

    /// Fold in `work_diff` difficulty-1 shares found over the last
    /// `elapsed_secs`: for each window,
    /// `rate += (work / elapsed − rate) × (1 − e^(−elapsed / window))`.
    ///
    /// Unlike a fixed-weight EWMA this is right for any tick spacing: two
    /// ticks of `t` decay exactly like one tick of `2t`. A non-positive
    /// or non-finite `elapsed_secs`, or a non-finite `work_diff`, changes
    /// nothing (there is no rate to take).
    pub fn tick(&mut self, work_diff: f64, elapsed_secs: f64) {
        let usable = elapsed_secs > 0.0 && elapsed_secs.is_finite() && work_diff.is_finite();
        if !usable {
            return;
        }
        let sample = work_diff.max(0.0) / elapsed_secs;
        for window in Window::ALL {
            let rate = &mut self.dsps[window.index()];
            let weight = -(-elapsed_secs / window.secs()).exp_m1();
            *rate += (sample - *rate) * weight;
            if *rate < FLUSH_TO_ZERO {
                *rate = 0.0;
            }
        }
    }

    /// Difficulty-1 shares per second averaged over `window`.
    pub fn diff1_per_sec(&self, window: Window) -> f64 {
        self.dsps[window.index()]
    }

    /// Hashes per second averaged over `window`.
    pub fn hashes_per_sec(&self, window: Window) -> f64 {
        self.dsps[window.index()] * HASHES_PER_DIFF1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn one_tick_follows_the_formula() {
        let mut rates = Hashrates::new();
        rates.tick(600.0, 10.0);
        for window in Window::ALL {
            let expected = 60.0 * (1.0 - (-10.0 / window.secs()).exp());
            assert!(
                close(rates.diff1_per_sec(window), expected, 1e-9),
                "{window:?}"
            );
        }
    }

    #[test]
    fn constant_work_converges_to_its_rate() {
        let mut rates = Hashrates::new();
        // 3 difficulty-1 shares per second, ticked each minute for 10 weeks.
        for _ in 0..(70 * 24 * 60) {
            rates.tick(180.0, 60.0);
        }
        for window in Window::ALL {
            assert!(close(rates.diff1_per_sec(window), 3.0, 1e-4), "{window:?}");
            assert!(close(
                rates.hashes_per_sec(window),
                3.0 * 4_294_967_296.0,
                1e-4
            ));
        }
    }

    #[test]
    fn tick_spacing_does_not_matter() {
        let (mut fine, mut coarse) = (Hashrates::new(), Hashrates::new());
        fine.tick(50.0, 5.0);
        fine.tick(50.0, 5.0);
        coarse.tick(100.0, 10.0);
        for window in Window::ALL {
            assert!(close(
                fine.diff1_per_sec(window),
                coarse.diff1_per_sec(window),
                1e-12
            ));
        }
    }

    #[test]
    fn no_work_decays_to_zero() {
        let mut rates = Hashrates::from_hashes_per_sec([1e12; 5]);
        let start = rates.diff1_per_sec(Window::M1);
        rates.tick(0.0, 60.0);
        // One window of silence keeps e⁻¹ of the rate.
        let kept = rates.diff1_per_sec(Window::M1) / start;
        assert!(close(kept, (-1.0f64).exp(), 1e-12), "{kept}");
        // ~42 seven-day windows take 232 diff-1/s below the flush level.
        for _ in 0..(300 * 24) {
            rates.tick(0.0, 3_600.0);
        }
        assert_eq!(rates, Hashrates::new());
    }

    #[test]
    fn nonsense_input_changes_nothing() {
        let mut rates = Hashrates::from_hashes_per_sec([4_294_967_296.0; 5]);
        let before = rates;
        rates.tick(10.0, 0.0);
        rates.tick(f64::NAN, 10.0);
        rates.tick(10.0, f64::NAN);
        assert_eq!(rates, before);
        assert_eq!(
            Hashrates::from_hashes_per_sec([f64::NAN, -1.0, 0.0, 1.0, f64::INFINITY])
                .diff1_per_sec(Window::D1),
            1.0 / 4_294_967_296.0
        );
    }
}
