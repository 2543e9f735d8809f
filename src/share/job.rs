//! One miner's view of a job and the share check on it.

use std::sync::Arc;

use super::reject::RejectReason;
use super::seen::SeenShares;
use super::submit::Submit;
use crate::bitcoin::encode::write_compact_size;
use crate::bitcoin::merkle::fold_branch;
use crate::bitcoin::target::{difficulty_to_share_target, hash_difficulty, hash_meets, U256};
use crate::bitcoin::{sha256d, Hash32};
use crate::work::coinbase::EXTRANONCE2_MAX;
use crate::work::{Coinbase, JobTemplate};

/// How far past the template's `curtime` a miner may roll ntime (ckpool
/// allows the same; consensus allows two hours past the node's clock).
pub const MAX_NTIME_AHEAD_SECS: u32 = 7000;

/// A job as sent to one miner: its coinbase (with its extranonce1) and the
/// share difficulty fixed when the job was sent.
#[derive(Debug, Clone)]
pub struct MinerJob {
    pub template: Arc<JobTemplate>,
    /// coinb1 | extranonce1 | extranonce2 | coinb2; extranonce2 is written
    /// in place for each share so the hot path never allocates.
    coinbase: Vec<u8>,
    extranonce2_offset: usize,
    extranonce2_len: usize,
    /// Share difficulty of this job (fixed when sent).
    pub diff: f64,
    share_target: U256,
    roots: RootCache,
}

/// Merkle roots of the last few extranonce2 values on a job. Miners roll
/// extranonce2 rarely (an ASIC exhausts nonce × version space first;
/// cpuminer gives each thread its own), so most shares skip the coinbase
/// hash and the merkle fold: one header hash instead of ~15 SHA-256 runs.
#[derive(Debug, Clone, Default)]
struct RootCache {
    entries: [([u8; EXTRANONCE2_MAX], Hash32); ROOT_CACHE_SIZE],
    valid: usize,
    next: usize,
}

const ROOT_CACHE_SIZE: usize = 4;

impl RootCache {
    #[inline]
    fn get(&self, extranonce2: &[u8]) -> Option<Hash32> {
        self.entries[..self.valid]
            .iter()
            .find(|(key, _)| &key[..extranonce2.len()] == extranonce2)
            .map(|(_, root)| *root)
    }

    #[inline]
    fn put(&mut self, extranonce2: &[u8], root: Hash32) {
        let entry = &mut self.entries[self.next];
        entry.0[..extranonce2.len()].copy_from_slice(extranonce2);
        entry.1 = root;
        self.next = (self.next + 1) % ROOT_CACHE_SIZE;
        self.valid = (self.valid + 1).min(ROOT_CACHE_SIZE);
    }
}

/// The outcome of one share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// `None` when accepted.
    pub reject: Option<RejectReason>,
    /// The hash meets the network target: a block.
    pub is_block: bool,
    /// Difficulty the hash achieved (0 when no hash was computed).
    pub share_diff: f64,
    /// Block hash, internal order (zeros when no hash was computed).
    pub hash: Hash32,
    /// The header the share implies.
    pub header: [u8; 80],
}

impl Verdict {
    fn rejected(reason: RejectReason) -> Verdict {
        Verdict {
            reject: Some(reason),
            is_block: false,
            share_diff: 0.0,
            hash: [0; 32],
            header: [0; 80],
        }
    }

    pub fn accepted(&self) -> bool {
        self.reject.is_none()
    }
}

impl MinerJob {
    /// A job for one miner at share difficulty `diff`.
    pub fn new(
        template: Arc<JobTemplate>,
        coinbase: &Coinbase,
        extranonce1: &[u8],
        extranonce2_len: usize,
        diff: f64,
    ) -> MinerJob {
        let mut buf = Vec::with_capacity(
            coinbase.coinb1.len() + extranonce1.len() + extranonce2_len + coinbase.coinb2.len(),
        );
        buf.extend_from_slice(&coinbase.coinb1);
        buf.extend_from_slice(extranonce1);
        let extranonce2_offset = buf.len();
        buf.resize(extranonce2_offset + extranonce2_len, 0);
        buf.extend_from_slice(&coinbase.coinb2);
        MinerJob {
            template,
            coinbase: buf,
            extranonce2_offset,
            extranonce2_len,
            diff,
            share_target: difficulty_to_share_target(diff),
            roots: RootCache::default(),
        }
    }

    /// Lower this job's share difficulty (never raise it: work done at the
    /// difficulty a job was sent with stays good).
    pub fn lower_diff(&mut self, diff: f64) {
        if diff < self.diff {
            self.diff = diff;
            self.share_target = difficulty_to_share_target(diff);
        }
    }

    /// Judge a share. `version_mask` is the BIP310 mask negotiated with
    /// this miner (0 without version rolling). Accepted shares (and blocks)
    /// are recorded in `seen`.
    pub fn check(&mut self, submit: &Submit, version_mask: u32, seen: &mut SeenShares) -> Verdict {
        if submit.extranonce2().len() != self.extranonce2_len {
            return Verdict::rejected(RejectReason::BadExtranonce2Length);
        }
        let t = &*self.template;
        if submit.ntime < t.min_time
            || submit.ntime > t.cur_time.saturating_add(MAX_NTIME_AHEAD_SECS)
        {
            return Verdict::rejected(RejectReason::NtimeOutOfRange);
        }
        let version = match submit.version_bits {
            Some(bits) if bits & !version_mask != 0 => {
                return Verdict::rejected(RejectReason::BadVersionBits)
            }
            Some(bits) => (t.version & !version_mask) | bits,
            None => t.version,
        };
        let header = self.header(submit, version);
        let hash = sha256d(&header);
        let is_block = hash_meets(&hash, &self.template.network_target);
        let reject = if !is_block && !hash_meets(&hash, &self.share_target) {
            Some(RejectReason::LowDifficulty)
        } else if !seen.insert(SeenShares::fingerprint(&hash)) {
            Some(RejectReason::Duplicate)
        } else {
            None
        };
        Verdict {
            reject,
            is_block,
            share_diff: hash_difficulty(&hash),
            hash,
            header,
        }
    }

    /// The 80-byte header a submit implies.
    pub fn header(&mut self, submit: &Submit, version: u32) -> [u8; 80] {
        let root = self.merkle_root(submit);
        let t = &*self.template;
        let mut header = [0u8; 80];
        header[0..4].copy_from_slice(&version.to_le_bytes());
        header[4..36].copy_from_slice(&t.prev_hash);
        header[36..68].copy_from_slice(&root);
        header[68..72].copy_from_slice(&submit.ntime.to_le_bytes());
        header[72..76].copy_from_slice(&t.bits.to_le_bytes());
        header[76..80].copy_from_slice(&submit.nonce.to_le_bytes());
        header
    }

    /// The merkle root with this submit's extranonce2 (cached per value).
    #[inline]
    pub fn merkle_root(&mut self, submit: &Submit) -> Hash32 {
        if let Some(root) = self.roots.get(submit.extranonce2()) {
            return root;
        }
        let root = fold_branch(self.coinbase_txid(submit), &self.template.merkle_branch);
        self.roots.put(submit.extranonce2(), root);
        root
    }

    /// The coinbase txid with this submit's extranonce2.
    pub fn coinbase_txid(&mut self, submit: &Submit) -> Hash32 {
        let slot = self.extranonce2_offset..self.extranonce2_offset + self.extranonce2_len;
        self.coinbase[slot].copy_from_slice(submit.extranonce2());
        sha256d(&self.coinbase)
    }

    /// The complete serialized block for `submitblock`: header, tx count,
    /// the coinbase (with its witness reserved value when the template
    /// commits to witnesses), then the template's transactions.
    /// Off the hot path: it allocates.
    pub fn block(&mut self, submit: &Submit, header: &[u8; 80]) -> Vec<u8> {
        self.coinbase_txid(submit); // writes this submit's extranonce2
        let t = &*self.template;
        let mut block = Vec::with_capacity(80 + 9 + self.coinbase.len() + 40 + t.txs_raw.len());
        block.extend_from_slice(header);
        write_compact_size(&mut block, 1 + t.tx_count as u64);
        let cb = &self.coinbase;
        if t.witness_commitment_script.is_some() {
            block.extend_from_slice(&cb[..4]); // version
            block.extend_from_slice(&[0x00, 0x01]); // segwit marker, flag
            block.extend_from_slice(&cb[4..cb.len() - 4]);
            block.extend_from_slice(&[0x01, 0x20]); // one witness item of 32 bytes
            block.extend_from_slice(&[0u8; 32]); // the witness reserved value
            block.extend_from_slice(&cb[cb.len() - 4..]); // lock time
        } else {
            block.extend_from_slice(cb);
        }
        block.extend_from_slice(&t.txs_raw);
        block
    }

    /// The coinbase bytes as last written (for tests and logs).
    pub fn coinbase_bytes(&self) -> &[u8] {
        &self.coinbase
    }
}
