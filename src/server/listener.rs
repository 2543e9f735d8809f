//! Listening sockets: one per core per `serverurl`, all bound to the same
//! address with `SO_REUSEPORT` so the kernel spreads new connections
//! across the cores without any user-space hand-off.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Socket, Type};

/// Pending connections the kernel queues per listener.
const BACKLOG: i32 = 4096;

/// Bind `cores` listeners on `url`. Port 0 is resolved once (by the first
/// bind) so every core listens on the same port.
pub fn bind_all(url: &str, cores: usize) -> io::Result<(SocketAddr, Vec<TcpListener>)> {
    let mut addr = url
        .trim_start_matches("stratum+tcp://")
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{url} resolves to nothing"),
            )
        })?;
    let mut listeners = Vec::with_capacity(cores);
    for _ in 0..cores {
        let listener = bind_one(addr)?;
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok((addr, listeners))
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
