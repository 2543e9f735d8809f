//! `logdir/pool/events.status`, defined once: the emitter's counters as
//! the stats thread writes them every second (and once more at stop), and
//! as tests, `tbg-perf` and operators read them back. One JSON object and
//! a newline.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::queue::CountersSnapshot;

/// The file's fields: `enabled`, then the counters' own names. Every
/// event the pool made is `queued`; each one is then `sent` or counted
/// under exactly one `dropped_*` (or still in the emitter's backlog).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventsStatus {
    /// `event_enabled` in the pool's config.
    pub enabled: bool,
    #[serde(flatten)]
    pub counters: CountersSnapshot,
}

impl EventsStatus {
    /// Every event dropped, for whatever reason.
    pub fn dropped(&self) -> u64 {
        let c = &self.counters;
        c.dropped_queue_full + c.dropped_no_reader + c.dropped_oversize + c.dropped_send_error
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string(self).expect("counters always serialize");
        text.push('\n');
        text
    }

    /// The file's fields from its text (`None`: not this file).
    pub fn parse(text: &[u8]) -> Option<EventsStatus> {
        serde_json::from_slice(text).ok()
    }

    /// The file at `path` (`None`: not written yet, or not this file).
    pub fn read(path: &Path) -> Option<EventsStatus> {
        EventsStatus::parse(&std::fs::read(path).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_the_names_operators_read() {
        let status = EventsStatus {
            enabled: true,
            counters: CountersSnapshot {
                queued: 10,
                sent: 6,
                dropped_queue_full: 1,
                dropped_no_reader: 1,
                dropped_oversize: 1,
                dropped_send_error: 1,
            },
        };
        let text = status.to_text();
        assert_eq!(
            text,
            "{\"enabled\":true,\"queued\":10,\"sent\":6,\"dropped_queue_full\":1,\
             \"dropped_no_reader\":1,\"dropped_oversize\":1,\"dropped_send_error\":1}\n"
        );
        assert_eq!(EventsStatus::parse(text.as_bytes()), Some(status));
        assert_eq!(status.dropped(), 4);
        assert_eq!(
            status.counters.queued,
            status.counters.sent + status.dropped()
        );
    }

    #[test]
    fn absent_or_foreign_files_read_as_none() {
        assert_eq!(EventsStatus::parse(b""), None);
        assert_eq!(EventsStatus::parse(b"[1]"), None);
        assert_eq!(
            EventsStatus::read(Path::new("/nonexistent/events.status")),
            None
        );
        // A field this version does not know is ignored; a missing one is 0.
        let old = EventsStatus::parse(br#"{"queued":3,"later":1}"#).unwrap();
        let c = old.counters;
        assert_eq!((c.queued, c.sent, old.enabled), (3, 0, false));
    }
}
