//! The receiving side of the contract: a datagram → a checked event.
//! Used by the collector and by the tests that hold the docs to the code.

use simd_json::prelude::*;
use simd_json::tape::Value as TapeValue;

use super::schema::{EventKind, FieldType, RunId, ENVELOPE};

/// Largest event (one JSON object) the emitter sends and the collector
/// accepts.
pub const MAX_EVENT_BYTES: usize = 4096;

/// Largest datagram: one event, or with `event_pack_bytes` several, each
/// followed by a newline (docs/events.md). The collector's receive slots
/// are this big.
pub const MAX_DATAGRAM_BYTES: usize = 16_384;
/// Most top-level fields a datagram may have: the largest type has 8
/// plus the envelope's 5; the rest is room for added fields.
pub const MAX_EVENT_FIELDS: usize = 64;
/// The fields the collector adds to each event it stores (see
/// `collector::record`); a datagram may not carry them itself.
pub const ENRICHMENT_FIELDS: [&str; 2] = ["received_at", "collector"];

/// A checked event: its type and envelope.
#[derive(Debug, Clone)]
pub struct Received {
    pub kind: EventKind,
    pub ts: f64,
    pub seq: u64,
    pub pool: String,
    /// The pool run's id (16 hex digits); `""` in a payload stored by a
    /// collector from before runs (read back from an old spool).
    pub run: String,
}

/// Why a datagram is not a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidEvent {
    Oversize,
    Json,
    NotObject,
    UnknownEvent(String),
    MissingField(&'static str),
    WrongType(&'static str),
    /// More top-level fields than [`MAX_EVENT_FIELDS`].
    TooManyFields,
    /// A top-level key given twice (its first 64 bytes).
    DuplicateField(String),
    /// A datagram carrying a field the collector adds.
    ReservedField(&'static str),
}

impl InvalidEvent {
    /// Label for counters ("invalid by reason").
    pub fn reason(&self) -> &'static str {
        match self {
            InvalidEvent::Oversize => "oversize",
            InvalidEvent::Json => "malformed_json",
            InvalidEvent::NotObject => "not_an_object",
            InvalidEvent::UnknownEvent(_) => "unknown_event",
            InvalidEvent::MissingField(_) => "missing_field",
            InvalidEvent::WrongType(_) => "wrong_type",
            InvalidEvent::TooManyFields => "too_many_fields",
            InvalidEvent::DuplicateField(_) => "duplicate_field",
            InvalidEvent::ReservedField(_) => "reserved_field",
        }
    }
}

impl std::fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidEvent::UnknownEvent(name) => write!(f, "unknown event type {name:?}"),
            InvalidEvent::MissingField(name) => write!(f, "missing field {name}"),
            InvalidEvent::WrongType(name) => write!(f, "field {name} has the wrong type"),
            InvalidEvent::TooManyFields => write!(f, "more than {MAX_EVENT_FIELDS} fields"),
            InvalidEvent::DuplicateField(name) => write!(f, "field {name:?} given twice"),
            InvalidEvent::ReservedField(name) => write!(f, "field {name} is the collector's"),
            other => write!(f, "{}", other.reason()),
        }
    }
}

/// Parse and check one event: a datagram, or one line of one (parsed in
/// place).
pub fn parse_event(datagram: &mut [u8]) -> Result<Received, InvalidEvent> {
    parse_event_with(datagram, &mut simd_json::Buffers::new(MAX_EVENT_BYTES))
}

/// [`parse_event`] with the parser's buffers kept by the caller (the
/// collector's receiver: no allocation for them per datagram).
pub fn parse_event_with(
    datagram: &mut [u8],
    buffers: &mut simd_json::Buffers,
) -> Result<Received, InvalidEvent> {
    if datagram.len() > MAX_EVENT_BYTES {
        return Err(InvalidEvent::Oversize);
    }
    check(datagram, Source::Datagram, buffers)
}

/// Where the JSON text comes from: a pool's datagram, or a payload this
/// collector stored (the datagram plus [`ENRICHMENT_FIELDS`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Datagram,
    Stored,
}

/// [`parse_event`]'s checks without its size limit, for the collector's
/// spool: a stored payload is a datagram plus the enrichment, so it may
/// be longer than any datagram (one near the limit was refused on replay
/// and lost; found by the collector_datagram fuzz target).
///
/// Read off simd-json's tape, where an object's keys are all there as
/// sent. A key given twice is refused: which copy a parser keeps is not
/// fixed (simd-json's owned values keep the first of up to 32 keys and
/// the last of more), so the stored payload, two fields longer, was read
/// back from the spool as another event (found by the collector_datagram
/// fuzz target).
pub fn check_event(json: &mut [u8]) -> Result<Received, InvalidEvent> {
    let mut buffers = simd_json::Buffers::new(json.len());
    check(json, Source::Stored, &mut buffers)
}

fn check(
    json: &mut [u8],
    source: Source,
    buffers: &mut simd_json::Buffers,
) -> Result<Received, InvalidEvent> {
    let tape = simd_json::to_tape_with_buffers(json, buffers).map_err(|_| InvalidEvent::Json)?;
    let value = tape.as_value();
    let object = value.as_object().ok_or(InvalidEvent::NotObject)?;
    let max_fields = match source {
        Source::Datagram => MAX_EVENT_FIELDS,
        Source::Stored => MAX_EVENT_FIELDS + ENRICHMENT_FIELDS.len(),
    };
    if object.len() > max_fields {
        return Err(InvalidEvent::TooManyFields);
    }
    if source == Source::Datagram {
        // A payload carrying them twice would be refused on spool replay.
        if let Some(field) = ENRICHMENT_FIELDS
            .into_iter()
            .find(|f| object.get(*f).is_some())
        {
            return Err(InvalidEvent::ReservedField(field));
        }
    }
    // At most MAX_EVENT_FIELDS² / 2 comparisons, no allocation.
    for (i, key) in object.keys().enumerate() {
        if object.keys().take(i).any(|earlier| earlier == key) {
            return Err(InvalidEvent::DuplicateField(
                crate::text::prefix(key, 64).to_string(),
            ));
        }
    }
    let event = object.get("event");
    let name = event
        .as_ref()
        .and_then(|e| e.as_str())
        .ok_or(InvalidEvent::MissingField("event"))?;
    let kind =
        EventKind::from_name(name).ok_or_else(|| InvalidEvent::UnknownEvent(name.to_string()))?;
    for (field, ty) in ENVELOPE.iter().chain(kind.fields()) {
        let Some(v) = object.get(*field) else {
            if *field == "run" && source == Source::Stored {
                continue; // spooled by a collector from before runs
            }
            return Err(InvalidEvent::MissingField(field));
        };
        if !type_ok(&v, *ty) {
            return Err(InvalidEvent::WrongType(field));
        }
    }
    let num = |k: &str| object.get(k).and_then(|v| v.cast_f64()).unwrap_or(0.0);
    Ok(Received {
        kind,
        ts: num("ts"),
        seq: object.get("seq").and_then(|v| v.as_u64()).unwrap_or(0),
        pool: object
            .get("pool")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        run: object
            .get("run")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    })
}

fn type_ok(v: &TapeValue<'_, '_>, ty: FieldType) -> bool {
    match ty {
        FieldType::String => v.is_str(),
        FieldType::Number => v.cast_f64().is_some_and(f64::is_finite),
        FieldType::Integer => v.as_u64().is_some(),
        FieldType::Bool => v.is_bool(),
        FieldType::Hash => v
            .as_str()
            .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())),
        FieldType::Timeframe => matches!(v.as_str(), Some("session" | "week" | "alltime")),
        FieldType::RunId => v.as_str().and_then(RunId::parse).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(extra: &str) -> Vec<u8> {
        format!(r#"{{"event":"weekly_summary","ts":1,"seq":7,"pool":"p","run":"00000000000000a1","user":"u","week":1,"best_diff_week":1,"total_shares_week":1{extra}}}"#).into_bytes()
    }

    /// The collector_datagram fuzz find: `pool` and `seq` given twice in
    /// a datagram of 31 fields were read as the first copies; the stored
    /// payload (33 fields) as the last, so the spool gave back another
    /// event. Refused now, whatever the number of fields.
    #[test]
    fn a_field_given_twice_is_refused_at_any_size() {
        for padding in [0, 20, 40] {
            let pad: String = (0..padding).map(|i| format!(r#","x{i}":1"#)).collect();
            let mut d = weekly(&format!(r#"{pad},"pool":"other","seq":8"#));
            assert_eq!(
                parse_event(&mut d).unwrap_err(),
                InvalidEvent::DuplicateField("pool".into()),
                "{padding} padding fields"
            );
        }
    }

    #[test]
    fn field_count_is_bounded_with_room_for_the_enrichment() {
        let pad = |n: usize| -> String { (0..n).map(|i| format!(r#","x{i}":1"#)).collect() };
        let most = MAX_EVENT_FIELDS - 9; // weekly_summary has 9
        assert!(parse_event(&mut weekly(&pad(most))).is_ok());
        assert_eq!(
            parse_event(&mut weekly(&pad(most + 1))).unwrap_err(),
            InvalidEvent::TooManyFields
        );
        // What the collector stores from the largest datagram reads back.
        let stored = format!(r#"{},"received_at":1.5,"collector":"h""#, pad(most));
        assert!(check_event(&mut weekly(&stored)).is_ok());
        assert_eq!(
            parse_event(&mut weekly(r#","received_at":1"#)).unwrap_err(),
            InvalidEvent::ReservedField("received_at")
        );
    }
}
