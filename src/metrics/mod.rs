//! Prometheus metrics, shared by the pool and the collector: the text
//! exposition (families written whole), a lock-free latency histogram,
//! and the small bounded HTTP server that serves `/metrics`. What each
//! process counts lives with the process (`server::metrics`,
//! `node::metrics`, `collector::metrics`); docs/operations.md lists it.

mod histogram;
pub mod http;
mod text;

pub use histogram::{Histogram, HistogramSnapshot};
pub use text::{Exposition, Family, HistogramFamily, Label, Value};
