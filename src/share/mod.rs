//! A miner's `mining.submit` → verdict (the hot path), and block assembly.
//!
//! Per share: write extranonce2 into the job's coinbase buffer → sha256d
//! (coinbase txid) → fold the merkle branch → header with ntime, nonce and
//! rolled version bits → sha256d → compare with the network target and
//! the share target → duplicate check. Nothing here allocates, locks or
//! makes a system call (the duplicate set grows rarely; see [`SeenShares`]).

mod job;
mod reject;
mod seen;
mod submit;

pub use job::{MinerJob, Verdict, MAX_NTIME_AHEAD_SECS};
pub use reject::RejectReason;
pub use seen::SeenShares;
pub use submit::Submit;
