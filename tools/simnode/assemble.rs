//! Blocks the simulated network "finds": a valid coinbase, some mempool
//! transactions, the right merkle root and witness commitment. Their
//! proof of work is real when the target is easy (regtest) and skipped
//! after a bounded search otherwise: they are the simulated network's.

use tbg_pool::bitcoin::block::{witness_root, Header};
use tbg_pool::bitcoin::encode::write_compact_size;
use tbg_pool::bitcoin::merkle::merkle_root;
use tbg_pool::bitcoin::target::{compact_to_target, hash_meets, U256};
use tbg_pool::bitcoin::Hash32;

use crate::chain::{BlockEntry, Chain, BLOCK_VERSION};
use crate::coinbase::{self, CoinbaseSpec};
use crate::mempool::Mempool;

/// A network block confirms the best 1/N of the mempool (by feerate).
const MEMPOOL_SHARE_DIVISOR: usize = 2;
/// Nonces tried before a network block is taken without meeting its
/// target: enough for regtest (each try succeeds with p = 1/2), cheap
/// when the target is out of reach.
const MAX_NETWORK_NONCES: u32 = 1 << 12;

/// A block made by the simulated network, ready to append.
#[derive(Debug)]
pub struct NetworkBlock {
    pub entry: BlockEntry,
    /// Txids of the mempool transactions it confirms.
    pub confirmed: Vec<Hash32>,
}

/// Serialize a block from its header and transaction serializations.
pub fn serialize_block(header: &Header, txs: &[&[u8]]) -> Vec<u8> {
    let body: usize = txs.iter().map(|t| t.len()).sum();
    let mut out = Vec::with_capacity(Header::SIZE + 9 + body);
    out.extend_from_slice(&header.serialize());
    write_compact_size(&mut out, txs.len() as u64);
    for tx in txs {
        out.extend_from_slice(tx);
    }
    out
}

/// The next block on top of `chain`'s tip, paying `payout_script`.
pub fn network_block(
    chain: &Chain,
    mempool: &Mempool,
    payout_script: &[u8],
    extranonce: u64,
    now: u32,
) -> NetworkBlock {
    let height = chain.height() + 1;
    let txs = mempool.select(mempool.len().div_ceil(MEMPOOL_SHARE_DIVISOR));
    let fees: u64 = txs.iter().map(|t| t.fee_sats).sum();
    let wtxids: Vec<Hash32> = txs.iter().map(|t| t.wtxid).collect();
    let cb = coinbase::build(&CoinbaseSpec {
        height,
        value_sats: chain.subsidy(height) + fees,
        payout_script,
        extranonce,
        witness_root: Some(witness_root(&wtxids)),
    });
    let mut txids = Vec::with_capacity(txs.len() + 1);
    txids.push(cb.txid);
    txids.extend(txs.iter().map(|t| t.txid));
    let mut header = Header {
        version: BLOCK_VERSION,
        prev_hash: chain.tip().hash,
        merkle_root: merkle_root(&txids),
        time: chain.next_block_time(now),
        bits: chain.bits(),
        nonce: 0,
    };
    grind(&mut header);
    let mut raws: Vec<&[u8]> = Vec::with_capacity(txs.len() + 1);
    raws.push(&cb.raw);
    raws.extend(txs.iter().map(|t| t.raw.as_slice()));
    let raw = serialize_block(&header, &raws);
    let tx_bytes: usize = raws.iter().map(|r| r.len()).sum();
    let tx_weight: u64 = cb.weight + txs.iter().map(|t| t.weight).sum::<u64>();
    let weight = (raw.len() - tx_bytes) as u64 * 4 + tx_weight;
    NetworkBlock {
        entry: BlockEntry {
            hash: header.hash(),
            header,
            height,
            n_tx: txids.len() as u32,
            size: raw.len() as u32,
            weight: weight as u32,
            raw: Some(raw),
            fabricated: false,
        },
        confirmed: txids[1..].to_vec(),
    }
}

/// Search nonces for a hash meeting the target; give up after a bound.
fn grind(header: &mut Header) {
    let target = compact_to_target(header.bits).unwrap_or(U256::MAX);
    for nonce in 0..MAX_NETWORK_NONCES {
        header.nonce = nonce;
        if hash_meets(&header.hash(), &target) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tbg_pool::bitcoin::block::Block;
    use tbg_pool::bitcoin::Network;

    #[test]
    fn network_block_is_consistent() {
        let chain = Chain::fabricate(Network::Regtest, 0x207f_ffff, 10, 1_700_000_000);
        let pool = Mempool::new(30, 70, 5);
        let nb = network_block(
            &chain,
            &pool,
            &coinbase::NETWORK_PAYOUT_SCRIPT,
            1,
            1_700_000_000,
        );
        let raw = nb.entry.raw.clone().unwrap();
        let block = Block::parse(&raw).unwrap();
        assert_eq!(block.computed_merkle_root(), block.header.merkle_root);
        assert_eq!(block.txs.len(), 16);
        assert_eq!(nb.confirmed.len(), 15);
        let target = compact_to_target(0x207f_ffff).unwrap();
        assert!(hash_meets(&nb.entry.hash, &target));
        assert_eq!(nb.entry.height, 11);
    }
}
