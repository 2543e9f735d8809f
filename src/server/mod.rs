//! The running pool: per-core event loops, the node thread, the block
//! submitter and the stats thread, and what they share.

mod core;
mod cursor;
mod extranonce;
mod limits;
mod listener;
pub mod metrics;
mod templates;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use mio::{Poll, Waker};

use crate::bitcoin::address::{script_pubkey, Network};
use crate::config::Config;
use crate::events::{emitter, EventCounters, EventSender, Events, RunId};
use crate::node::{submitter, FoundBlock, NodeClient, NodeMetrics, Timeouts};
use crate::users::Registry;
pub use extranonce::Extranonces;
pub use limits::{Limit, LimitCounters, Limits};
pub use metrics::CoreMetrics;

/// Work queued per core before the node thread notices it is behind.
const WORK_QUEUE: usize = 16;

/// What every thread of the pool shares (read-only but for atomics).
pub struct Shared {
    pub config: Config,
    pub network: Network,
    pub registry: Arc<Registry>,
    pub limits: Limits,
    /// How often each limit struck (`pool.status`).
    pub limit_counters: LimitCounters,
    pub extranonces: Extranonces,
    pub blocks: Sender<FoundBlock>,
    pub stopping: AtomicBool,
    pub next_client_id: AtomicU64,
    /// Event counters, once the emitter is set up (for status files).
    pub event_counters: parking_lot::Mutex<Option<Arc<EventCounters>>>,
    /// Each core's own counters (its share path's metrics), by core.
    pub core_metrics: Vec<Arc<CoreMetrics>>,
    /// RPC, template and found-block counters.
    pub node_metrics: Arc<NodeMetrics>,
    /// The network difficulty of the newest work published (0 before
    /// any), for `pool.status`'s `diff`; set by the node thread.
    pub network_diff: crate::users::AtomicF64,
}

/// A started pool.
pub struct Pool {
    pub shared: Arc<Shared>,
    /// Where miners can connect (ports resolved).
    pub addresses: Vec<SocketAddr>,
    /// Where `/metrics` is served, when `metrics_addr` is set.
    pub metrics_addr: Option<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Connect to the node (waiting for it), bind, start every thread.
    pub fn start(config: Config, registry: Registry) -> Result<Pool, String> {
        let node_metrics = Arc::new(NodeMetrics::new(&config.nodes));
        let mut node = NodeClient::new(config.nodes.clone(), Timeouts::default())
            .with_metrics(node_metrics.clone());
        let network = wait_for_network(&mut node, &config)?;
        let cores = core_count(&config);
        let (blocks_tx, blocks_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            limits: Limits::new(config.maxclients, config.max_clients_per_ip),
            limit_counters: LimitCounters::default(),
            extranonces: Extranonces::new(config.work.extranonce1_len),
            registry: Arc::new(registry),
            network,
            blocks: blocks_tx,
            stopping: AtomicBool::new(false),
            next_client_id: AtomicU64::new(1),
            event_counters: parking_lot::Mutex::new(None),
            core_metrics: (0..cores).map(|_| Arc::default()).collect(),
            node_metrics,
            network_diff: crate::users::AtomicF64::new(0.0),
            config,
        });
        let metrics_addr = start_metrics(&shared)?;
        let mut threads = Vec::new();
        let (nodes, logdir) = (shared.config.nodes.clone(), shared.config.logdir.clone());
        let (taken_tx, taken_rx) = crossbeam_channel::bounded(1);
        let submitter_metrics = shared.node_metrics.clone();
        threads.push(spawn("submitter", move || {
            submitter::run(blocks_rx, nodes, logdir, Some(taken_tx), submitter_metrics)
        })?);
        let mut events = Events::new(
            shared.config.event_enabled,
            shared.config.event_queue_capacity,
        );
        let (addresses, inboxes, core_threads) = start_cores(&shared, cores, &mut events)?;
        threads.extend(core_threads);
        let announced = start_zmq(&shared, &mut threads)?;
        let (s, node_events) = (shared.clone(), events.sender());
        threads.push(spawn("node", move || {
            let wake = templates::Wake {
                taken: taken_rx,
                announced,
            };
            templates::run(s, node, inboxes, node_events, wake)
        })?);
        let (s, stats_events) = (shared.clone(), events.sender());
        threads.push(spawn("stats", move || run_stats(s, stats_events))?);
        threads.push(start_emitter(&shared, &mut events)?);
        Ok(Pool {
            shared,
            addresses,
            metrics_addr,
            threads,
        })
    }

    /// Ask every thread to stop and wait for them; the stats thread
    /// folds and saves the statistics one last time on its way out, and
    /// the status files are written once more after every thread is done,
    /// so `events.status` holds the emitter's final counts. The metrics
    /// thread is not waited for either: it only reads, until the process
    /// exits.
    pub fn stop(self) {
        self.shared.stopping.store(true, Ordering::Release);
        for t in self.threads {
            if t.thread().name() != Some("submitter") {
                let _ = t.join();
            }
        }
        let _ = save_stats(&self.shared);
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| format!("cannot start the {name} thread: {e}"))
}

fn core_count(config: &Config) -> usize {
    match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

type CoreStart = (
    Vec<SocketAddr>,
    Vec<templates::CoreInbox>,
    Vec<JoinHandle<()>>,
);

/// The metrics endpoint on `metrics_addr`, unless that is empty (off).
fn start_metrics(shared: &Arc<Shared>) -> Result<Option<SocketAddr>, String> {
    let addr = &shared.config.metrics_addr;
    if addr.is_empty() {
        return Ok(None);
    }
    let s = shared.clone();
    crate::metrics::http::start(addr, move || metrics::render(&s))
        .map(Some)
        .map_err(|e| format!("config key `metrics_addr`: {e}"))
}

/// The `zmqblock` listener, when configured: what it hears of new blocks
/// (a channel that never delivers without it).
fn start_zmq(
    shared: &Arc<Shared>,
    threads: &mut Vec<JoinHandle<()>>,
) -> Result<crossbeam_channel::Receiver<[u8; 32]>, String> {
    if shared.config.zmqblock.is_empty() {
        return Ok(crossbeam_channel::never());
    }
    crate::node::zmq::tcp_address(&shared.config.zmqblock).map_err(|e| format!("zmqblock: {e}"))?;
    // A burst of announcements wakes the node thread once.
    let (tx, rx) = crossbeam_channel::bounded(1);
    let s = shared.clone();
    threads.push(spawn("zmq", move || {
        crate::node::zmq::listen(&s.config.zmqblock, &tx, &s.stopping)
    })?);
    Ok(rx)
}

/// The emitter thread (or a log line saying why events are off).
fn start_emitter(shared: &Arc<Shared>, events: &mut Events) -> Result<JoinHandle<()>, String> {
    if !shared.config.event_enabled {
        log_info!("Event emitter disabled (event_enabled is false)");
    }
    let receivers = events.take_receivers();
    let config = &shared.config;
    let cfg = emitter::EmitterConfig {
        reconnect_interval: Duration::from_millis(config.event_reconnect_ms),
        backlog_events: config.event_backlog_events,
        backlog_bytes: config.event_backlog_bytes,
        pack_bytes: config.event_pack_bytes,
        ..emitter::EmitterConfig::new(
            config.event_socket_path.clone(),
            config.pool_name.clone(),
            RunId::random(),
        )
    };
    let (counters, s) = (events.counters.clone(), shared.clone());
    *shared.event_counters.lock() = Some(counters.clone());
    spawn("emitter", move || {
        if !receivers.is_empty() {
            emitter::run(receivers, cfg, counters, &s.stopping);
        }
    })
}

fn start_cores(
    shared: &Arc<Shared>,
    cores: usize,
    events: &mut Events,
) -> Result<CoreStart, String> {
    let mut addresses = Vec::new();
    let mut per_core: Vec<Vec<std::net::TcpListener>> = (0..cores).map(|_| Vec::new()).collect();
    for url in &shared.config.serverurl {
        let (addr, listeners) =
            listener::bind_all(url, cores).map_err(|e| format!("cannot listen on {url}: {e}"))?;
        log_info!("listening for miners on {addr} ({cores} cores)");
        addresses.push(addr);
        for (core, l) in listeners.into_iter().enumerate() {
            per_core[core].push(l);
        }
    }
    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let (mut inboxes, mut threads) = (Vec::new(), Vec::new());
    for (index, listeners) in per_core.into_iter().enumerate() {
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        let waker =
            Arc::new(Waker::new(poll.registry(), core::WAKER).map_err(|e| format!("waker: {e}"))?);
        let (work_tx, work_rx) = crossbeam_channel::bounded(WORK_QUEUE);
        let metrics = shared.core_metrics[index].clone();
        let c = core::Core::new(
            shared.clone(),
            poll,
            listeners,
            work_rx,
            events.sender(),
            metrics,
        )
        .map_err(|e| format!("core {index}: {e}"))?;
        let pin = shared
            .config
            .pin_threads
            .then(|| core_ids.get(index % core_ids.len().max(1)).copied())
            .flatten();
        threads.push(spawn(&format!("core-{index}"), move || {
            if let Some(id) = pin {
                core_affinity::set_for_current(id);
            }
            c.run();
        })?);
        inboxes.push(templates::CoreInbox::new(work_tx, waker));
    }
    Ok((addresses, inboxes, threads))
}

/// The node's chain, checked against the optional pool address.
fn wait_for_network(node: &mut NodeClient, config: &Config) -> Result<Network, String> {
    loop {
        match node.blockchain_info() {
            Ok(info) => {
                let network = Network::from_chain(&info.chain)
                    .ok_or(format!("node reports unknown chain {:?}", info.chain))?;
                node.set_chain(&info.chain);
                log_info!(
                    "node {} chain={} height={}",
                    node.current_node(),
                    info.chain,
                    info.blocks
                );
                if let Some(addr) = &config.btcaddress {
                    script_pubkey(addr, network)
                        .map_err(|e| format!("config key `btcaddress` {addr}: {e}"))?;
                }
                return Ok(network);
            }
            Err(e) => {
                log_warn!("waiting for a node: {e}");
                if crate::signals::stop_requested() {
                    return Err("stopped while waiting for a node".into());
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

/// Fold hashrates and write status files every `stats_interval_secs`;
/// `hashrate_update` events every `update_interval`.
fn run_stats(shared: Arc<Shared>, events: EventSender) {
    let save_every = Duration::from_secs(shared.config.stats_interval_secs);
    let hashrate_every = Duration::from_secs(shared.config.update_interval_secs);
    let (mut last_fold, mut last_save, mut last_hashrates) =
        (Instant::now(), Instant::now(), Instant::now());
    // Fold the share counters into the averages; `elapsed` is since the last fold.
    let fold = |last_fold: &mut Instant| {
        shared.registry.tick(last_fold.elapsed().as_secs_f64());
        *last_fold = Instant::now();
    };
    loop {
        let stopping = shared.stopping.load(Ordering::Acquire);
        if last_hashrates.elapsed() >= hashrate_every {
            fold(&mut last_fold);
            last_hashrates = Instant::now();
            hashrate_events(&shared, &events);
        }
        if stopping || last_save.elapsed() >= save_every {
            fold(&mut last_fold);
            last_save = Instant::now();
            // Only users whose files were just written may leave memory.
            if save_stats(&shared) && !stopping {
                let now = crate::time::unix_now();
                let evicted = shared
                    .registry
                    .evict_idle(now, shared.config.user_evict_secs);
                if evicted > 0 {
                    log_debug!("users: {evicted} idle users left memory");
                }
            }
        }
        if stopping {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One `hashrate_update` per worker that has submitted work recently, and
/// `weekly_summary` for users whose week ended while they were idle.
fn hashrate_events(shared: &Shared, events: &EventSender) {
    use crate::events::Event;
    use crate::users::Window;
    let now = crate::time::unix_now();
    for (user, s) in shared.registry.week_rollovers(now) {
        if shared.config.track_weekly_stats {
            events.push(Event::WeeklySummary {
                user: user.address.clone(),
                week: s.week,
                best_diff_week: s.best_diff_week,
                total_shares_week: s.total_shares_week,
            });
        }
    }
    for user in shared.registry.users() {
        for worker in user.workers() {
            // Workers silent for a day have nothing to report.
            if now.saturating_sub(worker.last_share_secs()) > 86_400 {
                continue;
            }
            let h = worker.hashrates();
            events.push(Event::HashrateUpdate {
                user: user.address.clone(),
                worker: worker.name.clone(),
                hashrate_1m: h.hashes_per_sec(Window::M1),
                hashrate_5m: h.hashes_per_sec(Window::M5),
                hashrate_1h: h.hashes_per_sec(Window::H1),
                hashrate_1d: h.hashes_per_sec(Window::D1),
            });
        }
    }
}

/// Write the status files; whether every one was written.
fn save_stats(shared: &Shared) -> bool {
    let extra = crate::users::PoolStatusExtra {
        clients: shared.limits.connections() as u64,
        network_diff: shared.network_diff.load(),
        limits: Some(shared.limit_counters.counts()),
        ..Default::default()
    };
    let written = shared.registry.write_status(&shared.config.logdir, &extra);
    if let Err(e) = &written {
        log_warn!(
            "cannot write status files under {}: {e}",
            shared.config.logdir.display()
        );
    }
    if let Some(counters) = shared.event_counters.lock().as_ref() {
        let status = crate::events::EventsStatus {
            enabled: shared.config.event_enabled,
            counters: counters.snapshot(),
        };
        let text = status.to_text();
        let path = shared.config.logdir.join("pool/events.status");
        if let Err(e) = crate::fs::write_atomic(&path, text.as_bytes()) {
            log_warn!("cannot write {}: {e}", path.display());
        }
    }
    written.is_ok()
}
