//! `tbg-collector`: receives the pool's event datagrams and stores them in
//! Redis Streams and PostgreSQL (docs/storage.md).
//!
//! `tbg-collector [-c CONFIG.json] [--log-level LEVEL] [--ready-file PATH]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tbg_pool::collector::postgres::PgSink;
use tbg_pool::collector::redis_sink::RedisSink;
use tbg_pool::collector::{Collector, CollectorConfig, Sink};
use tbg_pool::{cli, signals};
use tbg_pool::{log_error, log_info, log_warn};

const USAGE: &str = "\
usage: tbg-collector [-c CONFIG.json] [--log-level error|warn|info|debug] [--ready-file PATH]

  -c, --config FILE     JSON config (every key in docs/storage.md). Without it: socket
                        /tmp/tbg-pool/events.sock, Redis at redis://127.0.0.1:6379, PostgreSQL
                        at host=127.0.0.1 user=postgres dbname=tbg
  --log-level LEVEL     error | warn | info (default) | debug; logs go to stderr
  --ready-file PATH     write the metrics address there once the socket is bound
  -h, --help            print this text

Examples:
  tbg-collector -c /etc/tbg-pool/collector.json
  echo '{\"socket_path\":\"/tmp/ev.sock\",\"redis_url\":\"\",\"postgres_url\":\"\"}' > c.json && tbg-collector -c c.json
                                           # count and validate only, no sinks

Start it before the pool (the pool runs without it, counting what it drops).
SIGTERM drains the socket and every queue into the sinks or the spool.";

fn load(path: &Option<PathBuf>) -> Result<CollectorConfig, String> {
    let Some(path) = path else {
        return Ok(CollectorConfig::default());
    };
    let mut bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (config, warnings) = CollectorConfig::parse(&mut bytes).map_err(|e| e.to_string())?;
    for w in warnings {
        log_warn!("{}: {w}", path.display());
    }
    Ok(config)
}

fn sinks(cfg: &CollectorConfig) -> Vec<Box<dyn Sink>> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if !cfg.redis_url.is_empty() {
        let group = cfg.redis_consumer_group.clone();
        sinks.push(Box::new(if cfg.redis_cluster {
            RedisSink::cluster(&cfg.redis_url, cfg.redis_maxlen, group)
        } else {
            RedisSink::new(&cfg.redis_url, cfg.redis_maxlen, group)
        }));
    }
    if !cfg.postgres_url.is_empty() {
        sinks.push(Box::new(PgSink::new(&cfg.postgres_url)));
    }
    if sinks.is_empty() {
        log_warn!("no sink configured: events are counted and dropped");
    }
    sinks
}

fn main() -> ExitCode {
    let args = cli::start(USAGE);
    let cfg = match load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            log_error!("config: {e}");
            return ExitCode::from(2);
        }
    };
    let collector = match Collector::start(cfg.clone(), sinks(&cfg)) {
        Ok(c) => c,
        Err(e) => {
            log_error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = args.ready_file {
        let metrics = collector
            .metrics_addr
            .map(|a| a.to_string())
            .unwrap_or_default();
        if let Err(e) = std::fs::write(&path, metrics) {
            log_warn!("cannot write {}: {e}", path.display());
        }
    }
    while !signals::stop_requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    log_info!("stopping: draining queues to the sinks or their spools");
    collector.stop();
    ExitCode::SUCCESS
}
