//! Sending many datagrams in one system call (`sendmmsg(2)`), for the
//! event emitter: under load one call carries up to [`MAX_BATCH`] events
//! where `send` took one call each. std has no wrapper; this module holds
//! the one `unsafe` block it needs.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;

/// Most datagrams one call sends (the kernel's own cap is `UIO_MAXIOV`,
/// 1024; 64 keeps the header arrays small on the stack).
pub const MAX_BATCH: usize = 64;

/// Send the first up-to-[`MAX_BATCH`] of `datagrams`, in order, on a
/// connected socket. Returns how many were sent: fewer than offered
/// when the receiver's queue filled up part way; an error only when
/// none was sent (`WouldBlock` when full from the start).
pub fn send_many(socket: &UnixDatagram, datagrams: &[&[u8]]) -> io::Result<usize> {
    let n = datagrams.len().min(MAX_BATCH);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: all-zero bytes are a valid iovec and mmsghdr (null pointers,
    // zero lengths).
    let mut iovecs: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut headers: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        iovecs[i] = libc::iovec {
            iov_base: datagrams[i].as_ptr() as *mut libc::c_void,
            iov_len: datagrams[i].len(),
        };
        headers[i].msg_hdr.msg_iov = &mut iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `headers[..n]` point at `iovecs[..n]`, which point at the
    // caller's buffers; all outlive the call, and the kernel only reads
    // them (it writes `msg_len` into `headers`, which we own).
    let sent = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_NOSIGNAL,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_in_order_and_stops_when_the_receiver_is_full() {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let bodies: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_string().into_bytes()).collect();
        let views: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        assert_eq!(send_many(&a, &views).unwrap(), MAX_BATCH);
        let mut buf = [0u8; 16];
        for i in 0..MAX_BATCH {
            let len = b.recv(&mut buf).unwrap();
            assert_eq!(&buf[..len], i.to_string().as_bytes());
        }
        assert_eq!(send_many(&a, &[]).unwrap(), 0);
        // Fill the receiver: a call sends what fits, then WouldBlock.
        let mut total = 0;
        loop {
            match send_many(&a, &views) {
                Ok(n) => total += n,
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                    break;
                }
            }
            assert!(total < 1_000_000, "a unix socket's queue is bounded");
        }
        assert!(total > 0);
    }
}
