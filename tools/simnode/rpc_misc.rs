//! Network, address, mempool and control RPCs.

use std::thread;
use std::time::Duration;

use tbg_pool::bitcoin::address;
use tbg_pool::bitcoin::block::Tx;
use tbg_pool::bitcoin::hex;

use crate::json::{self, JsonObject};
use crate::mempool::MempoolTx;
use crate::node::Node;
use crate::params::Params;
use crate::rpc::{
    RpcError, RpcResult, RPC_DESERIALIZATION_ERROR, RPC_INVALID_ADDRESS_OR_KEY, RPC_VERIFY_REJECTED,
};
use crate::validate::tx_weight;

/// Peers the simulated node claims to have.
pub const CONNECTIONS: u64 = 8;
/// `getnetworkinfo` version: a v30.0.0-style number.
const NODE_VERSION: u64 = 300_000;
const SUBVERSION: &str = "/tbg-simnode:0.1/";
const PROTOCOL_VERSION: u64 = 70_016;
/// Relay fee bitcoind defaults to: 1 sat/vB, as BTC/kvB.
const RELAY_FEE_SATS_PER_KVB: u64 = 1_000;
/// bitcoind's default -maxmempool (300 MB).
const MAX_MEMPOOL_BYTES: u64 = 300_000_000;
/// Time for the `stop` reply to reach the client before the exit.
const STOP_GRACE: Duration = Duration::from_millis(200);

/// `getnetworkinfo`: a node with outbound peers and nothing unusual.
pub fn getnetworkinfo() -> RpcResult {
    let relay = json::btc(RELAY_FEE_SATS_PER_KVB);
    Ok(JsonObject::new()
        .uint("version", NODE_VERSION)
        .str("subversion", SUBVERSION)
        .uint("protocolversion", PROTOCOL_VERSION)
        .str("localservices", "0000000000000c09")
        .raw(
            "localservicesnames",
            r#"["NETWORK","WITNESS","NETWORK_LIMITED","P2P_V2"]"#,
        )
        .bool("localrelay", true)
        .uint("timeoffset", 0)
        .bool("networkactive", true)
        .uint("connections", CONNECTIONS)
        .uint("connections_in", 0)
        .uint("connections_out", CONNECTIONS)
        .raw("networks", "[]")
        .raw("relayfee", &relay)
        .raw("incrementalfee", &relay)
        .raw("localaddresses", "[]")
        .raw("warnings", "[]")
        .finish())
}

/// `validateaddress address`, for the node's network.
pub fn validateaddress(node: &Node, params: &Params) -> RpcResult {
    let text = params.str(0, "address")?;
    let script = match address::script_pubkey(text, node.config.network) {
        Ok(script) => script,
        Err(e) => {
            return Ok(JsonObject::new()
                .bool("isvalid", false)
                .str("error", &e.to_string())
                .raw("error_locations", "[]")
                .finish())
        }
    };
    let (is_script, witness) = classify(&script);
    // bitcoind re-encodes the address: bech32 comes back lowercase.
    let shown = if witness.is_some() {
        text.to_ascii_lowercase()
    } else {
        text.to_string()
    };
    let mut o = JsonObject::new();
    o.bool("isvalid", true)
        .str("address", &shown)
        .str("scriptPubKey", &hex::encode(&script))
        .bool("isscript", is_script)
        .bool("iswitness", witness.is_some());
    if let Some((version, program)) = witness {
        o.uint("witness_version", version)
            .str("witness_program", &hex::encode(program));
    }
    Ok(o.finish())
}

/// (isscript, witness version and program) of a script the crate's
/// address module produced, as bitcoind's DescribeAddress reports them.
fn classify(script: &[u8]) -> (bool, Option<(u64, &[u8])>) {
    match script {
        [0x00, 0x14, program @ ..] => (false, Some((0, program))),
        [0x00, 0x20, program @ ..] => (true, Some((0, program))),
        [0x51, 0x20, program @ ..] => (true, Some((1, program))),
        [0xa9, ..] => (true, None),
        _ => (false, None),
    }
}

/// `getrawtransaction txid (verbose)`: mempool transactions only.
pub fn getrawtransaction(node: &Node, params: &Params) -> RpcResult {
    let txid = params.hash(0, "txid")?;
    let verbose = params.verbosity(1, "verbose")?.unwrap_or(0) != 0;
    let state = node.lock();
    let tx = state.mempool.get(&txid).ok_or_else(|| {
        RpcError::new(
            RPC_INVALID_ADDRESS_OR_KEY,
            "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.",
        )
    })?;
    let data = hex::encode(&tx.raw);
    if !verbose {
        return Ok(json::quote(&data));
    }
    Ok(JsonObject::new()
        .str("txid", &hex::encode_display(&tx.txid))
        .str("hash", &hex::encode_display(&tx.wtxid))
        .uint("size", tx.raw.len() as u64)
        .uint("vsize", tx.weight.div_ceil(4))
        .uint("weight", tx.weight)
        .str("hex", &data)
        .finish())
}

/// `sendrawtransaction hexstring`: any well-formed non-coinbase
/// transaction enters the mempool (inputs are not checked), paying an
/// assumed 1 sat/vB.
pub fn sendrawtransaction(node: &Node, params: &Params) -> RpcResult {
    let decode_failed = || {
        RpcError::new(
            RPC_DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    };
    let raw = hex::decode(params.str(0, "hexstring")?).map_err(|_| decode_failed())?;
    let tx = Tx::parse_exact(&raw).map_err(|_| decode_failed())?;
    if tx.is_coinbase() {
        return Err(RpcError::new(RPC_VERIFY_REJECTED, "coinbase"));
    }
    let weight = tx_weight(&tx);
    let entry = MempoolTx {
        txid: tx.txid,
        wtxid: tx.wtxid,
        fee_sats: weight.div_ceil(4),
        weight,
        sigops: tx.inputs.len() as u64,
        raw: raw.clone(),
    };
    // Already in the mempool is fine: bitcoind returns the txid then too.
    node.lock().mempool.insert(entry);
    Ok(json::quote(&hex::encode_display(&tx.txid)))
}

/// `getrawmempool`: txids.
pub fn getrawmempool(node: &Node) -> RpcResult {
    let state = node.lock();
    Ok(json::string_array(
        state.mempool.iter().map(|tx| hex::encode_display(&tx.txid)),
    ))
}

/// `getmempoolinfo`.
pub fn getmempoolinfo(node: &Node) -> RpcResult {
    let state = node.lock();
    let pool = &state.mempool;
    let vbytes: u64 = pool.iter().map(|tx| tx.weight.div_ceil(4)).sum();
    let usage: u64 = pool.iter().map(|tx| tx.raw.len() as u64).sum();
    let fees: u64 = pool.iter().map(|tx| tx.fee_sats).sum();
    let relay = json::btc(RELAY_FEE_SATS_PER_KVB);
    Ok(JsonObject::new()
        .bool("loaded", true)
        .uint("size", pool.len() as u64)
        .uint("bytes", vbytes)
        .uint("usage", usage)
        .raw("total_fee", &json::btc(fees))
        .uint("maxmempool", MAX_MEMPOOL_BYTES)
        .raw("mempoolminfee", &relay)
        .raw("minrelaytxfee", &relay)
        .finish())
}

/// `stop`: answer, then exit (removing the cookie file, as bitcoind does).
pub fn stop(node: &Node) -> RpcResult {
    node.remove_cookie();
    let spawned = thread::Builder::new().name("stop".to_string()).spawn(|| {
        thread::sleep(STOP_GRACE);
        eprintln!("simnode: stopping");
        std::process::exit(0);
    });
    if let Err(e) = spawned {
        eprintln!("simnode: cannot stop: {e}");
    }
    Ok(json::quote("tbg-simnode stopping"))
}
