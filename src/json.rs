//! Writing JSON strings by hand, in one place: the Stratum replies, the
//! events, the status files and the simulated node all escape text that
//! may come from a miner with this.

/// Append `s` as a JSON string (quotes included): `"` and `\` escaped,
/// control characters as `\uXXXX` (or their short forms), everything else
/// as is (JSON text is UTF-8).
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    // Every byte that needs escaping is ASCII, and no byte of a multi-byte
    // UTF-8 sequence is: runs between escapes are copied whole (events and
    // replies carry this on the share path).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        if short.is_empty() {
            let n = b as usize;
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[n >> 4], HEX[n & 15]]);
        } else {
            out.extend_from_slice(short);
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Append `v` in decimal, as `{}` writes it, without the formatting
/// machinery (events write several per share).
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Append `v` as exactly `width` decimal digits, zero-padded (`v` must
/// fit: `{:06}` of a microsecond part, say).
pub fn write_u64_padded(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for d in out[start..].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    assert_eq!(v, 0, "{width} digits are too few");
}

/// A number as JSON text (`{}` formats it): NaN and infinities become 0
/// (JSON has neither), and magnitudes from 1e15 up take an exponent — an
/// integer-looking number above `u64::MAX` (`792281625142643400000`) is
/// refused by parsers such as simd-json, and difficulties get that big.
#[derive(Debug, Clone, Copy)]
pub struct Number(pub f64);

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if !v.is_finite() {
            f.write_str("0")
        } else if v.abs() >= 1e15 {
            write!(f, "{v:e}")
        } else {
            write!(f, "{v}")
        }
    }
}

/// A serde `serialize_with` for the numbers of the files the pool writes
/// (`users/<address>`, `pool.status`): whole values below 2^53 as
/// integers (as ckpool writes counts), others in serde's shortest form
/// that reads back exactly, non-finite as 0.
pub fn serialize_number<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match *v {
        v if !v.is_finite() => s.serialize_u64(0),
        v if v.fract() == 0.0 && v.abs() < EXACT => s.serialize_i64(v as i64),
        v => s.serialize_f64(v),
    }
}

/// `s` as a JSON string literal, quotes included.
pub fn quote(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_string(&mut out, s);
    // Only ASCII escapes were added to valid UTF-8.
    String::from_utf8(out).expect("valid UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_display_writes_them() {
        for v in [0, 1, 9, 10, 99, 100, 123_456_789, u64::MAX - 1, u64::MAX] {
            let mut out = b"x".to_vec();
            write_u64(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes());
        }
        for (v, width) in [(0, 6), (7, 6), (999_999, 6), (42, 2), (5, 1)] {
            let mut out = Vec::new();
            write_u64_padded(&mut out, v, width);
            assert_eq!(out, format!("{v:0width$}").into_bytes());
        }
    }

    #[test]
    #[should_panic(expected = "too few")]
    fn a_padded_number_that_does_not_fit_is_a_bug() {
        write_u64_padded(&mut Vec::new(), 1_000_000, 6);
    }

    #[test]
    fn escapes_what_json_requires() {
        assert_eq!(
            quote("a\"b\\c\n\r\t\u{1}\u{7f}é"),
            r#""a\"b\\c\n\r\t\u0001\u007fé""#
        );
        let mut bytes = quote("x\u{0}y").into_bytes();
        assert!(simd_json::to_owned_value(&mut bytes).is_ok());
    }

    #[derive(serde::Deserialize)]
    struct One {
        s: String,
        n: f64,
    }

    fn round_trip(text: &str, number: f64) -> One {
        let doc = format!("{{\"s\":{},\"n\":{}}}", quote(text), Number(number));
        let mut bytes = doc.clone().into_bytes();
        simd_json::serde::from_slice(&mut bytes).unwrap_or_else(|e| panic!("{doc}: {e}"))
    }

    #[test]
    fn strings_from_miners_survive() {
        let nasty = "rig \"1\"\\ \n\r\t\u{0}\u{1f}\u{7f} bøb ☃ 🚀 \u{2028}";
        assert_eq!(round_trip(nasty, 1.0).s, nasty);
    }

    #[test]
    fn numbers_are_json() {
        for n in [0.0, 1.0, 0.1, 1e-9, 123456.789, 1e15, 2.5e20, 1.7e308] {
            assert_eq!(round_trip("", n).n, n, "{n}");
        }
        assert_eq!(Number(f64::NAN).to_string(), "0");
        assert_eq!(Number(f64::INFINITY).to_string(), "0");
    }
}
