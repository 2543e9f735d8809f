//! A Stratum request line parsed in place, without allocation:
//! `{"id": …, "method": "…", "params": [ … ]}`.
//!
//! The parser checks the JSON structure of the whole line and keeps each
//! param as its raw JSON text; typed accessors decode on demand. Nested
//! params (arrays, objects: `mining.configure`) stay raw for the caller.

use std::borrow::Cow;

/// Most params any method takes (`mining.submit` with version bits: 6).
pub const MAX_PARAMS: usize = 8;
/// Longest request id we echo back.
pub const MAX_ID_BYTES: usize = 64;
/// Deepest nesting accepted inside params.
const MAX_DEPTH: usize = 8;

/// Why a line is not a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    InvalidUtf8,
    /// Not JSON, or not a JSON object.
    InvalidJson,
    /// Valid JSON without a string `method`.
    NoMethod,
    /// `params` missing or not an array.
    BadParams,
    /// More than [`MAX_PARAMS`] params, an over-long id, or nesting too deep.
    TooLarge,
}

impl ParseError {
    pub fn message(self) -> &'static str {
        match self {
            ParseError::InvalidUtf8 => "Invalid UTF-8",
            ParseError::InvalidJson => "Invalid JSON",
            ParseError::NoMethod => "Missing method",
            ParseError::BadParams => "Params must be an array",
            ParseError::TooLarge => "Request too large",
        }
    }
}

/// A parsed request, borrowing the line.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The id's raw JSON text (`1`, `"abc"`, `null`), echoed in the reply.
    pub id: &'a str,
    pub method: &'a str,
    params: [&'a str; MAX_PARAMS],
    params_len: usize,
}

impl<'a> Request<'a> {
    /// Parse one line.
    pub fn parse(line: &'a [u8]) -> Result<Request<'a>, ParseError> {
        let text = std::str::from_utf8(line).map_err(|_| ParseError::InvalidUtf8)?;
        Parser {
            s: text.as_bytes(),
            text,
            pos: 0,
        }
        .request()
    }

    pub fn params_len(&self) -> usize {
        self.params_len
    }

    /// Param `i` as raw JSON text.
    pub fn raw(&self, i: usize) -> Option<&'a str> {
        (i < self.params_len).then(|| self.params[i])
    }

    /// Param `i` if it is a JSON string (escapes decoded; borrowed when
    /// there are none, the common case).
    pub fn string(&self, i: usize) -> Option<Cow<'a, str>> {
        let raw = self.raw(i)?;
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
        unescape(inner).map(Cow::Owned)
    }

    /// Param `i` as a plain string without escapes (the hot path's hex
    /// fields): never allocates; `None` if escaped or not a string.
    pub fn plain_str(&self, i: usize) -> Option<&'a str> {
        let raw = self.raw(i)?;
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        (!inner.contains('\\')).then_some(inner)
    }

    /// Param `i` as a number (a JSON number, or a string holding one, as
    /// some firmware sends difficulties).
    pub fn number(&self, i: usize) -> Option<f64> {
        let raw = self.raw(i)?;
        let text = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(raw);
        text.parse::<f64>().ok().filter(|v| v.is_finite())
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn request(mut self) -> Result<Request<'a>, ParseError> {
        let mut req = Request {
            id: "null",
            method: "",
            params: [""; MAX_PARAMS],
            params_len: 0,
        };
        let (mut has_method, mut has_params) = (false, false);
        self.expect(b'{')?;
        if !self.eat(b'}') {
            loop {
                let key = self.string_raw()?;
                self.expect(b':')?;
                self.ws();
                match key {
                    "\"id\"" => {
                        req.id = self.value(0)?;
                        if req.id.len() > MAX_ID_BYTES {
                            return Err(ParseError::TooLarge);
                        }
                    }
                    "\"method\"" => {
                        let m = self.value(0)?;
                        req.method = m
                            .strip_prefix('"')
                            .and_then(|m| m.strip_suffix('"'))
                            .unwrap_or("");
                        has_method = m.starts_with('"') && !req.method.contains('\\');
                    }
                    "\"params\"" => {
                        self.params(&mut req)?;
                        has_params = true;
                    }
                    _ => {
                        self.value(0)?;
                    }
                }
                if self.eat(b',') {
                    continue;
                }
                self.expect(b'}')?;
                break;
            }
        }
        self.ws();
        if self.pos != self.s.len() {
            return Err(ParseError::InvalidJson);
        }
        if !has_method {
            return Err(ParseError::NoMethod);
        }
        // A missing params member is read as no params (some clients
        // omit it for mining.ping and mining.extranonce.subscribe).
        let _ = has_params;
        Ok(req)
    }

    fn params(&mut self, req: &mut Request<'a>) -> Result<(), ParseError> {
        self.ws();
        if self.peek() == Some(b'n') {
            self.value(0)?; // "params": null
            return Ok(());
        }
        if !self.eat(b'[') {
            self.value(0)?;
            return Err(ParseError::BadParams);
        }
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            self.ws();
            let v = self.value(1)?;
            if req.params_len == MAX_PARAMS {
                return Err(ParseError::TooLarge);
            }
            req.params[req.params_len] = v;
            req.params_len += 1;
            if self.eat(b',') {
                continue;
            }
            self.expect(b']')?;
            return Ok(());
        }
    }

    /// One JSON value; returns its raw text.
    fn value(&mut self, depth: usize) -> Result<&'a str, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::TooLarge);
        }
        self.ws();
        let start = self.pos;
        match self.peek().ok_or(ParseError::InvalidJson)? {
            b'"' => {
                self.string_raw()?;
            }
            b'[' => self.container(b']', depth)?,
            b'{' => self.container(b'}', depth)?,
            b't' => self.literal("true")?,
            b'f' => self.literal("false")?,
            b'n' => self.literal("null")?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return Err(ParseError::InvalidJson),
        }
        Ok(&self.text[start..self.pos])
    }

    fn container(&mut self, close: u8, depth: usize) -> Result<(), ParseError> {
        self.pos += 1;
        if self.eat(close) {
            return Ok(());
        }
        loop {
            if close == b'}' {
                self.string_raw()?;
                self.expect(b':')?;
            }
            self.value(depth + 1)?;
            if self.eat(b',') {
                continue;
            }
            return self.expect(close);
        }
    }

    /// A string including its quotes; escapes are checked, not decoded.
    fn string_raw(&mut self) -> Result<&'a str, ParseError> {
        self.ws();
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return Err(ParseError::InvalidJson);
        }
        self.pos += 1;
        while let Some(&c) = self.s.get(self.pos) {
            self.pos += 1;
            match c {
                b'"' => return Ok(&self.text[start..self.pos]),
                b'\\' => {
                    let e = *self.s.get(self.pos).ok_or(ParseError::InvalidJson)?;
                    if !b"\"\\/bfnrtu".contains(&e) {
                        return Err(ParseError::InvalidJson);
                    }
                    self.pos += 1;
                    if e == b'u' {
                        // Four hex digits, as JSON has it: an id is echoed
                        // verbatim, and `"\u"` in a reply is not JSON
                        // (found by the stratum_request fuzz target).
                        let hex = self.s.get(self.pos..self.pos + 4);
                        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                            return Err(ParseError::InvalidJson);
                        }
                        self.pos += 4;
                    }
                }
                0..=0x1f => return Err(ParseError::InvalidJson),
                _ => {}
            }
        }
        Err(ParseError::InvalidJson)
    }

    fn number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        ) {
            self.pos += 1;
        }
        // JSON's grammar, not Rust's float syntax: `03`, `1.` or `-.5`
        // parse as f64 but are not JSON, and an id is echoed verbatim
        // into the reply (found by the stratum_request fuzz target).
        if is_json_number(&self.s[start..self.pos]) {
            Ok(())
        } else {
            Err(ParseError::InvalidJson)
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), ParseError> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(ParseError::InvalidJson)
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(ParseError::InvalidJson)
        }
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_json_number(s: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let s = s.strip_prefix(b"-").unwrap_or(s);
    let int = digits(s);
    if int == 0 || (int > 1 && s[0] == b'0') {
        return false;
    }
    let mut rest = &s[int..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = digits(frac);
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    if let Some(exp) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exp = exp
            .strip_prefix(b"+")
            .or_else(|| exp.strip_prefix(b"-"))
            .unwrap_or(exp);
        let n = digits(exp);
        if n == 0 {
            return false;
        }
        rest = &exp[n..];
    }
    rest.is_empty()
}

/// Decode JSON string escapes (the text between the quotes).
fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16).ok()?;
                // Lone surrogates become U+FFFD rather than an error.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Request<'_>, ParseError> {
        Request::parse(s.as_bytes())
    }

    #[test]
    fn cpuminer_submit() {
        let r = parse(r#"{"method": "mining.submit", "params": ["testuser.worker1", "job1", "00000000", "6b06107f", "90300000"], "id":4}"#).unwrap();
        assert_eq!(r.method, "mining.submit");
        assert_eq!(r.id, "4");
        assert_eq!(r.params_len(), 5);
        assert_eq!(r.plain_str(0), Some("testuser.worker1"));
        assert_eq!(r.plain_str(4), Some("90300000"));
        assert_eq!(r.raw(5), None);
    }

    #[test]
    fn bitaxe_configure_keeps_nested_params_raw() {
        let r = parse(r#"{"id": 1, "method": "mining.configure", "params": [["version-rolling"], {"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": 16}]}"#).unwrap();
        assert_eq!(r.raw(0), Some(r#"["version-rolling"]"#));
        assert!(r.raw(1).unwrap().starts_with('{'));
    }

    #[test]
    fn numbers_strings_ids() {
        let r = parse(r#"{"id":"abc","method":"mining.suggest_difficulty","params":[0.0005]}"#)
            .unwrap();
        assert_eq!(r.id, "\"abc\"");
        assert_eq!(r.number(0), Some(0.0005));
        let r =
            parse(r#"{"id":null,"method":"mining.suggest_difficulty","params":["512"]}"#).unwrap();
        assert_eq!(r.number(0), Some(512.0));
        let r = parse(r#"{"id":7,"method":"mining.ping"}"#).unwrap();
        assert_eq!(r.params_len(), 0);
        let r = parse(r#"{"params":["a\"b\u00e9"],"id":1,"method":"x"}"#).unwrap();
        assert_eq!(r.string(0).unwrap(), "a\"bé");
        assert_eq!(r.plain_str(0), None);
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(parse("").unwrap_err(), ParseError::InvalidJson);
        assert_eq!(parse("not json").unwrap_err(), ParseError::InvalidJson);
        assert_eq!(
            parse(r#"{"id":1,"method":"x","params":[}"#).unwrap_err(),
            ParseError::InvalidJson
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"x"} trailing"#).unwrap_err(),
            ParseError::InvalidJson
        );
        assert_eq!(
            parse(r#"{"id":1,"params":[]}"#).unwrap_err(),
            ParseError::NoMethod
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"x","params":"a"}"#).unwrap_err(),
            ParseError::BadParams
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"x","params":[1,2,3,4,5,6,7,8,9]}"#).unwrap_err(),
            ParseError::TooLarge
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"x","params":[[[[[[[[[[1]]]]]]]]]]}"#).unwrap_err(),
            ParseError::TooLarge
        );
        assert_eq!(
            Request::parse(b"{\"id\":1,\"method\":\"\xff\"}").unwrap_err(),
            ParseError::InvalidUtf8
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"x","params":["a\qb"]}"#).unwrap_err(),
            ParseError::InvalidJson
        );
        assert_eq!(
            parse("{\"id\":1,\"method\":\"x\",\"params\":[\"a\u{1}\"]}").unwrap_err(),
            ParseError::InvalidJson
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"x","params":[01x]}"#).unwrap_err(),
            ParseError::InvalidJson
        );
    }

    #[test]
    fn unicode_escapes_need_four_hex_digits() {
        // An id is echoed verbatim: `"\u"` in a reply would not be JSON.
        for bad in [r#""\u""#, r#""\u12""#, r#""\u12g4""#] {
            let line = format!(r#"{{"id":{bad},"method":"x","params":[]}}"#);
            assert_eq!(parse(&line).unwrap_err(), ParseError::InvalidJson, "{line}");
        }
        let ok = parse(r#"{"id":"\u00e9","method":"x","params":[]}"#).unwrap();
        assert_eq!(ok.id, r#""\u00e9""#);
    }

    #[test]
    fn never_panics_on_truncations() {
        let line = r#"{"id": 1, "method": "mining.configure", "params": [["version-rolling"], {"version-rolling.mask": "ffffffff"}, "x\u00e9", -1.5e3, true, null]}"#;
        for end in 0..line.len() {
            if line.is_char_boundary(end) {
                let _ = parse(&line[..end]);
            }
        }
        assert!(parse(line).is_ok());
    }
}
