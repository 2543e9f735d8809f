//! Found blocks: written to disk first, then sent with `submitblock` to
//! every configured node. Runs on its own thread so no core ever waits on
//! HTTP; a block is never lost to a node that is down or warming up, nor
//! to a pool that restarts (blocks without a final verdict on disk are
//! submitted again at start-up).
//!
//! A verdict is final when a node took the block (`null` or `duplicate`),
//! or when every node refused it for a consensus reason. An RPC error, a
//! node that cannot be reached, or `inconclusive` from every node that
//! answered, is retried with back-off — until a node takes it or the
//! chain is more than [`STALE_DEPTH`] blocks past it. Every attempt is
//! logged; the final verdict goes to `<block>.result`.

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
/// A block this many blocks below the tip can no longer win: give up.
pub const STALE_DEPTH: u64 = 2;

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
            let height = height_of(&pending);
            submit_until_final(&mut node, block_hex.trim(), height, &pending);
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
        submit_until_final(&mut node, &block_hex, Some(found.height), &path);
    }
}

/// The height in a block file's name (`<height>-<hash>.hex`).
fn height_of(path: &Path) -> Option<u32> {
    path.file_stem()?.to_str()?.split('-').next()?.parse().ok()
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

/// `submitblock` to every node until the verdict is final (see the
/// module doc); record it next to the block.
fn submit_until_final(node: &mut NodeClient, block_hex: &str, height: Option<u32>, path: &Path) {
    let mut backoff = Duration::from_millis(100);
    for attempt in 1u32.. {
        let answers = node.submit_block_everywhere(block_hex);
        for (address, answer) in &answers {
            let said = match answer {
                Ok(SubmitOutcome::Accepted) => "accepted".to_string(),
                Ok(SubmitOutcome::Rejected(r)) => format!("rejected: {r}"),
                Err(e) => e.to_string(),
            };
            log_info!(
                "submitblock {} attempt {attempt} to {address}: {said}",
                path.display()
            );
        }
        let verdict = match judge(&answers) {
            Some(v) => Some(v),
            None if is_stale(node, height) => Some(format!(
                "stale: the chain is more than {STALE_DEPTH} blocks past it"
            )),
            None => None,
        };
        if let Some(verdict) = verdict {
            log_info!("submitblock {}: {verdict}", path.display());
            if let Err(e) = write_synced(
                &path.with_extension("result"),
                format!("{verdict}\n").as_bytes(),
            ) {
                log_error!("cannot record the verdict for {}: {e}", path.display());
            }
            return;
        }
        log_warn!(
            "submitblock {}: no final verdict yet; retrying in {backoff:?}",
            path.display()
        );
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The final verdict of one round, if it is final.
fn judge(answers: &[(String, Result<SubmitOutcome, NodeError>)]) -> Option<String> {
    let took = answers.iter().find(|(_, a)| {
        matches!(a, Ok(SubmitOutcome::Accepted))
            || matches!(a, Ok(SubmitOutcome::Rejected(r)) if r == "duplicate")
    });
    if let Some((address, _)) = took {
        return Some(format!("accepted by {address}"));
    }
    let refusals: Vec<&str> = answers
        .iter()
        .filter_map(|(_, a)| match a {
            Ok(SubmitOutcome::Rejected(r)) if r != "inconclusive" => Some(r.as_str()),
            _ => None,
        })
        .collect();
    // Every node refused it outright: retrying cannot change that.
    (refusals.len() == answers.len()).then(|| format!("rejected: {}", refusals.join(", ")))
}

/// Whether the chain is more than [`STALE_DEPTH`] blocks past `height`.
fn is_stale(node: &mut NodeClient, height: Option<u32>) -> bool {
    let Some(height) = height else { return false };
    match node.call::<u64>("getblockcount", "[]") {
        Ok(tip) => tip > u64::from(height) + STALE_DEPTH,
        Err(_) => false,
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
