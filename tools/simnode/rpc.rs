//! The JSON-RPC layer: request envelopes (1.0 and 2.0, single and batch),
//! method dispatch, and replies in bitcoind's shapes and HTTP statuses.

use std::panic::{self, AssertUnwindSafe};

use simd_json::prelude::*;
use simd_json::OwnedValue;

use crate::json;
use crate::node::Node;
use crate::params::Params;
use crate::{rpc_chain, rpc_mining, rpc_misc, rpc_rawtx};

/// bitcoind's error codes (src/rpc/protocol.h).
pub const RPC_MISC_ERROR: i64 = -1;
pub const RPC_TYPE_ERROR: i64 = -3;
pub const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;
pub const RPC_INVALID_PARAMETER: i64 = -8;
pub const RPC_DESERIALIZATION_ERROR: i64 = -22;
pub const RPC_VERIFY_REJECTED: i64 = -26;
pub const RPC_INVALID_REQUEST: i64 = -32600;
pub const RPC_METHOD_NOT_FOUND: i64 = -32601;
pub const RPC_INTERNAL_ERROR: i64 = -32603;
pub const RPC_PARSE_ERROR: i64 = -32700;

/// Most requests one batch may carry.
const MAX_BATCH_LEN: usize = 1_000;

/// A JSON-RPC error: code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    /// An error with bitcoind's `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }
}

/// A method's result as JSON text, or its error.
pub type RpcResult = Result<String, RpcError>;

/// What goes back over HTTP: a status and, unless 204, a body.
#[derive(Debug)]
pub struct RpcReply {
    pub status: u16,
    pub body: Option<String>,
}

/// One answered request.
struct Response {
    /// The request's id as JSON text.
    id: String,
    /// JSON-RPC 2.0 request (bitcoind ≥ 28 answers those differently).
    v2: bool,
    outcome: RpcResult,
}

impl Response {
    /// The reply object text, in the request's protocol version.
    fn render(&self) -> String {
        let (result, error) = match &self.outcome {
            Ok(result) => (result.as_str(), None),
            Err(e) => ("null", Some(error_json(e))),
        };
        if self.v2 {
            return match error {
                None => format!(r#"{{"jsonrpc":"2.0","result":{result},"id":{}}}"#, self.id),
                Some(e) => format!(r#"{{"jsonrpc":"2.0","error":{e},"id":{}}}"#, self.id),
            };
        }
        let error = error.unwrap_or_else(|| "null".to_string());
        format!(r#"{{"result":{result},"error":{error},"id":{}}}"#, self.id)
    }

    /// bitcoind: 2.0 requests always get 200; 1.0 errors get 400 (invalid
    /// request), 404 (method not found) or 500.
    fn status(&self) -> u16 {
        match &self.outcome {
            Err(_) if self.v2 => 200,
            Ok(_) => 200,
            Err(e) if e.code == RPC_INVALID_REQUEST => 400,
            Err(e) if e.code == RPC_METHOD_NOT_FOUND => 404,
            Err(_) => 500,
        }
    }
}

/// The `error` member: `{"code":…,"message":…}`.
fn error_json(e: &RpcError) -> String {
    format!(
        r#"{{"code":{},"message":{}}}"#,
        e.code,
        json::quote(&e.message)
    )
}

/// One response as an HTTP reply (bitcoind ends JSON bodies with a newline).
fn reply(response: &Response) -> RpcReply {
    RpcReply {
        status: response.status(),
        body: Some(response.render() + "\n"),
    }
}

/// An error before any request could be identified (id null).
fn envelope_error(code: i64, message: &str) -> RpcReply {
    reply(&Response {
        id: "null".to_string(),
        v2: false,
        outcome: Err(RpcError::new(code, message)),
    })
}

/// Answer an HTTP request body.
pub fn handle(node: &Node, body: &mut [u8]) -> RpcReply {
    let request = match simd_json::to_owned_value(body) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("simnode: rpc: unparseable request: {e}");
            return envelope_error(RPC_PARSE_ERROR, "Parse error");
        }
    };
    if let Some(batch) = request.as_array() {
        return handle_batch(node, batch);
    }
    match handle_one(node, &request) {
        Some(response) => reply(&response),
        None => RpcReply {
            status: 204,
            body: None,
        },
    }
}

/// A JSON array of requests: an array of replies, always HTTP 200.
fn handle_batch(node: &Node, batch: &[OwnedValue]) -> RpcReply {
    if batch.is_empty() || batch.len() > MAX_BATCH_LEN {
        eprintln!("simnode: rpc: batch of {} requests refused", batch.len());
        return envelope_error(RPC_INVALID_REQUEST, "Invalid Request object");
    }
    let parts: Vec<String> = batch
        .iter()
        .filter_map(|request| handle_one(node, request))
        .map(|response| response.render())
        .collect();
    RpcReply {
        status: 200,
        body: Some(format!("[{}]\n", parts.join(","))),
    }
}

/// Run one request; `None` for a JSON-RPC 2.0 notification (no id).
fn handle_one(node: &Node, request: &OwnedValue) -> Option<Response> {
    if request.as_object().is_none() {
        eprintln!("simnode: rpc: request is not an object");
        return Some(Response {
            id: "null".to_string(),
            v2: false,
            outcome: Err(RpcError::new(RPC_INVALID_REQUEST, "Invalid Request object")),
        });
    }
    let v2 = request.get_str("jsonrpc") == Some("2.0");
    let id = request.get("id").map(|id| id.encode());
    let method = request.get_str("method").unwrap_or("");
    let outcome = match request.get("method").map(|m| m.as_str().is_some()) {
        None => Err(RpcError::new(RPC_INVALID_REQUEST, "Missing method")),
        Some(false) => Err(RpcError::new(
            RPC_INVALID_REQUEST,
            "Method must be a string",
        )),
        Some(true) => Params::new(request.get("params")).and_then(|p| guarded(node, method, &p)),
    };
    if let Err(e) = &outcome {
        eprintln!("simnode: rpc {method:?}: error {} {}", e.code, e.message);
    }
    if v2 && id.is_none() {
        return None;
    }
    Some(Response {
        id: id.unwrap_or_else(|| "null".to_string()),
        v2,
        outcome,
    })
}

/// Dispatch, turning a panic in a method into an internal error rather
/// than a dropped connection.
fn guarded(node: &Node, method: &str, params: &Params) -> RpcResult {
    panic::catch_unwind(AssertUnwindSafe(|| dispatch(node, method, params)))
        .unwrap_or_else(|_| Err(RpcError::new(RPC_INTERNAL_ERROR, "Internal error")))
}

/// Method name → implementation.
fn dispatch(node: &Node, method: &str, params: &Params) -> RpcResult {
    match method {
        "getblocktemplate" => rpc_mining::getblocktemplate(node, params),
        "submitblock" => rpc_mining::submitblock(node, params),
        "getmininginfo" => rpc_mining::getmininginfo(node),
        "simnode_mine" => rpc_mining::simnode_mine(node, params),
        "generatetoaddress" => rpc_mining::generatetoaddress(node, params),
        "getbestblockhash" => rpc_chain::getbestblockhash(node),
        "getblockcount" => rpc_chain::getblockcount(node),
        "getblockhash" => rpc_chain::getblockhash(node, params),
        "getblockheader" => rpc_chain::getblockheader(node, params),
        "getblock" => rpc_chain::getblock(node, params),
        "getblockchaininfo" => rpc_chain::getblockchaininfo(node),
        "getdifficulty" => rpc_chain::getdifficulty(node),
        "preciousblock" => rpc_chain::preciousblock(node, params),
        "getnetworkinfo" => rpc_misc::getnetworkinfo(),
        "getconnectioncount" => Ok(rpc_misc::CONNECTIONS.to_string()),
        "validateaddress" => rpc_misc::validateaddress(node, params),
        "getrawtransaction" => rpc_misc::getrawtransaction(node, params),
        "decoderawtransaction" => rpc_rawtx::decoderawtransaction(params),
        "sendrawtransaction" => rpc_misc::sendrawtransaction(node, params),
        "getrawmempool" => rpc_misc::getrawmempool(node),
        "getmempoolinfo" => rpc_misc::getmempoolinfo(node),
        // As bitcoind lists its -zmqpub* notifiers (hwm: its default).
        "getzmqnotifications" => Ok(match &node.config.zmq_pub {
            Some(addr) => format!(
                r#"[{{"type":"pubhashblock","address":{},"hwm":1000}}]"#,
                tbg_pool::json::quote(&format!("tcp://{addr}"))
            ),
            None => "[]".to_string(),
        }),
        "uptime" => Ok(node.uptime_secs().to_string()),
        "ping" => Ok("null".to_string()),
        "stop" => rpc_misc::stop(node),
        _ => Err(RpcError::new(RPC_METHOD_NOT_FOUND, "Method not found")),
    }
}
