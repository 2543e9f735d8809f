//! The node: chain and mempool behind one lock, and the operations that
//! change them (network blocks, submitted blocks), shared by every
//! connection thread and the block timer.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tbg_pool::bitcoin::block::Block;
use tbg_pool::bitcoin::hex;
use tbg_pool::bitcoin::Hash32;

use crate::chain::{BlockEntry, Chain};
use crate::cli::Config;
use crate::coinbase::NETWORK_PAYOUT_SCRIPT;
use crate::mempool::Mempool;
use crate::validate::{self, Verdict};
use crate::{amend, assemble};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Chain and mempool: everything a request may read or change.
#[derive(Debug)]
pub struct State {
    pub chain: Chain,
    pub mempool: Mempool,
    /// Counter that makes every network coinbase unique.
    extranonce: u64,
}

impl State {
    /// The simulated network finds the next block now.
    fn mine_one(&mut self, payout_script: &[u8]) -> Hash32 {
        self.extranonce += 1;
        let block = assemble::network_block(
            &self.chain,
            &self.mempool,
            payout_script,
            self.extranonce,
            unix_now(),
        );
        let hash = block.entry.hash;
        self.append(block.entry, &block.confirmed);
        hash
    }

    /// Make `entry` the tip; its transactions leave the mempool, which is
    /// topped up again so the next template differs.
    fn append(&mut self, entry: BlockEntry, confirmed: &[Hash32]) {
        self.chain.push(entry);
        self.mempool.remove(confirmed);
        self.mempool.refill();
    }
}

/// A block that is not valid hex or not a block.
#[derive(Debug)]
pub struct DecodeFailed;

/// The shared node.
#[derive(Debug)]
pub struct Node {
    pub config: Config,
    state: Mutex<State>,
    /// Signalled whenever the tip moves (wakes long-polls).
    tip_changed: Condvar,
    started: Instant,
}

impl Node {
    /// Fabricate the history and fill the mempool.
    pub fn new(config: Config) -> Node {
        let chain = Chain::fabricate(config.network, config.bits, config.start_height, unix_now());
        let mempool = Mempool::new(config.mempool_txs, config.segwit_percent, config.seed);
        Node {
            config,
            state: Mutex::new(State {
                chain,
                mempool,
                extranonce: 0,
            }),
            tip_changed: Condvar::new(),
            started: Instant::now(),
        }
    }

    /// The state, even if a panicking thread poisoned the lock: every
    /// change to it is a single push/remove, so it stays usable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seconds since the node started (`uptime`).
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The network finds `count` blocks now, paying `payout_script`.
    pub fn mine(&self, count: u32, payout_script: &[u8]) -> Vec<Hash32> {
        let hashes: Vec<Hash32> = {
            let mut state = self.lock();
            (0..count).map(|_| state.mine_one(payout_script)).collect()
        };
        if let Some(last) = hashes.last() {
            self.tip_changed.notify_all();
            let height = self.lock().chain.height();
            eprintln!(
                "simnode: network found {count} block(s), tip {} height {height}",
                hex::encode_display(last)
            );
        }
        hashes
    }

    /// `submitblock`: `None` when accepted, else bitcoind's reason. Like
    /// bitcoind, first adds the default witness reserved value to a
    /// coinbase that has a witness commitment but no witness.
    pub fn submit(&self, raw: &[u8]) -> Result<Option<String>, DecodeFailed> {
        let submitted = Block::parse(raw).map_err(|_| DecodeFailed)?;
        let amended = amend::with_witness_reserved_value(&submitted);
        let (raw, block) = match &amended {
            Some(bytes) => (
                bytes.as_slice(),
                Block::parse(bytes).map_err(|_| DecodeFailed)?,
            ),
            None => (raw, submitted),
        };
        if amended.is_some() {
            eprintln!("simnode: submitblock: default witness reserved value added to the coinbase");
        }
        let hash = block.header.hash();
        let shown = hex::encode_display(&hash);
        let mut state = self.lock();
        let verdict = validate::check(&state.chain, &state.mempool, raw, &block, unix_now(), true);
        match verdict {
            Verdict::Accept(accepted) => {
                let height = accepted.entry.height;
                state.append(accepted.entry, &accepted.confirmed);
                drop(state);
                self.tip_changed.notify_all();
                eprintln!("simnode: submitblock {shown} accepted at height {height}");
                Ok(None)
            }
            Verdict::Stale => {
                state.chain.add_stale(hash);
                eprintln!("simnode: submitblock {shown}: inconclusive (stale, kept aside)");
                Ok(Some("inconclusive".to_string()))
            }
            Verdict::Reject(reason) => {
                eprintln!("simnode: submitblock {shown} rejected: {reason}");
                Ok(Some(reason))
            }
        }
    }

    /// getblocktemplate's proposal mode: the checks without proof of work
    /// and without keeping the block.
    pub fn propose(&self, raw: &[u8]) -> Result<Option<String>, DecodeFailed> {
        let block = Block::parse(raw).map_err(|_| DecodeFailed)?;
        let state = self.lock();
        let verdict = validate::check(&state.chain, &state.mempool, raw, &block, unix_now(), false);
        Ok(match verdict {
            Verdict::Accept(_) => None,
            Verdict::Stale => Some("inconclusive-not-best-prevblk".to_string()),
            Verdict::Reject(reason) => Some(reason),
        })
    }

    /// Block until the tip is no longer `seen`, or `timeout` passes.
    pub fn wait_for_new_tip(&self, seen: &Hash32, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.chain.tip().hash == *seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = match self.tip_changed.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Remove the cookie file (on `stop`), as bitcoind does at shutdown.
    pub fn remove_cookie(&self) {
        if let Some(path) = &self.config.cookie_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// With `--block-interval-secs`, the network finds a block on that timer.
pub fn spawn_block_timer(node: &Arc<Node>) {
    let secs = node.config.block_interval_secs;
    if secs == 0 {
        return;
    }
    let node = Arc::clone(node);
    let spawned = thread::Builder::new()
        .name("block-timer".to_string())
        .spawn(move || loop {
            thread::sleep(Duration::from_secs(secs));
            node.mine(1, &NETWORK_PAYOUT_SCRIPT);
        });
    if let Err(e) = spawned {
        eprintln!("simnode: cannot start the block timer: {e}");
    }
}
