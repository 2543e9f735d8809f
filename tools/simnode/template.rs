//! The `getblocktemplate` result, field for field in the order and shape
//! of a real bitcoind (see shared/vectors/bitcoind-regtest-getblocktemplate.json).

use tbg_pool::bitcoin::block::{witness_commitment_script, witness_root};
use tbg_pool::bitcoin::hex;
use tbg_pool::bitcoin::target::{compact_to_target, U256};
use tbg_pool::bitcoin::Hash32;

use crate::json::JsonObject;
use crate::mempool::{MempoolTx, MAX_BLOCK_SIGOPS_COST, MAX_BLOCK_WEIGHT};
use crate::node::State;

/// Versionbits-era block version with no deployment signalled.
const TEMPLATE_VERSION: u64 = 0x2000_0000;
/// The rules a post-taproot bitcoind lists.
const RULES: &str = r#"["csv","!segwit","taproot"]"#;
const MUTABLE: &str = r#"["time","transactions","prevblock"]"#;
/// bitcoind's `sizelimit` is the serialized size limit, 4 MB after segwit.
const MAX_BLOCK_SERIALIZED_SIZE: u64 = 4_000_000;

/// The template for the next block, at clock time `now`.
pub fn render(state: &State, now: u32) -> String {
    let chain = &state.chain;
    let tip = chain.tip();
    let height = tip.height + 1;
    let txs = state.mempool.select(usize::MAX);
    let fees: u64 = txs.iter().map(|t| t.fee_sats).sum();
    let wtxids: Vec<Hash32> = txs.iter().map(|t| t.wtxid).collect();
    let commitment = witness_commitment_script(&witness_root(&wtxids));
    let mintime = chain.tip_mtp().saturating_add(1);
    let target = compact_to_target(chain.bits()).unwrap_or(U256::MAX);
    let prev = hex::encode_display(&tip.hash);
    JsonObject::new()
        .raw("capabilities", r#"["proposal"]"#)
        .uint("version", TEMPLATE_VERSION)
        .raw("rules", RULES)
        .raw("vbavailable", "{}")
        .uint("vbrequired", 0)
        .str("previousblockhash", &prev)
        .raw("transactions", &transactions_json(&txs))
        .raw("coinbaseaux", "{}")
        .uint("coinbasevalue", chain.subsidy(height) + fees)
        .str("longpollid", &format!("{prev}{}", state.mempool.updates()))
        .str("target", &hex::encode(&target.to_be_bytes()))
        .uint("mintime", u64::from(mintime))
        .raw("mutable", MUTABLE)
        .str("noncerange", "00000000ffffffff")
        .uint("sigoplimit", MAX_BLOCK_SIGOPS_COST)
        .uint("sizelimit", MAX_BLOCK_SERIALIZED_SIZE)
        .uint("weightlimit", MAX_BLOCK_WEIGHT)
        .uint("curtime", u64::from(now.max(mintime)))
        .str("bits", &format!("{:08x}", chain.bits()))
        .uint("height", u64::from(height))
        .str("default_witness_commitment", &hex::encode(&commitment))
        .finish()
}

/// The `transactions` array: data, txid, hash, depends, fee, sigops, weight.
fn transactions_json(txs: &[&MempoolTx]) -> String {
    let body: usize = txs.iter().map(|t| t.raw.len() * 2 + 260).sum();
    let mut out = String::with_capacity(body + 2);
    out.push('[');
    for (i, tx) in txs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let entry = JsonObject::new()
            .str("data", &hex::encode(&tx.raw))
            .str("txid", &hex::encode_display(&tx.txid))
            .str("hash", &hex::encode_display(&tx.wtxid))
            .raw("depends", "[]")
            .uint("fee", tx.fee_sats)
            .uint("sigops", tx.sigops)
            .uint("weight", tx.weight)
            .finish();
        out.push_str(&entry);
    }
    out.push(']');
    out
}
