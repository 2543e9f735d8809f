//! The simulated block chain: the active chain by height, a hash index,
//! the hashes of stale blocks seen, median-time-past, subsidy and work.
//! There are no reorgs: a block is either on top of the tip or stale.

use std::collections::{HashMap, HashSet};

use tbg_pool::bitcoin::block::Header;
use tbg_pool::bitcoin::target::{compact_to_difficulty, compact_to_target, U256};
use tbg_pool::bitcoin::{Hash32, Network};

use crate::assemble::serialize_block;
use crate::coinbase;

/// Blocks in the median-time-past window (BIP113).
const MTP_SPAN: usize = 11;
/// Serialized blocks are kept this deep below the tip; older ones are
/// "pruned" (getblock then fails as on a pruned bitcoind).
const RAW_RETENTION_BLOCKS: u32 = 2_016;
/// Spacing of the fabricated history, the target block interval.
const FABRICATED_SPACING_SECS: u32 = 600;
/// The fabricated tip is this old at start, so the first template's
/// `mintime` lies in the past.
const FABRICATED_TIP_AGE_SECS: u32 = 60;
/// Version of fabricated blocks (BIP9 top bits, no signals).
pub const BLOCK_VERSION: u32 = 0x2000_0000;
/// The first block subsidy: 50 BTC.
const INITIAL_SUBSIDY_SATS: u64 = 50 * 100_000_000;

/// One block of the active chain.
#[derive(Debug, Clone)]
pub struct BlockEntry {
    /// Internal byte order.
    pub hash: Hash32,
    pub header: Header,
    pub height: u32,
    pub n_tx: u32,
    pub size: u32,
    pub weight: u32,
    /// The serialized block, while retained. Fabricated blocks keep none:
    /// they are rebuilt on demand.
    pub raw: Option<Vec<u8>>,
    pub fabricated: bool,
}

/// The active chain plus stale-block hashes.
#[derive(Debug)]
pub struct Chain {
    /// Index = height; never empty (there is always a genesis block).
    blocks: Vec<BlockEntry>,
    by_hash: HashMap<Hash32, u32>,
    stale: HashSet<Hash32>,
    halving_interval: u32,
    bits: u32,
}

impl Chain {
    /// A synthetic history from a genesis-like block up to `tip_height`,
    /// one coinbase-only block every ten minutes, the tip a minute old.
    /// The headers do not meet their target (nobody mined them).
    pub fn fabricate(network: Network, bits: u32, tip_height: u32, now: u32) -> Chain {
        let mut chain = Chain {
            blocks: Vec::with_capacity(tip_height as usize + 1),
            by_hash: HashMap::with_capacity(tip_height as usize + 1),
            stale: HashSet::new(),
            halving_interval: halving_interval(network),
            bits,
        };
        let tip_time = now.saturating_sub(FABRICATED_TIP_AGE_SECS);
        let mut prev_hash = [0u8; 32];
        for height in 0..=tip_height {
            let age = (tip_height - height).saturating_mul(FABRICATED_SPACING_SECS);
            let cb = coinbase::fabricated(height, chain.subsidy(height));
            let header = Header {
                version: if height == 0 { 1 } else { BLOCK_VERSION },
                prev_hash,
                merkle_root: cb.txid,
                time: tip_time.saturating_sub(age),
                bits,
                nonce: 0,
            };
            let size = (Header::SIZE + 1 + cb.raw.len()) as u32;
            prev_hash = header.hash();
            chain.push(BlockEntry {
                hash: prev_hash,
                header,
                height,
                n_tx: 1,
                size,
                weight: size * 4,
                raw: None,
                fabricated: true,
            });
        }
        chain
    }

    /// The block subsidy at `height`: 50 BTC halved every interval.
    pub fn subsidy(&self, height: u32) -> u64 {
        let halvings = height / self.halving_interval;
        if halvings >= 64 {
            return 0;
        }
        INITIAL_SUBSIDY_SATS >> halvings
    }

    /// The network's compact target (constant: no retargeting).
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The best block.
    pub fn tip(&self) -> &BlockEntry {
        // Invariant: `fabricate` always pushes at least the genesis block.
        self.blocks
            .last()
            .expect("the chain always has a genesis block")
    }

    /// The best block's height.
    pub fn height(&self) -> u32 {
        self.tip().height
    }

    /// The active-chain block at `height`.
    pub fn at(&self, height: u32) -> Option<&BlockEntry> {
        self.blocks.get(height as usize)
    }

    /// A block of the active chain by hash (internal order).
    pub fn find(&self, hash: &Hash32) -> Option<&BlockEntry> {
        self.by_hash.get(hash).and_then(|&h| self.at(h))
    }

    /// Whether `hash` is a stale block submitted earlier.
    pub fn is_stale(&self, hash: &Hash32) -> bool {
        self.stale.contains(hash)
    }

    /// Remember a stale block (a resubmission is `duplicate`, as in Core).
    pub fn add_stale(&mut self, hash: Hash32) {
        self.stale.insert(hash);
    }

    /// Median time of the block at `height` and up to ten before it.
    pub fn median_time_past(&self, height: u32) -> u32 {
        let end = (height as usize + 1).min(self.blocks.len());
        let start = end.saturating_sub(MTP_SPAN);
        let mut times: Vec<u32> = self.blocks[start..end]
            .iter()
            .map(|b| b.header.time)
            .collect();
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    /// Median-time-past of the tip: the next block's time must exceed it.
    pub fn tip_mtp(&self) -> u32 {
        self.median_time_past(self.height())
    }

    /// The time for a block the simulated network makes now: the clock,
    /// but strictly after the tip's time (and so after median-time-past).
    pub fn next_block_time(&self, now: u32) -> u32 {
        now.max(self.tip().header.time.saturating_add(1))
            .max(self.tip_mtp().saturating_add(1))
    }

    /// Append a block on top of the tip.
    pub fn push(&mut self, entry: BlockEntry) {
        debug_assert!(self.blocks.is_empty() || entry.header.prev_hash == self.tip().hash);
        let height = self.blocks.len() as u32;
        self.by_hash.insert(entry.hash, height);
        self.blocks.push(BlockEntry { height, ..entry });
        if let Some(old) = height.checked_sub(RAW_RETENTION_BLOCKS) {
            self.blocks[old as usize].raw = None;
        }
    }

    /// The serialized block, if still retained (fabricated ones always are).
    pub fn raw_block(&self, entry: &BlockEntry) -> Option<Vec<u8>> {
        if let Some(raw) = &entry.raw {
            return Some(raw.clone());
        }
        if !entry.fabricated {
            return None;
        }
        let cb = coinbase::fabricated(entry.height, self.subsidy(entry.height));
        Some(serialize_block(&entry.header, &[cb.raw.as_slice()]))
    }

    /// Network difficulty (bitcoind's `getdifficulty`).
    pub fn difficulty(&self) -> f64 {
        compact_to_difficulty(self.bits)
    }

    /// Total work up to `height`, as the 64-hex-digit `chainwork`. Every
    /// block has the same bits, so this is (height + 1) × work per block;
    /// computed in floating point, exact enough for a display field.
    pub fn chainwork_hex(&self, height: u32) -> String {
        let target = compact_to_target(self.bits).unwrap_or(U256::MAX);
        // Bitcoin Core's GetBlockProof: 2^256 / (target + 1).
        let per_block = 2f64.powi(256) / (target.to_f64() + 1.0);
        let total = U256::from_f64(per_block * (f64::from(height) + 1.0));
        tbg_pool::bitcoin::hex::encode(&total.to_be_bytes())
    }
}

/// Blocks between halvings: 150 on regtest, 210,000 elsewhere.
fn halving_interval(network: Network) -> u32 {
    match network {
        Network::Regtest => 150,
        _ => 210_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fabricated_chain_links_and_times() {
        let chain = Chain::fabricate(Network::Regtest, 0x207f_ffff, 100, 1_700_000_000);
        assert_eq!(chain.height(), 100);
        for h in 1..=100 {
            let (prev, block) = (chain.at(h - 1).unwrap(), chain.at(h).unwrap());
            assert_eq!(block.header.prev_hash, prev.hash);
            assert!(block.header.time > prev.header.time);
            assert_eq!(chain.find(&block.hash).map(|b| b.height), Some(h));
        }
        assert_eq!(chain.tip().header.time, 1_700_000_000 - 60);
        assert_eq!(chain.tip_mtp(), 1_700_000_000 - 60 - 5 * 600);
        assert!(chain.next_block_time(0) > chain.tip().header.time);
        // Regtest chainwork is 2 per block (bitcoind shows 0xca at 100).
        assert!(chain.chainwork_hex(100).ends_with("ca"));
    }

    #[test]
    fn subsidy_halves() {
        let regtest = Chain::fabricate(Network::Regtest, 0x207f_ffff, 0, 1_700_000_000);
        assert_eq!(regtest.subsidy(149), 5_000_000_000);
        assert_eq!(regtest.subsidy(150), 2_500_000_000);
        let main = Chain::fabricate(Network::Mainnet, 0x1d00_ffff, 0, 1_700_000_000);
        assert_eq!(main.subsidy(840_000), 312_500_000);
        assert_eq!(main.subsidy(210_000 * 64), 0);
    }
}
