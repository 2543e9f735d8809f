//! The event collector: receives the pool's datagrams, checks them
//! against the schema, enriches them, and hands them to sinks (Redis
//! Streams, PostgreSQL), each on its own thread with its own batcher and
//! an on-disk spool, so a slow or dead sink never stops the socket reader
//! and never loses an event.

pub mod config;
pub mod metrics;
pub mod migrations;
pub mod postgres;
pub mod receiver;
pub mod record;
pub mod redis_sink;
pub mod runner;
pub mod service;
pub mod sink;
pub mod spool;

pub use config::CollectorConfig;
pub use record::StoredEvent;
pub use service::Collector;
pub use sink::{Sink, SinkError};
