//! Many datagrams in one system call: `sendmmsg(2)` for the event
//! emitter, `recvmmsg(2)` for the collector. Under load one call carries
//! up to [`MAX_BATCH`] events where `send`/`recv` took one call (and often
//! one wake-up) each. std has no wrappers: these are the `nix` crate's
//! safe ones, so this crate declares no C function itself.

use std::cell::RefCell;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;

use nix::sys::socket::{recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders};

/// Most datagrams one call sends (the kernel's own cap is `UIO_MAXIOV`,
/// 1024; 64 keeps the header arrays small).
pub const MAX_BATCH: usize = 64;

thread_local! {
    /// The message headers `send_many` hands the kernel, allocated once
    /// per thread (the emitter's) rather than on every call. `()`: no
    /// address in any header (the socket is connected).
    static SEND_HEADERS: RefCell<MultiHeaders<()>> =
        RefCell::new(MultiHeaders::preallocate(MAX_BATCH, None));
}

/// Send the first up-to-[`MAX_BATCH`] of `datagrams`, in order, on a
/// connected socket. Returns how many were sent: fewer than offered
/// when the receiver's queue filled up part way; an error only when
/// none was sent (`WouldBlock` when full from the start).
pub fn send_many(socket: &UnixDatagram, datagrams: &[&[u8]]) -> io::Result<usize> {
    let n = datagrams.len().min(MAX_BATCH);
    if n == 0 {
        return Ok(0);
    }
    // One single-slice message per datagram (no allocation: the unused
    // tail of the array is empty slices nix never looks at).
    let iovs: [[IoSlice<'_>; 1]; MAX_BATCH] =
        std::array::from_fn(|i| [IoSlice::new(datagrams.get(i).copied().unwrap_or(&[]))]);
    // No address per message: the socket is connected.
    let addrs = [None::<()>; MAX_BATCH];
    let no_cmsgs: [ControlMessage<'_>; 0] = [];
    SEND_HEADERS.with_borrow_mut(|headers| {
        // nix sends min(slices, addresses, headers) messages: `n`.
        let sent = sendmmsg(
            socket.as_raw_fd(),
            headers,
            &iovs[..n],
            &addrs[..n],
            no_cmsgs,
            MsgFlags::MSG_NOSIGNAL,
        )?;
        Ok(sent.count())
    })
}

/// Receive buffers for [`recv_many`]: [`MAX_BATCH`] slots of one size.
pub struct RecvBatch {
    buf: Vec<u8>,
    slot_bytes: usize,
    lens: [usize; MAX_BATCH],
    /// The kernel's message headers, allocated once with the buffers.
    headers: MultiHeaders<()>,
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
            headers: MultiHeaders::preallocate(MAX_BATCH, None),
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
    let RecvBatch {
        buf,
        slot_bytes,
        lens,
        headers,
    } = batch;
    let slot = *slot_bytes;
    let mut chunks = buf.chunks_exact_mut(slot);
    // `buf` holds exactly MAX_BATCH slots (`new`).
    let mut iovs: [[IoSliceMut<'_>; 1]; MAX_BATCH] =
        std::array::from_fn(|_| [IoSliceMut::new(chunks.next().expect("MAX_BATCH slots"))]);
    // MSG_WAITFORONE: block (up to the read timeout) for the first only.
    let got = recvmmsg(
        socket.as_raw_fd(),
        headers,
        iovs.iter_mut(),
        MsgFlags::MSG_WAITFORONE,
        None,
    )?;
    let mut count = 0;
    for (len, msg) in lens.iter_mut().zip(got) {
        // Without MSG_TRUNC the kernel reports the bytes it copied, at
        // most `slot`; the `min` keeps `get` in bounds whatever it says.
        *len = msg.bytes.min(slot);
        count += 1;
    }
    Ok(count)
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
