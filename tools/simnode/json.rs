//! Writing JSON by hand: string escaping, numbers, and a small object
//! builder. Results are built as text because they are only ever sent.

/// `s` as a JSON string literal, quotes included.
pub use tbg_pool::json::quote;

/// A float as a JSON number. JSON has no NaN or infinity; those become 0
/// rather than producing a body no client can parse.
pub fn float(x: f64) -> String {
    if x.is_finite() {
        // Debug formatting keeps full precision and uses exponents for
        // tiny values (4.656542373906925e-10), like bitcoind does.
        format!("{x:?}")
    } else {
        "0".to_string()
    }
}

/// Satoshis as a BTC amount with eight decimals, as bitcoind prints them.
pub fn btc(sats: u64) -> String {
    format!("{}.{:08}", sats / 100_000_000, sats % 100_000_000)
}

/// A JSON array of string literals.
pub fn string_array<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let parts: Vec<String> = items.into_iter().map(|s| quote(s.as_ref())).collect();
    format!("[{}]", parts.join(","))
}

/// Builds one JSON object, member by member, in insertion order.
#[derive(Debug)]
pub struct JsonObject {
    buf: String,
    empty: bool,
}

impl Default for JsonObject {
    fn default() -> Self {
        JsonObject::new()
    }
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> JsonObject {
        JsonObject {
            buf: String::from("{"),
            empty: true,
        }
    }

    /// Open the next member: separator, quoted key, colon.
    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        self.buf.push_str(&quote(key));
        self.buf.push(':');
    }

    /// A member whose value is already JSON text.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.buf.push_str(json);
        self
    }

    /// A string member (escaped here).
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.raw(key, &quote(value))
    }

    /// An unsigned integer member.
    pub fn uint(&mut self, key: &str, value: u64) -> &mut Self {
        self.raw(key, &value.to_string())
    }

    /// A float member.
    pub fn float(&mut self, key: &str, value: f64) -> &mut Self {
        self.raw(key, &float(value))
    }

    /// A boolean member.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// The finished object text.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.buf);
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn objects_and_numbers() {
        let s = JsonObject::new()
            .str("a", "x")
            .uint("b", 7)
            .bool("c", false)
            .raw("d", "[]")
            .finish();
        assert_eq!(s, r#"{"a":"x","b":7,"c":false,"d":[]}"#);
        assert_eq!(float(f64::NAN), "0");
        assert_eq!(float(1.0), "1.0");
        assert_eq!(btc(1000), "0.00001000");
        assert_eq!(btc(5_000_000_000), "50.00000000");
        assert_eq!(string_array(["a", "b"]), r#"["a","b"]"#);
    }
}
