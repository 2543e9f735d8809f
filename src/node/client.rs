//! Typed bitcoind calls over one or more nodes, with failover.
//!
//! Like ckpool's `btcd` array, nodes are tried in order starting from the
//! one that last answered; a node that cannot be reached (or answers with
//! something that is not JSON-RPC) is logged and the next one is tried.
//! An RPC error object is an answer, not a failure: it is returned as is.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::rpc::{Endpoint, RpcConnection, Timeouts};
use super::template::{GbtResult, Template, TemplateError};
use crate::bitcoin::{hex, Hash32};

/// Why a node call failed.
#[derive(Debug)]
pub enum NodeError {
    /// No configured node could be reached; the last failure of each.
    Unavailable(Vec<(String, String)>),
    /// The node answered with a JSON-RPC error.
    Rpc { code: i64, message: String },
    /// The node answered, but not with what the method returns.
    BadReply(String),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Unavailable(failures) => {
                write!(f, "no node reachable:")?;
                for (node, why) in failures {
                    write!(f, " [{node}: {why}]")?;
                }
                Ok(())
            }
            NodeError::Rpc { code, message } => write!(f, "node error {code}: {message}"),
            NodeError::BadReply(m) => write!(f, "unexpected node reply: {m}"),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<TemplateError> for NodeError {
    fn from(e: TemplateError) -> Self {
        NodeError::BadReply(e.to_string())
    }
}

/// What `submitblock` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// `null`: accepted and connected.
    Accepted,
    /// bitcoind's reason string: `duplicate`, `inconclusive`, `high-hash`…
    Rejected(String),
}

/// The parts of `getblockchaininfo` the pool uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ChainInfo {
    pub chain: String,
    pub blocks: u64,
    pub bestblockhash: String,
    #[serde(default)]
    pub initialblockdownload: bool,
}

#[derive(Deserialize)]
struct Envelope<T> {
    result: Option<T>,
    error: Option<RpcErrorObject>,
}

#[derive(Deserialize)]
struct RpcErrorObject {
    code: i64,
    message: String,
}

#[derive(Deserialize)]
struct ValidateAddress {
    isvalid: bool,
}

/// A client for one or more nodes.
pub struct NodeClient {
    nodes: Vec<RpcConnection>,
    /// Index of the node that answered last; tried first.
    current: usize,
}

impl NodeClient {
    pub fn new(endpoints: Vec<Endpoint>, timeouts: Timeouts) -> NodeClient {
        assert!(!endpoints.is_empty(), "at least one node");
        NodeClient {
            nodes: endpoints
                .into_iter()
                .map(|e| RpcConnection::new(e, timeouts))
                .collect(),
            current: 0,
        }
    }

    /// Address of the node that answered last.
    pub fn current_node(&self) -> &str {
        &self.nodes[self.current].endpoint().address
    }

    /// `getblocktemplate {"rules":["segwit"]}`.
    pub fn get_block_template(&mut self) -> Result<Template, NodeError> {
        let gbt: GbtResult = self.call("getblocktemplate", r#"[{"rules":["segwit"]}]"#)?;
        Ok(Template::from_gbt(gbt)?)
    }

    /// `submitblock <hex>`. Tries every node until one answers.
    pub fn submit_block(&mut self, block_hex: &str) -> Result<SubmitOutcome, NodeError> {
        let params = format!(r#"["{block_hex}"]"#);
        let reason: Option<String> = self.call_optional("submitblock", &params)?;
        Ok(match reason {
            None => SubmitOutcome::Accepted,
            Some(r) => SubmitOutcome::Rejected(r),
        })
    }

    /// `getbestblockhash`, internal byte order.
    pub fn best_block_hash(&mut self) -> Result<Hash32, NodeError> {
        let h: String = self.call("getbestblockhash", "[]")?;
        hex::decode_display(&h).map_err(|e| NodeError::BadReply(format!("best block hash: {e}")))
    }

    /// `getblockchaininfo`.
    pub fn blockchain_info(&mut self) -> Result<ChainInfo, NodeError> {
        self.call("getblockchaininfo", "[]")
    }

    /// `validateaddress <address>` → isvalid.
    pub fn validate_address(&mut self, address: &str) -> Result<bool, NodeError> {
        // Addresses are alphanumeric; anything else is invalid and must
        // not be pasted into the JSON request.
        if address.is_empty() || !address.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(false);
        }
        let v: ValidateAddress = self.call("validateaddress", &format!(r#"["{address}"]"#))?;
        Ok(v.isvalid)
    }

    /// Any method with a non-null result; `params` is the JSON array text.
    pub fn call<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: &str,
    ) -> Result<T, NodeError> {
        self.call_optional(method, params)?
            .ok_or_else(|| NodeError::BadReply(format!("{method}: null result")))
    }

    /// A call whose result may legitimately be `null` (→ `None`).
    fn call_optional<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: &str,
    ) -> Result<Option<T>, NodeError> {
        let mut failures = Vec::new();
        for attempt in 0..self.nodes.len() {
            let index = (self.current + attempt) % self.nodes.len();
            let node = &mut self.nodes[index];
            let outcome = node
                .call(method, params)
                .map_err(|e| e.to_string())
                .and_then(|mut body| {
                    simd_json::serde::from_slice::<Envelope<T>>(&mut body)
                        .map_err(|e| format!("{method}: reply is not JSON-RPC: {e}"))
                });
            match outcome {
                Ok(envelope) => {
                    self.current = index;
                    if let Some(e) = envelope.error {
                        return Err(NodeError::Rpc {
                            code: e.code,
                            message: e.message,
                        });
                    }
                    return Ok(envelope.result);
                }
                Err(why) => {
                    let address = node.endpoint().address.clone();
                    log_warn!("node {address}: {method} failed: {why}");
                    failures.push((address, why));
                }
            }
        }
        Err(NodeError::Unavailable(failures))
    }
}
