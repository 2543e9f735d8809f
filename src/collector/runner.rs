//! One sink's thread: batches from its queue, writes them, and when the
//! sink is down spools to disk (in arrival order) and replays the spool
//! when it is back. Only this thread touches the sink and its spool, so
//! order is kept; the sinks' writes are idempotent on (pool, seq).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::metrics::SinkMetrics;
use super::record::StoredEvent;
use super::sink::Sink;
use super::spool::Spool;

/// Batching limits.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_events: usize,
    pub max_wait: Duration,
}

/// Longest wait between two attempts to reach a down sink.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often a spool replay under way logs its progress.
const REPLAY_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// A spool replay's progress, for its log lines.
struct ReplayProgress {
    last_log: Instant,
    replayed: u64,
}

/// Run a sink until `stop` and its queue is drained (or spooled).
pub fn run(
    mut sink: Box<dyn Sink>,
    queue: Receiver<StoredEvent>,
    mut spool: Spool,
    limits: BatchLimits,
    metrics: Arc<SinkMetrics>,
    stop: &AtomicBool,
) {
    let name = sink.name();
    let mut up = sink
        .connect()
        .map_err(|e| log_warn!("{name}: {e}; spooling to {}", spool.path().display()))
        .is_ok();
    let mut backoff = Duration::from_millis(100);
    let mut next_try = Instant::now();
    let mut progress = ReplayProgress {
        last_log: Instant::now(),
        replayed: 0,
    };
    loop {
        // Catching up on the spool: take only what is queued, never wait
        // for a batch to fill (a replay waited `batch_max_ms` per batch
        // when no new events came: 500 events a second at the defaults).
        let wait = if up && !spool.is_empty() {
            Duration::ZERO
        } else {
            limits.max_wait
        };
        let (batch, receiver_gone) = next_batch(&queue, limits.max_events, wait, stop);
        metrics
            .queue_depth
            .store(queue.len() as u64, Ordering::Relaxed);
        // With the receiver gone (stopped, or a panic) nothing more comes.
        let ending = stop.load(Ordering::Acquire) || receiver_gone;
        if batch.is_empty() && ending && queue.is_empty() {
            return;
        }
        if up && spool.is_empty() {
            if batch.is_empty() {
                continue;
            }
            if write(sink.as_mut(), &batch, &metrics) {
                continue;
            }
            up = false;
            log_warn!("{name}: down; spooling to {}", spool.path().display());
        }
        // Down, or catching up: keep arrival order through the spool.
        if !batch.is_empty() {
            if let Err(e) = spool.append(&batch) {
                log_error!("{name}: cannot spool {} events: {e}", batch.len());
                metrics
                    .dropped_spool_error
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
        if Instant::now() >= next_try {
            up = (up || sink.connect().is_ok())
                && replay(sink.as_mut(), &mut spool, limits, &metrics, &mut progress);
            backoff = if up {
                Duration::from_millis(100)
            } else {
                (backoff * 2).min(MAX_BACKOFF)
            };
            next_try = Instant::now() + if up { Duration::ZERO } else { backoff };
        }
        publish_spool(&spool, &metrics);
    }
}

/// Mirror the spool's state into the sink's metrics.
pub fn publish_spool(spool: &Spool, metrics: &SinkMetrics) {
    metrics
        .spool_bytes
        .store(spool.pending_bytes(), Ordering::Relaxed);
    metrics
        .spool_torn
        .store(spool.torn_tails(), Ordering::Relaxed);
    metrics
        .spool_skipped_bytes
        .store(spool.skipped_bytes(), Ordering::Relaxed);
}

/// Up to `max_events`, waiting at most `max_wait` in all; and whether
/// the queue's sender (the receiver thread) is gone.
fn next_batch(
    queue: &Receiver<StoredEvent>,
    max_events: usize,
    max_wait: Duration,
    stop: &AtomicBool,
) -> (Vec<StoredEvent>, bool) {
    let mut batch = Vec::new();
    let deadline = Instant::now() + max_wait;
    while batch.len() < max_events {
        let wait = deadline.saturating_duration_since(Instant::now());
        match queue.recv_timeout(if stop.load(Ordering::Acquire) {
            Duration::ZERO
        } else {
            wait
        }) {
            Ok(e) => batch.push(e),
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => return (batch, true),
        }
    }
    (batch, false)
}

fn write(sink: &mut dyn Sink, batch: &[StoredEvent], metrics: &SinkMetrics) -> bool {
    let started = Instant::now();
    match sink.write(batch) {
        Ok(()) => {
            metrics.observe_batch(started.elapsed().as_secs_f64());
            metrics
                .written
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            true
        }
        Err(e) => {
            metrics.errors.fetch_add(1, Ordering::Relaxed);
            log_warn!(
                "{}: write of {} events failed: {e}",
                sink.name(),
                batch.len()
            );
            false
        }
    }
}

/// Replay one batch of the spool; `true` if the sink took it.
fn replay(
    sink: &mut dyn Sink,
    spool: &mut Spool,
    limits: BatchLimits,
    metrics: &SinkMetrics,
    progress: &mut ReplayProgress,
) -> bool {
    let batch = match spool.peek(limits.max_events) {
        Ok(b) => b,
        Err(e) => {
            log_error!("{}: cannot read the spool: {e}", sink.name());
            return false;
        }
    };
    if !batch.events.is_empty() && !write(sink, &batch.events, metrics) {
        return false;
    }
    if let Err(e) = spool.commit(&batch) {
        log_error!("{}: cannot record spool progress: {e}", sink.name());
    }
    progress.replayed += batch.events.len() as u64;
    if spool.is_empty() {
        log_info!(
            "{}: spool replayed ({} events); writing directly again",
            sink.name(),
            progress.replayed
        );
        progress.replayed = 0;
    } else if progress.last_log.elapsed() >= REPLAY_PROGRESS_EVERY {
        progress.last_log = Instant::now();
        log_info!(
            "{}: replaying the spool: {} events so far, {} KiB left",
            sink.name(),
            progress.replayed,
            spool.pending_bytes() / 1024
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use parking_lot::Mutex;

    use super::*;
    use crate::collector::sink::SinkError;

    /// A sink that refuses writes while `down` is set and records the rest.
    struct Flaky {
        down: Arc<AtomicBool>,
        stored: Arc<Mutex<Vec<u64>>>,
    }

    impl Sink for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        fn connect(&mut self) -> Result<(), SinkError> {
            if self.down.load(Ordering::SeqCst) {
                Err(SinkError("down".into()))
            } else {
                Ok(())
            }
        }
        fn write(&mut self, batch: &[StoredEvent]) -> Result<(), SinkError> {
            self.connect()?;
            self.stored.lock().extend(batch.iter().map(|e| e.seq));
            Ok(())
        }
    }

    use crate::collector::record::test_event as event;

    #[test]
    fn a_down_sink_spools_and_gets_everything_in_order_when_back() {
        let dir = std::env::temp_dir().join(format!("tbg-runner-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (down, stored) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(Mutex::new(Vec::new())),
        );
        let sink = Box::new(Flaky {
            down: down.clone(),
            stored: stored.clone(),
        });
        let (tx, rx) = crossbeam_channel::bounded(1000);
        let spool = Spool::open(&dir, "flaky").unwrap();
        let limits = BatchLimits {
            max_events: 7,
            max_wait: Duration::from_millis(20),
        };
        let (metrics, stop) = (
            Arc::new(SinkMetrics::default()),
            Arc::new(AtomicBool::new(false)),
        );
        let (m, s) = (metrics.clone(), stop.clone());
        let thread = std::thread::spawn(move || run(sink, rx, spool, limits, m, &s));
        let wait_for = |n: usize| {
            (0..400).any(|_| {
                std::thread::sleep(Duration::from_millis(10));
                stored.lock().len() >= n
            })
        };
        (1..=10).for_each(|i| tx.send(event(i)).unwrap());
        assert!(wait_for(10));
        down.store(true, Ordering::SeqCst);
        (11..=60).for_each(|i| tx.send(event(i)).unwrap());
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(stored.lock().len(), 10, "nothing written while down");
        assert!(metrics.spool_bytes.load(Ordering::Relaxed) > 0 || !rx_is_empty(&tx));
        down.store(false, Ordering::SeqCst);
        (61..=70).for_each(|i| tx.send(event(i)).unwrap());
        assert!(wait_for(70));
        assert_eq!(
            *stored.lock(),
            (1..=70).collect::<Vec<u64>>(),
            "every event once, in order"
        );
        stop.store(true, Ordering::SeqCst);
        thread.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A spool replayed while no new events arrive goes batch after batch,
    /// not one batch per `batch_max_ms` (here an hour: the replay of 50
    /// batches must not wait for it).
    #[test]
    fn an_idle_replay_does_not_wait_for_batches_to_fill() {
        let dir = std::env::temp_dir().join(format!("tbg-runner-idle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut spool = Spool::open(&dir, "flaky").unwrap();
        spool
            .append(&(1..=500).map(event).collect::<Vec<_>>())
            .unwrap();
        let stored = Arc::new(Mutex::new(Vec::new()));
        let sink = Box::new(Flaky {
            down: Arc::new(AtomicBool::new(false)),
            stored: stored.clone(),
        });
        let (tx, rx) = crossbeam_channel::bounded(10);
        let limits = BatchLimits {
            max_events: 10,
            max_wait: Duration::from_secs(3600),
        };
        let (metrics, stop) = (
            Arc::new(SinkMetrics::default()),
            Arc::new(AtomicBool::new(false)),
        );
        let (m, s) = (metrics.clone(), stop.clone());
        let thread = std::thread::spawn(move || run(sink, rx, spool, limits, m, &s));
        let replayed = (0..3000).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            stored.lock().len() >= 500
        });
        stop.store(true, Ordering::SeqCst);
        drop(tx);
        thread.join().unwrap();
        assert!(replayed, "replayed {} of 500", stored.lock().len());
        assert_eq!(*stored.lock(), (1..=500).collect::<Vec<u64>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn rx_is_empty(tx: &crossbeam_channel::Sender<StoredEvent>) -> bool {
        tx.is_empty()
    }
}
