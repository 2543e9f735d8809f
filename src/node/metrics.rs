//! What the pool counts about its nodes: RPC calls, failures and latency
//! per node and method, templates published, and found blocks through
//! the submitter. Shared (an `Arc`) by the node thread's client, the
//! submitter's client and the metrics thread; nothing here is on the
//! share path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::rpc::Endpoint;
use crate::metrics::{Exposition, Histogram};

/// The methods the pool calls, each counted on its own; anything else
/// is `other`, so a label never takes an unbounded set of values.
pub const RPC_METHODS: [&str; 8] = [
    "getblocktemplate",
    "getbestblockhash",
    "getblockchaininfo",
    "getblockheader",
    "getblockcount",
    "submitblock",
    "validateaddress",
    "other",
];

/// Upper bounds (seconds) of the RPC latency buckets: a tip poll takes
/// under a millisecond on loopback, a mainnet template seconds; the read
/// timeout is 15 s.
pub const RPC_SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
];

/// Why a call failed, as the `kind` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcFailure {
    /// No JSON-RPC reply: connect, I/O, HTTP or a reply that is not JSON-RPC.
    Transport = 0,
    /// The node answered with an error object.
    Rpc = 1,
}

const FAILURE_KINDS: [&str; 2] = ["transport", "rpc"];

/// One node's counters.
#[derive(Debug)]
struct NodeCounters {
    /// The `node` label: its address (never its credentials).
    label: String,
    calls: [AtomicU64; RPC_METHODS.len()],
    errors: [[AtomicU64; FAILURE_KINDS.len()]; RPC_METHODS.len()],
    seconds: Histogram<{ RPC_SECONDS_BUCKETS.len() }>,
}

/// Node-side counters of the whole pool.
#[derive(Debug)]
pub struct NodeMetrics {
    /// In the order of the config's `btcd` list.
    nodes: Vec<NodeCounters>,
    started: Instant,
    /// When the newest template was published: nanoseconds since
    /// `started`, plus one (0: none yet). Monotonic, so a clock step
    /// does not make the template look old or new.
    template_at: AtomicU64,
    templates: AtomicU64,
    blocks_submitted: AtomicU64,
    blocks_accepted: AtomicU64,
}

impl NodeMetrics {
    /// Counters for `nodes`, the config's `btcd` list.
    pub fn new(nodes: &[Endpoint]) -> NodeMetrics {
        let mut labels: Vec<String> = Vec::new();
        for n in nodes {
            // The same address twice (two credentials, say) must still
            // make two series: a repeat gets its position appended.
            let label = match labels.contains(&n.address) {
                true => format!("{}#{}", n.address, labels.len() + 1),
                false => n.address.clone(),
            };
            labels.push(label);
        }
        NodeMetrics {
            nodes: labels.into_iter().map(NodeCounters::new).collect(),
            started: Instant::now(),
            template_at: AtomicU64::new(0),
            templates: AtomicU64::new(0),
            blocks_submitted: AtomicU64::new(0),
            blocks_accepted: AtomicU64::new(0),
        }
    }

    /// How many nodes these counters are for.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// One call to node `index`, how long it took, and how it failed.
    pub fn record_call(
        &self,
        index: usize,
        method: &str,
        elapsed: Duration,
        failure: Option<RpcFailure>,
    ) {
        let Some(node) = self.nodes.get(index) else {
            return;
        };
        let m = method_index(method);
        node.calls[m].fetch_add(1, Ordering::Relaxed);
        if let Some(kind) = failure {
            node.errors[m][kind as usize].fetch_add(1, Ordering::Relaxed);
        }
        node.seconds.observe(elapsed);
    }

    /// The node thread published a new template to the cores.
    pub fn template_published(&self) {
        let at = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.template_at.store(at + 1, Ordering::Relaxed);
        self.templates.fetch_add(1, Ordering::Relaxed);
    }

    /// The submitter sent a block to the nodes for the first time.
    pub fn block_submitted(&self) {
        self.blocks_submitted.fetch_add(1, Ordering::Relaxed);
    }

    /// A node took a block as new (`submitblock` answered `null`).
    pub fn block_accepted(&self) {
        self.blocks_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Seconds since the newest template, if there is one.
    pub fn template_age(&self) -> Option<f64> {
        let at = self.template_at.load(Ordering::Relaxed).checked_sub(1)?;
        let now = self.started.elapsed().as_nanos() as f64;
        Some(((now - at as f64) / 1e9).max(0.0))
    }

    /// The node families: found blocks through the submitter, templates,
    /// then RPC.
    pub fn render(&self, x: &mut Exposition) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        x.counter(
            "tbg_pool_blocks_submitted_total",
            "Found blocks the submitter sent to the nodes (once per block, however often retried).",
        )
        .sample(&[], load(&self.blocks_submitted));
        x.counter(
            "tbg_pool_blocks_accepted_total",
            "Found blocks a node took as new (submitblock answered null).",
        )
        .sample(&[], load(&self.blocks_accepted));
        let mut f = x.gauge(
            "tbg_pool_template_age_seconds",
            "Seconds since the node thread published the current template (absent before the first).",
        );
        if let Some(age) = self.template_age() {
            f.sample(&[], age);
        }
        x.counter(
            "tbg_pool_templates_total",
            "Templates published to the cores.",
        )
        .sample(&[], load(&self.templates));
        self.render_rpc(x);
    }

    fn render_rpc(&self, x: &mut Exposition) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut f = x.counter(
            "tbg_pool_node_rpc_calls_total",
            "JSON-RPC calls to each node, by method.",
        );
        for n in &self.nodes {
            for (method, calls) in RPC_METHODS.iter().zip(&n.calls) {
                f.sample(&[("node", &n.label), ("method", method)], load(calls));
            }
        }
        let mut f = x.counter(
            "tbg_pool_node_rpc_errors_total",
            "Failed JSON-RPC calls to each node, by method and kind (transport: no JSON-RPC reply; rpc: an error object).",
        );
        for n in &self.nodes {
            for (method, errors) in RPC_METHODS.iter().zip(&n.errors) {
                for (kind, count) in FAILURE_KINDS.iter().zip(errors) {
                    let labels = [
                        ("node", n.label.as_str()),
                        ("method", method),
                        ("kind", kind),
                    ];
                    f.sample(&labels, load(count));
                }
            }
        }
        let mut h = x.histogram(
            "tbg_pool_node_rpc_seconds",
            "JSON-RPC call latency per node, reply parsed.",
        );
        for n in &self.nodes {
            h.series(&[("node", &n.label)], &n.seconds.snapshot());
        }
    }
}

impl NodeCounters {
    fn new(label: String) -> NodeCounters {
        NodeCounters {
            label,
            calls: Default::default(),
            errors: Default::default(),
            seconds: Histogram::new(&RPC_SECONDS_BUCKETS),
        }
    }
}

fn method_index(method: &str) -> usize {
    RPC_METHODS
        .iter()
        .position(|m| *m == method)
        .unwrap_or(RPC_METHODS.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Auth;

    #[test]
    fn calls_are_counted_per_node_and_method() {
        let nodes = [
            Endpoint::new("10.0.0.1:8332", Auth::None),
            Endpoint::new("10.0.0.1:8332", Auth::None),
        ];
        let m = NodeMetrics::new(&nodes);
        assert_eq!(m.node_count(), 2);
        m.record_call(0, "getblocktemplate", Duration::from_millis(3), None);
        m.record_call(
            1,
            "frobnicate",
            Duration::from_secs(20),
            Some(RpcFailure::Rpc),
        );
        m.record_call(7, "getblockcount", Duration::ZERO, None); // no such node: ignored
        assert_eq!(m.template_age(), None);
        m.template_published();
        let mut x = Exposition::new();
        m.render(&mut x);
        let text = x.into_text();
        for line in [
            "tbg_pool_node_rpc_calls_total{node=\"10.0.0.1:8332\",method=\"getblocktemplate\"} 1",
            "tbg_pool_node_rpc_calls_total{node=\"10.0.0.1:8332#2\",method=\"other\"} 1",
            "tbg_pool_node_rpc_errors_total{node=\"10.0.0.1:8332#2\",method=\"other\",kind=\"rpc\"} 1",
            "tbg_pool_node_rpc_seconds_bucket{node=\"10.0.0.1:8332\",le=\"0.005\"} 1",
            "tbg_pool_node_rpc_seconds_bucket{node=\"10.0.0.1:8332#2\",le=\"+Inf\"} 1",
            "tbg_pool_node_rpc_seconds_bucket{node=\"10.0.0.1:8332#2\",le=\"15\"} 0",
            "tbg_pool_templates_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(text.contains("\ntbg_pool_template_age_seconds 0"), "{text}");
    }
}
