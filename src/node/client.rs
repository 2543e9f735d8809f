//! Typed bitcoind calls over one or more nodes, with failover.
//!
//! Like ckpool's `btcd` array, nodes are tried in order starting from the
//! one that last answered well; a node that cannot be reached, answers
//! with something that is not JSON-RPC, or answers with an error that
//! says it cannot serve now ([`FAILOVER_CODES`]: warming up, not
//! connected, in initial download, misc) is logged and the next one is
//! tried. Other RPC errors are answers: returned as they are. While a
//! later node serves, the first is tried again every
//! [`FIRST_NODE_RETRY`], so the pool returns to it once it is healthy.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::metrics::{NodeMetrics, RpcFailure};
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

/// RPC errors meaning "this node cannot serve now, another may":
/// -28 warming up, -9 not connected, -10 initial block download, -1 misc.
pub const FAILOVER_CODES: [i64; 4] = [-28, -9, -10, -1];

/// How often the first node is tried again while a later one serves.
pub const FIRST_NODE_RETRY: Duration = Duration::from_secs(10);

/// A client for one or more nodes.
pub struct NodeClient {
    nodes: Vec<RpcConnection>,
    /// Index of the node that answered well last; tried first.
    current: usize,
    /// When the first node was last tried while another was current.
    first_tried: Instant,
    /// `getblocktemplate`'s rules: the chain's (signet needs its own).
    rules: String,
    /// Where every call is counted, when the pool keeps metrics.
    metrics: Option<Arc<NodeMetrics>>,
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
            first_tried: Instant::now(),
            rules: r#"["segwit"]"#.to_string(),
            metrics: None,
        }
    }

    /// Count every call in `metrics` (made for the same nodes, in order:
    /// the node thread's client and the submitter's share them).
    pub fn with_metrics(mut self, metrics: Arc<NodeMetrics>) -> NodeClient {
        assert_eq!(
            metrics.node_count(),
            self.nodes.len(),
            "node metrics for other nodes"
        );
        self.metrics = Some(metrics);
        self
    }

    /// Ask for templates with `chain`'s rules (`getblockchaininfo`'s
    /// `chain`): signet's blocks carry a signature, and Core refuses a
    /// template request without the `signet` rule there.
    pub fn set_chain(&mut self, chain: &str) {
        self.rules = match chain {
            "signet" => r#"["segwit","signet"]"#,
            _ => r#"["segwit"]"#,
        }
        .to_string();
    }

    /// How many nodes are configured.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Address of the node that answered last.
    pub fn current_node(&self) -> &str {
        &self.nodes[self.current].endpoint().address
    }

    /// `getblocktemplate {"rules":[…]}` with the chain's rules; a `-8`
    /// naming other rules (`call with {"rules": […]}`, as Core words it)
    /// is retried once with those. A template that does not parse is the
    /// node's fault: the next node is tried.
    pub fn get_block_template(&mut self) -> Result<Template, NodeError> {
        let mut failures = Vec::new();
        for _ in 0..self.nodes.len() {
            let gbt = match self.template_call() {
                Err(NodeError::Rpc { code: -8, message }) => match rules_named_in(&message) {
                    Some(rules) if rules != self.rules => {
                        log_warn!("getblocktemplate: node asks for rules {rules}; using them");
                        self.rules = rules;
                        self.template_call()?
                    }
                    _ => return Err(NodeError::Rpc { code: -8, message }),
                },
                other => other?,
            };
            match Template::from_gbt(gbt) {
                Ok(t) => return Ok(t),
                Err(e) => {
                    let address = self.current_node().to_string();
                    log_warn!("node {address}: unusable template: {e}");
                    failures.push((address, e.to_string()));
                    self.current = (self.current + 1) % self.nodes.len();
                }
            }
        }
        Err(NodeError::Unavailable(failures))
    }

    fn template_call(&mut self) -> Result<GbtResult, NodeError> {
        let params = format!(r#"[{{"rules":{}}}]"#, self.rules);
        self.call("getblocktemplate", &params)
    }

    /// `submitblock <hex>` to the current node (failing over as any call).
    pub fn submit_block(&mut self, block_hex: &str) -> Result<SubmitOutcome, NodeError> {
        let params = format!(r#"["{block_hex}"]"#);
        let reason: Option<String> = self.call_optional("submitblock", &params)?;
        Ok(submit_outcome(reason))
    }

    /// `submitblock <hex>` to every node, each on its own: what each said
    /// (by address), so a block reaches every node that can take it.
    pub fn submit_block_everywhere(
        &mut self,
        block_hex: &str,
    ) -> Vec<(String, Result<SubmitOutcome, NodeError>)> {
        let params = format!(r#"["{block_hex}"]"#);
        (0..self.nodes.len())
            .map(|i| {
                let address = self.nodes[i].endpoint().address.clone();
                let outcome = self
                    .call_one::<String>(i, "submitblock", &params)
                    .map_err(|why| match why {
                        Failure::Rpc(e) => e,
                        Failure::Transport(why) => {
                            NodeError::Unavailable(vec![(address.clone(), why)])
                        }
                    })
                    .map(submit_outcome);
                (address, outcome)
            })
            .collect()
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

    /// A call whose result may legitimately be `null` (→ `None`), failing
    /// over as the module doc says.
    fn call_optional<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: &str,
    ) -> Result<Option<T>, NodeError> {
        let mut failures = Vec::new();
        let first = if self.current != 0 && self.first_tried.elapsed() >= FIRST_NODE_RETRY {
            self.first_tried = Instant::now();
            0
        } else {
            self.current
        };
        let mut last_rpc_error = None;
        for attempt in 0..self.nodes.len() {
            let index = (first + attempt) % self.nodes.len();
            let why = match self.call_one(index, method, params) {
                Ok(result) => {
                    self.current = index;
                    return Ok(result);
                }
                Err(Failure::Rpc(NodeError::Rpc { code, message }))
                    if FAILOVER_CODES.contains(&code) =>
                {
                    let why = format!("error {code}: {message}");
                    last_rpc_error = Some(NodeError::Rpc { code, message });
                    why
                }
                Err(Failure::Rpc(e)) => {
                    self.current = index;
                    return Err(e);
                }
                Err(Failure::Transport(why)) => why,
            };
            let address = self.nodes[index].endpoint().address.clone();
            log_warn!("node {address}: {method} failed: {why}");
            failures.push((address, why));
        }
        // Every node could not serve: with one node, its own error says most.
        match (self.nodes.len(), last_rpc_error) {
            (1, Some(e)) => Err(e),
            _ => Err(NodeError::Unavailable(failures)),
        }
    }

    /// One call to node `index`, counted.
    fn call_one<T: DeserializeOwned>(
        &mut self,
        index: usize,
        method: &str,
        params: &str,
    ) -> Result<Option<T>, Failure> {
        let started = Instant::now();
        let result = self.exchange(index, method, params);
        if let Some(m) = &self.metrics {
            let failure = result.as_ref().err().map(Failure::kind);
            m.record_call(index, method, started.elapsed(), failure);
        }
        result
    }

    /// Request and reply of one call to node `index`.
    fn exchange<T: DeserializeOwned>(
        &mut self,
        index: usize,
        method: &str,
        params: &str,
    ) -> Result<Option<T>, Failure> {
        let mut body = self.nodes[index]
            .call(method, params)
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let envelope = simd_json::serde::from_slice::<Envelope<T>>(&mut body)
            .map_err(|e| Failure::Transport(format!("{method}: reply is not JSON-RPC: {e}")))?;
        match envelope.error {
            Some(e) => Err(Failure::Rpc(NodeError::Rpc {
                code: e.code,
                message: e.message,
            })),
            None => Ok(envelope.result),
        }
    }
}

/// Why one node's call failed.
enum Failure {
    /// It answered with an error object.
    Rpc(NodeError),
    /// It did not answer with JSON-RPC at all.
    Transport(String),
}

impl Failure {
    fn kind(&self) -> RpcFailure {
        match self {
            Failure::Rpc(_) => RpcFailure::Rpc,
            Failure::Transport(_) => RpcFailure::Transport,
        }
    }
}

fn submit_outcome(reason: Option<String>) -> SubmitOutcome {
    match reason {
        None => SubmitOutcome::Accepted,
        Some(r) => SubmitOutcome::Rejected(r),
    }
}

/// The rules a `-8` error names, as Core words it: `… (call with
/// {"rules": ["segwit", "signet"]})` → `["segwit","signet"]`; `None` if
/// it names none, or anything that is not plain rule names.
fn rules_named_in(message: &str) -> Option<String> {
    let start = message.find("\"rules\":")? + "\"rules\":".len();
    let rest = message[start..].trim_start().strip_prefix('[')?;
    let list = &rest[..rest.find(']')?];
    let names: Vec<&str> = list
        .split(',')
        .map(|n| n.trim().trim_matches('"'))
        .collect();
    let plain = |n: &&str| {
        !n.is_empty() && n.len() <= 32 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    if names.is_empty() || !names.iter().all(plain) {
        return None;
    }
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    Some(format!("[{}]", quoted.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_from_cores_error_message() {
        let signet = r#"getblocktemplate must be called with the signet rule set (call with {"rules": ["segwit", "signet"]})"#;
        assert_eq!(
            rules_named_in(signet).as_deref(),
            Some(r#"["segwit","signet"]"#)
        );
        assert_eq!(
            rules_named_in(r#"… (call with {"rules": ["segwit"]})"#).as_deref(),
            Some(r#"["segwit"]"#)
        );
        assert_eq!(rules_named_in("Invalid mode"), None);
        assert_eq!(rules_named_in(r#"{"rules": ["a\"]}"]}"#), None);
        assert_eq!(rules_named_in(r#"{"rules": []}"#), None);
        assert_eq!(rules_named_in(r#"{"rules": ["é"]"#), None);
    }
}
