//! The requests a miner sends, encoded exactly as cpuminer 2.5.1 writes
//! its handshake (`{"id": 1, "method": …, "params": […]}` and a newline).

use std::fmt::Write as _;
use std::io::Write as _;

/// Request id of `mining.subscribe` (cpuminer's).
pub const SUBSCRIBE_ID: u64 = 1;

/// Request id of `mining.authorize` (cpuminer's).
pub const AUTHORIZE_ID: u64 = 2;

/// Request id of `mining.suggest_difficulty`.
pub const SUGGEST_DIFFICULTY_ID: u64 = 3;

/// First `mining.submit` id; each submit takes the next one.
pub const FIRST_SUBMIT_ID: u64 = 4;

/// The id a pool's request carried, echoed in our reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestId {
    Number(u64),
    Text(String),
}

/// `mining.subscribe` with the user agent.
pub fn subscribe(out: &mut Vec<u8>, agent: &str) {
    let _ = writeln!(
        out,
        "{{\"id\": {SUBSCRIBE_ID}, \"method\": \"mining.subscribe\", \"params\": [{}]}}",
        Quoted(agent)
    );
}

/// `mining.authorize` with the worker name and password.
pub fn authorize(out: &mut Vec<u8>, worker: &str, password: &str) {
    let _ = writeln!(
        out,
        "{{\"id\": {AUTHORIZE_ID}, \"method\": \"mining.authorize\", \"params\": [{}, {}]}}",
        Quoted(worker),
        Quoted(password)
    );
}

/// `mining.suggest_difficulty` (NerdMiner sends it after subscribe).
pub fn suggest_difficulty(out: &mut Vec<u8>, difficulty: f64) {
    let _ = writeln!(
        out,
        "{{\"id\": {SUGGEST_DIFFICULTY_ID}, \"method\": \"mining.suggest_difficulty\", \"params\": [{}]}}",
        Number(difficulty)
    );
}

/// The fields of one `mining.submit`, hex already in Stratum's form.
pub struct SubmitFields<'a> {
    pub worker: &'a str,
    pub job_id: &'a str,
    pub extranonce2: &'a str,
    pub ntime: &'a str,
    pub nonce: &'a str,
}

/// `mining.submit` as request `id`.
pub fn submit(out: &mut Vec<u8>, id: u64, f: &SubmitFields<'_>) {
    let _ = writeln!(
        out,
        "{{\"id\": {id}, \"method\": \"mining.submit\", \"params\": [{}, {}, {}, {}, {}]}}",
        Quoted(f.worker),
        Quoted(f.job_id),
        Quoted(f.extranonce2),
        Quoted(f.ntime),
        Quoted(f.nonce)
    );
}

/// The reply to `client.get_version`, as cpuminer answers it.
pub fn version_reply(out: &mut Vec<u8>, id: &RequestId, agent: &str) {
    let _ = match id {
        RequestId::Number(n) => writeln!(
            out,
            "{{\"id\": {n}, \"result\": {}, \"error\": null}}",
            Quoted(agent)
        ),
        RequestId::Text(t) => writeln!(
            out,
            "{{\"id\": {}, \"result\": {}, \"error\": null}}",
            Quoted(t),
            Quoted(agent)
        ),
    };
}

/// A JSON string literal (quotes and escapes) for `Display`.
struct Quoted<'a>(&'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// A finite float as a JSON number (`1e-8`, `0.5`, `1024.0`).
struct Number(f64);

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_finite() {
            write!(f, "{:?}", self.0)
        } else {
            f.write_str("0")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_is_cpuminers() {
        let mut out = Vec::new();
        subscribe(&mut out, "cpuminer/2.5.1");
        authorize(&mut out, "bc1qaddr.w7", "x");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\": 1, \"method\": \"mining.subscribe\", \"params\": [\"cpuminer/2.5.1\"]}\n\
             {\"id\": 2, \"method\": \"mining.authorize\", \"params\": [\"bc1qaddr.w7\", \"x\"]}\n"
        );
    }

    #[test]
    fn submit_and_suggest() {
        let mut out = Vec::new();
        let fields = SubmitFields {
            worker: "testuser.worker1",
            job_id: "job1",
            extranonce2: "00000000",
            ntime: "6b06107f",
            nonce: "90300000",
        };
        submit(&mut out, 17, &fields);
        suggest_difficulty(&mut out, 1e-8);
        suggest_difficulty(&mut out, 512.0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\": 17, \"method\": \"mining.submit\", \"params\": [\"testuser.worker1\", \
             \"job1\", \"00000000\", \"6b06107f\", \"90300000\"]}\n\
             {\"id\": 3, \"method\": \"mining.suggest_difficulty\", \"params\": [1e-8]}\n\
             {\"id\": 3, \"method\": \"mining.suggest_difficulty\", \"params\": [512.0]}\n"
        );
    }

    #[test]
    fn text_is_escaped_and_parses_back() {
        let mut out = Vec::new();
        authorize(&mut out, "a\"b\\c\n", "d=0.001\u{1}");
        let mut bytes = out.trim_ascii_end().to_vec();
        let v = simd_json::to_owned_value(&mut bytes).unwrap();
        use simd_json::prelude::*;
        assert_eq!(v["params"][0].as_str(), Some("a\"b\\c\n"));
        assert_eq!(v["params"][1].as_str(), Some("d=0.001\u{1}"));

        let mut out = Vec::new();
        version_reply(&mut out, &RequestId::Text("x\"".into()), "cpuminer/2.5.1");
        version_reply(&mut out, &RequestId::Number(9), "cpuminer/2.5.1");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\": \"x\\\"\", \"result\": \"cpuminer/2.5.1\", \"error\": null}\n\
             {\"id\": 9, \"result\": \"cpuminer/2.5.1\", \"error\": null}\n"
        );
    }
}
