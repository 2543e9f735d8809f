//! Writing JSON strings by hand, in one place: the Stratum replies, the
//! events, the status files and the simulated node all escape text that
//! may come from a miner with this.

/// Append `s` as a JSON string (quotes included): `"` and `\` escaped,
/// control characters as `\uXXXX` (or their short forms), everything else
/// as is (JSON text is UTF-8).
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut buf = [0u8; 4];
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = c as usize;
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[n >> 4], HEX[n & 15]]);
            }
            c => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    out.push(b'"');
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
