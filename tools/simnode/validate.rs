//! The checks `submitblock` runs on a decoded block, each answering with
//! the reason string bitcoind would give. Order (first failure wins):
//! duplicate → prev-blk-not-found → inconclusive (stale) → bad-diffbits →
//! high-hash → bad-cb-missing → bad-txnmrklroot → time-too-old/new →
//! bad-version → bad-cb-length → bad-cb-height →
//! bad-txns-inputs-missingorspent → bad-cb-amount → witness → weight.

use std::collections::HashSet;

use tbg_pool::bitcoin::block::{witness_commitment, witness_root, Block, Header, Tx};
use tbg_pool::bitcoin::encode::script_push_number;
use tbg_pool::bitcoin::target::{compact_to_target, hash_meets};
use tbg_pool::bitcoin::Hash32;

use crate::chain::{BlockEntry, Chain};
use crate::mempool::{Mempool, MAX_BLOCK_WEIGHT};

/// How far ahead of the clock a block's time may be (bitcoind: 2 hours).
const MAX_FUTURE_BLOCK_TIME_SECS: u32 = 2 * 60 * 60;
/// Coinbase scriptSig length bounds (consensus).
const MIN_COINBASE_SCRIPT_LEN: usize = 2;
const MAX_COINBASE_SCRIPT_LEN: usize = 100;
/// Lowest block version after BIP65.
const MIN_BLOCK_VERSION: u32 = 4;

/// A block that passed every check, ready to append.
#[derive(Debug)]
pub struct Accepted {
    pub entry: BlockEntry,
    /// Txids of the mempool transactions it confirms.
    pub confirmed: Vec<Hash32>,
}

/// What `submitblock` makes of a block.
#[derive(Debug)]
pub enum Verdict {
    Accept(Accepted),
    /// Builds on a block that is not the tip: kept aside, no reorg.
    Stale,
    /// bitcoind's reject reason.
    Reject(String),
}

/// Why a check failed (kept apart from `Verdict`, which is large).
enum Refusal {
    Stale,
    Reject(String),
}

/// A rejection with bitcoind's reason string.
fn reject(reason: &str) -> Refusal {
    Refusal::Reject(reason.to_string())
}

/// Check `block` (decoded from `raw`) against the tip. `check_pow` is
/// false for getblocktemplate proposals, which bitcoind checks without
/// proof of work.
pub fn check(
    chain: &Chain,
    mempool: &Mempool,
    raw: &[u8],
    block: &Block,
    now: u32,
    check_pow: bool,
) -> Verdict {
    match run(chain, mempool, raw, block, now, check_pow) {
        Ok(accepted) => Verdict::Accept(accepted),
        Err(Refusal::Stale) => Verdict::Stale,
        Err(Refusal::Reject(reason)) => Verdict::Reject(reason),
    }
}

/// Every check in order; the first failure wins.
fn run(
    chain: &Chain,
    mempool: &Mempool,
    raw: &[u8],
    block: &Block,
    now: u32,
    check_pow: bool,
) -> Result<Accepted, Refusal> {
    let header = &block.header;
    let hash = header.hash();
    check_position(chain, header, &hash)?;
    check_proof(chain, header, &hash, check_pow)?;
    let coinbase = check_structure(block)?;
    check_time(chain, header, now)?;
    let height = chain.height() + 1;
    check_coinbase_script(coinbase, height)?;
    let (fees, confirmed) = check_transactions(mempool, block)?;
    if coinbase.output_value_sats() > chain.subsidy(height).saturating_add(fees) {
        return Err(reject("bad-cb-amount"));
    }
    check_witness(block, coinbase)?;
    let weight = block_weight(raw, block);
    if weight > MAX_BLOCK_WEIGHT {
        return Err(reject("bad-blk-weight"));
    }
    Ok(Accepted {
        entry: BlockEntry {
            hash,
            header: *header,
            height,
            n_tx: block.txs.len() as u32,
            size: raw.len() as u32,
            weight: weight as u32,
            raw: Some(raw.to_vec()),
            fabricated: false,
        },
        confirmed,
    })
}

/// Known already, unknown parent, or a parent that is not the tip.
fn check_position(chain: &Chain, header: &Header, hash: &Hash32) -> Result<(), Refusal> {
    if chain.find(hash).is_some() {
        return Err(reject("duplicate"));
    }
    if chain.is_stale(hash) {
        // Bitcoin Core v31 on signet: "inconclusive" for a valid block off
        // the best chain, then "duplicate" when it is sent again.
        return Err(reject("duplicate"));
    }
    let prev = &header.prev_hash;
    if chain.find(prev).is_none() && !chain.is_stale(prev) {
        return Err(reject("prev-blk-not-found"));
    }
    if *prev != chain.tip().hash {
        return Err(Refusal::Stale);
    }
    Ok(())
}

/// The network's bits, then proof of work (unless a proposal).
fn check_proof(
    chain: &Chain,
    header: &Header,
    hash: &Hash32,
    check_pow: bool,
) -> Result<(), Refusal> {
    if header.bits != chain.bits() {
        return Err(reject("bad-diffbits"));
    }
    let meets = compact_to_target(header.bits).is_ok_and(|target| hash_meets(hash, &target));
    if check_pow && !meets {
        return Err(reject("high-hash"));
    }
    Ok(())
}

/// A coinbase first and only first, the merkle root, no repeated txids.
fn check_structure<'b, 'a>(block: &'b Block<'a>) -> Result<&'b Tx<'a>, Refusal> {
    let coinbase = match block.txs.first() {
        Some(tx) if tx.is_coinbase() => tx,
        _ => return Err(reject("bad-cb-missing")),
    };
    if block.txs.iter().skip(1).any(|tx| tx.is_coinbase()) {
        return Err(reject("bad-cb-multiple"));
    }
    if block.computed_merkle_root() != block.header.merkle_root {
        return Err(reject("bad-txnmrklroot"));
    }
    let mut seen = HashSet::with_capacity(block.txs.len());
    if !block.txs.iter().all(|tx| seen.insert(tx.txid)) {
        return Err(reject("bad-txns-duplicate"));
    }
    Ok(coinbase)
}

/// After median-time-past, at most two hours ahead; BIP65 version.
fn check_time(chain: &Chain, header: &Header, now: u32) -> Result<(), Refusal> {
    if header.time <= chain.tip_mtp() {
        return Err(reject("time-too-old"));
    }
    if header.time > now.saturating_add(MAX_FUTURE_BLOCK_TIME_SECS) {
        return Err(reject("time-too-new"));
    }
    if header.version < MIN_BLOCK_VERSION {
        return Err(Refusal::Reject(format!(
            "bad-version(0x{:08x})",
            header.version
        )));
    }
    Ok(())
}

/// scriptSig length bounds, then BIP34: it starts with the height push.
fn check_coinbase_script(coinbase: &Tx, height: u32) -> Result<(), Refusal> {
    let script = coinbase.inputs.first().map(|i| i.script_sig).unwrap_or(&[]);
    if !(MIN_COINBASE_SCRIPT_LEN..=MAX_COINBASE_SCRIPT_LEN).contains(&script.len()) {
        return Err(reject("bad-cb-length"));
    }
    let mut expected = Vec::with_capacity(5);
    script_push_number(&mut expected, i64::from(height));
    if !script.starts_with(&expected) {
        return Err(reject("bad-cb-height"));
    }
    Ok(())
}

/// Every other transaction must come from the mempool (the synthetic
/// transactions spend outpoints only the mempool knows). Returns the
/// fees they pay and their txids.
fn check_transactions(mempool: &Mempool, block: &Block) -> Result<(u64, Vec<Hash32>), Refusal> {
    let mut fees = 0u64;
    let mut confirmed = Vec::with_capacity(block.txs.len().saturating_sub(1));
    for tx in block.txs.iter().skip(1) {
        let entry = mempool
            .get(&tx.txid)
            .ok_or_else(|| reject("bad-txns-inputs-missingorspent"))?;
        fees = fees.saturating_add(entry.fee_sats);
        confirmed.push(tx.txid);
    }
    Ok((fees, confirmed))
}

/// BIP141: a commitment, when present, needs a 32-byte reserved value and
/// must match the witness root; without one, no transaction may carry
/// witness data.
fn check_witness(block: &Block, coinbase: &Tx) -> Result<(), Refusal> {
    let Some(commitment) = coinbase.witness_commitment() else {
        if block.txs.iter().any(|tx| tx.has_witness) {
            return Err(reject("unexpected-witness"));
        }
        return Ok(());
    };
    let stack = coinbase
        .inputs
        .first()
        .map(|i| i.witness.as_slice())
        .unwrap_or(&[]);
    let reserved: Hash32 = match stack {
        [item] if item.len() == 32 => {
            let mut r = [0u8; 32];
            r.copy_from_slice(item);
            r
        }
        _ => return Err(reject("bad-witness-nonce-size")),
    };
    let wtxids: Vec<Hash32> = block.txs.iter().skip(1).map(|tx| tx.wtxid).collect();
    if witness_commitment(&witness_root(&wtxids), &reserved) != commitment {
        return Err(reject("bad-witness-merkle-match"));
    }
    Ok(())
}

/// BIP141 block weight: non-witness bytes count four times, witness once.
fn block_weight(raw: &[u8], block: &Block) -> u64 {
    let tx_bytes: usize = block.txs.iter().map(|tx| tx.raw.len()).sum();
    let overhead = raw.len().saturating_sub(tx_bytes) as u64 * 4;
    overhead + block.txs.iter().map(tx_weight).sum::<u64>()
}

/// BIP141 transaction weight: base size × 3 + total size.
pub fn tx_weight(tx: &Tx) -> u64 {
    let total = tx.raw.len() as u64;
    let base = total.saturating_sub(witness_bytes(tx) as u64);
    base * 3 + total
}

/// Bytes of a transaction's serialization that only exist with witness:
/// marker, flag and the witness stacks.
fn witness_bytes(tx: &Tx) -> usize {
    if !tx.has_witness {
        return 0;
    }
    let stacks: usize = tx
        .inputs
        .iter()
        .map(|i| {
            compact_size_len(i.witness.len())
                + i.witness
                    .iter()
                    .map(|w| compact_size_len(w.len()) + w.len())
                    .sum::<usize>()
        })
        .sum();
    2 + stacks
}

/// Bytes of a CompactSize encoding of `n`.
fn compact_size_len(n: usize) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}
