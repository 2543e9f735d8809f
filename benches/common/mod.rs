//! What the benches share: a realistic block template.

use tbg_pool::bitcoin::target::compact_to_target;
use tbg_pool::node::{Template, TemplateTx};

/// A mainnet-like template with `n` transactions (random txids).
pub fn template(n: usize) -> Template {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let transactions = (0..n)
        .map(|_| {
            let mut txid = [0u8; 32];
            for chunk in txid.chunks_mut(8) {
                chunk.copy_from_slice(&next().to_le_bytes());
            }
            TemplateTx {
                data: vec![0; 250],
                txid,
                wtxid: txid,
                fee_sats: 1000,
            }
        })
        .collect();
    Template {
        version: 0x2000_0000,
        prev_hash: [7; 32],
        transactions,
        coinbase_value_sats: 312_500_000,
        bits: 0x1703_4219,
        target: compact_to_target(0x1703_4219).unwrap(),
        height: 870_000,
        cur_time: 1_700_000_000,
        min_time: 1_699_999_000,
        witness_commitment_script: Some(vec![0x6a; 38]),
        rules: vec![],
    }
}
