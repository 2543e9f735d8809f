//! bitcoind: JSON-RPC transport, typed calls with failover across
//! several nodes, block templates, and new-block detection.

pub mod client;
pub mod metrics;
pub mod rpc;
pub mod submitter;
pub mod template;
pub mod tip;
pub mod zmq;

pub use client::{ChainInfo, NodeClient, NodeError, SubmitOutcome};
pub use metrics::NodeMetrics;
pub use rpc::{Auth, Endpoint, Timeouts};
pub use submitter::FoundBlock;
pub use template::{Template, TemplateTx};
pub use tip::TipWatcher;
