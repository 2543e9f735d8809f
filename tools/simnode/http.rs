//! A small HTTP/1.1 server for JSON-RPC, as bitcoind's: a thread per
//! connection, keep-alive, Content-Length bodies, basic auth. Lenient
//! where real clients are sloppy (ckpool ends header lines with a bare
//! LF), strict about sizes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::auth::Auth;
use crate::node::Node;
use crate::rpc;

/// Largest request body: a hex `submitblock` of a 4 MB block is 8 MB;
/// room for anything bigger a test may try.
const MAX_BODY_BYTES: usize = 64 << 20;
/// Longest request or header line.
const MAX_LINE_BYTES: usize = 16 << 10;
/// Most header lines in one request (and blank lines before one).
const MAX_HEADER_LINES: usize = 100;
/// Most connections served at once; more are answered 503.
const MAX_CONNECTIONS: usize = 512;
/// An idle keep-alive connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A client that stops reading its reply is dropped after this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Body buffer reserved up front; grows as bytes actually arrive, so a
/// lying Content-Length cannot make us allocate much.
const INITIAL_BODY_CAPACITY: usize = 1 << 20;
/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// One parsed request.
struct Request {
    method: String,
    keep_alive: bool,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// The headers we act on.
#[derive(Default)]
struct Headers {
    content_length: Option<usize>,
    connection: Option<String>,
    authorization: Option<String>,
    expect_continue: bool,
    chunked: bool,
}

/// Why a request could not be read.
enum HttpError {
    Io(io::Error),
    /// Answer with this status and message, then close.
    Reject(u16, &'static str),
}

/// One response.
struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    /// Add `WWW-Authenticate` (a 401).
    challenge: bool,
}

impl Response {
    /// A plain-text response (HTTP-level errors).
    fn text(status: u16, message: &str) -> Response {
        Response {
            status,
            content_type: "text/plain",
            body: format!("{message}\n").into_bytes(),
            challenge: false,
        }
    }
}

/// Accept connections forever, one thread each.
pub fn serve(listener: TcpListener, node: Arc<Node>, auth: Arc<Auth>) {
    let active = Arc::new(AtomicUsize::new(0));
    for incoming in listener.incoming() {
        match incoming {
            Ok(stream) => spawn_connection(stream, &node, &auth, &active),
            Err(e) => {
                eprintln!("simnode: accept failed: {e}");
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

/// Holds one place in the connection count until its thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serve `stream` on its own thread, or answer 503 when at the limit.
fn spawn_connection(
    mut stream: TcpStream,
    node: &Arc<Node>,
    auth: &Arc<Auth>,
    active: &Arc<AtomicUsize>,
) {
    let slot = Slot(Arc::clone(active));
    if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        eprintln!("simnode: too many connections, refusing one");
        let _ = write_response(
            &mut stream,
            &Response::text(503, "too many connections"),
            false,
        );
        return;
    }
    let (node, auth) = (Arc::clone(node), Arc::clone(auth));
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let spawned = thread::Builder::new()
        .name("rpc-conn".to_string())
        .spawn(move || {
            let _slot = slot;
            if let Err(e) = connection(stream, &node, &auth) {
                eprintln!("simnode: connection {peer}: {e}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("simnode: cannot start a connection thread: {e}");
    }
}

/// Serve requests on one connection until it closes.
fn connection(stream: TcpStream, node: &Node, auth: &Auth) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader, &mut writer) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(HttpError::Io(e)) if is_hangup(&e) => return Ok(()),
            Err(HttpError::Io(e)) => return Err(e),
            Err(HttpError::Reject(status, why)) => {
                eprintln!("simnode: bad HTTP request: {why}");
                return write_response(&mut writer, &Response::text(status, why), false);
            }
        };
        let keep_alive = request.keep_alive;
        let response = respond(node, auth, request);
        write_response(&mut writer, &response, keep_alive)?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// A client going away or idling out: not worth a log line.
fn is_hangup(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe | WouldBlock | TimedOut
    )
}

/// bitcoind's order: POST only, then credentials, then JSON-RPC.
fn respond(node: &Node, auth: &Auth, request: Request) -> Response {
    if request.method != "POST" {
        eprintln!("simnode: {} request refused", request.method);
        return Response::text(405, "JSONRPC server handles only POST requests");
    }
    if !auth.allows(request.authorization.as_deref()) {
        eprintln!("simnode: request without valid credentials refused");
        return Response {
            status: 401,
            content_type: "text/plain",
            body: Vec::new(),
            challenge: true,
        };
    }
    let mut body = request.body;
    let reply = rpc::handle(node, &mut body);
    Response {
        status: reply.status,
        content_type: "application/json",
        body: reply.body.map(String::into_bytes).unwrap_or_default(),
        challenge: false,
    }
}

/// The next request, or `None` when the client closed between requests.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<Option<Request>, HttpError> {
    let Some(line) = read_request_line(reader)? else {
        return Ok(None);
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(_target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Reject(400, "malformed request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(HttpError::Reject(505, "unsupported HTTP version")),
    };
    let method = method.to_string();
    let headers = read_headers(reader)?;
    let keep_alive = match headers.connection.as_deref() {
        Some(c) if c.contains("close") => false,
        Some(c) if c.contains("keep-alive") => true,
        _ => !http10,
    };
    if headers.chunked {
        return Err(HttpError::Reject(
            411,
            "chunked request bodies are not supported; send Content-Length",
        ));
    }
    let length = headers.content_length.unwrap_or(0);
    if length > MAX_BODY_BYTES {
        return Err(HttpError::Reject(413, "request body too large"));
    }
    if headers.expect_continue && !http10 {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(HttpError::Io)?;
    }
    let body = read_body(reader, length)?;
    Ok(Some(Request {
        method,
        keep_alive,
        authorization: headers.authorization,
        body,
    }))
}

/// The request line, skipping blank lines some clients leave between
/// requests.
fn read_request_line(reader: &mut BufReader<TcpStream>) -> Result<Option<String>, HttpError> {
    for _ in 0..MAX_HEADER_LINES {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.trim().is_empty() => continue,
            Some(line) => return Ok(Some(line)),
        }
    }
    Err(HttpError::Reject(400, "no request line"))
}

/// Header lines up to the blank line, keeping the ones we act on.
fn read_headers(reader: &mut BufReader<TcpStream>) -> Result<Headers, HttpError> {
    let mut headers = Headers::default();
    for _ in 0..MAX_HEADER_LINES {
        let line =
            read_line(reader)?.ok_or_else(|| HttpError::Io(io::ErrorKind::UnexpectedEof.into()))?;
        if line.is_empty() {
            return Ok(headers);
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::Reject(400, "malformed header line"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                let n = value
                    .parse()
                    .map_err(|_| HttpError::Reject(400, "bad Content-Length"))?;
                headers.content_length = Some(n);
            }
            "connection" => headers.connection = Some(value.to_ascii_lowercase()),
            "authorization" => headers.authorization = Some(value.to_string()),
            "expect" => headers.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            "transfer-encoding" => headers.chunked = !value.eq_ignore_ascii_case("identity"),
            _ => {}
        }
    }
    Err(HttpError::Reject(431, "too many header lines"))
}

/// One line without its CRLF or bare LF; `None` at a clean end of stream.
fn read_line(reader: &mut BufReader<TcpStream>) -> Result<Option<String>, HttpError> {
    let mut buf = Vec::new();
    let n = reader
        .by_ref()
        .take(MAX_LINE_BYTES as u64)
        .read_until(b'\n', &mut buf)
        .map_err(HttpError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        if n >= MAX_LINE_BYTES {
            return Err(HttpError::Reject(431, "header line too long"));
        }
        return Err(HttpError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| HttpError::Reject(400, "header is not UTF-8"))
}

/// Exactly `length` body bytes.
fn read_body(reader: &mut BufReader<TcpStream>, length: usize) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::with_capacity(length.min(INITIAL_BODY_CAPACITY));
    reader
        .by_ref()
        .take(length as u64)
        .read_to_end(&mut body)
        .map_err(HttpError::Io)?;
    if body.len() < length {
        return Err(HttpError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(body)
}

/// Status line, headers and body in one write.
fn write_response(writer: &mut TcpStream, response: &Response, keep_alive: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    if response.challenge {
        head.push_str("WWW-Authenticate: Basic realm=\"jsonrpc\"\r\n");
    }
    if response.status != 204 {
        head.push_str(&format!(
            "Content-Type: {}\r\nContent-Length: {}\r\n",
            response.content_type,
            response.body.len()
        ));
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    // One write: header and body leave in the same segment when small.
    let mut out = head.into_bytes();
    out.extend_from_slice(&response.body);
    writer.write_all(&out)?;
    writer.flush()
}

/// The reason phrase for the statuses we send.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
