//! Opening outgoing sockets: a non-blocking connect to the pool, bound
//! first to one of a range of source addresses when asked, so one machine
//! can open far more than 64k connections to a single pool port.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// An inclusive range of IPv4 source addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIps {
    first: u32,
    count: u32,
}

impl SourceIps {
    /// `A-B` (inclusive, A ≤ B) or a single address `A`.
    pub fn parse(text: &str) -> Result<SourceIps, String> {
        let (a, b) = text.split_once('-').unwrap_or((text, text));
        let ip = |s: &str| {
            s.trim()
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("--source-ips: {s:?} is not an IPv4 address"))
        };
        let (first, last) = (u32::from(ip(a)?), u32::from(ip(b)?));
        if last < first {
            return Err(format!("--source-ips: {text:?} is an empty range"));
        }
        Ok(SourceIps {
            first,
            count: last - first + 1,
        })
    }

    /// Number of addresses in the range.
    #[cfg(test)]
    pub fn len(&self) -> u32 {
        self.count
    }

    /// The address connection `i` binds to (round robin over the range).
    pub fn nth(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::from(self.first + (i as u64 % u64::from(self.count)) as u32)
    }
}

/// Start a non-blocking TCP connect to `pool`, bound to `source` first
/// when given. Completion is signalled by the socket becoming writable.
pub fn connect(pool: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<mio::net::TcpStream> {
    let domain = Domain::for_address(pool);
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(ip) = source {
        let local = SocketAddr::new(IpAddr::V4(ip), 0);
        socket.bind(&SockAddr::from(local))?;
    }
    match socket.connect(&SockAddr::from(pool)) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// `EINPROGRESS` (std's `ErrorKind::InProgress` is not stable yet).
const EINPROGRESS: i32 = if cfg!(target_os = "linux") { 115 } else { 36 };

/// Whether a non-blocking connect error only means "not finished yet".
fn in_progress(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(EINPROGRESS)
}

/// The soft limit on open files, from `/proc/self/limits` (Linux), to
/// warn before a run that cannot open all its connections.
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = SourceIps::parse("127.0.0.2-127.0.10.254").unwrap();
        assert_eq!(r.len(), 10 * 256 + 253);
        assert_eq!(r.nth(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(r.nth(254), Ipv4Addr::new(127, 0, 1, 0));
        assert_eq!(r.nth(r.len() as usize), Ipv4Addr::new(127, 0, 0, 2));
        let one = SourceIps::parse("127.0.0.5").unwrap();
        assert_eq!((one.len(), one.nth(7)), (1, Ipv4Addr::new(127, 0, 0, 5)));
        assert!(SourceIps::parse("127.0.0.9-127.0.0.2").is_err());
        assert!(SourceIps::parse("::1").is_err());
    }

    #[test]
    fn connects_from_a_chosen_source_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pool = listener.local_addr().unwrap();
        let _stream = connect(pool, Some(Ipv4Addr::new(127, 0, 0, 7))).unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7)));
    }
}
