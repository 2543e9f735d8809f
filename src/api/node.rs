//! `node_url`: the node's `getmininginfo` and tip header every
//! `node_poll_secs`, for `/api/network` — so the page shows the chain
//! from the start, not only after the first `new_block_network`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;

use super::config::ApiConfig;
use super::model::{iso_time, Network};
use super::state::State;
use crate::node::{Auth, Endpoint, NodeClient, NodeError, Timeouts};

#[derive(Deserialize)]
struct MiningInfo {
    blocks: u64,
    difficulty: f64,
    #[serde(default)]
    networkhashps: f64,
    #[serde(default)]
    pooledtx: u64,
    #[serde(default)]
    chain: String,
}

#[derive(Deserialize)]
struct Header {
    height: u64,
    #[serde(default)]
    previousblockhash: String,
    time: u64,
}

/// Start the poller, or nothing without `node_url`.
pub fn start(
    cfg: &ApiConfig,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    if cfg.node_url.is_empty() {
        return Ok(());
    }
    let auth = if cfg.node_user.is_empty() && cfg.node_pass.is_empty() {
        Auth::None
    } else {
        Auth::Basic {
            user: cfg.node_user.clone(),
            pass: cfg.node_pass.clone(),
        }
    };
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        io: Duration::from_secs(5),
    };
    let mut node = NodeClient::new(vec![Endpoint::new(&cfg.node_url, auth)], timeouts);
    let every = Duration::from_secs(cfg.node_poll_secs);
    std::thread::Builder::new()
        .name("node".into())
        .spawn(move || {
            let mut failing = false;
            while !stop.load(Ordering::Relaxed) {
                match network(&mut node) {
                    Ok(n) => {
                        failing = false;
                        state.lock().node_info(n);
                    }
                    Err(e) if !failing => {
                        failing = true;
                        log_warn!("node: {e} (retrying every {}s)", every.as_secs());
                    }
                    Err(_) => {}
                }
                let until = Instant::now() + every;
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the node poller: {e}"))
}

fn network(node: &mut NodeClient) -> Result<Network, NodeError> {
    let info: MiningInfo = node.call("getmininginfo", "[]")?;
    let hash: String = node.call("getbestblockhash", "[]")?;
    let header: Header = node.call("getblockheader", &format!(r#"["{hash}"]"#))?;
    Ok(Network {
        blocks: info.blocks,
        height: header.height,
        difficulty: info.difficulty,
        networkhashps: info.networkhashps,
        pooledtx: info.pooledtx,
        chain: info.chain,
        hash,
        prev_hash: header.previousblockhash,
        time: iso_time(header.time as f64),
    })
}
