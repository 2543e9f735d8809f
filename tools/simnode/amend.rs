//! What `submitblock` changes in a block before judging it, as bitcoind's
//! `UpdateUncommittedBlockStructures` does: a coinbase that commits to
//! its witnesses but carries no witness gets the default witness reserved
//! value (one 32-byte zero item), which nothing in the block commits to.

use tbg_pool::bitcoin::block::{Block, Tx};

use crate::assemble::serialize_block;
use crate::txbuild::{TxBuilder, TxInput, TxOutput};

/// BIP141's default witness reserved value: 32 zero bytes.
const DEFAULT_WITNESS_RESERVED_VALUE: [u8; 32] = [0; 32];

/// The block re-serialized with the default witness reserved value in its
/// coinbase, when the coinbase has a witness commitment and no witness;
/// `None` when the block stays as it is (no coinbase, no commitment, or a
/// witness already there, right or wrong).
pub fn with_witness_reserved_value(block: &Block) -> Option<Vec<u8>> {
    let coinbase = block.txs.first().filter(|tx| tx.is_coinbase())?;
    coinbase.witness_commitment()?;
    if coinbase
        .inputs
        .iter()
        .any(|input| !input.witness.is_empty())
    {
        return None;
    }
    let amended = with_reserved_value(coinbase).build().raw;
    let mut raws: Vec<&[u8]> = Vec::with_capacity(block.txs.len());
    raws.push(&amended);
    raws.extend(block.txs.iter().skip(1).map(|tx| tx.raw));
    Some(serialize_block(&block.header, &raws))
}

/// `coinbase` as a builder whose first input carries the default witness
/// reserved value (txid unchanged: the witness is not part of it).
fn with_reserved_value(coinbase: &Tx) -> TxBuilder {
    let inputs = coinbase
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| TxInput {
            prev_txid: input.prev_txid,
            prev_vout: input.prev_vout,
            script_sig: input.script_sig.to_vec(),
            sequence: input.sequence,
            witness: if i == 0 {
                vec![DEFAULT_WITNESS_RESERVED_VALUE.to_vec()]
            } else {
                Vec::new()
            },
        })
        .collect();
    let outputs = coinbase
        .outputs
        .iter()
        .map(|output| TxOutput {
            value_sats: output.value_sats,
            script_pubkey: output.script_pubkey.to_vec(),
        })
        .collect();
    TxBuilder {
        version: coinbase.version,
        inputs,
        outputs,
        lock_time: coinbase.lock_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coinbase::{self, CoinbaseSpec, NETWORK_PAYOUT_SCRIPT};
    use tbg_pool::bitcoin::block::{witness_root, Header};

    /// A one-transaction block around `cb`.
    fn block_with(cb: &[u8]) -> Vec<u8> {
        let header = Header {
            version: 4,
            prev_hash: [1; 32],
            merkle_root: [2; 32],
            time: 3,
            bits: 0x207f_ffff,
            nonce: 4,
        };
        serialize_block(&header, &[cb])
    }

    #[test]
    fn reserved_value_is_added_only_when_missing() {
        let spec = CoinbaseSpec {
            height: 200,
            value_sats: 50,
            payout_script: &NETWORK_PAYOUT_SCRIPT,
            extranonce: 1,
            witness_root: Some(witness_root(&[])),
        };
        let full = coinbase::build(&spec);
        let bare = Tx::parse_exact(&full.raw).unwrap().without_witness();
        let raw = block_with(&bare);
        let amended = with_witness_reserved_value(&Block::parse(&raw).unwrap()).unwrap();
        assert_eq!(amended, block_with(&full.raw));
        let again = Block::parse(&amended).unwrap();
        assert_eq!(again.txs[0].txid, full.txid);
        assert!(with_witness_reserved_value(&again).is_none());
        let plain = coinbase::fabricated(5, 50);
        let raw = block_with(&plain.raw);
        assert!(with_witness_reserved_value(&Block::parse(&raw).unwrap()).is_none());
    }
}
