//! Blockchain RPCs: tip, hashes, headers, blocks, chain info.

use tbg_pool::bitcoin::block::Block;
use tbg_pool::bitcoin::hex;
use tbg_pool::bitcoin::target::{compact_to_difficulty, compact_to_target, U256};

use crate::chain::{BlockEntry, Chain};
use crate::json::{self, JsonObject};
use crate::node::Node;
use crate::params::Params;
use crate::rpc::{
    RpcError, RpcResult, RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RPC_MISC_ERROR,
};

/// `getbestblockhash`: the tip, display hex.
pub fn getbestblockhash(node: &Node) -> RpcResult {
    let state = node.lock();
    Ok(json::quote(&hex::encode_display(&state.chain.tip().hash)))
}

/// `getblockcount`: the tip's height.
pub fn getblockcount(node: &Node) -> RpcResult {
    Ok(node.lock().chain.height().to_string())
}

/// `getblockhash height`.
pub fn getblockhash(node: &Node, params: &Params) -> RpcResult {
    let height = params.i64(0, "height")?;
    let state = node.lock();
    let entry = u32::try_from(height)
        .ok()
        .and_then(|h| state.chain.at(h))
        .ok_or_else(|| RpcError::new(RPC_INVALID_PARAMETER, "Block height out of range"))?;
    Ok(json::quote(&hex::encode_display(&entry.hash)))
}

/// The block named by the first (`blockhash`) parameter.
fn find<'c>(chain: &'c Chain, params: &Params) -> Result<&'c BlockEntry, RpcError> {
    let hash = params.hash(0, "blockhash")?;
    chain
        .find(&hash)
        .ok_or_else(|| RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, "Block not found"))
}

/// `getblockheader blockhash (verbose=true)`.
pub fn getblockheader(node: &Node, params: &Params) -> RpcResult {
    let verbose = params.opt_bool(1, "verbose")?.unwrap_or(true);
    let state = node.lock();
    let entry = find(&state.chain, params)?;
    if !verbose {
        return Ok(json::quote(&hex::encode(&entry.header.serialize())));
    }
    Ok(header_object(&state.chain, entry).finish())
}

/// The fields bitcoind's `getblockheader` shows (and `getblock` starts with).
fn header_object(chain: &Chain, entry: &BlockEntry) -> JsonObject {
    let h = &entry.header;
    let target = compact_to_target(h.bits).unwrap_or(U256::ZERO);
    let mut o = JsonObject::new();
    o.str("hash", &hex::encode_display(&entry.hash))
        .uint(
            "confirmations",
            u64::from(chain.height() - entry.height) + 1,
        )
        .uint("height", u64::from(entry.height))
        .uint("version", u64::from(h.version))
        .str("versionHex", &format!("{:08x}", h.version))
        .str("merkleroot", &hex::encode_display(&h.merkle_root))
        .uint("time", u64::from(h.time))
        .uint(
            "mediantime",
            u64::from(chain.median_time_past(entry.height)),
        )
        .uint("nonce", u64::from(h.nonce))
        .str("bits", &format!("{:08x}", h.bits))
        .str("target", &hex::encode(&target.to_be_bytes()))
        .float("difficulty", compact_to_difficulty(h.bits))
        .str("chainwork", &chain.chainwork_hex(entry.height))
        .uint("nTx", u64::from(entry.n_tx));
    if entry.height > 0 {
        o.str("previousblockhash", &hex::encode_display(&h.prev_hash));
    }
    if let Some(next) = chain.at(entry.height + 1) {
        o.str("nextblockhash", &hex::encode_display(&next.hash));
    }
    o
}

/// `getblock blockhash (verbosity=1)`: 0 = hex, 1 (or 2) = header fields,
/// sizes and txids.
pub fn getblock(node: &Node, params: &Params) -> RpcResult {
    let verbosity = params.verbosity(1, "verbosity")?.unwrap_or(1);
    let state = node.lock();
    let entry = find(&state.chain, params)?;
    let raw = state
        .chain
        .raw_block(entry)
        .ok_or_else(|| RpcError::new(RPC_MISC_ERROR, "Block not available (pruned data)"))?;
    if verbosity <= 0 {
        return Ok(json::quote(&hex::encode(&raw)));
    }
    let block =
        Block::parse(&raw).map_err(|_| RpcError::new(RPC_MISC_ERROR, "Block read failed"))?;
    let txids = block.txs.iter().map(|tx| hex::encode_display(&tx.txid));
    let stripped = (u64::from(entry.weight) - u64::from(entry.size)) / 3;
    Ok(header_object(&state.chain, entry)
        .uint("strippedsize", stripped)
        .uint("size", u64::from(entry.size))
        .uint("weight", u64::from(entry.weight))
        .raw("tx", &json::string_array(txids))
        .finish())
}

/// `getblockchaininfo`: a synced node on the configured chain.
pub fn getblockchaininfo(node: &Node) -> RpcResult {
    let state = node.lock();
    let chain = &state.chain;
    let tip = chain.tip();
    let target = compact_to_target(chain.bits()).unwrap_or(U256::ZERO);
    Ok(JsonObject::new()
        .str("chain", &node.config.chain)
        .uint("blocks", u64::from(tip.height))
        .uint("headers", u64::from(tip.height))
        .str("bestblockhash", &hex::encode_display(&tip.hash))
        .str("bits", &format!("{:08x}", chain.bits()))
        .str("target", &hex::encode(&target.to_be_bytes()))
        .float("difficulty", chain.difficulty())
        .uint("time", u64::from(tip.header.time))
        .uint("mediantime", u64::from(chain.tip_mtp()))
        .float("verificationprogress", 1.0)
        .bool("initialblockdownload", false)
        .str("chainwork", &chain.chainwork_hex(tip.height))
        .bool("pruned", false)
        .raw("warnings", "[]")
        .finish())
}

/// `getdifficulty`.
pub fn getdifficulty(node: &Node) -> RpcResult {
    Ok(json::float(node.lock().chain.difficulty()))
}

/// `preciousblock blockhash`: accepted and ignored (there are no forks
/// to prefer), but the block must exist.
pub fn preciousblock(node: &Node, params: &Params) -> RpcResult {
    let state = node.lock();
    find(&state.chain, params)?;
    Ok("null".to_string())
}
