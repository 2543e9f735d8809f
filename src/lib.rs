//! The Bitcoin Game's solo mining pool.
//!
//! The library holds every concept the binaries use, one module each:
//! [`bitcoin`] (consensus primitives), [`node`] (bitcoind JSON-RPC),
//! [`work`] (template → per-miner Stratum jobs) and [`share`]
//! (a miner's submit → verdict, block assembly).
//!
//! The package holds no code the compiler cannot check (the
//! `[lints.rust]` table of Cargo.toml forbids it in the library, the
//! binaries, tools, tests and benches alike): the system calls std
//! lacks (`sendmmsg`/`recvmmsg`, signal handlers) go through the `nix` and
//! `signal-hook` crates' safe wrappers.

// First: the log_* macros are used by the modules below.
#[macro_use]
pub mod log;

pub mod api;
pub mod bitcoin;
pub mod cli;
pub mod collector;
pub mod config;
pub mod dgram;
pub mod events;
pub mod fs;
pub mod fuzz;
pub mod http;
pub mod json;
pub mod metrics;
pub mod node;
pub mod server;
pub mod session;
pub mod share;
pub mod signals;
pub mod stratum;
pub mod testkit;
pub mod text;
pub mod time;
pub mod users;
pub mod work;
