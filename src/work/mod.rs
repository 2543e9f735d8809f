//! Template → jobs: the network-wide part of a job ([`JobTemplate`],
//! shared read-only by every core) and each miner's own coinbase
//! ([`Coinbase`]: coinb1 / extranonce slot / coinb2, paying the whole
//! reward to the miner's address), plus the `mining.notify` text every
//! miner shares ([`Work`]; `stratum::encode::notify` adds the coinbase).

pub mod coinbase;
pub mod job;

pub use coinbase::{build_coinbase, coinbase_sig, Coinbase, WorkConfig};
pub use job::{stratum_prevhash, JobTemplate, Work};
