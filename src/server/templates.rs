//! The node thread: watch the tip, fetch templates, publish work.
//!
//! A new tip → a template with `clean_jobs` for every miner; otherwise a
//! fresh template every `update_interval` (new transactions, and a new job
//! id so no miner idles on work it thinks is old). An unreachable node
//! leaves miners on their last work; the thread logs and keeps polling.
//! While the node's tip is not the one the published work builds on, a
//! template is asked for at every `blockpoll`: one failed call right after
//! a block must not leave miners on the old tip until `update_interval`.
//! When a node takes a block the pool found, the submitter wakes this
//! thread, so miners get work on it without waiting for `blockpoll`; the
//! pool's round (`pool.status`'s `diff`, its work as a share of network
//! difficulty) starts again then, as ckpool's does at a solved block.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::Waker;

use super::Shared;
use crate::bitcoin::{hex, Hash32};
use crate::events::{Event, EventSender};
use crate::node::{NodeClient, Template, TipWatcher};
use crate::work::{JobTemplate, Work};

/// Where the node thread publishes work: one channel and waker per core.
pub struct CoreInbox {
    pub work_tx: Sender<Arc<Work>>,
    pub waker: Arc<Waker>,
    /// A new block's work could not be queued for this core: the next
    /// work it gets goes out clean, so its miners still drop stale jobs.
    owed_clean: std::cell::Cell<bool>,
}

impl CoreInbox {
    pub fn new(work_tx: Sender<Arc<Work>>, waker: Arc<Waker>) -> CoreInbox {
        CoreInbox {
            work_tx,
            waker,
            owed_clean: std::cell::Cell::new(false),
        }
    }
}

/// What wakes the node thread before its next `blockpoll`: then the tip
/// is polled, and a template fetched if it moved, at once.
pub struct Wake {
    /// The submitter's word that a node took a block of ours.
    pub taken: Receiver<()>,
    /// The node's ZMQ `hashblock` announcements (`zmqblock`).
    pub announced: Receiver<[u8; 32]>,
}

/// Run the node thread until the pool stops.
pub fn run(
    shared: Arc<Shared>,
    mut node: NodeClient,
    cores: Vec<CoreInbox>,
    events: EventSender,
    wake: Wake,
) {
    let poll_every = Duration::from_millis(shared.config.blockpoll_ms);
    let refresh_every = Duration::from_secs(shared.config.update_interval_secs);
    let mut tip = TipWatcher::new();
    let mut published: Option<Hash32> = None;
    let mut last_template: Option<Instant> = None;
    let mut next_id = 1u64;
    while !shared.stopping.load(Ordering::Acquire) {
        if let Err(e) = tip.poll(&mut node) {
            log_warn!("tip poll: {e}");
        }
        let tip_changed = tip.tip().is_some_and(|t| published != Some(t));
        let due = last_template.is_none_or(|t| t.elapsed() >= refresh_every);
        if tip_changed || due {
            match node.get_block_template() {
                Ok(t) => {
                    let clean = published != Some(t.prev_hash);
                    let job = Arc::new(JobTemplate::new(next_id, &t));
                    next_id += 1;
                    if clean {
                        log_info!(
                            "new block: height {} prev {} ({} txs, network diff {:.3})",
                            t.height,
                            hex::encode_display(&t.prev_hash),
                            t.transactions.len(),
                            job.network_diff
                        );
                    }
                    let previous = published.replace(t.prev_hash);
                    tip.set(t.prev_hash);
                    last_template = Some(Instant::now());
                    let network_diff = job.network_diff;
                    shared.network_diff.store(network_diff);
                    publish(&cores, Arc::new(Work::new(job, clean)));
                    shared.node_metrics.template_published();
                    // After the work is out: the event's header lookup is
                    // one more round trip miners need not wait for.
                    if let (true, Some(previous)) = (clean, previous) {
                        events.push(new_block_event(&mut node, &t, network_diff, previous));
                    }
                }
                Err(e) => log_warn!("getblocktemplate: {e} (miners keep their current work)"),
            }
        }
        crossbeam_channel::select! {
            recv(wake.taken) -> taken => match taken {
                // A node took a block of ours: the round is over.
                Ok(()) => shared.registry.reset_round(),
                // A closed channel (no submitter) is always ready: sleep.
                Err(_) => std::thread::sleep(poll_every),
            },
            recv(wake.announced) -> announced => match announced {
                Ok(hash) => log_debug!("node announced block {}", hex::encode(&hash)),
                Err(_) => std::thread::sleep(poll_every), // stopping
            },
            default(poll_every) => {}
        }
    }
}

/// `new_block_network` for the tip a template builds on.
fn new_block_event(node: &mut NodeClient, t: &Template, diff: f64, previous_tip: Hash32) -> Event {
    #[derive(serde::Deserialize)]
    struct Header {
        previousblockhash: Option<String>,
    }
    let tip = hex::encode_display(&t.prev_hash);
    // The tip's parent; the last tip we saw stands in if the node cannot
    // say (they differ only when several blocks arrived between polls).
    let parent = node
        .call::<Header>("getblockheader", &format!(r#"["{tip}"]"#))
        .ok()
        .and_then(|h| h.previousblockhash)
        .and_then(|p| hex::decode_display(&p).ok())
        .unwrap_or(previous_tip);
    Event::NewBlockNetwork {
        height: t.height.saturating_sub(1),
        hash: t.prev_hash,
        diff,
        prev_hash: parent,
    }
}

fn publish(cores: &[CoreInbox], work: Arc<Work>) {
    for core in cores {
        let work = if core.owed_clean.get() && !work.clean {
            Arc::new(work.as_clean())
        } else {
            work.clone()
        };
        match core.work_tx.try_send(work) {
            Ok(()) => core.owed_clean.set(false),
            Err(e) => {
                // The core has not drained a backlog of 16 works: this
                // newest one is dropped (not the older ones queued: the
                // core takes them all and keeps the last), and the core
                // gets the next work published (every update_interval, and
                // at a new block) — clean, if this one was.
                if e.into_inner().clean {
                    core.owed_clean.set(true);
                }
                log_warn!("a core is behind on new work");
            }
        }
        if let Err(e) = core.waker.wake() {
            log_error!("cannot wake a core: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGTEST_GBT: &str =
        include_str!("../../tests/vectors/bitcoind-regtest-getblocktemplate.json");

    fn work(id: u64, clean: bool) -> Arc<Work> {
        let t = Template::from_json(&mut REGTEST_GBT.as_bytes().to_vec()).unwrap();
        Arc::new(Work::new(Arc::new(JobTemplate::new(id, &t)), clean))
    }

    /// A new block's work dropped for a full queue is owed: the core's
    /// next work goes out clean (and only that one).
    #[test]
    fn a_dropped_clean_work_makes_the_next_one_clean() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (tx, rx) = crossbeam_channel::bounded(1);
        let cores = [CoreInbox::new(tx, waker)];
        publish(&cores, work(1, false));
        publish(&cores, work(2, true)); // the queue is full: dropped
        assert_eq!(rx.try_recv().unwrap().template.id, 1);
        publish(&cores, work(3, false));
        let got = rx.try_recv().unwrap();
        assert_eq!((got.template.id, got.clean), (3, true));
        publish(&cores, work(4, false));
        assert!(!rx.try_recv().unwrap().clean, "owed once");
    }
}
