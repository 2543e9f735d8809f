//! Entry points of the fuzz targets (fuzz/), one per parser of untrusted
//! input; tests/fuzz_corpus.rs replays every committed corpus input
//! through the same functions.
//!
//! Each function takes any bytes and must never panic: a panic is a bug
//! (found by `cargo fuzz run <name>`, kept under `fuzz/regressions/`).
//! Besides "no panic" they assert invariants of what was parsed (a
//! reply the pool writes is JSON, an event survives the spool, a found
//! block meets its target…). Nothing here touches the file system; the
//! node target talks to a fake node on loopback, the collector target to
//! a socket pair, because that is the only way into those parsers.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use simd_json::prelude::*;

use crate::bitcoin::address::script_pubkey;
use crate::bitcoin::target::compact_to_target;
use crate::bitcoin::{hex, Network};
use crate::collector::config::CollectorConfig;
use crate::collector::metrics::{Metrics, SinkMetrics};
use crate::collector::receiver::{self, SinkQueue};
use crate::collector::record::StoredEvent;
use crate::config::Config;
use crate::events::validate::parse_event;
use crate::node::zmq;
use crate::node::{Auth, Endpoint, NodeClient, Template, Timeouts, TipWatcher};
use crate::session::{Flow, Session};
use crate::share::{SeenShares, Submit};
use crate::stratum::request::{MAX_ID_BYTES, MAX_PARAMS};
use crate::stratum::{encode, LineBuffer, LineError, Request};
use crate::testkit::Core;
use crate::work::coinbase::EXTRANONCE2_MAX;
use crate::work::{build_coinbase, coinbase_sig, JobTemplate, Work};

/// The real bitcoind regtest template (`getblocktemplate` result).
pub const REGTEST_TEMPLATE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/bitcoind-regtest-getblocktemplate.json"
));
/// A regtest payout address (P2WPKH).
pub const REGTEST_ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// Logs off the hot path would flood the fuzzer's output.
fn quiet() {
    crate::log::set_max_level(crate::log::Level::Error);
}

/// A tiny deterministic generator for choices derived from the input.
struct Rng(u64);

impl Rng {
    fn new(seed: &[u8]) -> Rng {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for &b in seed {
            x = (x ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(x | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// In `1..=max`.
    fn size(&mut self, max: usize) -> usize {
        1 + (self.next() % max as u64) as usize
    }
}

/// A reader handing out at most a few bytes per call (as a socket does).
struct Trickle<'a> {
    data: &'a [u8],
    rng: Rng,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.rng.next().is_multiple_of(16) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = self.rng.size(600).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Target `stratum_framing`: a byte stream in arbitrary chunks through
/// [`LineBuffer`] — `push`, `read_from`, or a server's pass (`read_with`
/// into the core's scratch buffer, a few lines handled, `release`) — with
/// every line checked against a plain model of the framing.
pub fn stratum_framing(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let max_line = 64 + usize::from(head) * 3;
    let mut buf = LineBuffer::new(max_line);
    let mut scratch = LineBuffer::scratch();
    let mut rng = Rng::new(&data[..data.len().min(4)]);
    // The model: every byte fed and how far lines were taken from it.
    let mut model = Model {
        fed: Vec::new(),
        taken: 0,
        max_line,
    };
    let mut input = rest;
    while !input.is_empty() {
        let n = rng.size(300).min(input.len());
        let (chunk, tail) = input.split_at(n);
        input = tail;
        let mut reader = Trickle {
            data: chunk,
            rng: Rng::new(chunk),
        };
        match rng.next() % 3 {
            0 => {
                buf.push(chunk);
                model.fed.extend_from_slice(chunk);
                if model.drain(&mut buf, usize::MAX).is_none() {
                    return; // a server closes the connection here
                }
            }
            1 => {
                // A few bytes per read, every line drained after each.
                while !reader.data.is_empty() {
                    if !model.read(&mut buf, &mut reader, |b, r| b.read_from(r)) {
                        continue;
                    }
                    if model.drain(&mut buf, usize::MAX).is_none() {
                        return;
                    }
                }
            }
            _ => {
                // As a core serves a connection: buffered lines first, a
                // read only once none is left, a few lines per pass.
                while !reader.data.is_empty() || buf.has_line() {
                    let per_pass = rng.size(4);
                    let drained = model.drain(&mut buf, per_pass);
                    if drained.is_none() {
                        return;
                    }
                    if drained == Some(true)
                        && !reader.data.is_empty()
                        && model.read(&mut buf, &mut reader, |b, r| b.read_with(r, &mut scratch))
                        && model.drain(&mut buf, per_pass).is_none()
                    {
                        return;
                    }
                    buf.release(&mut scratch);
                    assert!(scratch.is_empty(), "the scratch buffer comes back empty");
                    if buf.pending_bytes() == 0 {
                        assert_eq!(buf.capacity(), 0, "a drained buffer keeps memory");
                    }
                }
            }
        }
    }
}

/// The framing as plain slices: what was fed and what was taken.
struct Model {
    fed: Vec<u8>,
    taken: usize,
    max_line: usize,
}

impl Model {
    /// One read through `read`; `false` if it read nothing (interrupted).
    fn read<'a>(
        &mut self,
        buf: &mut LineBuffer,
        reader: &mut Trickle<'a>,
        read: impl FnOnce(&mut LineBuffer, &mut Trickle<'a>) -> std::io::Result<usize>,
    ) -> bool {
        let before = reader.data;
        match read(buf, reader) {
            Ok(n) => {
                // Reads come only when no whole line is buffered: at most
                // one line's limit is held, so there is room.
                assert!(n > 0, "no room to read with no whole line held");
                assert_eq!(before.len() - n, reader.data.len());
                self.fed.extend_from_slice(&before[..n]);
                true
            }
            Err(_) => {
                assert_eq!(before.len(), reader.data.len());
                false
            }
        }
    }

    /// Take up to `limit` lines and compare each with the model: `None`
    /// once a line is refused as too long, else whether no whole line is
    /// left.
    fn drain(&mut self, buf: &mut LineBuffer, limit: usize) -> Option<bool> {
        for _ in 0..limit {
            let pending = &self.fed[self.taken..];
            let newline = pending.iter().position(|&b| b == b'\n');
            assert_eq!(buf.has_line(), newline.is_some());
            match (buf.next_line(), newline) {
                (Err(LineError::TooLong), Some(n)) => {
                    assert!(
                        n > self.max_line,
                        "a line of {n} ≤ {} refused",
                        self.max_line
                    );
                    return None;
                }
                (Err(LineError::TooLong), None) => {
                    assert!(pending.len() > self.max_line);
                    return None;
                }
                (Ok(None), None) => {
                    assert!(
                        pending.len() <= self.max_line,
                        "an over-long partial line kept"
                    );
                    assert_eq!(buf.pending_bytes(), pending.len());
                    return Some(true);
                }
                (Ok(None), Some(_)) => panic!("a complete line not returned"),
                (Ok(Some(_)), None) => panic!("a line returned before its newline"),
                (Ok(Some(line)), Some(n)) => {
                    assert!(n <= self.max_line);
                    let raw = &pending[..n];
                    let want = raw.strip_suffix(b"\r").unwrap_or(raw);
                    assert_eq!(&*line, want);
                    self.taken += n + 1;
                }
            }
        }
        Some(!buf.has_line())
    }
}

/// Target `stratum_request`: [`Request::parse`] and every accessor on
/// every index; a reply carrying the request's id must be JSON.
pub fn stratum_request(data: &[u8]) {
    // A line as the framing hands it over: never a '\n' in it (an id of
    // `[\r\n false]` echoed verbatim was two reply lines; found by this
    // target, impossible from a socket).
    let data = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let Ok(req) = Request::parse(data) else {
        return;
    };
    assert!(req.params_len() <= MAX_PARAMS);
    assert!(req.id.len() <= MAX_ID_BYTES);
    assert!(!req.method.contains(['"', '\\']));
    for i in 0..10 {
        let raw = req.raw(i);
        assert_eq!(raw.is_some(), i < req.params_len());
        let string = req.string(i);
        let plain = req.plain_str(i);
        if let Some(p) = plain {
            assert_eq!(string.as_deref(), Some(p));
        }
        if let Some(n) = req.number(i) {
            assert!(n.is_finite());
        }
        if let (Some(raw), Some(s)) = (raw, &string) {
            if !raw.contains("\\u") {
                // Simple escapes decode as any JSON parser decodes them.
                let v = simd_json::to_owned_value(&mut raw.as_bytes().to_vec());
                if let Ok(v) = v {
                    assert_eq!(v.as_str(), Some(&**s), "param {raw}");
                }
            }
        }
    }
    let mut out = Vec::new();
    encode::result_true(&mut out, req.id);
    encode::error(&mut out, req.id, 20, req.method);
    assert_json_lines(&out, "reply to a parsed request");
}

/// Every line of `out` (newline-terminated) is one JSON text (RFC 8259;
/// checked by [`is_json`], not by simd-json, which refuses integers
/// beyond 64 bits that are valid JSON).
fn assert_json_lines(out: &[u8], what: &str) {
    if out.is_empty() {
        return;
    }
    assert_eq!(out.last(), Some(&b'\n'), "{what}: unterminated line");
    for line in out[..out.len() - 1].split(|&b| b == b'\n') {
        assert!(
            is_json(line),
            "{what}: not JSON: {}",
            String::from_utf8_lossy(line)
        );
    }
}

/// Whether `text` is one JSON text: a strict RFC 8259 checker of its
/// own, independent of the parsers under test.
pub fn is_json(text: &[u8]) -> bool {
    fn ws(s: &[u8], mut i: usize) -> usize {
        while matches!(s.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        i
    }
    fn digits(s: &[u8], i: usize) -> usize {
        s[i.min(s.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    }
    fn string(s: &[u8], mut i: usize) -> Option<usize> {
        if s.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        loop {
            match *s.get(i)? {
                b'"' => return Some(i + 1),
                b'\\' => match *s.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let hex = s.get(i + 2..i + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 6;
                    }
                    _ => return None,
                },
                0..=0x1f => return None,
                _ => i += 1,
            }
        }
    }
    fn number(s: &[u8], mut i: usize) -> Option<usize> {
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        let n = digits(s, i);
        if n == 0 || (n > 1 && s[i] == b'0') {
            return None;
        }
        i += n;
        if s.get(i) == Some(&b'.') {
            let n = digits(s, i + 1);
            if n == 0 {
                return None;
            }
            i += 1 + n;
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(s.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let n = digits(s, i);
            if n == 0 {
                return None;
            }
            i += n;
        }
        Some(i)
    }
    fn value(s: &[u8], i: usize, depth: usize) -> Option<usize> {
        if depth > 64 {
            return None;
        }
        let i = ws(s, i);
        let (close, mut i) = match *s.get(i)? {
            b'"' => return string(s, i),
            b'-' | b'0'..=b'9' => return number(s, i),
            b't' => return s[i..].starts_with(b"true").then_some(i + 4),
            b'f' => return s[i..].starts_with(b"false").then_some(i + 5),
            b'n' => return s[i..].starts_with(b"null").then_some(i + 4),
            b'[' => (b']', i + 1),
            b'{' => (b'}', i + 1),
            _ => return None,
        };
        if s.get(ws(s, i)) == Some(&close) {
            return Some(ws(s, i) + 1);
        }
        loop {
            if close == b'}' {
                i = string(s, ws(s, i))?;
                i = ws(s, i);
                if s.get(i) != Some(&b':') {
                    return None;
                }
                i += 1;
            }
            i = ws(s, value(s, i, depth + 1)?);
            match *s.get(i)? {
                b',' => i += 1,
                c if c == close => return Some(i + 1),
                _ => return None,
            }
        }
    }
    std::str::from_utf8(text).is_ok()
        && value(text, 0, 0).is_some_and(|end| ws(text, end) == text.len())
}

/// Target `submit_parse`: [`Submit::parse`] on fields split at `,`
/// (`en2,ntime,nonce[,version_bits]`), the extranonce2 size from the
/// first byte; checked against a plain model of the hex fields
/// (extranonce2 exactly its size; ntime, nonce and version bits 1–8 digits).
pub fn submit_parse(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let en2_len = usize::from(head) % (EXTRANONCE2_MAX + 1);
    let text = String::from_utf8_lossy(rest);
    let fields: Vec<&str> = text.split(',').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let version_bits = fields.get(3).copied();
    let got = Submit::parse(field(0), field(1), field(2), version_bits, en2_len);
    let hex_ok = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    // 1–8 digits of either case (NerdMiner sends unpadded uppercase).
    let word = |s: &str| {
        let digits = (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
        u32::from_str_radix(s, 16).ok().filter(|_| digits)
    };
    let want_ok = hex_ok(field(0), en2_len * 2)
        && word(field(1)).is_some()
        && word(field(2)).is_some()
        && version_bits.is_none_or(|v| word(v).is_some());
    match got {
        Ok(s) => {
            assert!(want_ok, "accepted {text:?}");
            assert_eq!(hex::encode(s.extranonce2()), field(0).to_ascii_lowercase());
            assert_eq!(Some(s.ntime), word(field(1)));
            assert_eq!(Some(s.nonce), word(field(2)));
            assert_eq!(s.version_bits, version_bits.and_then(word));
        }
        Err(_) => assert!(!want_ok, "refused {text:?}"),
    }
}

/// The regtest template's work, and a second one for "a new block".
fn regtest_work() -> &'static (Arc<Work>, Arc<Work>) {
    static WORK: OnceLock<(Arc<Work>, Arc<Work>)> = OnceLock::new();
    WORK.get_or_init(|| {
        let t = Template::from_json(&mut REGTEST_TEMPLATE.to_vec()).expect("the regtest template");
        let mut next = t.clone();
        next.prev_hash = [0x5a; 32];
        next.height += 1;
        let work = |id, t: &Template| Arc::new(Work::new(Arc::new(JobTemplate::new(id, t)), true));
        (work(1, &t), work(2, &next))
    })
}

/// Target `session_lines`: a whole [`Session`] fed newline-separated
/// lines, as a core feeds it, with no sockets. The first byte picks:
/// bit 0 a real subscribe + authorize first, bit 1 events on (each one
/// checked against the schema), bit 2 a tiny difficulty (so fuzzed
/// shares are accepted and, on regtest, often blocks), bit 3 version
/// rolling. A line starting with byte 1 is a core action instead:
/// tick after some seconds, send work, or a new block.
pub fn session_lines(data: &[u8]) {
    quiet();
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (work_a, _) = regtest_work();
    let mut config = Config::default();
    if flags & 4 != 0 {
        config.mindiff = 1e-9;
        config.startdiff = 1e-9;
    }
    let mut core = Core::new(config, flags & 2 != 0);
    let payout = script_pubkey(REGTEST_ADDRESS, Network::Regtest).expect("regtest address");
    let mut session = Session::new(
        7,
        Arc::from("192.0.2.7"),
        &[0xf0, 0, 0, 0x0f],
        &core.config,
        core.start,
    );
    let mut prefix = Vec::new();
    if flags & 8 != 0 {
        prefix.push(br#"{"id":0,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":16}]}"#.to_vec());
    }
    if flags & 1 != 0 {
        prefix.push(br#"{"id":1,"method":"mining.subscribe","params":["NerdMinerV2"]}"#.to_vec());
        prefix.push(
            format!(
                r#"{{"id":2,"method":"mining.authorize","params":["{REGTEST_ADDRESS}.fuzz","x"]}}"#
            )
            .into_bytes(),
        );
    }
    let mut work = work_a;
    let mut out = Vec::new();
    let lines = prefix
        .iter()
        .map(Vec::as_slice)
        .chain(rest.split(|&b| b == b'\n'));
    for (n, line) in lines.enumerate().take(256) {
        out.clear();
        let flow = match line {
            [1, action, arg, ..] => {
                core_action(&mut core, &mut session, &mut work, *action, *arg, &mut out);
                Flow::Continue
            }
            _ => {
                let mut ctx = core.context(work);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                session.handle_line(line, &mut ctx, &mut out)
            }
        };
        if n % 16 == 15 {
            core.secs += 1;
            session.tick(&core.context(work), &mut out);
        }
        // Out of budget: a core handles nothing of this connection until
        // its once-a-second tick has refilled it.
        for _ in 0..600 {
            if !session.is_paused() {
                break;
            }
            core.secs += 1;
            session.tick(&core.context(work), &mut out);
        }
        assert_json_lines(&out, "what the session wrote");
        core.check_outputs(&payout);
        if flow == Flow::Close || session.is_paused() {
            break;
        }
    }
    session.disconnected(&core.context(work));
    core.check_outputs(&payout);
}

/// A core's doings between a connection's lines.
fn core_action(
    core: &mut Core,
    session: &mut Session,
    work: &mut &'static Arc<Work>,
    action: u8,
    arg: u8,
    out: &mut Vec<u8>,
) {
    let (work_a, work_b) = regtest_work();
    match action % 4 {
        0 => {
            core.secs += u64::from(arg);
            session.tick(&core.context(work), out);
        }
        1 => {
            if !session.has_work(work) || arg & 1 != 0 {
                session.send_work(work, arg & 2 != 0, &core.context(work), out);
            }
        }
        2 => {
            // A new network block: the other template, older jobs stale.
            *work = if Arc::ptr_eq(work, work_a) {
                work_b
            } else {
                work_a
            };
            core.seen = SeenShares::new(64);
            session.drop_jobs();
            session.send_work(work, true, &core.context(work), out);
        }
        _ => core.secs += u64::from(arg) * 60,
    }
}

/// A fake node on loopback: each connection reads one request and gets
/// the next queued reply, then the server closes its side.
struct FakeNode {
    address: String,
    replies: Sender<Vec<u8>>,
}

fn fake_node() -> &'static Mutex<FakeNode> {
    static NODE: OnceLock<Mutex<FakeNode>> = OnceLock::new();
    NODE.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("local address").to_string();
        let (replies, queue) = crossbeam_channel::unbounded::<Vec<u8>>();
        std::thread::spawn(move || {
            for reply in queue {
                let Ok((stream, _)) = listener.accept() else {
                    continue;
                };
                serve_one(stream, &reply);
            }
        });
        Mutex::new(FakeNode { address, replies })
    })
}

fn serve_one(mut stream: TcpStream, reply: &[u8]) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    // The whole request (headers, then Content-Length bytes of body).
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = stream.write_all(reply);
    let _ = stream.shutdown(Shutdown::Write);
    // Until the client closes, so it never reads a reset.
    while matches!(stream.read(&mut chunk), Ok(n) if n > 0) {}
}

/// Target `node_rpc_reply`: what the pool parses from bitcoind. The
/// bytes after the first are a whole HTTP reply (status line, headers,
/// chunked or sized body) — or, with the first byte's top bit clear, a
/// body sent with a plain 200 and Content-Length — answered by a fake
/// node on loopback to a real [`NodeClient`] call (which call: the first
/// byte): the HTTP reading of `node::rpc`, the JSON-RPC envelope of
/// `node::client`, and each typed reply. The bytes are also parsed
/// directly as a template; any template accepted must make a job, a
/// coinbase and a notify without a panic.
pub fn node_rpc_reply(data: &[u8]) {
    quiet();
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    if let Ok(t) = Template::from_json(&mut body.to_vec()) {
        check_template(&t);
    }
    let reply = if mode & 0x80 != 0 {
        body.to_vec()
    } else {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let node = fake_node().lock();
    if node.replies.send(reply).is_err() {
        return;
    }
    let endpoint = Endpoint::new(
        &node.address,
        Auth::Basic {
            user: "tbg".into(),
            pass: "tbg".into(),
        },
    );
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        io: Duration::from_secs(10),
    };
    let mut client = NodeClient::new(vec![endpoint], timeouts);
    match mode % 6 {
        0 => {
            if let Ok(t) = client.get_block_template() {
                check_template(&t);
            }
        }
        1 => {
            let _ = client.submit_block("00");
        }
        2 => {
            let _ = client.best_block_hash();
        }
        3 => {
            if let Ok(info) = client.blockchain_info() {
                let _ = Network::from_chain(&info.chain);
                let _ = hex::decode_display(&info.bestblockhash);
            }
        }
        4 => {
            let _ = client.validate_address(REGTEST_ADDRESS);
        }
        _ => {
            let mut tip = TipWatcher::new();
            let _ = tip.poll(&mut client);
        }
    }
    drop(client);
    drop(node);
}

/// A template the node client accepted is one the pool mines on.
fn check_template(t: &Template) {
    assert_eq!(Ok(t.target), compact_to_target(t.bits));
    let job = Arc::new(JobTemplate::new(1, t));
    let work = Work::new(job.clone(), true);
    let payout = script_pubkey(REGTEST_ADDRESS, Network::Regtest).expect("regtest address");
    let cfg = crate::work::WorkConfig::default();
    let (sig, _) = coinbase_sig(&cfg, "fuzz");
    let cb = build_coinbase(&job, &cfg, &payout, &sig);
    let mut out = Vec::new();
    encode::notify(
        &mut out,
        "1",
        &work.prevhash,
        &cb.coinb1,
        &cb.coinb2,
        &work.notify_tail,
        true,
    );
    assert_json_lines(&out, "notify for a node's template");
}

/// Target `collector_datagram`: datagrams (the input split at byte
/// 0xff, never part of UTF-8) through the collector's real receiver on
/// a socket pair; every event it hands a sink is checked: one spool
/// line that reads back as the same event, JSON with the enrichment.
pub fn collector_datagram(data: &[u8]) {
    quiet();
    let datagrams: Vec<&[u8]> = data.split(|&b| b == 0xff).take(32).collect();
    for d in &datagrams {
        let _ = parse_event(&mut d.to_vec());
    }
    let Ok((tx, rx)) = std::os::unix::net::UnixDatagram::pair() else {
        return;
    };
    let mut sent = 0u64;
    for d in &datagrams {
        if tx.send(d).is_ok() {
            sent += receiver::events_of(d).count() as u64;
        }
    }
    let (queue, events) = crossbeam_channel::bounded(64);
    let sink = SinkQueue {
        tx: queue,
        metrics: Arc::new(SinkMetrics::default()),
    };
    let metrics = Arc::new(Metrics::default());
    // Stopped from the start: it only drains what is queued, then returns.
    let stop = AtomicBool::new(true);
    receiver::run(rx, vec![sink], metrics.clone(), "fuzz-host".into(), &stop);
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let counted: u64 = metrics
        .received
        .iter()
        .chain(&metrics.invalid)
        .map(load)
        .sum();
    assert_eq!(counted, sent, "every event of every datagram counted once");
    let mut stored = 0u64;
    for e in events.try_iter() {
        stored += 1;
        let line = e.spool_line();
        assert!(
            !line.contains('\n'),
            "a spool line with a newline: {line:?}"
        );
        assert_eq!(
            StoredEvent::from_spool_line(line).as_ref(),
            Some(&e),
            "the spool gives back another event"
        );
        let value = simd_json::to_owned_value(&mut line.as_bytes().to_vec()).expect("JSON payload");
        assert_eq!(
            value.get("collector").and_then(|v| v.as_str()),
            Some("fuzz-host")
        );
    }
    let received: u64 = metrics.received.iter().map(load).sum();
    assert_eq!(stored, received);
}

/// Target `config`: the pool's [`Config::parse`] (then `validate`, and
/// an accepted config used: a session subscribes and authorizes with
/// it, a coinbase is built) and the collector's [`CollectorConfig::parse`].
pub fn config(data: &[u8]) {
    quiet();
    if let Ok((c, _warnings)) = Config::parse(&mut data.to_vec()) {
        assert!(c.validate().is_ok(), "parse accepted what validate refuses");
        use_config(c);
    }
    let _ = CollectorConfig::parse(&mut data.to_vec());
}

fn use_config(config: Config) {
    let _ = LineBuffer::new(config.max_line_bytes);
    let en1 = [0x11u8; 8];
    let en1 = &en1[..config.work.extranonce1_len];
    let (work, _) = regtest_work();
    let mut core = Core::new(config, true);
    let mut session = Session::new(1, Arc::from("192.0.2.1"), en1, &core.config, core.start);
    let mut out = Vec::new();
    let lines = [
        br#"{"id":1,"method":"mining.subscribe","params":["bitaxe/BM1366/v2.4.0"]}"#.to_vec(),
        format!(r#"{{"id":2,"method":"mining.authorize","params":["{REGTEST_ADDRESS}.w","x"]}}"#)
            .into_bytes(),
    ];
    for line in &lines {
        session.handle_line(line, &mut core.context(work), &mut out);
    }
    assert_json_lines(&out, "replies under a parsed config");
    let payout = script_pubkey(REGTEST_ADDRESS, Network::Regtest).expect("regtest address");
    core.check_outputs(&payout);
    let (sig, _) = coinbase_sig(&core.config.work, &format!("{REGTEST_ADDRESS}.w"));
    let _ = build_coinbase(&work.template, &core.config.work, &payout, &sig);
}

/// A publisher's bytes, handed out a few at a time; what the subscriber
/// writes is dropped.
struct Publisher<'a> {
    data: &'a [u8],
    rng: Rng,
}

impl Read for Publisher<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.rng.size(200).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl Write for Publisher<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Target `node_zmq`: what a ZMQ publisher sends the `zmqblock`
/// subscriber (greeting, READY, frames), in arbitrary chunks, through
/// [`zmq::Subscriber`]; every message it returns is within its bounds.
pub fn node_zmq(data: &[u8]) {
    let peer = Publisher {
        data,
        rng: Rng::new(&data[..data.len().min(8)]),
    };
    let Ok(mut s) = zmq::Subscriber::handshake(peer, zmq::HASHBLOCK) else {
        return;
    };
    // Each call reads at least one byte or fails: bounded by the input.
    for _ in 0..=data.len() {
        match s.next_message() {
            Ok(Some(parts)) => {
                assert!(!parts.is_empty() && parts.len() <= zmq::MAX_PARTS);
                assert!(parts.iter().all(|p| p.len() <= zmq::MAX_FRAME_BYTES));
                if let Some((_, _)) = zmq::hashblock(&parts) {
                    assert_eq!(parts[0], zmq::HASHBLOCK);
                }
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
    panic!("the subscriber read past its input");
}
