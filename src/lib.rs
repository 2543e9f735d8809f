//! The Bitcoin Game's solo mining pool.
//!
//! The library holds every concept the binaries use, one module each:
//! [`bitcoin`] (consensus primitives), [`node`] (bitcoind JSON-RPC),
//! [`work`] (template → per-miner Stratum jobs) and [`share`]
//! (a miner's submit → verdict, block assembly).

pub mod bitcoin;
#[macro_use]
pub mod log;
pub mod node;
pub mod share;
pub mod stratum;
pub mod work;
