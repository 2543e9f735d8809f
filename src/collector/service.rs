//! The running collector: the receiver thread, one thread per sink, and
//! the metrics thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::config::CollectorConfig;
use super::metrics::{Metrics, SinkMetrics};
use super::receiver::{self, SinkQueue};
use super::runner::{self, BatchLimits};
use super::sink::Sink;
use super::spool::Spool;

/// A started collector.
pub struct Collector {
    pub metrics: Arc<Metrics>,
    /// Where the metrics endpoint listens, if enabled.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Stops the receiver; the sinks are stopped after it has drained,
    /// so nothing it hands on arrives after they have gone.
    stop_receiver: Arc<AtomicBool>,
    stop_sinks: Arc<AtomicBool>,
    receiver: JoinHandle<()>,
    sinks: Vec<JoinHandle<()>>,
}

impl Collector {
    /// Bind the socket and start every thread. Sinks that cannot be
    /// reached now spool until they can: the collector still starts.
    pub fn start(cfg: CollectorConfig, sinks: Vec<Box<dyn Sink>>) -> Result<Collector, String> {
        let socket = receiver::bind(&cfg)
            .map_err(|e| format!("cannot bind {}: {e}", cfg.socket_path.display()))?;
        log_info!("collector listening on {}", cfg.socket_path.display());
        let stop_sinks = Arc::new(AtomicBool::new(false));
        let limits = BatchLimits {
            max_events: cfg.batch_max_events,
            max_wait: Duration::from_millis(cfg.batch_max_ms),
        };
        let (mut sinks_threads, mut queues, mut metrics) =
            (Vec::new(), Vec::new(), Metrics::default());
        for sink in sinks {
            let name = sink.name();
            let spool =
                Spool::open(&cfg.spool_dir, name).map_err(|e| format!("spool for {name}: {e}"))?;
            let sink_metrics = Arc::new(SinkMetrics::default());
            // Before the collector reports ready: a torn tail cut on open shows at once.
            runner::publish_spool(&spool, &sink_metrics);
            let (tx, rx) = crossbeam_channel::bounded(cfg.queue_capacity);
            let (m, s) = (sink_metrics.clone(), stop_sinks.clone());
            sinks_threads.push(spawn(name, move || {
                runner::run(sink, rx, spool, limits, m, &s)
            })?);
            metrics.sinks.push((name, sink_metrics.clone()));
            queues.push(SinkQueue {
                tx,
                metrics: sink_metrics,
            });
        }
        let metrics = Arc::new(metrics);
        let metrics_addr = start_metrics(&cfg, &metrics)?;
        let stop_receiver = Arc::new(AtomicBool::new(false));
        let (m, s, name) = (
            metrics.clone(),
            stop_receiver.clone(),
            cfg.collector_name.clone(),
        );
        let receiver = spawn("receiver", move || {
            receiver::run(socket, queues, m, name, &s)
        })?;
        Ok(Collector {
            metrics,
            metrics_addr,
            stop_receiver,
            stop_sinks,
            receiver,
            sinks: sinks_threads,
        })
    }

    /// Stop receiving (the receiver drains the socket), then drain every
    /// queue into its sink or spool, and wait.
    pub fn stop(self) {
        self.stop_receiver.store(true, Ordering::Release);
        let _ = self.receiver.join();
        self.stop_sinks.store(true, Ordering::Release);
        for t in self.sinks {
            let _ = t.join();
        }
    }
}

fn start_metrics(
    cfg: &CollectorConfig,
    metrics: &Arc<Metrics>,
) -> Result<Option<std::net::SocketAddr>, String> {
    if cfg.metrics_addr.is_empty() {
        return Ok(None);
    }
    let m = metrics.clone();
    crate::metrics::http::start(&cfg.metrics_addr, move || m.render()).map(Some)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| format!("cannot start {name}: {e}"))
}
