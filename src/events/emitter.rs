//! The emitter thread: drain every producer's queue, format each event as
//! JSON into a bounded in-memory backlog, and send the backlog in order to
//! the collector's Unix socket, many datagrams per system call
//! (`sendmmsg`, [`crate::dgram`]) whenever several are waiting. A datagram
//! holds one event, or with `pack_bytes` as many consecutive events as fit
//! in that many bytes, each followed by a newline: the receiver then wakes
//! once per pack rather than once per event, and Linux's limit of
//! `net.unix.max_dgram_qlen` datagrams in a receive queue (often 10)
//! holds ten packs, not ten events.
//!
//! - No socket file, or nobody bound to it (collector not running or
//!   restarting): events wait in the backlog (at most `backlog_events`
//!   events or `backlog_bytes` bytes; past that the oldest are dropped and
//!   counted as `dropped_no_reader`), and the connection is retried at most
//!   every `reconnect_interval`, so a collector restart of a few seconds
//!   loses nothing and costs no work per event meanwhile. Mining is
//!   unaffected either way.
//! - The collector's queue is full (`EAGAIN`; Linux allows only
//!   `net.unix.max_dgram_qlen` datagrams, often 10, in a receive queue):
//!   a send waits up to [`SEND_WAIT`] for room, then the emitter goes back
//!   to draining the producers' queues into the backlog and tries again.
//! - An event over [`MAX_EVENT_BYTES`] is dropped, counted and logged.
//! - At stop, the backlog gets [`STOP_FLUSH`] to reach a collector; what
//!   is left is counted as `dropped_no_reader`.
//!
//! Every drop leaves a gap in `seq` downstream: an event dropped here has
//! its number already, and for each event a core dropped on its full queue
//! (it never had one) the emitter skips a number before that queue's next
//! event. So the collector's gap count is the pool's drop count.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select};

use super::queue::{EventCounters, Stamped};
use super::schema::{Envelope, RunId};
use super::validate::{MAX_DATAGRAM_BYTES, MAX_EVENT_BYTES};
use crate::dgram::{self, MAX_BATCH};

/// How long one blocked send waits for room before the emitter goes
/// back to its queues (and re-checks `stop`).
const SEND_WAIT: Duration = Duration::from_millis(50);
/// How long the emitter sleeps on empty queues before re-checking `stop`.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Events taken from one queue before looking at the next (fairness).
const BATCH: usize = 256;
/// How long events gather between passes while events flow: what it
/// adds to an event's delivery, at most.
const GATHER: Duration = Duration::from_millis(1);
/// Empty passes (of [`GATHER`] each) before the emitter blocks on its
/// queues again.
const GATHER_PASSES: u32 = 20;
/// How long the backlog may take to reach a collector at stop.
const STOP_FLUSH: Duration = Duration::from_secs(1);
/// Formatted-event buffers kept for reuse (the rest are freed).
const SPARE_BUFFERS: usize = 1024;
/// Of those, how many may be pack-sized (`pack_bytes`, up to 16 KiB).
const SPARE_PACKS: usize = 64;
/// A buffer's starting room: most events are 200–400 bytes.
const BUFFER_BYTES: usize = 512;

/// Where and as whom events are sent, and how much waits for a reader.
#[derive(Debug, Clone)]
pub struct EmitterConfig {
    pub socket_path: PathBuf,
    pub pool_name: String,
    /// This process's run (see [`RunId`]).
    pub run: RunId,
    /// Shortest time between two connection attempts while nobody reads.
    pub reconnect_interval: Duration,
    /// Most events held for a collector that is away or behind.
    pub backlog_events: usize,
    /// Most bytes of formatted events held likewise.
    pub backlog_bytes: usize,
    /// 0: one event per datagram; otherwise the most bytes of one
    /// datagram of several events, one per line.
    pub pack_bytes: usize,
}

impl EmitterConfig {
    /// The defaults of `event_reconnect_ms`, `event_backlog_events` and
    /// `event_backlog_bytes` (docs/config.md).
    pub fn new(socket_path: PathBuf, pool_name: String, run: RunId) -> EmitterConfig {
        EmitterConfig {
            socket_path,
            pool_name,
            run,
            reconnect_interval: Duration::from_millis(100),
            backlog_events: 65_536,
            backlog_bytes: 16 << 20,
            pack_bytes: 0,
        }
    }
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
    let mut emitter = Emitter::new(cfg, counters);
    // Drops on each producer's full queue already given a seq gap.
    let mut gapped = vec![0u64; receivers.len()];
    let mut dropped = Vec::with_capacity(receivers.len());
    let mut idle_passes = GATHER_PASSES;
    loop {
        // Under load every queue has events: drain them round-robin without
        // touching the (costlier) blocking select.
        emitter.counters.dropped_full_per_producer(&mut dropped);
        let drained = drain(&receivers, &mut gapped, &dropped, &mut emitter);
        emitter.flush();
        if drained == Drained::More {
            // A queue held more than a batch: the cores produce faster than
            // one batch per gather, so go on at once. Sleeping here capped
            // the drain at a batch per sleep (~85k events/s on a busy
            // core) and the cores' queues overflowed.
            idle_passes = 0;
            continue;
        }
        if drained == Drained::Some {
            // Busy: let events gather for a moment instead of waking on
            // each one. A producer's push to a blocked emitter is a futex
            // wake (a system call on the core's share path); a sleeping
            // one is not waiting, so pushes stay plain stores, and the
            // next pass sends them many per `sendmmsg`.
            idle_passes = 0;
            std::thread::sleep(GATHER);
            continue;
        }
        if stop.load(Ordering::Acquire) {
            emitter.flush_at_stop();
            return; // queues drained and the pool is stopping
        }
        if idle_passes < GATHER_PASSES {
            // Recently busy: keep polling a little before blocking.
            idle_passes += 1;
            std::thread::sleep(GATHER);
            continue;
        }
        let mut sel = Select::new();
        for r in &receivers {
            sel.recv(r);
        }
        // Ready with nothing queued means a producer is gone (a
        // disconnected channel is always "ready"): sleep rather than spin.
        let wait = emitter.idle_wait();
        if sel.ready_timeout(wait).is_ok() && receivers.iter().all(|r| r.is_empty()) {
            std::thread::sleep(wait);
        }
    }
}

/// What one pass over the producers' queues found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drained {
    /// Every queue was empty.
    None,
    /// Events, and every queue is empty now.
    Some,
    /// A queue gave a whole batch: it may hold more.
    More,
}

/// Take up to [`BATCH`] events from each queue in turn into the backlog,
/// first skipping a `seq` for each event its producer dropped on a full
/// queue since the last look (`dropped`, as counted; `gapped`, those
/// already skipped).
fn drain(
    receivers: &[Receiver<Stamped>],
    gapped: &mut [u64],
    dropped: &[u64],
    emitter: &mut Emitter,
) -> Drained {
    assert_eq!(dropped.len(), receivers.len(), "one counter per queue");
    let mut drained = Drained::None;
    for ((r, gapped), &dropped) in receivers.iter().zip(gapped).zip(dropped) {
        let mut batch = r.try_iter().take(BATCH).peekable();
        if batch.peek().is_some() && dropped > *gapped {
            emitter.skip(dropped - *gapped);
            *gapped = dropped;
        }
        let mut taken = 0;
        for stamped in batch {
            taken += 1;
            emitter.enqueue(&stamped);
        }
        drained = match (drained, taken) {
            (_, BATCH) => Drained::More,
            (Drained::None, 1..) => Drained::Some,
            (d, _) => d,
        };
    }
    drained
}

/// One datagram's worth of formatted events, each followed by a newline.
struct Datagram {
    bytes: Vec<u8>,
    events: usize,
}

struct Emitter {
    /// Connected to the collector's socket, when one is there.
    socket: Option<UnixDatagram>,
    /// The earliest next connection attempt.
    next_connect: Instant,
    cfg: EmitterConfig,
    counters: Arc<EventCounters>,
    seq: u64,
    /// Formatted events as the datagrams they go in, `seq` order, not yet
    /// sent (only the last may still take more events).
    backlog: VecDeque<Datagram>,
    backlog_bytes: usize,
    /// Events in `backlog`.
    backlog_events: usize,
    /// Sent events' buffers, for reuse: no allocation per event.
    spare: Vec<Vec<u8>>,
    /// Whether the last send found a reader (for log lines on change).
    reader_up: bool,
}

impl Emitter {
    fn new(cfg: EmitterConfig, counters: Arc<EventCounters>) -> Emitter {
        assert!(cfg.backlog_events > 0 && cfg.backlog_bytes >= MAX_EVENT_BYTES);
        assert!(
            cfg.pack_bytes == 0 || (MAX_EVENT_BYTES..=MAX_DATAGRAM_BYTES).contains(&cfg.pack_bytes),
            "a pack holds any one event and fits a collector's receive slot"
        );
        Emitter {
            socket: None,
            next_connect: Instant::now(),
            cfg,
            counters,
            seq: 0,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            backlog_events: 0,
            spare: Vec::new(),
            reader_up: true,
        }
    }

    /// Numbers for `n` events that were dropped before they had one.
    fn skip(&mut self, n: u64) {
        self.seq = self.seq.checked_add(n).expect("event seq wrapped");
    }

    /// Number and format one event into the backlog.
    fn enqueue(&mut self, stamped: &Stamped) {
        // Strictly increasing: downstream reads a gap as loss.
        self.seq = self.seq.checked_add(1).expect("event seq wrapped");
        let mut buf = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER_BYTES));
        buf.clear();
        let envelope = Envelope {
            ts_us: stamped.ts_us,
            seq: self.seq,
            pool: &self.cfg.pool_name,
            run: self.cfg.run,
        };
        stamped.event.write_json(&envelope, &mut buf);
        // A newline after each event: a pack is split on it, and
        // `socat UNIX-RECV:… -` shows one event a line.
        buf.push(b'\n');
        if buf.len() > MAX_EVENT_BYTES {
            self.counters
                .dropped_oversize
                .fetch_add(1, Ordering::Relaxed);
            log_warn!(
                "event seq {} of {} bytes exceeds {MAX_EVENT_BYTES}: dropped",
                self.seq,
                buf.len()
            );
            self.recycle(buf);
            return;
        }
        self.backlog_bytes += buf.len();
        self.backlog_events += 1;
        match self.backlog.back_mut() {
            Some(last) if last.bytes.len() + buf.len() <= self.cfg.pack_bytes => {
                last.bytes.extend_from_slice(&buf);
                last.events += 1;
                self.recycle(buf);
            }
            _ => self.backlog.push_back(Datagram {
                bytes: buf,
                events: 1,
            }),
        }
        while self.backlog_events > self.cfg.backlog_events
            || self.backlog_bytes > self.cfg.backlog_bytes
        {
            // The oldest go first: a player cares most about what is new.
            let dropped = self.drop_front();
            self.counters
                .dropped_no_reader
                .fetch_add(dropped, Ordering::Relaxed);
        }
        self.publish_depth();
    }

    /// Drop the oldest datagram; the events it held.
    fn drop_front(&mut self) -> u64 {
        let Some(d) = self.backlog.pop_front() else {
            return 0;
        };
        self.backlog_bytes -= d.bytes.len();
        self.backlog_events -= d.events;
        self.recycle(d.bytes);
        d.events as u64
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        // Many event-sized buffers, few pack-sized ones: a long backlog of
        // packs must not leave megabytes of spare room behind once sent.
        let room = if buf.capacity() <= 2 * MAX_EVENT_BYTES {
            SPARE_BUFFERS
        } else if buf.capacity() <= self.cfg.pack_bytes {
            SPARE_PACKS
        } else {
            0
        };
        if self.spare.len() < room {
            self.spare.push(buf);
        }
    }

    fn publish_depth(&self) {
        self.counters
            .backlog
            .store(self.backlog_events as u64, Ordering::Relaxed);
    }

    /// Send what the backlog holds, in order, until it is empty, the
    /// collector is full (after [`SEND_WAIT`]) or nobody reads. Returns
    /// whether anything was sent.
    fn flush(&mut self) -> bool {
        let mut progress = false;
        while !self.backlog.is_empty() {
            if !self.connect() {
                self.reader_is(false);
                break;
            }
            let Some(socket) = &self.socket else { break };
            let mut views: [&[u8]; MAX_BATCH] = [&[]; MAX_BATCH];
            let n = self.backlog.len().min(MAX_BATCH);
            for (view, d) in views.iter_mut().zip(&self.backlog) {
                *view = &d.bytes;
            }
            match dgram::send_many(socket, &views[..n]) {
                Ok(sent) => {
                    let events: u64 = (0..sent).map(|_| self.drop_front()).sum();
                    self.counters.sent.fetch_add(events, Ordering::Relaxed);
                    self.reader_is(true);
                    progress |= sent > 0;
                }
                Err(e) => {
                    if !self.send_failed(e) {
                        break;
                    }
                }
            }
        }
        self.publish_depth();
        progress
    }

    /// Handle a send that sent nothing; `true` to keep sending.
    fn send_failed(&mut self, e: std::io::Error) -> bool {
        match e.kind() {
            // The collector is behind: the send waited SEND_WAIT for room.
            ErrorKind::WouldBlock | ErrorKind::TimedOut => false,
            ErrorKind::Interrupted => true,
            ErrorKind::NotFound
            | ErrorKind::ConnectionRefused
            | ErrorKind::NotConnected
            | ErrorKind::BrokenPipe
            | ErrorKind::ConnectionReset => {
                // The collector went away (or is stopping: it shuts its
                // socket for reading first): connect again later.
                self.socket = None;
                self.next_connect = Instant::now() + self.cfg.reconnect_interval;
                self.reader_is(false);
                false
            }
            _ => {
                // Something about this datagram: drop it, not the rest.
                let dropped = self.drop_front();
                self.counters
                    .dropped_send_error
                    .fetch_add(dropped, Ordering::Relaxed);
                log_warn!(
                    "event send to {} failed: {e}; {dropped} event(s) dropped",
                    self.cfg.socket_path.display()
                );
                true
            }
        }
    }

    /// At stop: give the backlog [`STOP_FLUSH`] to reach a collector
    /// (connecting at once if need be), then count what is left.
    fn flush_at_stop(&mut self) {
        let deadline = Instant::now() + STOP_FLUSH;
        while !self.backlog.is_empty() && Instant::now() < deadline {
            self.next_connect = Instant::now();
            if !self.flush() && self.socket.is_none() {
                break; // nobody reads: waiting would only delay the stop
            }
        }
        let mut left = 0;
        while !self.backlog.is_empty() {
            left += self.drop_front();
        }
        self.counters
            .dropped_no_reader
            .fetch_add(left, Ordering::Relaxed);
        self.publish_depth();
    }

    /// How long to wait for new events: until the next connection attempt
    /// when events wait for a reader.
    fn idle_wait(&self) -> Duration {
        if self.backlog.is_empty() || self.socket.is_some() {
            return IDLE_WAIT;
        }
        self.next_connect
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), IDLE_WAIT)
    }

    /// Connect to the collector's path if not connected and the retry
    /// interval has passed. Connected, a send skips the path lookup an
    /// unconnected `sendto` makes every time.
    fn connect(&mut self) -> bool {
        if self.socket.is_some() {
            return true;
        }
        let now = Instant::now();
        if now < self.next_connect {
            return false;
        }
        self.socket = UnixDatagram::unbound()
            .and_then(|s| s.set_write_timeout(Some(SEND_WAIT)).map(|_| s))
            .and_then(|s| s.connect(&self.cfg.socket_path).map(|_| s))
            .ok();
        if self.socket.is_none() {
            self.next_connect = now + self.cfg.reconnect_interval;
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
                log_warn!(
                    "events: nobody reads {path}; holding up to {} events for a collector \
                     (older ones are dropped and counted)",
                    self.cfg.backlog_events
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, Events};

    fn event(week: u32) -> Event {
        Event::WeeklySummary {
            user: "u".into(),
            week,
            best_diff_week: 1.0,
            total_shares_week: 1,
        }
    }

    /// A queue holding more than a batch is drained again at once (the
    /// emitter sleeps only once every queue is empty), so its rate is not
    /// capped at a batch per sleep.
    #[test]
    fn a_queue_with_more_than_a_batch_is_drained_without_a_pause() {
        let mut events = Events::new(true, 4 * BATCH);
        let (busy, quiet) = (events.sender(), events.sender());
        for week in 0..(2 * BATCH + 10) as u32 {
            busy.push(event(week));
        }
        quiet.push(event(0));
        let receivers = events.take_receivers();
        let cfg = EmitterConfig::new("/nonexistent/events.sock".into(), "p".into(), RunId(1));
        let mut emitter = Emitter::new(cfg, events.counters.clone());
        let (mut gapped, dropped) = (vec![0; 2], vec![0; 2]);
        let mut pass = || drain(&receivers, &mut gapped, &dropped, &mut emitter);
        assert_eq!(pass(), Drained::More, "a batch and the quiet one's event");
        assert_eq!(pass(), Drained::More, "a second batch");
        assert_eq!(pass(), Drained::Some, "the last ten: every queue empty");
        assert_eq!(pass(), Drained::None);
        assert_eq!(emitter.backlog_events, 2 * BATCH + 11);
        assert_eq!(emitter.seq, (2 * BATCH + 11) as u64);
    }

    /// Events a producer dropped on its full queue become `seq` numbers
    /// skipped before its next event; packs never pass `pack_bytes`.
    #[test]
    fn drops_are_skipped_seqs_and_packs_stay_within_their_bytes() {
        let mut events = Events::new(true, 8);
        let tx = events.sender();
        for week in 0..10 {
            tx.push(event(week)); // the last two are dropped: queue full
        }
        let receivers = events.take_receivers();
        let cfg = EmitterConfig {
            pack_bytes: MAX_EVENT_BYTES,
            ..EmitterConfig::new("/nonexistent/events.sock".into(), "p".into(), RunId(1))
        };
        let mut emitter = Emitter::new(cfg, events.counters.clone());
        let mut dropped = Vec::new();
        events.counters.dropped_full_per_producer(&mut dropped);
        assert_eq!(dropped, [2]);
        let mut gapped = vec![0];
        assert_eq!(
            drain(&receivers, &mut gapped, &dropped, &mut emitter),
            Drained::Some
        );
        assert_eq!((emitter.seq, gapped[0]), (10, 2), "two numbers skipped");
        assert_eq!(emitter.backlog.len(), 1, "eight small events, one pack");
        assert_eq!(emitter.backlog[0].events, 8);
        let text = String::from_utf8(emitter.backlog[0].bytes.clone()).unwrap();
        assert_eq!(text.lines().count(), 8);
        assert!(text.starts_with(r#"{"event":"weekly_summary","ts":"#));
        assert!(text.lines().next().unwrap().contains(r#""seq":3,"#));
        for week in 0..40 {
            emitter.enqueue(&Stamped {
                ts_us: 0,
                event: event(week),
            });
        }
        assert!(emitter.backlog.len() > 1);
        assert!(emitter
            .backlog
            .iter()
            .all(|d| d.bytes.len() <= MAX_EVENT_BYTES));
        let counted: usize = emitter.backlog.iter().map(|d| d.events).sum();
        assert_eq!((counted, emitter.backlog_events), (48, 48));
    }
}
