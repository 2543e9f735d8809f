//! The emitter thread: drain every producer's queue, format each event as
//! JSON, send it as one datagram to the collector's Unix socket.
//!
//! - No socket file, or nobody bound to it (collector not running): the
//!   event is dropped and counted; mining is unaffected, and events flow
//!   again as soon as a collector binds the path, without a restart.
//! - The collector's queue is full (`EAGAIN`; Linux allows only
//!   `net.unix.max_dgram_qlen` datagrams, often 10, in a receive queue):
//!   the emitter waits for room and retries, so a burst is absorbed by the
//!   producers' queues; only a full producer queue drops.
//! - An event over [`MAX_DATAGRAM_BYTES`] is dropped, counted and logged.
//!
//! Every drop leaves a gap in `seq` downstream: an event dropped here has
//! its number already, and for each event a core dropped on its full queue
//! (it never had one) the emitter skips a number before that queue's next
//! event. So the collector's gap count is the pool's drop count.

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Select};

use super::queue::{EventCounters, Stamped};
use super::schema::{Envelope, RunId};
use super::validate::MAX_DATAGRAM_BYTES;

/// How long one blocked send waits for room before re-checking `stop`.
const SEND_WAIT: Duration = Duration::from_millis(50);
/// How long the emitter sleeps on empty queues before re-checking `stop`.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Events taken from one queue before looking at the next (fairness).
const BATCH: usize = 256;

/// Where and as whom events are sent.
#[derive(Debug, Clone)]
pub struct EmitterConfig {
    pub socket_path: PathBuf,
    pub pool_name: String,
    /// This process's run (see [`RunId`]).
    pub run: RunId,
}

/// Run until `stop` is set and the queues are drained.
pub fn run(
    receivers: Vec<Receiver<Stamped>>,
    cfg: EmitterConfig,
    counters: Arc<EventCounters>,
    stop: &AtomicBool,
) {
    log_info!(
        "Event emitter initialized: {} (pool {}, run {})",
        cfg.socket_path.display(),
        cfg.pool_name,
        cfg.run
    );
    let mut emitter = Emitter {
        socket: None,
        cfg,
        counters,
        seq: 0,
        buf: Vec::with_capacity(MAX_DATAGRAM_BYTES),
        reader_up: true,
    };
    // Drops on each producer's full queue already given a seq gap.
    let mut gapped = vec![0u64; receivers.len()];
    let mut dropped = Vec::with_capacity(receivers.len());
    loop {
        // Under load every queue has events: drain them round-robin without
        // touching the (costlier) blocking select.
        let mut any = false;
        emitter.counters.dropped_full_per_producer(&mut dropped);
        assert_eq!(dropped.len(), receivers.len(), "one counter per queue");
        for ((r, gapped), &dropped) in receivers.iter().zip(&mut gapped).zip(&dropped) {
            let mut batch = r.try_iter().take(BATCH).peekable();
            if batch.peek().is_some() && dropped > *gapped {
                emitter.skip(dropped - *gapped);
                *gapped = dropped;
            }
            for stamped in batch {
                any = true;
                emitter.send(&stamped, stop);
            }
        }
        if any {
            continue;
        }
        if stop.load(Ordering::Acquire) {
            return; // queues drained and the pool is stopping
        }
        let mut sel = Select::new();
        for r in &receivers {
            sel.recv(r);
        }
        // Ready with nothing queued means a producer is gone (a
        // disconnected channel is always "ready"): sleep rather than spin.
        if sel.ready_timeout(IDLE_WAIT).is_ok() && receivers.iter().all(|r| r.is_empty()) {
            std::thread::sleep(IDLE_WAIT);
        }
    }
}

struct Emitter {
    /// Connected to the collector's socket, when one is there.
    socket: Option<UnixDatagram>,
    cfg: EmitterConfig,
    counters: Arc<EventCounters>,
    seq: u64,
    buf: Vec<u8>,
    /// Whether the last send found a reader (for log lines on change).
    reader_up: bool,
}

impl Emitter {
    /// Numbers for `n` events that were dropped before they had one.
    fn skip(&mut self, n: u64) {
        self.seq = self.seq.checked_add(n).expect("event seq wrapped");
    }

    fn send(&mut self, stamped: &Stamped, stop: &AtomicBool) {
        // Strictly increasing: downstream reads a gap as loss.
        self.seq = self.seq.checked_add(1).expect("event seq wrapped");
        self.buf.clear();
        let envelope = Envelope {
            ts_us: stamped.ts_us,
            seq: self.seq,
            pool: &self.cfg.pool_name,
            run: self.cfg.run,
        };
        stamped.event.write_json(&envelope, &mut self.buf);
        // A newline per datagram, so `socat UNIX-RECV:… -` shows one event a line.
        self.buf.push(b'\n');
        if self.buf.len() > MAX_DATAGRAM_BYTES {
            self.counters
                .dropped_oversize
                .fetch_add(1, Ordering::Relaxed);
            log_warn!(
                "event seq {} of {} bytes exceeds {MAX_DATAGRAM_BYTES}: dropped",
                self.seq,
                self.buf.len()
            );
            return;
        }
        loop {
            if !self.connect() {
                self.counters
                    .dropped_no_reader
                    .fetch_add(1, Ordering::Relaxed);
                self.reader_is(false);
                return;
            }
            let sent = match &self.socket {
                Some(socket) => socket.send(&self.buf),
                None => Err(ErrorKind::NotConnected.into()),
            };
            match sent {
                Ok(_) => {
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                    self.reader_is(true);
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    // The collector is behind: wait for room, unless stopping.
                    if stop.load(Ordering::Acquire) {
                        self.counters
                            .dropped_no_reader
                            .fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::NotFound
                            | ErrorKind::ConnectionRefused
                            | ErrorKind::NotConnected
                            | ErrorKind::BrokenPipe
                            | ErrorKind::ConnectionReset
                    ) =>
                {
                    // The collector went away (or is stopping: it shuts its
                    // socket for reading first): connect again later.
                    self.socket = None;
                    self.counters
                        .dropped_no_reader
                        .fetch_add(1, Ordering::Relaxed);
                    self.reader_is(false);
                    return;
                }
                Err(e) => {
                    self.counters
                        .dropped_send_error
                        .fetch_add(1, Ordering::Relaxed);
                    log_warn!(
                        "event seq {}: send to {} failed: {e}",
                        self.seq,
                        self.cfg.socket_path.display()
                    );
                    return;
                }
            }
        }
    }

    /// Connect to the collector's path if not connected. Connected, a send
    /// skips the path lookup an unconnected `sendto` makes every time; not
    /// connected, every event tries again (the cost of that lookup), so
    /// the first event after a collector binds is already delivered.
    fn connect(&mut self) -> bool {
        if self.socket.is_none() {
            self.socket = UnixDatagram::unbound()
                .and_then(|s| s.set_write_timeout(Some(SEND_WAIT)).map(|_| s))
                .and_then(|s| s.connect(&self.cfg.socket_path).map(|_| s))
                .ok();
        }
        self.socket.is_some()
    }

    fn reader_is(&mut self, up: bool) {
        if up != self.reader_up {
            self.reader_up = up;
            let path = self.cfg.socket_path.display();
            if up {
                log_info!("events: a collector is reading {path} again");
            } else {
                log_warn!("events: nobody reads {path}; events are dropped and counted until a collector binds it");
            }
        }
    }
}
