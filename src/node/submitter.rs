//! Found blocks: written to disk by the core that found them, before
//! they are queued (see [`persist`]), then sent with `submitblock` to
//! every configured node from this thread, so no core ever waits on
//! HTTP. A block is never lost to a node that is down or warming up, nor
//! to a pool that stops or is killed: blocks without a final verdict on
//! disk are submitted again at start-up. The pool does not wait for this
//! thread at stop: everything it holds is on disk already.
//!
//! A verdict is final when a node took the block (`null`: "accepted by"),
//! or has it already (`duplicate`: "known to"),
//! or when every node refused it for a consensus reason. An RPC error, a
//! node that cannot be reached, or `inconclusive` from every node that
//! answered, is retried with back-off — until a node takes it or the
//! chain is more than [`STALE_DEPTH`] blocks past it. Blocks are retried
//! side by side: a new block never waits behind one being retried. Every
//! attempt is logged; the final verdict goes to `<block>.result`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde::{Deserialize, Serialize};

use super::client::{NodeClient, NodeError, SubmitOutcome};
use super::metrics::NodeMetrics;
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

/// A found block's `.json` beside its `.hex`, defined once: what an
/// operator (or a script paying out) reads of a block without decoding it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockMeta {
    pub height: u32,
    /// Block hash, display order (as explorers and `bitcoin-cli` print it).
    pub hash: String,
    /// `<address>.<worker>` as the miner authorised.
    pub worker: String,
    pub share_diff: f64,
    pub network_diff: f64,
    pub reward_sats: u64,
    /// Unix seconds.
    pub found_at: u64,
}

impl BlockMeta {
    pub fn of(found: &FoundBlock) -> BlockMeta {
        BlockMeta {
            height: found.height,
            hash: hex::encode_display(&found.hash),
            worker: found.worker.to_string(),
            share_diff: found.share_diff,
            network_diff: found.network_diff,
            reward_sats: found.reward_sats,
            found_at: found.found_at_unix,
        }
    }

    /// The file's text: one JSON object and a newline.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string(self).expect("block metadata always serializes");
        text.push('\n');
        text
    }

    /// The `.json` at `path` (`None`: absent or not this file).
    pub fn read(path: &Path) -> Option<BlockMeta> {
        serde_json::from_slice(&fs::read(path).ok()?).ok()
    }
}

/// Longest wait between two attempts while no node answers.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A block this many blocks below the tip can no longer win: give up.
pub const STALE_DEPTH: u64 = 2;

/// The directory found blocks are written to.
pub fn blocks_dir(logdir: &Path) -> PathBuf {
    logdir.join("blocks")
}

/// Where a found block is written: `<height>-<hash>.hex` (the hex a
/// `bitcoin-cli submitblock` takes), with `.json` metadata beside it.
pub fn block_path(logdir: &Path, found: &FoundBlock) -> PathBuf {
    blocks_dir(logdir).join(format!(
        "{}-{}.hex",
        found.height,
        hex::encode_display(&found.hash)
    ))
}

/// Write a found block and its metadata and fsync them (and the
/// directory), so a crash or `kill -9` the moment after cannot lose it.
/// Called on the core that found it, before it is queued: blocks are rare
/// (one in ~10⁶ shares even on testnet), and the few milliseconds it takes
/// are logged with the block.
pub fn persist(logdir: &Path, found: &FoundBlock) -> std::io::Result<PathBuf> {
    let started = Instant::now();
    let dir = blocks_dir(logdir);
    let path = block_path(logdir, found);
    fs::create_dir_all(&dir)?;
    write_synced(&path, hex::encode(&found.block).as_bytes())?;
    let meta = BlockMeta::of(found).to_text();
    write_synced(&path.with_extension("json"), meta.as_bytes())?;
    fs::File::open(&dir)?.sync_all()?;
    log_info!(
        "block {} written and synced in {} us",
        path.display(),
        started.elapsed().as_micros()
    );
    Ok(path)
}

/// A block without a final verdict.
struct Pending {
    path: PathBuf,
    block_hex: String,
    height: Option<u32>,
    attempt: u32,
    backoff: Duration,
    due: Instant,
}

impl Pending {
    fn new(path: PathBuf, block_hex: String, height: Option<u32>) -> Pending {
        Pending {
            path,
            block_hex,
            height,
            attempt: 0,
            backoff: Duration::from_millis(100),
            due: Instant::now(),
        }
    }
}

/// Submit every block left pending on disk and every block received,
/// until the channel closes and no block is left without a verdict.
/// `taken` is told (never blocking) each time a node accepts a block, so
/// the node thread fetches work on it at once rather than at its next
/// `blockpoll`: until then the pool's miners would race their own block.
/// Calls, blocks submitted and blocks accepted are counted in `metrics`
/// (made for `nodes`).
pub fn run(
    blocks: Receiver<FoundBlock>,
    nodes: Vec<Endpoint>,
    logdir: PathBuf,
    taken: Option<Sender<()>>,
    metrics: Arc<NodeMetrics>,
) {
    let mut node = NodeClient::new(nodes, Timeouts::default()).with_metrics(metrics.clone());
    let mut pending: Vec<Pending> = pending_blocks(&blocks_dir(&logdir))
        .into_iter()
        .filter_map(|path| {
            log_warn!(
                "resubmitting block left pending on disk: {}",
                path.display()
            );
            let block_hex = fs::read_to_string(&path).ok()?.trim().to_string();
            let height = height_of(&path);
            Some(Pending::new(path, block_hex, height))
        })
        .collect();
    let mut open = true;
    loop {
        let now = Instant::now();
        pending.retain_mut(|p| {
            if p.due > now {
                return true;
            }
            if p.attempt == 0 {
                metrics.block_submitted();
            }
            let Some((verdict, text)) = attempt(&mut node, p) else {
                return true;
            };
            // Counted before the verdict file is written: whoever reads
            // the file (an operator, a test) then finds the count too.
            if verdict == Final::Accepted {
                metrics.block_accepted();
                if let Some(taken) = &taken {
                    let _ = taken.try_send(());
                }
            }
            record(p, &text);
            false
        });
        let next_due = pending.iter().map(|p| p.due).min();
        let received = match (open, next_due) {
            (true, Some(due)) => blocks.recv_deadline(due),
            (true, None) => blocks.recv().map_err(|_| RecvTimeoutError::Disconnected),
            (false, Some(due)) => {
                std::thread::sleep(due.saturating_duration_since(now));
                continue;
            }
            (false, None) => return,
        };
        match received {
            Ok(found) => pending.push(take(found, &logdir)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
    }
}

/// A block from a core: on disk already (written again here only if the
/// core could not write it).
fn take(found: FoundBlock, logdir: &Path) -> Pending {
    log_info!(
        "BLOCK FOUND height={} hash={} by {} (share diff {:.1}, network diff {:.1})",
        found.height,
        hex::encode_display(&found.hash),
        found.worker,
        found.share_diff,
        found.network_diff
    );
    let path = block_path(logdir, &found);
    if !path.exists() {
        if let Err(e) = persist(logdir, &found) {
            // Still submit: a disk problem must not cost the block.
            log_error!("cannot write {}: {e}", path.display());
        }
    }
    Pending::new(path, hex::encode(&found.block), Some(found.height))
}

/// The height in a block file's name (`<height>-<hash>.hex`).
fn height_of(path: &Path) -> Option<u32> {
    path.file_stem()?.to_str()?.split('-').next()?.parse().ok()
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A final verdict's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Final {
    /// A node took it as new (`null`).
    Accepted,
    Other,
}

/// One `submitblock` round to every node; the verdict once it is final
/// (see the module doc) and its text, for `record`.
fn attempt(node: &mut NodeClient, p: &mut Pending) -> Option<(Final, String)> {
    p.attempt += 1;
    let answers = node.submit_block_everywhere(&p.block_hex);
    for (address, answer) in &answers {
        let said = match answer {
            Ok(SubmitOutcome::Accepted) => "accepted".to_string(),
            Ok(SubmitOutcome::Rejected(r)) => format!("rejected: {r}"),
            Err(e) => e.to_string(),
        };
        log_info!(
            "submitblock {} attempt {} to {address}: {said}",
            p.path.display(),
            p.attempt
        );
    }
    let verdict = match judge(&answers) {
        Some(v) => v,
        None if is_stale(node, p.height) => {
            format!("stale: the chain is more than {STALE_DEPTH} blocks past it")
        }
        None => {
            log_warn!(
                "submitblock {}: no final verdict yet; retrying in {:?}",
                p.path.display(),
                p.backoff
            );
            p.due = Instant::now() + p.backoff;
            p.backoff = (p.backoff * 2).min(MAX_BACKOFF);
            return None;
        }
    };
    log_info!("submitblock {}: {verdict}", p.path.display());
    let kind = if verdict.starts_with("accepted by ") {
        Final::Accepted
    } else {
        Final::Other
    };
    Some((kind, verdict))
}

/// The final verdict, beside the block (`<block>.result`).
fn record(p: &Pending, verdict: &str) {
    if let Err(e) = write_synced(
        &p.path.with_extension("result"),
        format!("{verdict}\n").as_bytes(),
    ) {
        log_error!("cannot record the verdict for {}: {e}", p.path.display());
    }
}

/// The final verdict of one round, if it is final.
fn judge(answers: &[(String, Result<SubmitOutcome, NodeError>)]) -> Option<String> {
    let accepted = |a: &Result<SubmitOutcome, NodeError>| matches!(a, Ok(SubmitOutcome::Accepted));
    if let Some((address, _)) = answers.iter().find(|(_, a)| accepted(a)) {
        return Some(format!("accepted by {address}"));
    }
    // The node has it already: on its best chain, or kept off it (Core
    // answers "inconclusive" for a valid block that lost a race at its
    // height, and "duplicate" when it comes again).
    let known = |a: &Result<SubmitOutcome, NodeError>| matches!(a, Ok(SubmitOutcome::Rejected(r)) if r == "duplicate");
    if let Some((address, _)) = answers.iter().find(|(_, a)| known(a)) {
        return Some(format!("known to {address} (duplicate)"));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn found() -> FoundBlock {
        FoundBlock {
            height: 840_000,
            hash: [0xab; 32],
            block: vec![1, 2, 3],
            username: "bc1qaddr".into(),
            worker: "bc1qaddr.rig \"1\"".into(),
            share_diff: 123_456.789,
            network_diff: 1.0,
            reward_sats: 312_500_000,
            found_at_unix: 1_764_763_200,
        }
    }

    /// What `persist` writes reads back as the block it was given.
    #[test]
    fn persisted_block_and_metadata_read_back() {
        let logdir = std::env::temp_dir().join(format!("tbg-submitter-{}", std::process::id()));
        let _ = fs::remove_dir_all(&logdir);
        let path = persist(&logdir, &found()).unwrap();
        assert_eq!(path, block_path(&logdir, &found()));
        assert_eq!(fs::read_to_string(&path).unwrap(), "010203");
        let meta = BlockMeta::read(&path.with_extension("json")).unwrap();
        assert_eq!(meta, BlockMeta::of(&found()));
        assert_eq!(meta.hash, "ab".repeat(32));
        let text = fs::read_to_string(path.with_extension("json")).unwrap();
        assert!(text.ends_with("}\n") && text.lines().count() == 1, "{text}");
        assert!(text.contains(r#""worker":"bc1qaddr.rig \"1\"""#), "{text}");
        assert_eq!(pending_blocks(&blocks_dir(&logdir)), vec![path]);
        fs::remove_dir_all(&logdir).unwrap();
    }
}
