//! The socket: bound once, read by one thread that checks, counts and
//! enriches every datagram and hands it to each sink's queue. It never
//! waits on a sink.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use socket2::{Domain, SockAddr, Socket, Type};

use super::config::CollectorConfig;
use super::metrics::{Metrics, SinkMetrics};
use super::record::StoredEvent;
use crate::events::validate::{parse_event, MAX_DATAGRAM_BYTES};

/// How often a bad datagram is logged (with a sample), at most.
const INVALID_LOG_EVERY: Duration = Duration::from_secs(10);

/// Bind the event socket: create its directory, remove a stale socket
/// file, raise the receive buffer, set mode and group.
pub fn bind(cfg: &CollectorConfig) -> io::Result<UnixDatagram> {
    let path = &cfg.socket_path;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path)?; // a stale socket from an earlier run
    }
    let socket = Socket::new(Domain::UNIX, Type::DGRAM, None)?;
    let _ = socket.set_recv_buffer_size(cfg.rcvbuf_bytes);
    socket.bind(&SockAddr::unix(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(cfg.socket_mode))?;
    if let Some(group) = &cfg.socket_group {
        let gid = group_id(group)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no group {group}")))?;
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    let socket: UnixDatagram = socket.into();
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(socket)
}

fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next()? == name)
            .then(|| f.nth(1)?.parse().ok())
            .flatten()
    })
}

/// A sink's queue as the receiver sees it.
pub struct SinkQueue {
    pub tx: Sender<StoredEvent>,
    pub metrics: Arc<SinkMetrics>,
}

/// What the receiver carries from one datagram to the next.
struct Receiver {
    sinks: Vec<SinkQueue>,
    metrics: Arc<Metrics>,
    collector: String,
    last_seq: HashMap<String, u64>,
    last_invalid_log: Option<Instant>,
}

/// Receive until `stop`, then drain: shut the socket for reading (so
/// senders get `EPIPE` and count the event as dropped, never "sent"
/// into a socket nobody reads) and hand on everything already queued.
pub fn run(
    socket: UnixDatagram,
    sinks: Vec<SinkQueue>,
    metrics: Arc<Metrics>,
    collector: String,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    let mut receiver = Receiver {
        sinks,
        metrics,
        collector,
        last_seq: HashMap::new(),
        last_invalid_log: None,
    };
    while !stop.load(Ordering::Acquire) {
        match socket.recv(&mut buf) {
            Ok(n) => receiver.handle(&buf[..n]),
            Err(e) if is_transient(&e) => continue,
            Err(e) => {
                log_error!("event socket: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let _ = socket.shutdown(std::net::Shutdown::Read);
    let nonblocking = socket.set_nonblocking(true).is_ok();
    let mut drained = 0u64;
    // Bounded: the socket's buffer is finite and nothing can add to it
    // now. Nonblocking, it ends with EAGAIN (an empty datagram is just
    // one more, counted invalid); blocking, a shut socket reads 0 at the end.
    while let Ok(n) = socket.recv(&mut buf) {
        if n == 0 && !nonblocking {
            break;
        }
        receiver.handle(&buf[..n]);
        drained += 1;
    }
    if drained > 0 {
        log_info!("drained {drained} queued events from the socket on stop");
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Receiver {
    /// Check, count and enrich one datagram; queue it for every sink.
    fn handle(&mut self, datagram: &[u8]) {
        let received = match parse_event(&mut datagram.to_vec()) {
            Ok(r) => r,
            Err(e) => {
                self.metrics.count_invalid(e.reason());
                if self
                    .last_invalid_log
                    .is_none_or(|t| t.elapsed() >= INVALID_LOG_EVERY)
                {
                    self.last_invalid_log = Some(Instant::now());
                    let sample = String::from_utf8_lossy(&datagram[..datagram.len().min(200)]);
                    log_warn!("invalid event ({e}); sample: {sample}");
                }
                return;
            }
        };
        self.metrics.count_received(received.kind);
        count_gap(
            &mut self.last_seq,
            &received.pool,
            received.seq,
            &self.metrics,
        );
        let event = StoredEvent::from_received(received, datagram, now_us(), &self.collector);
        for sink in &self.sinks {
            if sink.tx.try_send(event.clone()).is_err() {
                sink.metrics
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Seq gaps per pool: loss upstream (the pool counts why). A seq at or
/// below the last one is a pool restart, not a gap.
fn count_gap(last: &mut HashMap<String, u64>, pool: &str, seq: u64, metrics: &Metrics) {
    match last.get_mut(pool) {
        Some(prev) => {
            // Saturating: a datagram may carry seq u64::MAX (found by the
            // collector_datagram fuzz target); `*prev + 1` overflowed.
            if seq > prev.saturating_add(1) {
                metrics
                    .seq_gaps
                    .fetch_add(seq - *prev - 1, Ordering::Relaxed);
            }
            *prev = seq;
        }
        None => {
            last.insert(pool.to_string(), seq);
        }
    }
}

fn now_us() -> i64 {
    crate::events::queue::unix_micros() as i64
}
