//! Replies and notifications, written straight into a connection's write
//! buffer (one line each). Shapes as cpuminer, cgminer-style firmware and
//! Bitaxe parse them.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::json::write_string;

/// `{"id":…,"result":true,"error":null}`
pub fn result_true(out: &mut Vec<u8>, id: &str) {
    let _ = writeln!(out, r#"{{"id":{id},"result":true,"error":null}}"#);
}

/// A result given as raw JSON text.
pub fn result_raw(out: &mut Vec<u8>, id: &str, result: &str) {
    let _ = writeln!(out, r#"{{"id":{id},"result":{result},"error":null}}"#);
}

/// A refusal: `result: false` plus the error array. cpuminer counts a
/// reject only when the reply has a `result` member, so it is always set.
pub fn error(out: &mut Vec<u8>, id: &str, code: i32, message: &str) {
    let _ = write!(out, r#"{{"id":{id},"result":false,"error":[{code},"#);
    write_string(out, message);
    out.extend_from_slice(b",null]}\n");
}

/// An error for a request that is not a share or login (unknown method,
/// garbage): `result: null` as JSON-RPC has it.
pub fn error_null(out: &mut Vec<u8>, id: &str, code: i32, message: &str) {
    let _ = write!(out, r#"{{"id":{id},"result":null,"error":[{code},"#);
    write_string(out, message);
    out.extend_from_slice(b",null]}\n");
}

/// The `mining.subscribe` result: subscriptions, extranonce1, extranonce2 size.
pub fn subscribe_result(
    out: &mut Vec<u8>,
    id: &str,
    subscription_id: &str,
    extranonce1: &[u8],
    extranonce2_len: usize,
) {
    let _ = write!(
        out,
        r#"{{"id":{id},"result":[[["mining.set_difficulty","{subscription_id}"],["mining.notify","{subscription_id}"]],""#
    );
    hex_into(out, extranonce1);
    let _ = writeln!(out, r#"",{extranonce2_len}],"error":null}}"#);
}

/// `mining.set_difficulty` (fractional difficulties written exactly).
pub fn set_difficulty(out: &mut Vec<u8>, diff: f64) {
    let _ = writeln!(
        out,
        r#"{{"id":null,"method":"mining.set_difficulty","params":[{}]}}"#,
        Difficulty(diff)
    );
}

/// `mining.set_version_mask`.
pub fn set_version_mask(out: &mut Vec<u8>, mask: u32) {
    let _ = writeln!(
        out,
        r#"{{"id":null,"method":"mining.set_version_mask","params":["{mask:08x}"]}}"#
    );
}

/// `mining.set_extranonce`.
pub fn set_extranonce(out: &mut Vec<u8>, extranonce1: &[u8], extranonce2_len: usize) {
    out.extend_from_slice(br#"{"id":null,"method":"mining.set_extranonce","params":[""#);
    hex_into(out, extranonce1);
    let _ = writeln!(out, r#"",{extranonce2_len}]}}"#);
}

/// `client.reconnect` (no params: reconnect to the same pool).
pub fn reconnect(out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":null,\"method\":\"client.reconnect\",\"params\":[]}\n");
}

/// `client.show_message`.
pub fn show_message(out: &mut Vec<u8>, message: &str) {
    out.extend_from_slice(br#"{"id":null,"method":"client.show_message","params":["#);
    write_string(out, message);
    out.extend_from_slice(b"]}\n");
}

/// `mining.notify`: `params` = job id, prevhash, coinb1, coinb2, merkle
/// branch, version, nbits, ntime, clean_jobs. `shared_tail` is the
/// pre-encoded `,[branch…],"version","nbits","ntime"` common to all miners.
pub fn notify(
    out: &mut Vec<u8>,
    job_id: &str,
    prevhash: &str,
    coinb1: &[u8],
    coinb2: &[u8],
    shared_tail: &str,
    clean: bool,
) {
    let _ = write!(
        out,
        r#"{{"id":null,"method":"mining.notify","params":["{job_id}","{prevhash}",""#
    );
    hex_into(out, coinb1);
    out.extend_from_slice(b"\",\"");
    hex_into(out, coinb2);
    out.push(b'"');
    out.extend_from_slice(shared_tail.as_bytes());
    out.extend_from_slice(if clean { b",true]}\n" } else { b",false]}\n" });
}

/// The part of `mining.notify` after coinb2 that every miner shares.
pub fn notify_shared_tail(branch: &[String], version: &str, nbits: &str, ntime: &str) -> String {
    let mut s = String::from(",[");
    for (i, node) in branch.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "\"{node}\"");
    }
    let _ = write!(s, r#"],"{version}","{nbits}","{ntime}""#);
    s
}

/// A shared tail from [`notify_shared_tail`] with another ntime (its last
/// field).
pub fn tail_with_ntime(shared_tail: &str, ntime: u32) -> String {
    // `,"<8 hex digits>"` ends every tail notify_shared_tail writes.
    let bytes = shared_tail.as_bytes();
    assert!(bytes.len() >= 10 && bytes.ends_with(b"\"") && bytes[bytes.len() - 10] == b'"');
    let keep = bytes.len() - 9;
    format!("{}{ntime:08x}\"", &shared_tail[..keep])
}

/// A difficulty as a JSON number: integral values without a fraction,
/// others in Rust's shortest round-trip form (never exponent notation,
/// which some firmware cannot parse).
pub struct Difficulty(pub f64);

impl std::fmt::Display for Difficulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `{}` on f64 never uses exponent notation and round-trips.
        write!(f, "{}", self.0)
    }
}

fn hex_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    crate::bitcoin::hex::encode_into(bytes, &mut out[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn shapes_miners_parse() {
        assert_eq!(
            text(|o| result_true(o, "4")),
            "{\"id\":4,\"result\":true,\"error\":null}\n"
        );
        assert_eq!(
            text(|o| error(o, "5", 23, "Low difficulty share")),
            "{\"id\":5,\"result\":false,\"error\":[23,\"Low difficulty share\",null]}\n"
        );
        assert_eq!(
            text(|o| subscribe_result(o, "1", "f000000f", &[0xf0, 0, 0, 0x0f], 4)),
            "{\"id\":1,\"result\":[[[\"mining.set_difficulty\",\"f000000f\"],[\"mining.notify\",\"f000000f\"]],\"f000000f\",4],\"error\":null}\n"
        );
        assert_eq!(
            text(|o| set_difficulty(o, 1.52587890625e-05)),
            "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[0.0000152587890625]}\n"
        );
        assert_eq!(
            text(|o| set_difficulty(o, 42.0)),
            "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[42]}\n"
        );
        assert!(text(|o| set_difficulty(o, 1e-8)).contains("[0.00000001]"));
        let tail = notify_shared_tail(
            &["aa".into(), "bb".into()],
            "20000000",
            "1d00ffff",
            "6b06107f",
        );
        assert_eq!(
            text(|o| notify(o, "1", "00", &[1], &[2], &tail, true)),
            "{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"1\",\"00\",\"01\",\"02\",[\"aa\",\"bb\"],\"20000000\",\"1d00ffff\",\"6b06107f\",true]}\n"
        );
    }

    #[test]
    fn every_line_is_valid_json() {
        let lines = [
            text(|o| show_message(o, "hi \"there\"\n\u{1}é")),
            text(|o| set_extranonce(o, &[1, 2], 8)),
            text(|o| set_version_mask(o, 0x1fffe000)),
            text(reconnect),
            text(|o| error(o, "\"x\"", 20, "bad \\ thing")),
        ];
        for line in lines {
            let mut bytes = line.trim_end().as_bytes().to_vec();
            simd_json::to_owned_value(&mut bytes).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }

    #[test]
    fn a_tail_with_another_ntime() {
        let tail = notify_shared_tail(&["ab".repeat(32)], "20000000", "1d00ffff", "6553f100");
        let later = tail_with_ntime(&tail, 0x6553_f101);
        assert_eq!(later, tail.replace("6553f100", "6553f101"));
        assert_eq!(tail_with_ntime(&later, 0x6553_f100), tail);
    }
}
