//! Consensus primitives: hashing, hex, serialization, merkle trees,
//! compact targets and difficulty, addresses, transactions and blocks.
//!
//! Byte order convention used everywhere in this crate: a 32-byte hash is
//! kept in *internal* order (the order SHA-256d produces and the order it is
//! serialized in blocks). Display order (what block explorers and RPC show)
//! is the reverse, and only exists at the edges (hex for RPC and logs).

pub mod address;
pub mod block;
pub mod encode;
pub mod hash;
pub mod hex;
pub mod merkle;
pub mod target;

pub use address::{Network, PayoutAddressError};
pub use hash::{sha256d, Hash32};
pub use target::U256;
