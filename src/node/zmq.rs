//! New blocks from the node as they happen: a ZeroMQ SUB client for one
//! topic (`hashblock`), speaking ZMTP 3.0 with the NULL mechanism, as
//! Bitcoin Core publishes with `-zmqpubhashblock=tcp://…` (ckpool's
//! `zmqblock`). Enough of ZMTP for that and no more: a greeting, the
//! READY handshake, a subscription, and multipart messages; commands the
//! publisher sends later (a heartbeat) are skipped. Everything the
//! publisher sends is bounded ([`MAX_FRAME_BYTES`], [`MAX_PARTS`]):
//! anything else ends the connection, and the listener connects again.
//!
//! It only wakes the node thread: the template still comes over RPC, and
//! `blockpoll` stays as the fallback when the publisher is down.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::Sender;

/// Largest frame kept: `hashblock` frames are 9, 32 and 4 bytes; READY
/// carries a few properties.
pub const MAX_FRAME_BYTES: usize = 4096;
/// Most parts in one message (`hashblock` has three).
pub const MAX_PARTS: usize = 8;
/// The topic subscribed to.
pub const HASHBLOCK: &[u8] = b"hashblock";
/// How long a read waits before the listener checks whether to stop.
const READ_WAIT: Duration = Duration::from_millis(500);
/// Waits between reconnects while the publisher is down.
const RECONNECT: Duration = Duration::from_secs(1);

/// What went wrong with a publisher.
#[derive(Debug)]
pub enum ZmqError {
    Io(io::Error),
    /// It closed the connection.
    Closed,
    /// It sent what ZMTP 3 does not allow, or more than this client keeps.
    Protocol(String),
}

impl std::fmt::Display for ZmqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZmqError::Io(e) => write!(f, "{e}"),
            ZmqError::Closed => f.write_str("the publisher closed the connection"),
            ZmqError::Protocol(why) => write!(f, "not ZMTP 3: {why}"),
        }
    }
}

impl From<io::Error> for ZmqError {
    fn from(e: io::Error) -> ZmqError {
        ZmqError::Io(e)
    }
}

fn protocol(why: impl Into<String>) -> ZmqError {
    ZmqError::Protocol(why.into())
}

/// The 64-byte greeting: ZMTP 3.0, mechanism NULL, as a client.
pub fn greeting() -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3; // version 3.0: subscriptions are messages
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// Check a peer's greeting: ZMTP 3.x with the NULL mechanism.
pub fn check_greeting(g: &[u8; 64]) -> Result<(), ZmqError> {
    if g[0] != 0xff || g[9] & 1 != 1 {
        return Err(protocol("no ZMTP signature"));
    }
    if g[10] < 3 {
        return Err(protocol(format!("version {}.{}", g[10], g[11])));
    }
    let mechanism = &g[12..32];
    if &mechanism[..4] != b"NULL" || mechanism[4..].iter().any(|&b| b != 0) {
        return Err(protocol("a mechanism other than NULL"));
    }
    Ok(())
}

/// One frame: a message part or a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub more: bool,
    pub command: bool,
    pub body: Vec<u8>,
}

/// The frame at the front of `buf` and the bytes it took, `None` while it
/// has not all arrived.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ZmqError> {
    let Some(&flags) = buf.first() else {
        return Ok(None);
    };
    if flags & !0x07 != 0 {
        return Err(protocol(format!("frame flags {flags:#04x}")));
    }
    let long = flags & 0x02 != 0;
    let head = if long { 9 } else { 2 };
    if buf.len() < head {
        return Ok(None);
    }
    let size = if long {
        u64::from_be_bytes(buf[1..9].try_into().expect("eight bytes"))
    } else {
        u64::from(buf[1])
    };
    if size > MAX_FRAME_BYTES as u64 {
        return Err(protocol(format!("a frame of {size} bytes")));
    }
    let end = head + size as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let frame = Frame {
        more: flags & 0x01 != 0,
        command: flags & 0x04 != 0,
        body: buf[head..end].to_vec(),
    };
    if frame.command && frame.more {
        return Err(protocol("a command with more parts"));
    }
    Ok(Some((frame, end)))
}

/// A frame's bytes (short form: every frame this client sends is small).
pub fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() <= 255, "short frames only");
    let mut f = vec![flags, body.len() as u8];
    f.extend_from_slice(body);
    f
}

/// The READY command naming this side's socket type.
pub fn ready(socket_type: &[u8]) -> Vec<u8> {
    let mut body = vec![5];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type);
    frame(0x04, &body)
}

/// A property of READY's metadata: name and value.
pub type Property<'a> = (&'a [u8], &'a [u8]);

/// A command's name and its properties (READY's metadata).
pub fn parse_command(body: &[u8]) -> Result<(&[u8], Vec<Property<'_>>), ZmqError> {
    let bad = || protocol("a malformed command");
    let (&len, rest) = body.split_first().ok_or_else(bad)?;
    let (name, mut rest) = rest.split_at_checked(len.into()).ok_or_else(bad)?;
    let mut props = Vec::new();
    if name != b"READY" {
        return Ok((name, props));
    }
    while let Some((&len, tail)) = rest.split_first() {
        let (key, tail) = tail.split_at_checked(len.into()).ok_or_else(bad)?;
        let (size, tail) = tail.split_at_checked(4).ok_or_else(bad)?;
        let size = u32::from_be_bytes(size.try_into().expect("four bytes"));
        let (value, tail) = tail.split_at_checked(size as usize).ok_or_else(bad)?;
        props.push((key, value));
        rest = tail;
    }
    Ok((name, props))
}

/// A `hashblock` message's block hash (as Core sends it: display order)
/// and sequence number.
pub fn hashblock(parts: &[Vec<u8>]) -> Option<([u8; 32], u32)> {
    match parts {
        [topic, hash, seq] if topic.as_slice() == HASHBLOCK => Some((
            hash.as_slice().try_into().ok()?,
            u32::from_le_bytes(seq.as_slice().try_into().ok()?),
        )),
        _ => None,
    }
}

/// A subscription to one topic over `S` (a TCP stream; anything that
/// reads and writes in tests and the fuzz target).
pub struct Subscriber<S> {
    stream: S,
    /// Bytes read and not yet parsed (less than a frame).
    buf: Vec<u8>,
    /// Parts of a message whose last part has not arrived.
    parts: Vec<Vec<u8>>,
}

impl<S: Read + Write> Subscriber<S> {
    /// Greet, agree on NULL, and subscribe to `topic`.
    pub fn handshake(stream: S, topic: &[u8]) -> Result<Subscriber<S>, ZmqError> {
        let mut s = Subscriber {
            stream,
            buf: Vec::new(),
            parts: Vec::new(),
        };
        s.stream.write_all(&greeting())?;
        let mut peer = [0u8; 64];
        s.stream.read_exact(&mut peer).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ZmqError::Closed,
            _ => ZmqError::Io(e),
        })?;
        check_greeting(&peer)?;
        s.stream.write_all(&ready(b"SUB"))?;
        let first = loop {
            if let Some(f) = s.next_frame()? {
                break f;
            }
        };
        let (name, props) = parse_command(&first.body)?;
        if !first.command || name != b"READY" {
            return Err(protocol("no READY"));
        }
        let kind = props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(b"Socket-Type"));
        if !matches!(kind, Some((_, t)) if *t == b"PUB" || *t == b"XPUB") {
            return Err(protocol("the peer is not a publisher"));
        }
        let mut subscribe = vec![1];
        subscribe.extend_from_slice(topic);
        s.stream.write_all(&frame(0, &subscribe))?;
        s.stream.flush()?;
        Ok(s)
    }

    /// The next frame, reading once if none is buffered (`None`: nothing
    /// whole yet, or the read timed out).
    fn next_frame(&mut self) -> Result<Option<Frame>, ZmqError> {
        if let Some((f, used)) = parse_frame(&self.buf)? {
            self.buf.drain(..used);
            return Ok(Some(f));
        }
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(ZmqError::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                // Never more than a frame and a chunk waiting.
                assert!(self.buf.len() <= MAX_FRAME_BYTES + 9 + chunk.len());
                Ok(None)
            }
            Err(e) if is_wait(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The next whole message (`None`: none yet, after at most one read).
    pub fn next_message(&mut self) -> Result<Option<Vec<Vec<u8>>>, ZmqError> {
        while let Some(f) = self.next_frame()? {
            if f.command {
                continue; // a heartbeat or the like: nothing for a SUB
            }
            if self.parts.len() == MAX_PARTS {
                return Err(protocol(format!("more than {MAX_PARTS} parts")));
            }
            self.parts.push(f.body);
            if !f.more {
                return Ok(Some(std::mem::take(&mut self.parts)));
            }
        }
        Ok(None)
    }
}

fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// `tcp://host:port` → `host:port`.
pub fn tcp_address(url: &str) -> Result<&str, String> {
    url.strip_prefix("tcp://")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("`{url}`: expected tcp://host:port"))
}

/// Subscribe to `hashblock` at `url` and send the hash of every new block
/// to `blocks`, connecting again (every second) while the publisher is
/// down or misbehaves, until `stopping`.
pub fn listen(url: &str, blocks: &Sender<[u8; 32]>, stopping: &AtomicBool) {
    let Ok(address) = tcp_address(url) else {
        log_error!("zmqblock {url}: expected tcp://host:port");
        return;
    };
    let mut logged_down = false;
    while !stopping.load(Ordering::Acquire) {
        match subscribe(address) {
            Ok(mut s) => {
                log_info!("zmqblock: subscribed to hashblock at {url}");
                logged_down = false;
                if let Err(e) = forward(&mut s, blocks, stopping) {
                    log_warn!("zmqblock {url}: {e} (blockpoll goes on; connecting again)");
                }
            }
            Err(e) if !logged_down => {
                log_warn!("zmqblock {url}: {e} (blockpoll goes on; connecting again)");
                logged_down = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(RECONNECT);
    }
}

fn subscribe(address: &str) -> Result<Subscriber<TcpStream>, ZmqError> {
    let addr = address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| protocol("no address"))?;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let _ = stream.set_nodelay(true);
    let s = Subscriber::handshake(stream, HASHBLOCK)?;
    s.stream.set_read_timeout(Some(READ_WAIT))?;
    Ok(s)
}

fn forward(
    s: &mut Subscriber<TcpStream>,
    blocks: &Sender<[u8; 32]>,
    stopping: &AtomicBool,
) -> Result<(), ZmqError> {
    while !stopping.load(Ordering::Acquire) {
        if let Some(parts) = s.next_message()? {
            match hashblock(&parts) {
                Some((hash, seq)) => {
                    log_debug!(
                        "zmqblock: hashblock {} (seq {seq})",
                        crate::bitcoin::hex::encode(&hash)
                    );
                    if blocks.send(hash).is_err() {
                        return Ok(()); // the node thread is gone: stopping
                    }
                }
                None => log_debug!("zmqblock: a message that is not hashblock ignored"),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A publisher's side, written into one buffer: greeting, READY, and
    /// then `messages`.
    fn publisher_bytes(messages: &[&[&[u8]]]) -> Vec<u8> {
        let mut out = greeting().to_vec();
        out[10..12].copy_from_slice(&[3, 1]);
        out.extend_from_slice(&ready(b"PUB"));
        for m in messages {
            for (i, part) in m.iter().enumerate() {
                let more = u8::from(i + 1 < m.len());
                out.extend_from_slice(&frame(more, part));
            }
        }
        out
    }

    /// Reads from `input`, records what is written.
    struct Duplex {
        input: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Three bytes at a time: frames arrive split.
            let n = buf.len().min(3);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn duplex(input: Vec<u8>) -> Duplex {
        Duplex {
            input: io::Cursor::new(input),
            written: Vec::new(),
        }
    }

    #[test]
    fn subscribes_and_reads_hashblock() {
        let hash = [0xab; 32];
        let seq = 7u32.to_le_bytes();
        let heartbeat = frame(0x04, b"\x04PING\x00\x10");
        let mut input = publisher_bytes(&[&[HASHBLOCK, &hash, &seq]]);
        input.extend_from_slice(&heartbeat);
        let skip = 64 + ready(b"PUB").len();
        input.extend_from_slice(&publisher_bytes(&[&[HASHBLOCK, &[1; 32], &[8, 0, 0, 0]]])[skip..]);
        let mut s = Subscriber::handshake(duplex(input), HASHBLOCK).unwrap();
        // What it wrote: greeting (3.0, NULL), READY as SUB, subscribe.
        let w = &s.stream.written;
        assert_eq!(w[..64], greeting());
        let ready_len = ready(b"SUB").len();
        assert_eq!(w[64..64 + ready_len], ready(b"SUB"));
        assert_eq!(w[64 + ready_len..], frame(0, b"\x01hashblock"));
        let mut got = Vec::new();
        loop {
            match s.next_message() {
                Ok(Some(m)) => got.push(hashblock(&m).unwrap()),
                Ok(None) => {}
                Err(ZmqError::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, [([0xab; 32], 7), ([1; 32], 8)]);
    }

    #[test]
    fn refuses_what_is_not_a_null_publisher() {
        let mut not_zmtp = publisher_bytes(&[]);
        not_zmtp[0] = b'G';
        let mut curve = publisher_bytes(&[]);
        curve[12..17].copy_from_slice(b"CURVE");
        let mut old = publisher_bytes(&[]);
        old[10] = 2;
        let mut sub = greeting().to_vec();
        sub.extend_from_slice(&ready(b"SUB"));
        for input in [not_zmtp, curve, old, sub] {
            let r = Subscriber::handshake(duplex(input), HASHBLOCK);
            assert!(matches!(r, Err(ZmqError::Protocol(_))), "{:?}", r.err());
        }
        let closed = Subscriber::handshake(duplex(greeting()[..30].to_vec()), HASHBLOCK);
        assert!(matches!(closed, Err(ZmqError::Closed)));
    }

    #[test]
    fn frames_are_bounded() {
        let mut long = vec![0x02];
        long.extend_from_slice(&(MAX_FRAME_BYTES as u64 + 1).to_be_bytes());
        assert!(parse_frame(&long).is_err(), "too long");
        let mut fits = vec![0x02];
        fits.extend_from_slice(&4u64.to_be_bytes());
        assert_eq!(parse_frame(&fits).unwrap(), None, "not all here");
        fits.extend_from_slice(b"abcd");
        let (f, used) = parse_frame(&fits).unwrap().unwrap();
        assert_eq!(
            (f.body.as_slice(), used, f.more, f.command),
            (&b"abcd"[..], 13, false, false)
        );
        assert!(parse_frame(&[0x08, 0]).is_err(), "unknown flag");
        assert!(parse_frame(&[0x05, 0]).is_err(), "a command with more");
        // Too many parts in one message.
        let parts: Vec<&[u8]> = vec![b"x"; MAX_PARTS + 1];
        let input = publisher_bytes(&[&parts]);
        let mut s = Subscriber::handshake(duplex(input), HASHBLOCK).unwrap();
        let r = loop {
            match s.next_message() {
                Ok(None) => continue,
                other => break other,
            }
        };
        assert!(matches!(r, Err(ZmqError::Protocol(_))));
    }

    #[test]
    fn hashblock_messages_only() {
        assert_eq!(
            hashblock(&[HASHBLOCK.to_vec(), vec![2; 32], vec![1, 0, 0, 0]]),
            Some(([2; 32], 1))
        );
        assert_eq!(
            hashblock(&[b"hashtx".to_vec(), vec![2; 32], vec![1, 0, 0, 0]]),
            None
        );
        assert_eq!(
            hashblock(&[HASHBLOCK.to_vec(), vec![2; 31], vec![1, 0, 0, 0]]),
            None
        );
        assert_eq!(hashblock(&[HASHBLOCK.to_vec(), vec![2; 32]]), None);
        assert_eq!(tcp_address("tcp://127.0.0.1:28332"), Ok("127.0.0.1:28332"));
        assert!(tcp_address("ipc:///tmp/x").is_err());
    }
}
