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
use crate::dgram::{self, RecvBatch};
use crate::events::validate::{parse_event_with, MAX_DATAGRAM_BYTES, MAX_EVENT_BYTES};

/// How often a bad datagram is logged (with a sample), at most.
const INVALID_LOG_EVERY: Duration = Duration::from_secs(10);
/// Pool runs whose last `seq` is remembered for gap counting. Any sender
/// on the socket can name new pools and runs: past this many the oldest
/// half is forgotten, so memory stays bounded (a forgotten run seen again
/// counts no gap for its next event).
const MAX_TRACKED_RUNS: usize = 4096;

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
    last_seq: LastSeq,
    last_invalid_log: Option<Instant>,
    /// A datagram's copy for the in-place parse (the original is stored).
    scratch: Vec<u8>,
    /// The JSON parser's buffers, reused.
    buffers: simd_json::Buffers,
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
    // One byte over the limit: an oversize datagram shows by its length.
    let mut batch = RecvBatch::new(MAX_DATAGRAM_BYTES + 1);
    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    let mut receiver = Receiver {
        sinks,
        metrics,
        collector,
        last_seq: LastSeq::default(),
        last_invalid_log: None,
        scratch: Vec::with_capacity(MAX_EVENT_BYTES + 1),
        buffers: simd_json::Buffers::new(MAX_EVENT_BYTES),
    };
    while !stop.load(Ordering::Acquire) {
        match dgram::recv_many(&socket, &mut batch) {
            Ok(n) => {
                for i in 0..n {
                    receiver.datagram(batch.get(i));
                }
            }
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
        receiver.datagram(&buf[..n]);
        drained += 1;
    }
    if drained > 0 {
        log_info!("drained {drained} queued events from the socket on stop");
    }
}

/// The events one datagram carries: one, or several each followed by a
/// newline (the pool's `event_pack_bytes`; a newline never occurs inside
/// an event, whose strings escape it), blank lines skipped. A datagram
/// longer than any pack (cut by the receive slot), with no newline, or
/// with nothing but blank lines is taken whole, as one event: refused as
/// oversize or invalid, but counted.
pub fn events_of(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    let blank = |line: &&[u8]| line.iter().all(u8::is_ascii_whitespace);
    let lines = datagram.split(|&b| b == b'\n').filter(move |l| !blank(l));
    let whole = datagram.len() > MAX_DATAGRAM_BYTES || lines.clone().next().is_none();
    let (one, many) = if whole {
        (Some(datagram), None)
    } else {
        (None, Some(lines))
    };
    one.into_iter().chain(many.into_iter().flatten())
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Receiver {
    /// One datagram: every event it carries ([`events_of`]).
    fn datagram(&mut self, datagram: &[u8]) {
        for event in events_of(datagram) {
            self.handle(event);
        }
    }

    /// Check, count and enrich one event; queue it for every sink.
    fn handle(&mut self, datagram: &[u8]) {
        self.scratch.clear();
        self.scratch.extend_from_slice(datagram);
        let received = match parse_event_with(&mut self.scratch, &mut self.buffers) {
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
        let gap = self
            .last_seq
            .gap(&received.pool, &received.run, received.seq);
        if gap > 0 {
            self.metrics.seq_gaps.fetch_add(gap, Ordering::Relaxed);
        }
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

/// The last `seq` seen per pool run, for counting gaps: loss upstream
/// (the pool counts why). `seq` restarts at 1 with each run, so a run is
/// tracked from its first event seen; a `seq` at or below the last one of
/// its run is a re-sent event, not a gap.
#[derive(Default)]
struct LastSeq {
    /// pool → run → (last seq, when first seen: an ordinal for eviction).
    /// Nested so the lookup of a known run borrows, allocating nothing.
    pools: HashMap<String, HashMap<String, (u64, u64)>>,
    runs: usize,
    next_ordinal: u64,
}

impl LastSeq {
    /// Events missing between the run's last `seq` and this one.
    fn gap(&mut self, pool: &str, run: &str, seq: u64) -> u64 {
        if let Some((prev, _)) = self.pools.get_mut(pool).and_then(|runs| runs.get_mut(run)) {
            // Saturating: a datagram may carry seq u64::MAX (found by the
            // collector_datagram fuzz target); `*prev + 1` overflowed.
            let gap = seq.saturating_sub(prev.saturating_add(1));
            *prev = (*prev).max(seq);
            return gap;
        }
        if self.runs >= MAX_TRACKED_RUNS {
            self.forget_oldest_half();
        }
        self.next_ordinal += 1;
        self.runs += 1;
        self.pools
            .entry(pool.to_string())
            .or_default()
            .insert(run.to_string(), (seq, self.next_ordinal));
        0
    }

    fn forget_oldest_half(&mut self) {
        let mut ordinals: Vec<u64> = self
            .pools
            .values()
            .flat_map(|runs| runs.values().map(|(_, o)| *o))
            .collect();
        ordinals.sort_unstable();
        let cutoff = ordinals[ordinals.len() / 2];
        for runs in self.pools.values_mut() {
            runs.retain(|_, (_, o)| *o >= cutoff);
        }
        self.pools.retain(|_, runs| !runs.is_empty());
        self.runs = self.pools.values().map(HashMap::len).sum();
    }
}

fn now_us() -> i64 {
    crate::time::unix_micros() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted_per_pool_run() {
        let mut last = LastSeq::default();
        assert_eq!(last.gap("p", "a", 1), 0);
        assert_eq!(last.gap("p", "a", 2), 0);
        assert_eq!(last.gap("p", "a", 5), 2);
        // Two pools given the same name: two runs, neither a gap.
        assert_eq!(last.gap("p", "b", 1), 0);
        assert_eq!(last.gap("p", "a", 6), 0);
        assert_eq!(last.gap("p", "b", 2), 0);
        // A re-sent event is not a gap, and does not hide a later one.
        assert_eq!(last.gap("p", "a", 3), 0);
        assert_eq!(last.gap("p", "a", 8), 1);
        assert_eq!(last.gap("p", "a", u64::MAX), u64::MAX - 9);
    }

    #[test]
    fn tracked_runs_are_bounded() {
        let mut last = LastSeq::default();
        for run in 0..3 * MAX_TRACKED_RUNS {
            last.gap("p", &run.to_string(), 1);
            assert!(last.runs <= MAX_TRACKED_RUNS);
            assert_eq!(
                last.runs,
                last.pools.values().map(HashMap::len).sum::<usize>()
            );
        }
        // The newest runs are still tracked.
        let newest = (3 * MAX_TRACKED_RUNS - 1).to_string();
        assert_eq!(last.gap("p", &newest, 3), 1);
    }

    #[test]
    fn a_datagram_carries_one_event_or_one_per_line() {
        fn of(d: &[u8]) -> Vec<&[u8]> {
            events_of(d).collect()
        }
        assert_eq!(of(b"{\"a\":1}"), [b"{\"a\":1}"]);
        assert_eq!(of(b"{\"a\":1}\n"), [b"{\"a\":1}"]);
        assert_eq!(
            of(b"{\"a\":1}\n{\"b\":2}\n\n {\"c\":3}\n"),
            [&b"{\"a\":1}"[..], b"{\"b\":2}", b" {\"c\":3}"]
        );
        // Nothing but blank lines, or no content: one (invalid) event.
        assert_eq!(of(b"\n \n"), [b"\n \n"]);
        assert_eq!(of(b""), [b""]);
        // Longer than any pack: cut by the receive slot, refused whole.
        let long = vec![b'\n'; MAX_DATAGRAM_BYTES + 1];
        assert_eq!(of(&long), [&long[..]]);
    }
}
