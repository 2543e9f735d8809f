//! Mining events: the frozen schema, per-producer bounded queues, and the
//! emitter thread that sends each event as one JSON datagram on a Unix
//! socket. Mining never waits for an event: a producer's push is a
//! lock-free `try_send` that drops (and counts) when its queue is full.

pub mod emitter;
pub mod queue;
pub mod schema;
pub mod status;
pub mod validate;

pub use queue::{EventCounters, EventSender, Events};
pub use schema::{Envelope, Event, EventKind, FieldType, RunId, Timeframe};
pub use status::EventsStatus;
