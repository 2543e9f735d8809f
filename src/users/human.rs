//! Hashrates as people read them, the way ckpool writes them ("1.23T").

/// Suffixes and their scale, smallest first.
const SUFFIXES: [(f64, &str); 6] = [
    (1e3, "K"),
    (1e6, "M"),
    (1e9, "G"),
    (1e12, "T"),
    (1e15, "P"),
    (1e18, "E"),
];

/// `value` to three significant digits, trailing zeros dropped (C's
/// `%.3g` for 1 ≤ value < 1000, without its exponent form).
fn three_significant(value: f64) -> String {
    let int_digits = if value >= 100.0 {
        3
    } else if value >= 10.0 {
        2
    } else {
        1
    };
    let text = format!("{value:.prec$}", prec = 3 - int_digits);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A hashrate in hashes per second with ckpool's suffixes: below 1000 the
/// whole number ("0", "999"), above it three significant digits and K, M,
/// G, T, P or E ("1.23T", "12.3G", "1M"); beyond 999E the whole
/// number of E.
///
/// Where rounding reaches 1000 the next suffix is used ("1M", not ckpool's
/// "1e+03K"). Negative and non-finite values read "0".
pub fn format_hashrate(h: f64) -> String {
    if !h.is_finite() || h < 1000.0 {
        // Truncation, as ckpool's `(unsigned int)` cast does.
        let whole = if h > 0.0 && h.is_finite() {
            h as u64
        } else {
            0
        };
        return whole.to_string();
    }
    let at = SUFFIXES
        .iter()
        .rposition(|(scale, _)| h >= *scale)
        .unwrap_or(0);
    let (scale, suffix) = SUFFIXES[at];
    let text = three_significant(h / scale);
    // 999.6K rounds to "1000": say 1M instead.
    match SUFFIXES.get(at + 1) {
        Some((_, next)) if text == "1000" => format!("1{next}"),
        _ => format!("{text}{suffix}"),
    }
}

/// Read back a [`format_hashrate`] string (also plain numbers and a
/// lower-case `k`); `None` if it is not one.
pub fn parse_hashrate(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, scale) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => {
            let upper = c.to_ascii_uppercase().to_string();
            let scale = SUFFIXES.iter().find(|(_, s)| *s == upper)?.0;
            (&text[..at], scale)
        }
        _ => (text, 1.0),
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ckpool_style() {
        let cases = [
            (0.0, "0"),
            (999.99, "999"),
            (1_000.0, "1K"),
            (1_234.0, "1.23K"),
            (1.5e6, "1.5M"),
            (12.34e9, "12.3G"),
            (123.4e9, "123G"),
            (1.0e12, "1T"),
            (1.234e12, "1.23T"),
            (9.996e12, "10T"),
            (999.6e3, "1M"),
            (2.5e15, "2.5P"),
            (1.2e18, "1.2E"),
            (1.234e21, "1234E"),
            (-5.0, "0"),
            (f64::NAN, "0"),
            (f64::INFINITY, "0"),
        ];
        for (value, text) in cases {
            assert_eq!(format_hashrate(value), text, "{value}");
        }
    }

    #[test]
    fn parse_reads_what_format_writes() {
        assert_eq!(parse_hashrate("1.23T"), Some(1.23e12));
        assert_eq!(parse_hashrate("12.3G"), Some(12.3e9));
        assert_eq!(parse_hashrate("999"), Some(999.0));
        assert_eq!(parse_hashrate("5k"), Some(5e3));
        for bad in ["", "T", "1.2X", "-1K", "NaNK", "é"] {
            assert_eq!(parse_hashrate(bad), None, "{bad}");
        }
        for value in [0.0, 5.0, 1234.0, 4.56e13, 7.89e18] {
            let text = format_hashrate(value);
            let back = parse_hashrate(&text).expect("format output parses");
            assert!(
                (back - value).abs() <= value * 0.005,
                "{value} → {text} → {back}"
            );
        }
    }
}
