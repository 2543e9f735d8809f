//! `tbg-api`: the events' downstream consumer (docs/api.md). It rebuilds
//! its state from PostgreSQL at start, then follows the Redis streams
//! with a consumer group, and serves public-pool-shaped JSON, Server-Sent
//! Events and the live page over a bounded blocking HTTP server.
//!
//! Threads: `stream` (the reader), `node` (with `node_url`), `sse` (the hub), `http-io` (accepts,
//! reads request heads) and `threads` × `http-N` (answer).

pub mod config;
pub mod event;
pub mod http;
pub mod model;
pub mod node;
pub mod routes;
pub mod sse;
pub mod state;
pub mod store;
pub mod stream;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

pub use config::ApiConfig;

use crate::bitcoin::address::Network;

/// Unix seconds now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// A running API (threads detached; `stop` ends the reader and the server).
pub struct Api {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<state::State>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Api {
    /// Load history, start the reader, the hub and the server.
    pub fn start(cfg: &ApiConfig) -> Result<Api, String> {
        let state = Arc::new(Mutex::new(state::State::new(limits(cfg), now())));
        let newest = load_history(cfg, &state);
        let hub = sse::Hub::start(sse::HubLimits {
            max_clients: cfg.max_sse_clients,
            buffer_bytes: cfg.sse_buffer_bytes,
            heartbeat: Duration::from_secs(cfg.sse_heartbeat_secs),
        })
        .map_err(|e| format!("cannot start the SSE hub: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let reader = start_reader(cfg, newest, &state, &hub, &stop)?;
        node::start(cfg, state.clone(), stop.clone())?;
        let handler = Arc::new(routes::Api {
            state: state.clone(),
            hub,
            network: cfg.network.as_deref().and_then(Network::from_chain),
            fee: cfg.fee,
            blocks_dir: cfg.blocks_dir.clone(),
            web_dir: cfg.web_dir.clone(),
        });
        let server = http::Server::start(&cfg.listen, http_limits(cfg), handler, stop.clone())
            .map_err(|e| format!("listen {}: {e}", cfg.listen))?;
        log_info!("tbg-api on http://{}/", server.addr);
        Ok(Api {
            addr: server.addr,
            state,
            stop,
            reader,
        })
    }

    /// Stop reading (the last batch read is applied and acknowledged).
    pub fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn limits(cfg: &ApiConfig) -> state::Limits {
    state::Limits {
        max_users: cfg.max_users,
        max_sessions: cfg.max_sessions,
        max_blocks: cfg.max_blocks,
        active_window_secs: cfg.active_window_secs,
    }
}

fn http_limits(cfg: &ApiConfig) -> http::Limits {
    http::Limits {
        threads: cfg.threads,
        max_connections: cfg.max_connections,
        queue_capacity: cfg.queue_capacity,
        max_header_bytes: cfg.max_header_bytes,
        read_timeout: cfg.read_timeout(),
        write_timeout: cfg.write_timeout(),
    }
}

/// PostgreSQL's history into the state; the newest event's time (unix
/// ms), 0 when there is none or PostgreSQL cannot be read (then the
/// streams are read from their start: what Redis still holds).
fn load_history(cfg: &ApiConfig, state: &Mutex<state::State>) -> u64 {
    if cfg.postgres_url.is_empty() {
        return 0;
    }
    let mut s = state.lock();
    match store::load(&cfg.postgres_url, &mut s) {
        Ok(newest) => {
            log_info!(
                "history from PostgreSQL: {} users, {} live sessions, {} blocks",
                s.users.len(),
                s.sessions.len(),
                s.blocks.len()
            );
            newest
        }
        Err(e) => {
            log_warn!("PostgreSQL history not loaded ({e}): starting from the streams alone");
            // Whatever was folded before the error is dropped: the streams
            // replay from their start, and partial history would count twice.
            *s = state::State::new(s.limits, s.started);
            0
        }
    }
}

fn start_reader(
    cfg: &ApiConfig,
    newest: u64,
    state: &Arc<Mutex<state::State>>,
    hub: &sse::Hub,
    stop: &Arc<AtomicBool>,
) -> Result<Option<std::thread::JoinHandle<()>>, String> {
    if cfg.redis_url.is_empty() {
        log_warn!("no redis_url: serving history only, no live events");
        return Ok(None);
    }
    let reader = stream::ReaderConfig {
        url: cfg.redis_url.clone(),
        group: cfg.redis_group.clone(),
        consumer: cfg.redis_consumer.clone(),
        count: cfg.read_count,
        start_id: stream::start_id(newest, cfg.replay_margin_ms),
    };
    stream::start(reader, state.clone(), hub.clone(), stop.clone())
        .map(Some)
        .map_err(|e| format!("cannot start the stream reader: {e}"))
}
