//! Per-producer bounded queues. Each core (and the node and stats
//! threads) owns one [`EventSender`]; pushing is a lock-free `try_send` of
//! a compact value, with no formatting, no allocation and no system call.
//! A full queue drops the event and counts it; nothing ever blocks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use super::schema::Event;
use crate::time::unix_micros;

/// An event with the time it happened.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// Unix time, microseconds.
    pub ts_us: u64,
    pub event: Event,
}

/// One producer's counters, on their own cache line so cores never
/// contend on them.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ProducerCounters {
    queued: AtomicU64,
    dropped_full: AtomicU64,
}

/// A producer's end of its own queue.
#[derive(Debug)]
pub struct EventSender {
    tx: Option<Sender<Stamped>>,
    counters: Arc<ProducerCounters>,
}

impl EventSender {
    /// A sender that drops everything (events disabled, or tests).
    pub fn disabled() -> EventSender {
        EventSender {
            tx: None,
            counters: Arc::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queue an event stamped now; never blocks.
    #[inline]
    pub fn push(&self, event: Event) {
        if self.tx.is_some() {
            self.push_at(unix_micros(), event);
        }
    }

    /// Queue an event stamped `ts_us` (a core reads the clock once per
    /// batch of requests, not once per event); never blocks.
    #[inline]
    pub fn push_at(&self, ts_us: u64, event: Event) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Stamped { ts_us, event }) {
            Ok(()) => self.counters.queued.fetch_add(1, Ordering::Relaxed),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                // Release: the emitter reads it to skip as many seqs.
                self.counters.dropped_full.fetch_add(1, Ordering::Release)
            }
        };
    }
}

/// Totals across producers and the emitter.
#[derive(Debug, Default)]
pub struct EventCounters {
    producers: Mutex<Vec<Arc<ProducerCounters>>>,
    /// A receiving end of every producer's queue that never receives:
    /// only its length is read, for the queue depth in metrics.
    queues: Mutex<Vec<Receiver<Stamped>>>,
    pub sent: AtomicU64,
    pub dropped_no_reader: AtomicU64,
    pub dropped_oversize: AtomicU64,
    pub dropped_send_error: AtomicU64,
    /// Events formatted and waiting in the emitter's backlog (a gauge).
    pub backlog: AtomicU64,
}

/// A copy of the counters at one moment (as `events.status` names them:
/// [`super::EventsStatus`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CountersSnapshot {
    pub queued: u64,
    pub sent: u64,
    pub dropped_queue_full: u64,
    pub dropped_no_reader: u64,
    pub dropped_oversize: u64,
    pub dropped_send_error: u64,
}

impl EventCounters {
    /// How many events each producer dropped on a full queue so far, in
    /// the order of [`Events::take_receivers`], into `out`.
    pub fn dropped_full_per_producer(&self, out: &mut Vec<u64>) {
        out.clear();
        let producers = self.producers.lock();
        out.extend(
            producers
                .iter()
                .map(|p| p.dropped_full.load(Ordering::Acquire)),
        );
    }

    /// Events waiting in the producers' queues now.
    pub fn queue_depth(&self) -> usize {
        self.queues.lock().iter().map(Receiver::len).sum()
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let producers = self.producers.lock();
        let sum = |f: fn(&ProducerCounters) -> &AtomicU64| {
            producers.iter().map(|p| f(p).load(Ordering::Relaxed)).sum()
        };
        CountersSnapshot {
            queued: sum(|p| &p.queued),
            dropped_queue_full: sum(|p| &p.dropped_full),
            sent: self.sent.load(Ordering::Relaxed),
            dropped_no_reader: self.dropped_no_reader.load(Ordering::Relaxed),
            dropped_oversize: self.dropped_oversize.load(Ordering::Relaxed),
            dropped_send_error: self.dropped_send_error.load(Ordering::Relaxed),
        }
    }
}

/// The set of queues, built at start-up: producers take senders, the
/// emitter takes the receivers.
pub struct Events {
    enabled: bool,
    capacity: usize,
    receivers: Vec<Receiver<Stamped>>,
    pub counters: Arc<EventCounters>,
}

impl Events {
    /// `capacity` events per producer queue.
    pub fn new(enabled: bool, capacity: usize) -> Events {
        assert!(capacity > 0);
        Events {
            enabled,
            capacity,
            receivers: Vec::new(),
            counters: Arc::default(),
        }
    }

    /// A new producer with its own queue.
    pub fn sender(&mut self) -> EventSender {
        if !self.enabled {
            return EventSender::disabled();
        }
        let (tx, rx) = crossbeam_channel::bounded(self.capacity);
        let counters = Arc::new(ProducerCounters::default());
        self.counters.producers.lock().push(counters.clone());
        self.counters.queues.lock().push(rx.clone());
        self.receivers.push(rx);
        EventSender {
            tx: Some(tx),
            counters,
        }
    }

    /// The receivers, for the emitter.
    pub fn take_receivers(&mut self) -> Vec<Receiver<Stamped>> {
        std::mem::take(&mut self.receivers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::schema::Event;

    fn event() -> Event {
        Event::WeeklySummary {
            user: "u".into(),
            week: 202608,
            best_diff_week: 1.0,
            total_shares_week: 2,
        }
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let mut events = Events::new(true, 2);
        let tx = events.sender();
        for _ in 0..5 {
            tx.push(event());
        }
        let snap = events.counters.snapshot();
        assert_eq!((snap.queued, snap.dropped_queue_full), (2, 3));
        assert_eq!(events.counters.queue_depth(), 2);
        let receivers = events.take_receivers();
        assert_eq!(receivers[0].len(), 2);
        receivers[0].recv().unwrap();
        assert_eq!(events.counters.queue_depth(), 1);
        let off = Events::new(false, 2).sender();
        off.push(event());
        assert!(!off.enabled());
    }
}
