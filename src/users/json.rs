//! The little JSON writing the status files need: strings from miners
//! escaped, numbers always valid JSON.

/// `text` as a JSON string literal body (no surrounding quotes): quotes,
/// backslashes and control characters escaped; everything else, Unicode
/// included, as is (JSON text is UTF-8).
pub fn json_escape(text: &str) -> String {
    let quoted = crate::json::quote(text);
    quoted[1..quoted.len() - 1].to_string()
}

/// `value` as a JSON number. Non-finite values (which JSON cannot hold)
/// are written as 0; large ones in exponent form so no parser meets a
/// 300-digit integer.
pub fn json_number(value: f64) -> String {
    crate::json::Number(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct One {
        s: String,
        n: f64,
    }

    fn round_trip(text: &str, number: f64) -> One {
        let doc = format!(
            "{{\"s\":\"{}\",\"n\":{}}}",
            json_escape(text),
            json_number(number)
        );
        let mut bytes = doc.clone().into_bytes();
        simd_json::serde::from_slice(&mut bytes).unwrap_or_else(|e| panic!("{doc}: {e}"))
    }

    #[test]
    fn strings_from_miners_survive() {
        let nasty = "rig \"1\"\\ \n\r\t\u{0}\u{1f}\u{7f} bøb ☃ 🚀 \u{2028}";
        assert_eq!(round_trip(nasty, 1.0).s, nasty);
        assert_eq!(json_escape("a\"b\\c\u{1}"), "a\\\"b\\\\c\\u0001");
    }

    #[test]
    fn numbers_are_json() {
        for n in [0.0, 1.0, 0.1, 1e-9, 123456.789, 1e15, 2.5e20, 1.7e308] {
            assert_eq!(round_trip("", n).n, n, "{n}");
        }
        assert_eq!(json_number(f64::NAN), "0");
        assert_eq!(json_number(f64::INFINITY), "0");
    }
}
