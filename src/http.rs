//! The pieces of HTTP/1.x that the project's two small servers share
//! (the pool's and collector's `/metrics`, [`crate::metrics::http`], and
//! the stats API, [`crate::api::http`]): finding the end of a request
//! head, reading its request line, and closing without a reset.

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// Most unread request bytes [`close`] reads before it gives up.
const DRAIN_BYTES: usize = 64 << 10;

/// Where the head's blank line ends (`\r\n\r\n`, or `\n\n` from lax
/// clients), if it has arrived.
pub fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `METHOD TARGET HTTP/1.x` → method and target (`None`: a bad request).
pub fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    version.starts_with("HTTP/1.").then_some((method, target))
}

/// End a connection after its reply: no more writes, then what the
/// client still sends is read and dropped for up to `wait` (and 64 KiB).
/// Closing with unread input makes the kernel send a reset, which can
/// destroy the reply before the client reads it.
pub fn close(mut stream: TcpStream, wait: Duration) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(wait));
    let mut buf = [0u8; 4096];
    let mut left = DRAIN_BYTES;
    while left > 0 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_end_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nx\r\n\r\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn request_lines() {
        assert_eq!(
            request_line(b"GET /a?b HTTP/1.1\r\n"),
            Some(("GET", "/a?b"))
        );
        assert_eq!(request_line(b"HEAD / HTTP/1.0\n"), Some(("HEAD", "/")));
        for bad in [
            &b"GET / HTTP/2\r\n"[..],
            b"GET /\r\n",
            b"GET / HTTP/1.1 x\r\n",
            b"\xff / HTTP/1.1\r\n",
            b"",
        ] {
            assert_eq!(request_line(bad), None, "{bad:?}");
        }
    }
}
