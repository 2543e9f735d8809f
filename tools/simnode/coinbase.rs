//! Coinbases of the blocks the simulated network makes (fabricated
//! history and blocks it "finds"): BIP34 height, a tag, the payout, and
//! the BIP141 witness commitment when asked for one.

use tbg_pool::bitcoin::block::witness_commitment_script;
use tbg_pool::bitcoin::encode::{script_push_data, script_push_number};
use tbg_pool::bitcoin::Hash32;

use crate::txbuild::{BuiltTx, TxBuilder, TxInput, TxOutput};

/// Written into every coinbase the simulated network makes, so its blocks
/// are recognisable in a hex dump.
const COINBASE_TAG: &[u8] = b"/tbg-simnode/";

/// What the simulated network pays its blocks to when no address is
/// given: a P2WPKH script with a recognisable (unspendable) key hash.
pub const NETWORK_PAYOUT_SCRIPT: [u8; 22] = [
    0x00, 0x14, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e,
    0x5e, 0x5e, 0x5e, 0x5e, 0x5e, 0x5e,
];

/// The parts of a coinbase that vary.
#[derive(Debug, Clone, Copy)]
pub struct CoinbaseSpec<'a> {
    pub height: u32,
    pub value_sats: u64,
    pub payout_script: &'a [u8],
    /// Makes coinbases (and so block hashes) unique even at equal heights.
    pub extranonce: u64,
    /// Witness merkle root to commit to; `None` for no commitment output
    /// and no coinbase witness.
    pub witness_root: Option<Hash32>,
}

/// Serialize the coinbase described by `spec`.
pub fn build(spec: &CoinbaseSpec) -> BuiltTx {
    let mut script_sig = Vec::with_capacity(32);
    script_push_number(&mut script_sig, i64::from(spec.height));
    script_push_data(&mut script_sig, &spec.extranonce.to_le_bytes());
    script_push_data(&mut script_sig, COINBASE_TAG);
    let mut outputs = vec![TxOutput {
        value_sats: spec.value_sats,
        script_pubkey: spec.payout_script.to_vec(),
    }];
    let mut witness = Vec::new();
    if let Some(root) = spec.witness_root {
        outputs.push(TxOutput {
            value_sats: 0,
            script_pubkey: witness_commitment_script(&root),
        });
        // The all-zero witness reserved value the commitment script assumes.
        witness.push(vec![0u8; 32]);
    }
    TxBuilder {
        version: 2,
        inputs: vec![TxInput {
            prev_txid: [0; 32],
            prev_vout: u32::MAX,
            script_sig,
            sequence: u32::MAX,
            witness,
        }],
        outputs,
        lock_time: 0,
    }
    .build()
}

/// The coinbase of a fabricated history block (the only transaction in
/// it): deterministic, so the block can be re-serialized on demand.
pub fn fabricated(height: u32, value_sats: u64) -> BuiltTx {
    build(&CoinbaseSpec {
        height,
        value_sats,
        payout_script: &NETWORK_PAYOUT_SCRIPT,
        extranonce: 0,
        witness_root: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tbg_pool::bitcoin::block::{witness_root, Tx};

    #[test]
    fn coinbase_shape() {
        let root = witness_root(&[[9; 32]]);
        let cb = build(&CoinbaseSpec {
            height: 413_567,
            value_sats: 5_000_000_000,
            payout_script: &NETWORK_PAYOUT_SCRIPT,
            extranonce: 1,
            witness_root: Some(root),
        });
        let tx = Tx::parse_exact(&cb.raw).unwrap();
        assert!(tx.is_coinbase());
        assert!(tx.inputs[0]
            .script_sig
            .starts_with(&[0x03, 0x7f, 0x4f, 0x06]));
        assert_eq!(tx.inputs[0].witness, vec![&[0u8; 32][..]]);
        assert_eq!(tx.output_value_sats(), 5_000_000_000);
        assert!(tx.witness_commitment().is_some());
        let plain = fabricated(0, 50);
        let tx = Tx::parse_exact(&plain.raw).unwrap();
        assert!(!tx.has_witness && tx.witness_commitment().is_none());
        assert!(tx.inputs[0].script_sig.len() >= 2);
    }
}
