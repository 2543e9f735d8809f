//! Blocking JSON-RPC over HTTP/1.1 to one bitcoind: keep-alive, basic
//! auth or cookie file, connect and read timeouts, bounded replies.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Largest reply body accepted: a full mainnet template is ~10 MB of hex.
pub const MAX_REPLY_BYTES: usize = 64 << 20;
/// Largest header block accepted.
const MAX_HEADER_BYTES: usize = 16 << 10;

/// How to authenticate to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// rpcuser / rpcpassword.
    Basic {
        user: String,
        pass: String,
    },
    /// bitcoind's `.cookie` file, re-read on every connect because
    /// bitcoind writes a new one each time it starts.
    Cookie(PathBuf),
}

/// One node: where it is and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port` (an `http://` prefix and trailing `/` are accepted).
    pub address: String,
    pub auth: Auth,
}

impl Endpoint {
    pub fn new(url: &str, auth: Auth) -> Endpoint {
        let address = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Endpoint { address, auth }
    }
}

/// Timeouts for one node.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Per read/write; a template on a busy mainnet node can take seconds.
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            io: Duration::from_secs(15),
        }
    }
}

/// Why a call did not produce a JSON reply.
#[derive(Debug)]
pub enum TransportError {
    Connect(io::Error),
    Io(io::Error),
    Unauthorized,
    /// A status without a JSON body (bitcoind sends JSON with 404/500).
    Http(u16),
    /// Not HTTP as we know it, or over a limit.
    Protocol(String),
    /// The cookie file could not be read.
    Cookie(io::Error),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Connect(e) => write!(f, "connect failed: {e}"),
            TransportError::Io(e) => write!(f, "i/o error: {e}"),
            TransportError::Unauthorized => {
                write!(f, "HTTP 401: check rpcuser/rpcpassword or cookie")
            }
            TransportError::Http(code) => write!(f, "HTTP {code}"),
            TransportError::Protocol(m) => write!(f, "bad HTTP reply: {m}"),
            TransportError::Cookie(e) => write!(f, "cannot read cookie file: {e}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// A keep-alive HTTP connection to one node.
pub struct RpcConnection {
    endpoint: Endpoint,
    timeouts: Timeouts,
    stream: Option<BufReader<TcpStream>>,
    authorization: String,
    next_id: u64,
}

impl RpcConnection {
    pub fn new(endpoint: Endpoint, timeouts: Timeouts) -> RpcConnection {
        RpcConnection {
            endpoint,
            timeouts,
            stream: None,
            authorization: String::new(),
            next_id: 1,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Send one JSON-RPC request; return the raw reply body (JSON).
    /// `params` is the JSON text of the params array.
    pub fn call(&mut self, method: &str, params: &str) -> Result<Vec<u8>, TransportError> {
        let id = self.next_id;
        self.next_id += 1;
        let body =
            format!(r#"{{"jsonrpc":"1.0","id":{id},"method":"{method}","params":{params}}}"#);
        // A kept-alive connection may have been closed by the node since
        // the last call; one fresh retry tells that apart from a dead node.
        let reused = self.stream.is_some();
        match self.round_trip(&body) {
            Err(TransportError::Io(_)) if reused => {
                self.stream = None;
                self.round_trip(&body)
            }
            other => other,
        }
    }

    fn round_trip(&mut self, body: &str) -> Result<Vec<u8>, TransportError> {
        if self.stream.is_none() {
            self.connect()?;
        }
        let result = self.exchange(body);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn connect(&mut self) -> Result<(), TransportError> {
        self.authorization = authorization_header(&self.endpoint.auth)?;
        let addr = resolve(&self.endpoint.address).map_err(TransportError::Connect)?;
        let stream = TcpStream::connect_timeout(&addr, self.timeouts.connect)
            .map_err(TransportError::Connect)?;
        stream.set_nodelay(true).map_err(TransportError::Connect)?;
        stream
            .set_read_timeout(Some(self.timeouts.io))
            .map_err(TransportError::Connect)?;
        stream
            .set_write_timeout(Some(self.timeouts.io))
            .map_err(TransportError::Connect)?;
        self.stream = Some(BufReader::new(stream));
        Ok(())
    }

    fn exchange(&mut self, body: &str) -> Result<Vec<u8>, TransportError> {
        let reader = self.stream.as_mut().expect("connected");
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            self.endpoint.address,
            self.authorization,
            body.len()
        );
        let stream = reader.get_mut();
        stream
            .write_all(request.as_bytes())
            .and_then(|_| stream.write_all(body.as_bytes()))
            .map_err(TransportError::Io)?;
        let reply = read_reply(reader)?;
        if !reply.keep_alive {
            self.stream = None;
        }
        match reply.status {
            200 => Ok(reply.body),
            401 | 403 => Err(TransportError::Unauthorized),
            // bitcoind answers RPC errors with 404/500 and a JSON body.
            _ if reply.body.first() == Some(&b'{') => Ok(reply.body),
            code => Err(TransportError::Http(code)),
        }
    }
}

fn resolve(address: &str) -> io::Result<SocketAddr> {
    address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "address resolves to nothing"))
}

fn authorization_header(auth: &Auth) -> Result<String, TransportError> {
    let credentials = match auth {
        Auth::None => return Ok(String::new()),
        Auth::Basic { user, pass } => format!("{user}:{pass}"),
        Auth::Cookie(path) => std::fs::read_to_string(path)
            .map_err(TransportError::Cookie)?
            .trim()
            .to_string(),
    };
    Ok(format!(
        "Authorization: Basic {}\r\n",
        base64(credentials.as_bytes())
    ))
}

struct Reply {
    status: u16,
    keep_alive: bool,
    body: Vec<u8>,
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> Result<Reply, TransportError> {
    let mut line = String::new();
    read_line(reader, &mut line)?;
    let status = parse_status(&line)?;
    let mut content_length = None;
    let mut chunked = false;
    let mut keep_alive = line.starts_with("HTTP/1.1");
    let mut header_bytes = 0;
    loop {
        line.clear();
        read_line(reader, &mut line)?;
        header_bytes += line.len();
        if header_bytes > MAX_HEADER_BYTES {
            return Err(TransportError::Protocol("headers too long".into()));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                content_length =
                    Some(value.parse::<usize>().map_err(|_| {
                        TransportError::Protocol(format!("content-length {value:?}"))
                    })?)
            }
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let body = match (chunked, content_length) {
        (true, _) => read_chunked(reader)?,
        (false, Some(n)) => read_exact_body(reader, n)?,
        (false, None) => {
            keep_alive = false;
            read_to_close(reader)?
        }
    };
    Ok(Reply {
        status,
        keep_alive,
        body,
    })
}

fn read_line(reader: &mut BufReader<TcpStream>, line: &mut String) -> Result<(), TransportError> {
    let n = reader
        .by_ref()
        .take(MAX_HEADER_BYTES as u64)
        .read_line(line)
        .map_err(TransportError::Io)?;
    if n == 0 {
        return Err(TransportError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

fn parse_status(line: &str) -> Result<u16, TransportError> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(code))) if v.starts_with("HTTP/1.") => Ok(code),
        _ => Err(TransportError::Protocol(format!(
            "status line {:?}",
            line.trim_end()
        ))),
    }
}

fn read_exact_body(reader: &mut BufReader<TcpStream>, n: usize) -> Result<Vec<u8>, TransportError> {
    if n > MAX_REPLY_BYTES {
        return Err(TransportError::Protocol(format!("reply of {n} bytes")));
    }
    let mut body = vec![0u8; n];
    reader.read_exact(&mut body).map_err(TransportError::Io)?;
    Ok(body)
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        read_line(reader, &mut line)?;
        let size_hex = line.trim_end().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| TransportError::Protocol(format!("chunk size {size_hex:?}")))?;
        if body.len() + size > MAX_REPLY_BYTES {
            return Err(TransportError::Protocol("chunked reply too large".into()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(TransportError::Io)?;
        line.clear();
        read_line(reader, &mut line)?; // CRLF after the chunk (or trailer end)
        if size == 0 {
            return Ok(body);
        }
    }
}

fn read_to_close(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::new();
    reader
        .by_ref()
        .take(MAX_REPLY_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(TransportError::Io)?;
    if body.len() > MAX_REPLY_BYTES {
        return Err(TransportError::Protocol("reply too large".into()));
    }
    Ok(body)
}

/// Standard base64 with padding (for the Authorization header).
pub fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn endpoint_accepts_urls() {
        let e = Endpoint::new("http://127.0.0.1:8332/", Auth::None);
        assert_eq!(e.address, "127.0.0.1:8332");
    }
}
