//! An event as the sinks store it.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::events::validate::{Received, ENRICHMENT_FIELDS};
use crate::events::EventKind;

/// A checked, enriched event. Its text is shared (`Arc<str>`): the
/// receiver hands the same event to every sink's queue, and a clone per
/// sink was a copy of the whole payload (6 % of the collector's time).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The pool (`pool`) and its process's run (`run`; `""` for an event
    /// spooled before runs existed): with `seq`, the event's unique key.
    pub pool: Arc<str>,
    pub run: Arc<str>,
    pub seq: u64,
    pub kind: EventKind,
    /// When it happened (the event's `ts`), unix microseconds.
    pub ts_us: i64,
    /// The whole event as JSON text: the pool's fields plus
    /// `received_at` (unix seconds) and `collector` (host name).
    pub payload: Arc<str>,
}

impl StoredEvent {
    /// Enrich a checked event. `original` is the datagram as received
    /// (checked, so it is one JSON object): the enrichment is appended to
    /// its text rather than re-serialising the whole value.
    pub fn from_received(
        received: Received,
        original: &[u8],
        received_at_us: i64,
        collector: &str,
    ) -> StoredEvent {
        let text = String::from_utf8_lossy(original);
        let body = text.trim_end().strip_suffix('}').unwrap_or("{");
        let mut payload = String::with_capacity(body.len() + 80 + collector.len());
        if body.contains(['\n', '\r']) {
            // In a JSON text these are only whitespace between tokens (a
            // string holds them escaped): spaces keep the payload one
            // spool line. A multi-line datagram was split in the spool and
            // lost on replay (found by the collector_datagram fuzz target).
            payload.extend(
                body.chars()
                    .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
            );
        } else {
            payload.push_str(body);
        }
        let sep = if body.trim_end().ends_with('{') {
            ""
        } else {
            ","
        };
        let _ = write!(
            payload,
            "{sep}\"{}\":{}.{:06},\"{}\":",
            ENRICHMENT_FIELDS[0],
            received_at_us / 1_000_000,
            received_at_us % 1_000_000,
            ENRICHMENT_FIELDS[1],
        );
        payload.push_str(&crate::json::quote(collector));
        payload.push('}');
        StoredEvent {
            pool: received.pool.into(),
            run: received.run.into(),
            seq: received.seq,
            kind: received.kind,
            ts_us: (received.ts * 1e6).round() as i64,
            payload: payload.into(),
        }
    }

    /// One line of the spool file (the payload; it holds everything).
    pub fn spool_line(&self) -> &str {
        &self.payload
    }

    /// Rebuild from a spool line (a payload written by this collector).
    pub fn from_spool_line(line: &str) -> Option<StoredEvent> {
        let mut bytes = line.as_bytes().to_vec();
        // Not parse_event: a payload may exceed the datagram limit.
        let received = crate::events::validate::check_event(&mut bytes).ok()?;
        Some(StoredEvent {
            pool: received.pool.into(),
            run: received.run.into(),
            seq: received.seq,
            kind: received.kind,
            ts_us: (received.ts * 1e6).round() as i64,
            payload: line.into(),
        })
    }
}

/// A small valid event with sequence number `seq` (pool `p`), for tests.
#[cfg(test)]
pub(crate) fn test_event(seq: u64) -> StoredEvent {
    let line = format!(
        r#"{{"event":"weekly_summary","ts":1.5,"seq":{seq},"pool":"p","run":"00000000000000a1","user":"u","week":1,"best_diff_week":1,"total_shares_week":1}}"#
    );
    StoredEvent::from_spool_line(&line).expect("a valid event")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrich_and_round_trip_through_the_spool() {
        let mut datagram = br#"{"event":"weekly_summary","ts":1771502400.5,"seq":9,"pool":"p1","run":"00000000000000a1","user":"u","week":202608,"best_diff_week":1.5,"total_shares_week":3}"#.to_vec();
        let original = datagram.clone();
        let received = crate::events::validate::parse_event(&mut datagram).unwrap();
        let e = StoredEvent::from_received(received, &original, 1_771_502_401_000_000, "host-a");
        assert_eq!((&*e.pool, e.seq, e.ts_us), ("p1", 9, 1_771_502_400_500_000));
        assert!(e.payload.contains("\"collector\":\"host-a\""));
        assert!(e.payload.contains("\"received_at\":1771502401"));
        let back = StoredEvent::from_spool_line(e.spool_line()).unwrap();
        assert_eq!(back, e);
    }
}
