//! New-block detection by polling `getbestblockhash` every `blockpoll`
//! milliseconds (cheap: 64 bytes of reply), as ckpool does without ZMQ.

use super::client::{NodeClient, NodeError};
use crate::bitcoin::Hash32;

/// Remembers the last tip seen and reports changes.
#[derive(Debug, Default)]
pub struct TipWatcher {
    tip: Option<Hash32>,
}

impl TipWatcher {
    pub fn new() -> TipWatcher {
        TipWatcher::default()
    }

    /// The last tip seen.
    pub fn tip(&self) -> Option<Hash32> {
        self.tip
    }

    /// Record a tip learnt another way (e.g. a template's prev hash).
    pub fn set(&mut self, tip: Hash32) {
        self.tip = Some(tip);
    }

    /// Ask the node for its tip; `Some(new_tip)` when it changed.
    pub fn poll(&mut self, node: &mut NodeClient) -> Result<Option<Hash32>, NodeError> {
        let best = node.best_block_hash()?;
        if self.tip == Some(best) {
            return Ok(None);
        }
        self.tip = Some(best);
        Ok(Some(best))
    }
}
