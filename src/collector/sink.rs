//! What every sink (Redis Streams, PostgreSQL) provides.

use std::fmt;

use super::record::StoredEvent;

/// A sink could not take a batch (down, slow, refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkError(pub String);

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SinkError {}

/// A place events are stored. Writes must be idempotent on
/// (`pool`, `seq`): a batch written twice (a replay after a failure that
/// happened after the write) stores each event once.
pub trait Sink: Send {
    /// Short name for logs and metrics (`redis`, `postgres`).
    fn name(&self) -> &'static str;
    /// (Re)connect; called before the first write and after a failure.
    fn connect(&mut self) -> Result<(), SinkError>;
    /// Store a batch, all or nothing as far as the caller knows: on `Err`
    /// the whole batch is retried later.
    fn write(&mut self, batch: &[StoredEvent]) -> Result<(), SinkError>;
}
