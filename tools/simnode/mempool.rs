//! The synthetic mempool: syntactically valid transactions spending
//! made-up outpoints, with made-up fees. Nothing checks their signatures;
//! what matters is that they serialize, hash and weigh like real ones so
//! templates, merkle trees and witness commitments are realistic.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use tbg_pool::bitcoin::encode::script_push_data;
use tbg_pool::bitcoin::Hash32;

use crate::prng::Prng;
use crate::txbuild::{TxBuilder, TxInput, TxOutput};

/// Fee range of synthetic transactions, in satoshis.
const MIN_FEE_SATS: u64 = 200;
const MAX_FEE_SATS: u64 = 20_000;
/// Output values of synthetic transactions: dust limit .. 0.5 BTC.
const MIN_OUTPUT_SATS: u64 = 546;
const MAX_OUTPUT_SATS: u64 = 50_000_000;
/// Consensus limits a template must respect.
pub const MAX_BLOCK_WEIGHT: u64 = 4_000_000;
pub const MAX_BLOCK_SIGOPS_COST: u64 = 80_000;
/// Room kept for the coinbase, as bitcoind's block assembler keeps it.
const COINBASE_RESERVED_WEIGHT: u64 = 4_000;
const COINBASE_RESERVED_SIGOPS: u64 = 400;
/// RBF-signalling sequence, as modern wallets use.
const SEQUENCE_RBF: u32 = 0xffff_fffd;

/// One mempool transaction.
#[derive(Debug, Clone)]
pub struct MempoolTx {
    pub raw: Vec<u8>,
    /// Internal byte order.
    pub txid: Hash32,
    /// Internal byte order.
    pub wtxid: Hash32,
    pub fee_sats: u64,
    pub weight: u64,
    /// Sigop cost as getblocktemplate reports it.
    pub sigops: u64,
}

impl MempoolTx {
    /// Higher fee per weight unit first; txid breaks ties so the order is
    /// deterministic.
    fn by_feerate(a: &MempoolTx, b: &MempoolTx) -> Ordering {
        let lhs = u128::from(a.fee_sats) * u128::from(b.weight);
        let rhs = u128::from(b.fee_sats) * u128::from(a.weight);
        rhs.cmp(&lhs).then_with(|| a.txid.cmp(&b.txid))
    }
}

/// The mempool: insertion-ordered transactions with a txid index.
#[derive(Debug)]
pub struct Mempool {
    txs: Vec<MempoolTx>,
    index: HashMap<Hash32, usize>,
    /// Size `refill` tops the pool up to.
    target: usize,
    segwit_percent: u8,
    rng: Prng,
    /// Bumped on every change (the suffix of GBT's `longpollid`).
    updates: u64,
}

impl Mempool {
    /// A mempool filled with `target` synthetic transactions.
    pub fn new(target: usize, segwit_percent: u8, seed: u64) -> Mempool {
        let mut pool = Mempool {
            txs: Vec::with_capacity(target),
            index: HashMap::with_capacity(target),
            target,
            segwit_percent,
            rng: Prng::new(seed),
            updates: 0,
        };
        pool.refill();
        pool
    }

    /// Top up with fresh synthetic transactions.
    pub fn refill(&mut self) {
        while self.txs.len() < self.target {
            let segwit = self.rng.percent(self.segwit_percent);
            let tx = synthetic_tx(&mut self.rng, segwit);
            self.insert(tx);
        }
    }

    /// Add a transaction; false if its txid is already here.
    pub fn insert(&mut self, tx: MempoolTx) -> bool {
        if self.index.contains_key(&tx.txid) {
            return false;
        }
        self.index.insert(tx.txid, self.txs.len());
        self.txs.push(tx);
        self.updates += 1;
        true
    }

    /// Drop transactions a block confirmed.
    pub fn remove(&mut self, txids: &[Hash32]) {
        if txids.is_empty() {
            return;
        }
        let gone: HashSet<&Hash32> = txids.iter().collect();
        self.txs.retain(|tx| !gone.contains(&tx.txid));
        self.index = self
            .txs
            .iter()
            .enumerate()
            .map(|(i, tx)| (tx.txid, i))
            .collect();
        self.updates += 1;
    }

    /// A transaction by txid (internal order).
    pub fn get(&self, txid: &Hash32) -> Option<&MempoolTx> {
        self.index.get(txid).and_then(|&i| self.txs.get(i))
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// All transactions, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &MempoolTx> {
        self.txs.iter()
    }

    /// The change counter.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Up to `limit` transactions for a block, best feerate first, within
    /// the block's weight and sigop budgets (what bitcoind's assembler does
    /// for transactions without ancestors).
    pub fn select(&self, limit: usize) -> Vec<&MempoolTx> {
        let mut sorted: Vec<&MempoolTx> = self.txs.iter().collect();
        sorted.sort_by(|a, b| MempoolTx::by_feerate(a, b));
        let mut weight = COINBASE_RESERVED_WEIGHT;
        let mut sigops = COINBASE_RESERVED_SIGOPS;
        let mut chosen = Vec::new();
        for tx in sorted {
            if chosen.len() >= limit {
                break;
            }
            if weight + tx.weight > MAX_BLOCK_WEIGHT || sigops + tx.sigops > MAX_BLOCK_SIGOPS_COST {
                continue;
            }
            weight += tx.weight;
            sigops += tx.sigops;
            chosen.push(tx);
        }
        chosen
    }
}

/// A version 2 transaction with 1–2 inputs and 1–2 P2WPKH outputs,
/// spending random outpoints: P2WPKH-style (empty scriptSig, 2-item
/// witness) when `segwit`, else P2PKH-style (signature and key pushed).
pub fn synthetic_tx(rng: &mut Prng, segwit: bool) -> MempoolTx {
    let n_inputs = rng.range(1, 2) as usize;
    let n_outputs = rng.range(1, 2) as usize;
    let inputs = (0..n_inputs)
        .map(|_| TxInput {
            prev_txid: rng.bytes(),
            prev_vout: rng.range(0, 3) as u32,
            script_sig: if segwit {
                Vec::new()
            } else {
                p2pkh_script_sig(rng)
            },
            sequence: SEQUENCE_RBF,
            witness: if segwit {
                vec![fake_signature(rng), fake_pubkey(rng)]
            } else {
                Vec::new()
            },
        })
        .collect();
    let outputs = (0..n_outputs)
        .map(|_| TxOutput {
            value_sats: rng.range(MIN_OUTPUT_SATS, MAX_OUTPUT_SATS),
            script_pubkey: p2wpkh_script(rng),
        })
        .collect();
    let built = TxBuilder {
        version: 2,
        inputs,
        outputs,
        lock_time: 0,
    }
    .build();
    MempoolTx {
        raw: built.raw,
        txid: built.txid,
        wtxid: built.wtxid,
        fee_sats: rng.range(MIN_FEE_SATS, MAX_FEE_SATS),
        weight: built.weight,
        // A P2WPKH spend costs one witness sigop; P2WPKH outputs and a
        // P2PKH-style scriptSig have no legacy sigops.
        sigops: if segwit { n_inputs as u64 } else { 0 },
    }
}

/// A DER-signature-shaped blob: 71 or 72 bytes ending in SIGHASH_ALL.
fn fake_signature(rng: &mut Prng) -> Vec<u8> {
    let len = rng.range(71, 72) as usize;
    let mut sig = vec![0u8; len];
    rng.fill(&mut sig);
    sig[0] = 0x30;
    sig[1] = (len - 3) as u8;
    sig[len - 1] = 0x01;
    sig
}

/// A compressed-public-key-shaped blob: 33 bytes starting 02 or 03.
fn fake_pubkey(rng: &mut Prng) -> Vec<u8> {
    let mut key = vec![0u8; 33];
    rng.fill(&mut key);
    key[0] = 0x02 | (key[0] & 1);
    key
}

/// A P2PKH-spend-shaped scriptSig: signature push, key push.
fn p2pkh_script_sig(rng: &mut Prng) -> Vec<u8> {
    let mut script = Vec::with_capacity(108);
    script_push_data(&mut script, &fake_signature(rng));
    script_push_data(&mut script, &fake_pubkey(rng));
    script
}

/// A P2WPKH output script with a random key hash.
fn p2wpkh_script(rng: &mut Prng) -> Vec<u8> {
    let mut script = vec![0x00, 0x14];
    script.extend_from_slice(&rng.bytes::<20>());
    script
}

#[cfg(test)]
mod tests {
    use super::*;
    use tbg_pool::bitcoin::block::Tx;

    #[test]
    fn synthetic_txs_parse_and_weigh_right() {
        let pool = Mempool::new(200, 50, 3);
        assert_eq!(pool.len(), 200);
        let mut segwit = 0;
        for tx in pool.iter() {
            let parsed = Tx::parse_exact(&tx.raw).unwrap();
            assert_eq!(parsed.txid, tx.txid);
            assert_eq!(parsed.wtxid, tx.wtxid);
            assert!((MIN_FEE_SATS..=MAX_FEE_SATS).contains(&tx.fee_sats));
            if parsed.has_witness {
                segwit += 1;
                assert!(tx.weight < tx.raw.len() as u64 * 4);
            } else {
                assert_eq!(tx.weight, tx.raw.len() as u64 * 4);
            }
        }
        assert!(segwit > 50 && segwit < 150, "{segwit}");
    }

    #[test]
    fn remove_and_refill_keep_the_index() {
        let mut pool = Mempool::new(20, 70, 1);
        let first: Vec<Hash32> = pool.select(5).iter().map(|t| t.txid).collect();
        pool.remove(&first);
        assert_eq!(pool.len(), 15);
        assert!(first.iter().all(|t| pool.get(t).is_none()));
        pool.refill();
        assert_eq!(pool.len(), 20);
        for tx in pool.iter() {
            assert_eq!(pool.get(&tx.txid).map(|t| t.txid), Some(tx.txid));
        }
    }
}
