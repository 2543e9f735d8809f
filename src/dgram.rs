//! Many datagrams in one system call: `sendmmsg(2)` for the event
//! emitter, `recvmmsg(2)` for the collector. Under load one call carries
//! up to [`MAX_BATCH`] events where `send`/`recv` took one call (and often
//! one wake-up) each. std has no wrappers; this module holds the `unsafe`
//! blocks they need.

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

/// Receive buffers for [`recv_many`]: [`MAX_BATCH`] slots of one size.
pub struct RecvBatch {
    buf: Vec<u8>,
    slot_bytes: usize,
    lens: [usize; MAX_BATCH],
}

impl RecvBatch {
    /// Slots of `slot_bytes` each: a longer datagram is cut to that size
    /// (so a slot one byte over the largest valid datagram tells an
    /// oversize one by its length).
    pub fn new(slot_bytes: usize) -> RecvBatch {
        assert!(slot_bytes > 0);
        RecvBatch {
            buf: vec![0; slot_bytes * MAX_BATCH],
            slot_bytes,
            lens: [0; MAX_BATCH],
        }
    }

    /// The `i`-th datagram of the last [`recv_many`].
    pub fn get(&self, i: usize) -> &[u8] {
        let start = i * self.slot_bytes;
        &self.buf[start..start + self.lens[i]]
    }
}

/// Wait for at least one datagram (up to the socket's read timeout), then
/// take every one already queued, up to [`MAX_BATCH`]; returns how many.
pub fn recv_many(socket: &UnixDatagram, batch: &mut RecvBatch) -> io::Result<usize> {
    // SAFETY: all-zero bytes are a valid iovec and mmsghdr.
    let mut iovecs: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut headers: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let slot = batch.slot_bytes;
    for (i, chunk) in batch.buf.chunks_exact_mut(slot).enumerate() {
        iovecs[i] = libc::iovec {
            iov_base: chunk.as_mut_ptr() as *mut libc::c_void,
            iov_len: slot,
        };
        headers[i].msg_hdr.msg_iov = &mut iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: each header points at one iovec, each iovec at its own
    // `slot`-byte chunk of `batch.buf`; all outlive the call, and the
    // kernel writes at most `slot` bytes into each.
    let got = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            MAX_BATCH as libc::c_uint,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = got as usize;
    for (len, header) in batch.lens.iter_mut().zip(&headers).take(got) {
        *len = (header.msg_len as usize).min(slot);
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receives_what_is_queued_in_order_and_cuts_long_datagrams() {
        let (a, b) = UnixDatagram::pair().unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        for i in 0..70u32 {
            a.send(i.to_string().as_bytes()).unwrap();
        }
        let mut batch = RecvBatch::new(4);
        assert_eq!(recv_many(&b, &mut batch).unwrap(), MAX_BATCH);
        assert_eq!(batch.get(0), b"0");
        assert_eq!(batch.get(63), b"63");
        assert_eq!(recv_many(&b, &mut batch).unwrap(), 6);
        assert_eq!(batch.get(5), b"69");
        a.send(b"too long").unwrap();
        assert_eq!(recv_many(&b, &mut batch).unwrap(), 1);
        assert_eq!(batch.get(0), b"too ");
        let e = recv_many(&b, &mut batch).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "timed out: {e}");
    }

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
