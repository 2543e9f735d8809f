//! Found blocks: written to disk first, then sent with `submitblock`,
//! retried across every configured node until one answers. Runs on its
//! own thread so no core ever waits on HTTP; a block is never lost to a
//! node that is down or a pool that restarts (pending blocks found on disk
//! at start-up are submitted again).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::client::{NodeClient, NodeError, SubmitOutcome};
use super::rpc::{Endpoint, Timeouts};
use crate::bitcoin::{hex, Hash32};

/// A share that met the network target, with what the logs and events need.
#[derive(Debug, Clone)]
pub struct FoundBlock {
    pub height: u32,
    /// Block hash, internal order.
    pub hash: Hash32,
    /// The serialized block.
    pub block: Vec<u8>,
    pub username: Arc<str>,
    pub worker: Arc<str>,
    pub share_diff: f64,
    pub network_diff: f64,
    pub reward_sats: u64,
    pub found_at_unix: u64,
}

/// Longest wait between two attempts while no node answers.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The directory found blocks are written to.
pub fn blocks_dir(logdir: &Path) -> PathBuf {
    logdir.join("blocks")
}

/// Submit every block received, forever (until the channel closes).
pub fn run(blocks: Receiver<FoundBlock>, nodes: Vec<Endpoint>, logdir: PathBuf) {
    let mut node = NodeClient::new(nodes, Timeouts::default());
    let dir = blocks_dir(&logdir);
    for pending in pending_blocks(&dir) {
        log_warn!(
            "resubmitting block left pending on disk: {}",
            pending.display()
        );
        if let Ok(block_hex) = fs::read_to_string(&pending) {
            submit_until_answered(&mut node, block_hex.trim(), &pending);
        }
    }
    for found in blocks {
        let name = format!("{}-{}", found.height, hex::encode_display(&found.hash));
        log_info!(
            "BLOCK FOUND height={} hash={} by {} (share diff {:.1}, network diff {:.1})",
            found.height,
            hex::encode_display(&found.hash),
            found.worker,
            found.share_diff,
            found.network_diff
        );
        let block_hex = hex::encode(&found.block);
        let path = dir.join(format!("{name}.hex"));
        if let Err(e) = persist(&dir, &path, &block_hex, &found) {
            // Still submit: a disk problem must not cost the block.
            log_error!("cannot write {}: {e}", path.display());
        }
        submit_until_answered(&mut node, &block_hex, &path);
    }
}

fn persist(dir: &Path, path: &Path, block_hex: &str, found: &FoundBlock) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    write_synced(path, block_hex.as_bytes())?;
    let meta = format!(
        "{{\"height\":{},\"hash\":\"{}\",\"worker\":{},\"share_diff\":{},\"network_diff\":{},\"reward_sats\":{},\"found_at\":{}}}\n",
        found.height,
        hex::encode_display(&found.hash),
        json_quote(&found.worker),
        found.share_diff,
        found.network_diff,
        found.reward_sats,
        found.found_at_unix
    );
    write_synced(&path.with_extension("json"), meta.as_bytes())?;
    fs::File::open(dir)?.sync_all()
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// `submitblock` until some node gives a verdict; record it next to the block.
fn submit_until_answered(node: &mut NodeClient, block_hex: &str, path: &Path) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match node.submit_block(block_hex) {
            Ok(outcome) => {
                let verdict = match &outcome {
                    SubmitOutcome::Accepted => "accepted".to_string(),
                    SubmitOutcome::Rejected(reason) => format!("rejected: {reason}"),
                };
                log_info!("submitblock {}: {verdict}", path.display());
                let _ = fs::write(path.with_extension("result"), format!("{verdict}\n"));
                return;
            }
            Err(NodeError::Rpc { code, message }) => {
                // The node answered (e.g. -22 decode failed): final.
                log_error!(
                    "submitblock {}: node error {code}: {message}",
                    path.display()
                );
                let _ = fs::write(
                    path.with_extension("result"),
                    format!("error {code}: {message}\n"),
                );
                return;
            }
            Err(e) => {
                log_error!(
                    "submitblock {}: {e}; retrying in {:?}",
                    path.display(),
                    backoff
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Blocks written but never answered (no `.result` beside them).
fn pending_blocks(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut pending: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .filter(|p| !p.with_extension("result").exists())
        .collect();
    pending.sort();
    pending
}

fn json_quote(s: &str) -> String {
    let mut out = Vec::new();
    crate::stratum::encode::json_string(&mut out, s);
    String::from_utf8(out).unwrap_or_default()
}
