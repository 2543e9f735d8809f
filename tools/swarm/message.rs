//! What a pool sends, decoded from one JSON line into a typed message.
//! Every field is checked (types, hex, lengths); nothing here can panic
//! on pool input.

use std::cell::RefCell;

use simd_json::prelude::*;
use simd_json::BorrowedValue as Value;
use tbg_pool::bitcoin::hex;

use crate::request::RequestId;

/// Longest job id accepted (ckpool's are 16 hex digits).
pub const MAX_JOB_ID_LEN: usize = 128;

/// Most merkle branch entries (4,000 transactions need 12).
pub const MAX_BRANCH_LEN: usize = 32;

/// Longest extranonce1, in bytes.
pub const MAX_EXTRANONCE1_LEN: usize = 32;

/// Largest extranonce2 size, in bytes.
pub const MAX_EXTRANONCE2_LEN: usize = 32;

/// Longest reject text kept (the pool's code and message).
pub const MAX_REJECT_TEXT: usize = 96;

/// The nine `mining.notify` params, decoded. Hex stays in the byte order
/// it was sent in; `job.rs` turns it into a header.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyParams {
    pub job_id: String,
    /// Internal order with each 32-bit word's bytes reversed, as sent.
    pub prevhash: [u8; 32],
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    pub branch: Vec<[u8; 32]>,
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub clean_jobs: bool,
}

/// How the pool answered one of our requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `result: true` (or any other non-error result).
    Accepted,
    /// A `mining.subscribe` result: extranonce1 and extranonce2's size.
    Subscribed {
        extranonce1: Vec<u8>,
        en2_size: usize,
    },
    /// An error, or `result: false` / `null`: the pool's code and message.
    Refused(String),
}

/// One decoded line from the pool.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Response {
        id: u64,
        outcome: Outcome,
    },
    Notify(NotifyParams),
    SetDifficulty(f64),
    SetExtranonce {
        extranonce1: Vec<u8>,
        en2_size: usize,
    },
    Reconnect {
        wait_secs: u64,
    },
    /// `client.show_message`.
    ShowText,
    SetVersionMask,
    GetVersion(RequestId),
    /// A method we do not know, or a response to no request of ours.
    Other,
}

/// A line that is not JSON, or a known message with unusable params.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadMessage(pub &'static str);

thread_local! {
    /// The JSON parser's scratch space, one per thread rather than one
    /// per connection (a run may hold a million connections).
    static BUFFERS: RefCell<simd_json::Buffers> = RefCell::new(simd_json::Buffers::default());
}

/// Decode one line (modified in place by the JSON parser).
pub fn parse(line: &mut [u8]) -> Result<Message, BadMessage> {
    BUFFERS.with(|buffers| parse_with(line, &mut buffers.borrow_mut()))
}

/// [`parse`] with the given scratch space.
fn parse_with(line: &mut [u8], buffers: &mut simd_json::Buffers) -> Result<Message, BadMessage> {
    let v = simd_json::to_borrowed_value_with_buffers(line, buffers)
        .map_err(|_| BadMessage("not JSON"))?;
    if v.as_object().is_none() {
        return Err(BadMessage("not a JSON object"));
    }
    match v.get("method").and_then(|m| m.as_str()) {
        Some(method) => parse_method(method, &v),
        None => Ok(parse_response(&v)),
    }
}

/// A request or notification from the pool.
fn parse_method(method: &str, v: &Value<'_>) -> Result<Message, BadMessage> {
    let empty = Vec::new();
    let params = v.get("params").and_then(|p| p.as_array()).unwrap_or(&empty);
    Ok(match method {
        "mining.notify" => Message::Notify(parse_notify(params)?),
        "mining.set_difficulty" => {
            let diff = params.first().and_then(|d| d.cast_f64());
            match diff {
                Some(d) if d > 0.0 && d.is_finite() => Message::SetDifficulty(d),
                _ => return Err(BadMessage("bad mining.set_difficulty")),
            }
        }
        "mining.set_extranonce" => {
            let (extranonce1, en2_size) = parse_extranonce(params.first(), params.get(1))
                .ok_or(BadMessage("bad mining.set_extranonce"))?;
            Message::SetExtranonce {
                extranonce1,
                en2_size,
            }
        }
        "client.reconnect" => Message::Reconnect {
            wait_secs: params.get(2).and_then(number_or_text).unwrap_or(0),
        },
        "client.show_message" => Message::ShowText,
        "mining.set_version_mask" => Message::SetVersionMask,
        "client.get_version" => match request_id(v.get("id")) {
            Some(id) => Message::GetVersion(id),
            None => Message::Other,
        },
        _ => Message::Other,
    })
}

/// A response to one of our requests (matched by its numeric id).
fn parse_response(v: &Value<'_>) -> Message {
    let Some(id) = v.get("id").and_then(number_or_text) else {
        return Message::Other;
    };
    let error = v.get("error").filter(|e| !e.is_null());
    let result = v.get("result");
    let outcome = match (error, result) {
        (Some(e), _) => Outcome::Refused(error_text(e)),
        (None, Some(r)) if r.as_bool() == Some(true) => Outcome::Accepted,
        (None, Some(r)) if r.as_array().is_some() => subscribed(r).unwrap_or(Outcome::Accepted),
        (None, Some(r)) if r.as_bool() == Some(false) => Outcome::Refused("result false".into()),
        (None, Some(r)) if r.is_null() => Outcome::Refused("result null".into()),
        (None, Some(_)) => Outcome::Accepted,
        (None, None) => Outcome::Refused("no result".into()),
    };
    Message::Response { id, outcome }
}

/// `[[subscriptions…], extranonce1, extranonce2_size]`.
fn subscribed(result: &Value<'_>) -> Option<Outcome> {
    let r = result.as_array()?;
    let (extranonce1, en2_size) = parse_extranonce(r.get(1), r.get(2))?;
    Some(Outcome::Subscribed {
        extranonce1,
        en2_size,
    })
}

/// Extranonce1 hex and extranonce2 size, both within their limits.
fn parse_extranonce(en1: Option<&Value<'_>>, size: Option<&Value<'_>>) -> Option<(Vec<u8>, usize)> {
    let en1 = hex::decode(en1?.as_str()?).ok()?;
    let size = usize::try_from(size?.as_u64()?).ok()?;
    (en1.len() <= MAX_EXTRANONCE1_LEN && size <= MAX_EXTRANONCE2_LEN).then_some((en1, size))
}

/// The nine params of `mining.notify`.
fn parse_notify(p: &[Value<'_>]) -> Result<NotifyParams, BadMessage> {
    let text =
        |i: usize, what: &'static str| p.get(i).and_then(|x| x.as_str()).ok_or(BadMessage(what));
    let bytes =
        |i: usize, what: &'static str| hex::decode(text(i, what)?).map_err(|_| BadMessage(what));
    let word = |i: usize, what: &'static str| {
        hex::parse_u32_be(text(i, what)?.as_bytes()).map_err(|_| BadMessage(what))
    };
    let job_id = text(0, "notify job_id")?;
    if job_id.is_empty() || job_id.len() > MAX_JOB_ID_LEN {
        return Err(BadMessage("notify job_id"));
    }
    let prevhash =
        hex::decode32(text(1, "notify prevhash")?).map_err(|_| BadMessage("notify prevhash"))?;
    let branch_values = p
        .get(4)
        .and_then(|b| b.as_array())
        .filter(|b| b.len() <= MAX_BRANCH_LEN)
        .ok_or(BadMessage("notify merkle_branch"))?;
    let mut branch = Vec::with_capacity(branch_values.len());
    for node in branch_values {
        let node = node.as_str().and_then(|s| hex::decode32(s).ok());
        branch.push(node.ok_or(BadMessage("notify merkle_branch"))?);
    }
    Ok(NotifyParams {
        job_id: job_id.to_string(),
        prevhash,
        coinb1: bytes(2, "notify coinb1")?,
        coinb2: bytes(3, "notify coinb2")?,
        branch,
        version: word(5, "notify version")?,
        nbits: word(6, "notify nbits")?,
        ntime: word(7, "notify ntime")?,
        clean_jobs: p.get(8).and_then(|c| c.as_bool()).unwrap_or(false),
    })
}

/// A non-negative integer, or text holding one (some pools quote ids).
fn number_or_text(v: &Value<'_>) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// The id of a request the pool sent, to echo in a reply.
fn request_id(v: Option<&Value<'_>>) -> Option<RequestId> {
    let v = v?;
    if let Some(n) = v.as_u64() {
        return Some(RequestId::Number(n));
    }
    let text = v.as_str()?;
    (text.len() <= MAX_JOB_ID_LEN).then(|| RequestId::Text(text.to_string()))
}

/// `[code, "message", data]`, `{"code":…, "message":…}` or a bare string,
/// as `"code message"`, cut to [`MAX_REJECT_TEXT`].
fn error_text(e: &Value<'_>) -> String {
    let (code, message) = if let Some(a) = e.as_array() {
        (a.first(), a.get(1))
    } else if e.as_object().is_some() {
        (e.get("code"), e.get("message").or_else(|| e.get("msg")))
    } else {
        (None, Some(e))
    };
    let code = code.and_then(|c| c.as_i64()).map(|c| c.to_string());
    let message = message.and_then(|m| m.as_str()).map(str::to_string);
    let text = match (code, message) {
        (Some(c), Some(m)) => format!("{c} {m}"),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => "unrecognised error".to_string(),
    };
    truncate(text, MAX_REJECT_TEXT)
}

/// `text` cut to at most `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    tbg_pool::text::truncate(&mut text, max);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(line: &str) -> Result<Message, BadMessage> {
        parse(&mut line.as_bytes().to_vec())
    }

    #[test]
    fn responses() {
        let sub = r#"{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",4],"error":null}"#;
        assert_eq!(
            msg(sub),
            Ok(Message::Response {
                id: 1,
                outcome: Outcome::Subscribed {
                    extranonce1: vec![8, 0, 0, 2],
                    en2_size: 4
                }
            })
        );
        let ok = r#"{"id":"7","result":true,"error":null}"#;
        assert_eq!(
            msg(ok),
            Ok(Message::Response {
                id: 7,
                outcome: Outcome::Accepted
            })
        );
        let rej = r#"{"id":9,"result":null,"error":[23,"Low difficulty share",null]}"#;
        let refused = |s: &str| Outcome::Refused(s.to_string());
        assert_eq!(
            msg(rej),
            Ok(Message::Response {
                id: 9,
                outcome: refused("23 Low difficulty share")
            })
        );
        let obj = r#"{"id":9,"result":false,"error":{"code":21,"message":"Stale"}}"#;
        assert_eq!(
            msg(obj),
            Ok(Message::Response {
                id: 9,
                outcome: refused("21 Stale")
            })
        );
        let bare = r#"{"id":9,"result":false,"error":null}"#;
        assert_eq!(
            msg(bare),
            Ok(Message::Response {
                id: 9,
                outcome: refused("result false")
            })
        );
        assert_eq!(msg(r#"{"id":null,"result":true}"#), Ok(Message::Other));
    }

    #[test]
    fn notifications() {
        assert_eq!(
            msg(r#"{"id":null,"method":"mining.set_difficulty","params":[1e-8]}"#),
            Ok(Message::SetDifficulty(1e-8))
        );
        assert_eq!(
            msg(r#"{"method":"mining.set_difficulty","params":[2]}"#),
            Ok(Message::SetDifficulty(2.0))
        );
        assert!(msg(r#"{"method":"mining.set_difficulty","params":[0]}"#).is_err());
        assert!(msg(r#"{"method":"mining.set_difficulty","params":["x"]}"#).is_err());
        assert_eq!(
            msg(r#"{"method":"client.reconnect","params":["h",3333,5]}"#),
            Ok(Message::Reconnect { wait_secs: 5 })
        );
        assert_eq!(
            msg(r#"{"id":"v","method":"client.get_version","params":[]}"#),
            Ok(Message::GetVersion(RequestId::Text("v".into())))
        );
        assert_eq!(
            msg(r#"{"method":"mining.set_extranonce","params":["aabb",8]}"#),
            Ok(Message::SetExtranonce {
                extranonce1: vec![0xaa, 0xbb],
                en2_size: 8
            })
        );
        assert!(msg(r#"{"method":"mining.set_extranonce","params":["aabb",99]}"#).is_err());
        assert_eq!(msg(r#"{"method":"x.y","params":[]}"#), Ok(Message::Other));
        assert!(msg("not json").is_err());
        assert!(msg("[1,2]").is_err());
    }

    #[test]
    fn notify_fields_are_checked() {
        let good = r#"{"id":null,"method":"mining.notify","params":["j1","000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","01","02",["2811 9e3f"],"20000000","1d00ffff","6b06107f",true]}"#;
        assert_eq!(msg(good), Err(BadMessage("notify merkle_branch")));
        let good = good.replace("2811 9e3f", &"ab".repeat(32));
        let Ok(Message::Notify(n)) = msg(&good) else {
            panic!("{good}")
        };
        assert_eq!(
            (n.job_id.as_str(), n.version, n.nbits, n.ntime),
            ("j1", 0x2000_0000, 0x1d00_ffff, 0x6b06_107f)
        );
        assert_eq!((n.coinb1, n.coinb2, n.clean_jobs), (vec![1], vec![2], true));
        assert_eq!(n.branch, vec![[0xab; 32]]);
        for (from, to) in [
            ("\"j1\"", "\"\""),
            ("\"01\"", "\"0\""),
            ("\"6b06107f\"", "\"6b0610\""),
            ("true]", "true"),
        ] {
            assert!(msg(&good.replacen(from, to, 1)).is_err(), "{from} → {to}");
        }
    }
}
