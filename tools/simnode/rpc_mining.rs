//! Mining RPCs: templates, block submission, and the control methods
//! that make the simulated network find blocks.

use std::time::Duration;

use simd_json::prelude::*;
use simd_json::OwnedValue;
use tbg_pool::bitcoin::address;
use tbg_pool::bitcoin::hex;
use tbg_pool::bitcoin::target::{compact_to_target, U256};
use tbg_pool::bitcoin::Hash32;

use crate::coinbase::NETWORK_PAYOUT_SCRIPT;
use crate::json::{self, JsonObject};
use crate::node::{unix_now, Node};
use crate::params::Params;
use crate::rpc::{
    RpcError, RpcResult, RPC_DESERIALIZATION_ERROR, RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER, RPC_TYPE_ERROR,
};
use crate::template;

/// Most blocks one `simnode_mine` / `generatetoaddress` call may ask for;
/// the node is locked while they are made.
const MAX_BLOCKS_PER_CALL: i64 = 10_000;
/// Longest a long-poll waits for a new tip before answering anyway.
const LONGPOLL_MAX_WAIT: Duration = Duration::from_secs(120);
/// Hex digits of the tip hash at the start of a `longpollid`.
const LONGPOLL_HASH_HEX_LEN: usize = 64;
/// Seconds per block the network hash rate estimate assumes.
const TARGET_SPACING_SECS: f64 = 600.0;

/// `getblocktemplate {"rules":["segwit"], …}`; also proposal mode and
/// long-polling (`longpollid`).
pub fn getblocktemplate(node: &Node, params: &Params) -> RpcResult {
    let request = match params.get(0, "template_request") {
        None => None,
        Some(v) if v.as_object().is_some() => Some(v),
        Some(_) => {
            return Err(RpcError::new(
                RPC_TYPE_ERROR,
                "template_request must be an object",
            ))
        }
    };
    match request
        .and_then(|r| r.get_str("mode"))
        .unwrap_or("template")
    {
        "template" => {}
        "proposal" => return proposal(node, request),
        _ => return Err(RpcError::new(RPC_INVALID_PARAMETER, "Invalid mode")),
    }
    // Bitcoin Core's checks and words (rpc/mining.cpp), signet first.
    if node.config.chain == "signet" && !has_rule(request, "signet") {
        return Err(RpcError::new(
            RPC_INVALID_PARAMETER,
            "getblocktemplate must be called with the signet rule set (call with {\"rules\": [\"segwit\", \"signet\"]})",
        ));
    }
    if !has_rule(request, "segwit") {
        return Err(RpcError::new(
            RPC_INVALID_PARAMETER,
            "getblocktemplate must be called with the segwit rule set (call with {\"rules\": [\"segwit\"]})",
        ));
    }
    if let Some(id) = request.and_then(|r| r.get_str("longpollid")) {
        wait_longpoll(node, id);
    }
    let state = node.lock();
    Ok(template::render(&state, unix_now()))
}

/// Whether the template request's `rules` include `rule`.
fn has_rule(request: Option<&OwnedValue>, rule: &str) -> bool {
    request
        .and_then(|r| r.get("rules"))
        .and_then(|rules| rules.as_array())
        .is_some_and(|rules| rules.iter().any(|r| r.as_str() == Some(rule)))
}

/// BIP23 proposal: the block checks without proof of work.
fn proposal(node: &Node, request: Option<&OwnedValue>) -> RpcResult {
    let data = request
        .and_then(|r| r.get_str("data"))
        .ok_or_else(|| RpcError::new(RPC_TYPE_ERROR, "Missing data String key for proposal"))?;
    let raw = hex::decode(data).map_err(|_| decode_failed())?;
    match node.propose(&raw) {
        Ok(None) => Ok("null".to_string()),
        Ok(Some(reason)) => Ok(json::quote(&reason)),
        Err(_) => Err(decode_failed()),
    }
}

/// A `longpollid` starts with the tip hash it was issued at: wait until
/// the tip moves on from it (at once if it already has).
fn wait_longpoll(node: &Node, longpollid: &str) {
    let Some(hash_hex) = longpollid.get(..LONGPOLL_HASH_HEX_LEN) else {
        return;
    };
    if let Ok(seen) = hex::decode_display(hash_hex) {
        node.wait_for_new_tip(&seen, LONGPOLL_MAX_WAIT);
    }
}

/// bitcoind's answer to a block that is not hex or not a block.
fn decode_failed() -> RpcError {
    RpcError::new(RPC_DESERIALIZATION_ERROR, "Block decode failed")
}

/// `submitblock hexdata`: null when accepted, else the reject reason.
pub fn submitblock(node: &Node, params: &Params) -> RpcResult {
    let data = params.str(0, "hexdata")?;
    let raw = hex::decode(data).map_err(|_| decode_failed())?;
    match node.submit(&raw) {
        Ok(None) => Ok("null".to_string()),
        Ok(Some(reason)) => Ok(json::quote(&reason)),
        Err(_) => Err(decode_failed()),
    }
}

/// `getmininginfo`.
pub fn getmininginfo(node: &Node) -> RpcResult {
    let state = node.lock();
    let chain = &state.chain;
    let difficulty = chain.difficulty();
    let target = compact_to_target(chain.bits()).unwrap_or(U256::ZERO);
    Ok(JsonObject::new()
        .uint("blocks", u64::from(chain.height()))
        .str("bits", &format!("{:08x}", chain.bits()))
        .float("difficulty", difficulty)
        .str("target", &hex::encode(&target.to_be_bytes()))
        .float(
            "networkhashps",
            difficulty * 2f64.powi(32) / TARGET_SPACING_SECS,
        )
        .uint("pooledtx", state.mempool.len() as u64)
        .str("chain", &node.config.chain)
        .raw("warnings", "[]")
        .finish())
}

/// A block count within 0..=MAX_BLOCKS_PER_CALL.
fn block_count(n: i64) -> Result<u32, RpcError> {
    if !(0..=MAX_BLOCKS_PER_CALL).contains(&n) {
        let message = format!("nblocks must be between 0 and {MAX_BLOCKS_PER_CALL}");
        return Err(RpcError::new(RPC_INVALID_PARAMETER, message));
    }
    Ok(n as u32)
}

/// Block hashes as a JSON array of display hex.
fn hashes_json(hashes: &[Hash32]) -> String {
    json::string_array(hashes.iter().map(hex::encode_display))
}

/// `simnode_mine (nblocks=1)`: the network finds blocks now; returns
/// their hashes.
pub fn simnode_mine(node: &Node, params: &Params) -> RpcResult {
    let count = block_count(params.opt_i64(0, "nblocks")?.unwrap_or(1))?;
    Ok(hashes_json(&node.mine(count, &NETWORK_PAYOUT_SCRIPT)))
}

/// `generatetoaddress nblocks address`: like `simnode_mine`, paying
/// `address`.
pub fn generatetoaddress(node: &Node, params: &Params) -> RpcResult {
    let count = block_count(params.i64(0, "nblocks")?)?;
    let address = params.str(1, "address")?;
    let script = address::script_pubkey(address, node.config.network)
        .map_err(|_| RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address"))?;
    Ok(hashes_json(&node.mine(count, &script)))
}
