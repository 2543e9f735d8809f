//! The event loops: each thread owns its share of the miners (miner `i`
//! belongs to thread `i % T`) and runs one mio `Poll` over their
//! connections: rate-limited connects, readiness, pacing timers, a
//! time-boxed queue of hashing work, and a periodic sweep and snapshot.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};

use crate::cli::Config;
use crate::conn::{Conn, End};
use crate::miner::{Closing, Miner, Settings, Work};
use crate::source;
use crate::stats::{Counters, Stats};

/// Readiness events taken per `poll` call.
pub const EVENTS_CAPACITY: usize = 4096;

/// Longest `poll` sleep, so deadlines and the sweep are never late by more.
pub const MAX_POLL_WAIT: Duration = Duration::from_millis(50);

/// Time spent per loop turn on queued hashing before readiness is polled
/// again: bounds how long a reply can sit unread behind our own work.
pub const TURN_WORK_BUDGET: Duration = Duration::from_millis(2);

/// Most connects started per loop turn.
pub const MAX_CONNECTS_PER_TURN: usize = 512;

/// Connect credit a thread may save up when it falls behind its rate.
pub const CONNECT_CATCH_UP: Duration = Duration::from_millis(100);

/// Wait before reconnecting after a failure or a close by the pool.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// How often connect timeouts and submit timeouts are checked, and a
/// progress snapshot is sent.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// After the run's duration, how long to wait for outstanding replies.
pub const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// What every thread of a run shares.
#[derive(Debug)]
pub struct Plan {
    pub pool: SocketAddr,
    pub config: Config,
    pub settings: Arc<Settings>,
    pub start: Instant,
    /// No new connects or shares after this; replies are awaited until
    /// `deadline + DRAIN_WAIT`.
    pub deadline: Instant,
}

/// One thread's progress, sent every [`SWEEP_INTERVAL`].
#[derive(Debug)]
pub struct Snapshot {
    pub thread: usize,
    pub counters: Counters,
    /// Latencies since the previous snapshot.
    pub recent: Histogram<u64>,
}

/// One thread's loop state.
struct Worker {
    thread: usize,
    plan: Arc<Plan>,
    poll: Poll,
    /// Connections by token; `None` slots are listed in `free`.
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Miners waiting to connect: (not before, miner index).
    connect_queue: BinaryHeap<Reverse<(Instant, usize)>>,
    next_connect: Instant,
    connect_interval: Duration,
    /// Pacing wake-ups: (when, slot); stale entries are skipped.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Slots with work to do now, served round robin.
    work_queue: VecDeque<usize>,
    stats: Stats,
    snapshots: Sender<Snapshot>,
    next_sweep: Instant,
}

/// Run thread `thread` of `threads` to the end; its final measurements.
pub fn run_thread(
    thread: usize,
    threads: usize,
    plan: Arc<Plan>,
    snapshots: Sender<Snapshot>,
) -> io::Result<Stats> {
    let miners = plan.config.miners;
    let connect_queue = (thread..miners)
        .step_by(threads)
        .map(|i| Reverse((plan.start, i)))
        .collect();
    let per_thread = plan.config.connect_rate as f64 / threads as f64;
    let mut worker = Worker {
        thread,
        poll: Poll::new()?,
        conns: Vec::new(),
        free: Vec::new(),
        connect_queue,
        next_connect: plan.start,
        connect_interval: Duration::from_secs_f64(1.0 / per_thread),
        timers: BinaryHeap::new(),
        work_queue: VecDeque::new(),
        stats: Stats::default(),
        snapshots,
        next_sweep: plan.start + SWEEP_INTERVAL,
        plan,
    };
    worker.run()?;
    Ok(worker.stats)
}

impl Worker {
    /// The loop, until the deadline and the replies' drain are over.
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let drain_end = self.plan.deadline + DRAIN_WAIT;
        loop {
            let now = Instant::now();
            let draining = now >= self.plan.deadline;
            if now >= drain_end || (draining && outstanding(&self.stats.counters) == 0) {
                break;
            }
            let timeout = self.poll_timeout(now, drain_end);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                let readable = event.is_readable() || event.is_read_closed();
                let error = event.is_error() || (event.is_write_closed() && !event.is_writable());
                self.on_ready(event.token().0, readable, event.is_writable(), error);
            }
            let now = Instant::now();
            if !draining {
                self.open_connections(now);
            }
            self.due_timers(now);
            self.do_queued_work(now);
            if now >= self.next_sweep {
                self.sweep(now);
            }
        }
        self.finish();
        Ok(())
    }

    /// How long `poll` may sleep.
    fn poll_timeout(&self, now: Instant, drain_end: Instant) -> Duration {
        if !self.work_queue.is_empty() {
            return Duration::ZERO;
        }
        let mut wake = (now + MAX_POLL_WAIT).min(self.next_sweep).min(drain_end);
        if now < self.plan.deadline {
            wake = wake.min(self.plan.deadline);
            if let Some(Reverse((at, _))) = self.connect_queue.peek() {
                wake = wake.min((*at).max(self.next_connect));
            }
        }
        if let Some(Reverse((at, _))) = self.timers.peek() {
            wake = wake.min(*at);
        }
        wake.saturating_duration_since(now)
    }

    /// Readiness on `slot`: I/O, then let its miner work.
    fn on_ready(&mut self, slot: usize, readable: bool, writable: bool, error: bool) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let result = conn.on_ready(readable, writable, error, &mut self.stats);
        match result {
            Ok(()) => self.queue(slot),
            Err(end) => self.close(slot, end),
        }
    }

    /// Put `slot` on the queue of work to do now (once).
    fn queue(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
            if !conn.queued {
                conn.queued = true;
                self.work_queue.push_back(slot);
            }
        }
    }

    /// Serve the work queue round robin for at most [`TURN_WORK_BUDGET`].
    fn do_queued_work(&mut self, now: Instant) {
        let mining = now < self.plan.deadline;
        let turn_end = Instant::now() + TURN_WORK_BUDGET;
        for _ in 0..self.work_queue.len() {
            let Some(slot) = self.work_queue.pop_front() else {
                break;
            };
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            conn.queued = false;
            let result = if conn.read_pending {
                conn.on_ready(true, false, false, &mut self.stats)
                    .and_then(|()| conn.pump(now, mining, &mut self.stats))
            } else {
                conn.pump(now, mining, &mut self.stats)
            };
            match result {
                Ok(work) => self.schedule(slot, work),
                Err(end) => self.close(slot, end),
            }
            if Instant::now() >= turn_end {
                break;
            }
        }
    }

    /// Remember what `slot`'s miner wants next.
    fn schedule(&mut self, slot: usize, work: Work) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let busy = conn.read_pending || work == Work::Busy;
        if let Work::WaitUntil(at) = work {
            if conn.wake_at != Some(at) {
                conn.wake_at = Some(at);
                self.timers.push(Reverse((at, slot)));
            }
        }
        if busy {
            self.queue(slot);
        }
    }

    /// Move due pacing wake-ups onto the work queue.
    fn due_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                if conn.wake_at == Some(at) {
                    conn.wake_at = None;
                    self.queue(slot);
                }
            }
        }
    }

    /// Start the connects the rate allows.
    fn open_connections(&mut self, now: Instant) {
        let floor = now.checked_sub(CONNECT_CATCH_UP).unwrap_or(now);
        for _ in 0..MAX_CONNECTS_PER_TURN {
            if self.next_connect > now {
                break;
            }
            match self.connect_queue.peek() {
                Some(Reverse((at, _))) if *at <= now => {}
                _ => break,
            }
            let Some(Reverse((_, miner))) = self.connect_queue.pop() else {
                break;
            };
            self.next_connect = self.next_connect.max(floor) + self.connect_interval;
            self.connect(miner, now);
        }
    }

    /// Start miner `index`'s connection.
    fn connect(&mut self, index: usize, now: Instant) {
        self.stats.counters.connect_attempts += 1;
        let source_ip = self.plan.config.source_ips.map(|r| r.nth(index));
        let slot = self.free.pop().unwrap_or(self.conns.len());
        let stream = source::connect(self.plan.pool, source_ip).and_then(|mut s| {
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut s, Token(slot), interest)?;
            Ok(s)
        });
        let Ok(stream) = stream else {
            self.free.push(slot);
            self.stats.counters.connect_failed += 1;
            self.connect_queue
                .push(Reverse((now + RECONNECT_DELAY, index)));
            return;
        };
        let worker = self.plan.config.worker_name(index);
        let first_share = now + start_jitter(self.plan.settings.rate, index);
        let miner = Miner::new(self.plan.settings.clone(), worker, first_share);
        let conn = Conn::new(index, stream, miner, now);
        if slot == self.conns.len() {
            self.conns.push(Some(conn));
        } else {
            self.conns[slot] = Some(conn);
        }
    }

    /// End `slot`'s connection, count why, and queue a reconnect if due.
    fn close(&mut self, slot: usize, end: End) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let c = &mut self.stats.counters;
        if conn.is_open() {
            c.open -= 1;
        }
        conn.miner_mut().abandon(&mut self.stats);
        let c = &mut self.stats.counters;
        let wait = match end {
            End::ConnectFailed | End::ConnectTimeout => {
                c.connect_failed += 1;
                Some(RECONNECT_DELAY)
            }
            End::ClosedByPool => {
                c.closed_by_pool += 1;
                Some(RECONNECT_DELAY)
            }
            End::Oversize => {
                c.oversize_lines += 1;
                Some(RECONNECT_DELAY)
            }
            End::Stuck => {
                c.protocol_errors += 1;
                Some(RECONNECT_DELAY)
            }
            End::Miner(Closing::ProtocolError) => Some(RECONNECT_DELAY),
            End::Miner(Closing::Reconnect(wait)) => Some(wait),
            End::Miner(Closing::AuthRefused) => None,
        };
        if let Some(wait) = wait {
            let at = Instant::now() + wait;
            if at < self.plan.deadline {
                self.connect_queue.push(Reverse((at, conn.miner_index)));
            }
        }
    }

    /// Connect timeouts, submit timeouts, and a progress snapshot.
    fn sweep(&mut self, now: Instant) {
        self.next_sweep = now + SWEEP_INTERVAL;
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns[slot].as_mut() else {
                continue;
            };
            if conn.connect_timed_out(now) {
                self.close(slot, End::ConnectTimeout);
            } else if conn.miner_mut().expire(now, &mut self.stats) {
                self.queue(slot);
            }
        }
        let _ = self.snapshots.send(Snapshot {
            thread: self.thread,
            counters: self.stats.counters,
            recent: self.stats.take_recent(),
        });
    }

    /// The run is over: whatever is still waiting is unanswered.
    fn finish(&mut self) {
        self.stats.counters.open_at_end = self.stats.counters.open;
        for slot in 0..self.conns.len() {
            if let Some(mut conn) = self.conns[slot].take() {
                conn.miner_mut().abandon(&mut self.stats);
                if conn.is_open() {
                    self.stats.counters.open -= 1;
                }
            }
        }
    }
}

/// Submits sent and not yet settled one way or another.
pub fn outstanding(c: &Counters) -> u64 {
    c.submitted
        .saturating_sub(c.accepted + c.rejected + c.timed_out + c.unanswered)
}

/// Where in its first pacing interval miner `index` starts, so paced
/// miners do not all submit in the same instant (splitmix64 of the index).
fn start_jitter(rate: f64, index: usize) -> Duration {
    if rate <= 0.0 {
        return Duration::ZERO;
    }
    let mut z = (index as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let fraction = (z >> 11) as f64 / (1u64 << 53) as f64;
    Duration::from_secs_f64(fraction / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_spreads_over_one_interval() {
        assert_eq!(start_jitter(0.0, 5), Duration::ZERO);
        let all: Vec<Duration> = (0..1000).map(|i| start_jitter(0.5, i)).collect();
        assert!(all.iter().all(|d| *d < Duration::from_secs(2)));
        let early = all.iter().filter(|d| **d < Duration::from_secs(1)).count();
        assert!((400..600).contains(&early), "{early}");
    }

    #[test]
    fn outstanding_submits() {
        let c = Counters {
            submitted: 10,
            accepted: 5,
            rejected: 1,
            timed_out: 1,
            unanswered: 1,
            ..Counters::default()
        };
        assert_eq!(outstanding(&c), 2);
    }
}
