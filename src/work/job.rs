//! The network-wide part of a job, built once per template.

use std::sync::Arc;

use crate::bitcoin::hex;
use crate::bitcoin::merkle::coinbase_branch;
use crate::bitcoin::target::{target_to_difficulty, U256};
use crate::bitcoin::Hash32;
use crate::node::Template;

/// Everything about a job that does not depend on the miner. Built once
/// per template by the node thread and shared read-only (`Arc`).
#[derive(Debug, Clone)]
pub struct JobTemplate {
    /// Unique per pool process; its hex is the Stratum job id.
    pub id: u64,
    pub height: u32,
    pub version: u32,
    /// Internal byte order.
    pub prev_hash: Hash32,
    pub bits: u32,
    pub cur_time: u32,
    pub min_time: u32,
    pub network_target: U256,
    pub network_diff: f64,
    pub coinbase_value_sats: u64,
    pub witness_commitment_script: Option<Vec<u8>>,
    /// Coinbase merkle branch, bottom up, internal byte order.
    pub merkle_branch: Vec<Hash32>,
    /// Number of transactions after the coinbase.
    pub tx_count: usize,
    /// Their serializations, concatenated in block order.
    pub txs_raw: Vec<u8>,
}

impl JobTemplate {
    /// Build the shared part of the jobs for a template.
    pub fn new(id: u64, t: &Template) -> JobTemplate {
        let txids: Vec<Hash32> = t.transactions.iter().map(|tx| tx.txid).collect();
        let merkle_branch = coinbase_branch(&txids);
        let mut txs_raw = Vec::with_capacity(t.transactions.iter().map(|tx| tx.data.len()).sum());
        for tx in &t.transactions {
            txs_raw.extend_from_slice(&tx.data);
        }
        JobTemplate {
            id,
            height: t.height,
            version: t.version,
            prev_hash: t.prev_hash,
            bits: t.bits,
            cur_time: t.cur_time,
            min_time: t.min_time,
            network_target: t.target,
            network_diff: target_to_difficulty(t.target),
            coinbase_value_sats: t.coinbase_value_sats,
            witness_commitment_script: t.witness_commitment_script.clone(),
            merkle_branch,
            tx_count: t.transactions.len(),
            txs_raw,
        }
    }
}

/// Stratum's prevhash: the internal-order hash with the bytes of each
/// 32-bit word reversed (so miners that byte-swap words get internal order).
pub fn stratum_prevhash(prev_hash: &Hash32) -> String {
    let mut swapped = [0u8; 32];
    for (out, word) in swapped.chunks_mut(4).zip(prev_hash.chunks(4)) {
        out.copy_from_slice(&[word[3], word[2], word[1], word[0]]);
    }
    hex::encode(&swapped)
}

/// A job template as published to the cores: the template plus the
/// `mining.notify` text every miner shares, encoded once.
#[derive(Debug)]
pub struct Work {
    pub template: Arc<JobTemplate>,
    /// Stratum prevhash (word-swapped hex).
    pub prevhash: String,
    /// `,[branch…],"version","nbits","ntime"`.
    pub notify_tail: String,
    /// A new network block: miners must drop older jobs.
    pub clean: bool,
}

impl Work {
    /// The same work, telling miners to drop their older jobs.
    pub fn as_clean(&self) -> Work {
        Work {
            template: self.template.clone(),
            prevhash: self.prevhash.clone(),
            notify_tail: self.notify_tail.clone(),
            clean: true,
        }
    }

    pub fn new(template: Arc<JobTemplate>, clean: bool) -> Work {
        let branch: Vec<String> = template
            .merkle_branch
            .iter()
            .map(|h| hex::encode(h))
            .collect();
        let notify_tail = crate::stratum::encode::notify_shared_tail(
            &branch,
            &format!("{:08x}", template.version),
            &format!("{:08x}", template.bits),
            &format!("{:08x}", template.cur_time),
        );
        Work {
            prevhash: stratum_prevhash(&template.prev_hash),
            notify_tail,
            template,
            clean,
        }
    }
}
