//! Stratum v1 wire protocol: newline framing with a line-length limit,
//! request parsing without allocation, and reply/notification encoding
//! straight into a connection's write buffer.

pub mod encode;
pub mod framing;
pub mod request;

pub use framing::{LineBuffer, LineError, READ_CHUNK};
pub use request::{ParseError, Request};
