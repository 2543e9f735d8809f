//! The HTTP/1.1 server, bounded everywhere. One I/O thread (mio) accepts
//! and reads request heads without blocking, each within
//! `read_timeout_ms` and `max_header_bytes`, at most `max_connections`
//! at once: a slowloris client holds a slot in that thread's table, never
//! a thread. A complete head goes to a bounded queue (`queue_capacity`)
//! served by `threads` worker threads, which answer and close (no
//! keep-alive: the page's requests are few and small). A full queue or
//! table is answered `503` at once. `/api/events` hands its socket to the
//! SSE hub after the response head, freeing the worker.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded (invalid escapes kept as they are).
    pub path: String,
    /// Query pairs, decoded.
    pub query: Vec<(String, String)>,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler answers.
pub enum Reply {
    /// A complete response: status line text, content type, body.
    Full {
        status: &'static str,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Become a Server-Sent Events stream (only this user's, or all).
    Events { address: Option<String> },
}

/// Limits of [`Server`] (config keys of the same names).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub threads: usize,
    pub max_connections: usize,
    pub queue_capacity: usize,
    pub max_header_bytes: usize,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
}

/// Answer one request, on a worker thread (`/api/events` on the I/O
/// thread: its answer never blocks); `Events` replies get the socket
/// (after the head is written) through `adopt`.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: &Request) -> Reply;
    /// Take over an SSE client; false: no room (the worker answers 503).
    fn adopt(&self, stream: TcpStream, address: Option<String>) -> bool;
    fn sse_has_room(&self) -> bool;
}

const LISTENER: Token = Token(0);
/// The I/O thread's poll timeout: how late a head deadline may be noticed.
const SWEEP: Duration = Duration::from_millis(100);
/// How long unread request bytes are drained after a reply
/// ([`crate::http::close`]).
const DRAIN_WAIT: Duration = Duration::from_millis(50);

/// The running server (threads detached; they serve until `stop`).
pub struct Server {
    pub addr: SocketAddr,
    /// Connections currently held (reading, queued or being answered).
    pub open: Arc<AtomicUsize>,
}

struct Pending {
    stream: mio::net::TcpStream,
    head: Vec<u8>,
    deadline: Instant,
}

impl Server {
    /// Bind and start the I/O thread and the workers.
    pub fn start(
        listen: &str,
        limits: Limits,
        handler: Arc<dyn Handler>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Server> {
        let addr: SocketAddr = listen.parse().map_err(|e| {
            io::Error::new(ErrorKind::InvalidInput, format!("listen {listen}: {e}"))
        })?;
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let bound = std_listener.local_addr()?;
        let listener = TcpListener::from_std(std_listener);
        let open = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<(TcpStream, Request)>(limits.queue_capacity);
        for i in 0..limits.threads {
            let (rx, handler, open) = (rx.clone(), handler.clone(), open.clone());
            std::thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || worker(rx, &*handler, limits, &open))?;
        }
        let o = open.clone();
        std::thread::Builder::new()
            .name("http-io".into())
            .spawn(move || {
                if let Err(e) = io_loop(listener, tx, &*handler, limits, &o, &stop) {
                    log_error!("http server stopped: {e}");
                }
            })?;
        Ok(Server { addr: bound, open })
    }
}

fn io_loop(
    mut listener: TcpListener,
    tx: Sender<(TcpStream, Request)>,
    handler: &dyn Handler,
    limits: Limits,
    open: &AtomicUsize,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut table: HashMap<Token, Pending> = HashMap::new();
    let mut next = 1usize;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, Some(SWEEP)) {
            if e.kind() != ErrorKind::Interrupted {
                return Err(e);
            }
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept_all(&listener, &poll, &mut table, &mut next, limits, open);
            } else {
                read_ready(ev.token(), &poll, &mut table, (&tx, handler), limits, open);
            }
        }
        expire(&poll, &mut table, open);
    }
    Ok(())
}

fn accept_all(
    listener: &TcpListener,
    poll: &Poll,
    table: &mut HashMap<Token, Pending>,
    next: &mut usize,
    limits: Limits,
    open: &AtomicUsize,
) {
    loop {
        let (mut stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // Out of descriptors, say: the next readiness retries.
            Err(_) => return,
        };
        if open.load(Ordering::Relaxed) >= limits.max_connections {
            refuse(stream);
            continue;
        }
        *next = next.wrapping_add(1).max(1);
        let token = Token(*next);
        if poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
            .is_err()
        {
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        table.insert(
            token,
            Pending {
                stream,
                head: Vec::with_capacity(512),
                deadline: Instant::now() + limits.read_timeout,
            },
        );
    }
}

/// `503` without waiting (the socket is non-blocking: a client that does
/// not read gets nothing) and close.
fn refuse(mut stream: mio::net::TcpStream) {
    let body = br#"{"error":"server busy"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_ready(
    token: Token,
    poll: &Poll,
    table: &mut HashMap<Token, Pending>,
    (tx, handler): (&Sender<(TcpStream, Request)>, &dyn Handler),
    limits: Limits,
    open: &AtomicUsize,
) {
    let Some(p) = table.get_mut(&token) else {
        return;
    };
    let outcome = read_some(p, limits.max_header_bytes);
    let Some(outcome) = outcome else { return };
    let Some(mut p) = table.remove(&token) else {
        return;
    };
    let _ = poll.registry().deregister(&mut p.stream);
    let request = match outcome {
        Ok(head) => parse_head(&head),
        Err(status) => Err(status),
    };
    let stream = TcpStream::from(p.stream);
    match request {
        // An event stream's answer is a 200-byte head into an empty socket
        // buffer and a hand-over to the hub: done here, it never waits
        // behind slow requests for a worker, and a burst of browsers
        // (re)connecting at once never meets a full queue — a 503 would
        // end a browser's EventSource for good.
        Ok(req) if req.path.trim_end_matches('/') == "/api/events" => {
            answer(stream, &req, handler, limits);
            open.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(req) => match tx.try_send((stream, req)) {
            Ok(()) => {}
            Err(TrySendError::Full((s, _)) | TrySendError::Disconnected((s, _))) => {
                error_reply(s, "503 Service Unavailable", "server busy", limits);
                open.fetch_sub(1, Ordering::Relaxed);
            }
        },
        Err(Some(status)) => {
            error_reply(stream, status, status, limits);
            open.fetch_sub(1, Ordering::Relaxed);
        }
        Err(None) => {
            open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Read what is there: `None` while the head is incomplete, else the
/// head, or the error status to answer (`Err(None)`: closed, just drop).
fn read_some(p: &mut Pending, max: usize) -> Option<Result<Vec<u8>, Option<&'static str>>> {
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = crate::http::head_end(&p.head) {
            p.head.truncate(end);
            return Some(Ok(std::mem::take(&mut p.head)));
        }
        if p.head.len() >= max {
            return Some(Err(Some("431 Request Header Fields Too Large")));
        }
        let room = chunk.len().min(max - p.head.len());
        match p.stream.read(&mut chunk[..room]) {
            Ok(0) => return Some(Err(None)),
            Ok(n) => p.head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Some(Err(None)),
        }
    }
}

/// Close connections whose head did not arrive in time.
fn expire(poll: &Poll, table: &mut HashMap<Token, Pending>, open: &AtomicUsize) {
    let now = Instant::now();
    table.retain(|_, p| {
        if p.deadline > now {
            return true;
        }
        let _ = poll.registry().deregister(&mut p.stream);
        open.fetch_sub(1, Ordering::Relaxed);
        false
    });
}

/// `METHOD TARGET HTTP/1.x` → a request, or the error status to answer.
pub fn parse_head(head: &[u8]) -> Result<Request, Option<&'static str>> {
    const BAD: Option<&str> = Some("400 Bad Request");
    let (method, target) = crate::http::request_line(head).ok_or(BAD)?;
    if !target.starts_with('/') {
        return Err(BAD);
    }
    if method != "GET" && method != "HEAD" {
        return Err(Some("405 Method Not Allowed"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Ok(Request {
        method: method.to_string(),
        path: decode(path),
        query,
    })
}

/// Percent-decoding (`+` as a space in queries is not needed: addresses
/// and names have none); bad escapes and non-UTF-8 stay as they were.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

fn worker(
    rx: Receiver<(TcpStream, Request)>,
    handler: &dyn Handler,
    limits: Limits,
    open: &AtomicUsize,
) {
    for (stream, req) in rx {
        answer(stream, &req, handler, limits);
        open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn answer(mut stream: TcpStream, req: &Request, handler: &dyn Handler, limits: Limits) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    match handler.handle(req) {
        Reply::Full {
            status,
            content_type,
            body,
        } => {
            let head_only = req.method == "HEAD";
            if write_full(&mut stream, status, content_type, &body, head_only).is_ok() {
                close(stream);
            }
        }
        Reply::Events { address } => {
            if !handler.sse_has_room() {
                error_reply(
                    stream,
                    "503 Service Unavailable",
                    "too many event clients",
                    limits,
                );
                return;
            }
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\nX-Accel-Buffering: no\r\n\r\n: connected\n\nretry: 2000\n\n";
            if stream.write_all(head.as_bytes()).is_ok() {
                handler.adopt(stream, address);
            }
        }
    }
}

fn write_full(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()
}

/// A JSON error reply, written with the write timeout, then close.
fn error_reply(mut stream: TcpStream, status: &str, why: &str, limits: Limits) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let body =
        serde_json::to_vec(&super::model::ApiError { error: why.into() }).unwrap_or_default();
    if write_full(&mut stream, status, "application/json", &body, false).is_ok() {
        close(stream);
    }
}

fn close(stream: TcpStream) {
    crate::http::close(stream, DRAIN_WAIT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_refuse() {
        let r = parse_head(b"GET /api/client/bc1q%41?address=x%20y&z HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(r.path, "/api/client/bc1qA");
        assert_eq!(r.param("address"), Some("x y"));
        assert_eq!(r.param("z"), Some(""));
        assert_eq!(
            parse_head(b"POST / HTTP/1.1\r\n\r\n"),
            Err(Some("405 Method Not Allowed"))
        );
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET x HTTP/1.1\r\n\r\n",
            b"\xff / HTTP/1.1\r\n\r\n",
            b"",
            b"GET / HTTP/2 x\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad), Err(Some("400 Bad Request")), "{bad:?}");
        }
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%ff"), "%ff");
    }

    /// Every request but the event stream takes 300 ms.
    struct Slow {
        adopted: parking_lot::Mutex<Vec<TcpStream>>,
    }

    impl Handler for Slow {
        fn handle(&self, req: &Request) -> Reply {
            if req.path == "/api/events" {
                return Reply::Events { address: None };
            }
            std::thread::sleep(Duration::from_millis(300));
            Reply::Full {
                status: "200 OK",
                content_type: "text/plain",
                body: b"slow".to_vec(),
            }
        }
        fn adopt(&self, stream: TcpStream, _: Option<String>) -> bool {
            self.adopted.lock().push(stream);
            true
        }
        fn sse_has_room(&self) -> bool {
            true
        }
    }

    fn status_line(addr: SocketAddr, path: &str) -> String {
        use std::io::{BufRead, BufReader};
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut line = String::new();
        let _ = BufReader::new(s).read_line(&mut line);
        line
    }

    /// A burst of event-stream clients while the one worker and its
    /// one-slot queue are taken: all are answered 200, none 503.
    #[test]
    fn event_streams_never_wait_for_a_busy_worker() {
        let limits = Limits {
            threads: 1,
            max_connections: 1000,
            queue_capacity: 1,
            max_header_bytes: 8192,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
        };
        let handler = Arc::new(Slow {
            adopted: parking_lot::Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let server = Server::start("127.0.0.1:0", limits, handler.clone(), stop.clone()).unwrap();
        let addr = server.addr;
        let slow: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(move || status_line(addr, "/slow")))
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let streams: Vec<_> = (0..50)
            .map(|_| std::thread::spawn(move || status_line(addr, "/api/events")))
            .collect();
        for s in streams {
            assert_eq!(s.join().unwrap().trim_end(), "HTTP/1.1 200 OK");
        }
        assert_eq!(handler.adopted.lock().len(), 50);
        // The slow requests' own fate (one answered, others 503) depends on
        // timing; only the event streams' is asserted.
        for t in slow {
            let _ = t.join();
        }
        stop.store(true, Ordering::Relaxed);
    }
}
