//! The `/metrics` endpoint both processes serve: a blocking HTTP/1.x
//! server on one thread, one connection at a time (a scrape every few
//! seconds needs no more). It is bounded so a client cannot hold it or
//! grow its memory: the request head must arrive whole within
//! [`REQUEST_DEADLINE`] and fit in [`MAX_REQUEST_BYTES`]; anything but
//! `GET`/`HEAD /metrics` gets a 404 or 405; every reply closes the
//! connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::http;

/// Longest request head accepted (request line and headers).
pub const MAX_REQUEST_BYTES: usize = 8 << 10;
/// Time a client has to send its whole request head.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Time a reply may take to write (a client that does not read).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long unread request bytes are drained after a reply
/// ([`crate::http::close`]).
const DRAIN_WAIT: Duration = Duration::from_millis(100);

/// Bind `addr`, serve `render()` at `/metrics` on a thread of its own
/// (detached: it serves until the process exits), log the address bound.
pub fn start(
    addr: &str,
    render: impl Fn() -> String + Send + 'static,
) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("metrics on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("metrics on {addr}: {e}"))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || serve(listener, REQUEST_DEADLINE, render))
        .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
    log_info!("metrics on http://{bound}/metrics");
    Ok(bound)
}

/// Answer connections one at a time, forever.
pub fn serve(listener: TcpListener, deadline: Duration, render: impl Fn() -> String) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => answer(stream, deadline, &render),
            // Out of descriptors, say: the next accept may work; no spin.
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// What a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Metrics { head_only: bool },
    NotFound,
    MethodNotAllowed,
    BadRequest,
    TooLarge,
}

fn answer(mut stream: TcpStream, deadline: Duration, render: &impl Fn() -> String) {
    let route = match read_head(&mut stream, deadline) {
        Ok(head) => route(&head),
        Err(HeadError::TooLarge) => Route::TooLarge,
        Err(HeadError::Incomplete) => return, // gone or too slow: nothing to say
    };
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    if reply(&mut stream, route, render).is_ok() {
        http::close(stream, DRAIN_WAIT);
    }
}

fn reply(stream: &mut TcpStream, route: Route, render: &impl Fn() -> String) -> io::Result<()> {
    let (status, body, send_body) = match route {
        Route::Metrics { head_only } => ("200 OK", render(), !head_only),
        Route::NotFound => ("404 Not Found", "metrics are at /metrics\n".into(), true),
        Route::MethodNotAllowed => ("405 Method Not Allowed", "GET or HEAD\n".into(), true),
        Route::BadRequest => ("400 Bad Request", "bad request\n".into(), true),
        Route::TooLarge => (
            "431 Request Header Fields Too Large",
            "request too large\n".into(),
            true,
        ),
    };
    let content_type = match route {
        Route::Metrics { .. } => "text/plain; version=0.0.4; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    let allow = if route == Route::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )?;
    if send_body {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    TooLarge,
    /// Closed, failed or timed out before the head was complete.
    Incomplete,
}

/// The request head (up to its blank line), read within `deadline` in
/// all: a client trickling a byte at a time cannot keep the server.
fn read_head(stream: &mut TcpStream, deadline: Duration) -> Result<Vec<u8>, HeadError> {
    let until = Instant::now() + deadline;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = http::head_end(&head) {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() >= MAX_REQUEST_BYTES {
            return Err(HeadError::TooLarge);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(HeadError::Incomplete);
        }
        let room = chunk.len().min(MAX_REQUEST_BYTES - head.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(HeadError::Incomplete),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(HeadError::Incomplete),
        }
    }
}

/// `METHOD TARGET HTTP/x.y` → what to answer.
fn route(head: &[u8]) -> Route {
    let Some((method, target)) = http::request_line(head) else {
        return Route::BadRequest;
    };
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        (_, p) if p != "/metrics" => Route::NotFound,
        ("GET", _) => Route::Metrics { head_only: false },
        ("HEAD", _) => Route::Metrics { head_only: true },
        _ => Route::MethodNotAllowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on a free loopback port with a short deadline.
    fn server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            serve(listener, Duration::from_millis(300), || {
                "m_total 1\n".into()
            })
        });
        addr
    }

    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply
    }

    #[test]
    fn serves_metrics_and_refuses_the_rest() {
        let addr = server();
        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("version=0.0.4") && ok.ends_with("\r\n\r\nm_total 1\n"),
            "{ok}"
        );
        let query = exchange(addr, b"GET /metrics?name[]=x HTTP/1.0\n\n");
        assert!(query.ends_with("m_total 1\n"), "{query}");
        let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(
            head.contains("Content-Length: 10\r\n") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        for (request, status) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], "404"),
            (b"GET /metricsx HTTP/1.1\r\n\r\n", "404"),
            (b"POST /metrics HTTP/1.1\r\n\r\n", "405"),
            (b"GET /metrics\r\n\r\n", "400"),
            (b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", "400"),
        ] {
            let reply = exchange(addr, request);
            assert!(reply.starts_with(&format!("HTTP/1.1 {status} ")), "{reply}");
        }
    }

    #[test]
    fn an_oversized_request_is_refused_whole() {
        let addr = server();
        let mut request = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        request.resize(MAX_REQUEST_BYTES + 100, b'a');
        let reply = exchange(addr, &request);
        assert!(reply.starts_with("HTTP/1.1 431 "), "{reply}");
        // Served on: the next scrape is answered.
        assert!(exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").contains("200 OK"));
    }

    #[test]
    fn a_silent_or_trickling_client_does_not_hold_the_server() {
        let addr = server();
        let mut silent = TcpStream::connect(addr).unwrap();
        let mut trickle = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        std::thread::spawn(move || {
            for _ in 0..50 {
                if trickle.write_all(b"G").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        assert!(exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").contains("200 OK"));
        // Two deadlines of 300 ms, not the trickler's 2.5 s.
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        let mut rest = Vec::new();
        silent
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(
            silent.read_to_end(&mut rest).unwrap_or(0),
            0,
            "closed unanswered"
        );
    }
}
