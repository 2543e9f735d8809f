//! The receiving side of the contract: a datagram → a checked event.
//! Used by the collector and by the tests that hold the docs to the code.

use simd_json::prelude::*;
use simd_json::OwnedValue;

use super::schema::{EventKind, FieldType, ENVELOPE};

/// Largest datagram the emitter sends and the collector accepts.
pub const MAX_DATAGRAM_BYTES: usize = 4096;

/// A checked event: its type, envelope, and the whole JSON value.
#[derive(Debug, Clone)]
pub struct Received {
    pub kind: EventKind,
    pub ts: f64,
    pub seq: u64,
    pub pool: String,
    pub value: OwnedValue,
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
        }
    }
}

impl std::fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidEvent::UnknownEvent(name) => write!(f, "unknown event type {name:?}"),
            InvalidEvent::MissingField(name) => write!(f, "missing field {name}"),
            InvalidEvent::WrongType(name) => write!(f, "field {name} has the wrong type"),
            other => write!(f, "{}", other.reason()),
        }
    }
}

/// Parse and check one datagram (parsed in place).
pub fn parse_event(datagram: &mut [u8]) -> Result<Received, InvalidEvent> {
    if datagram.len() > MAX_DATAGRAM_BYTES {
        return Err(InvalidEvent::Oversize);
    }
    check_event(datagram)
}

/// [`parse_event`]'s checks without its size limit, for the collector's
/// spool: a stored payload is a datagram plus the enrichment, so it may
/// be longer than any datagram (one near the limit was refused on replay
/// and lost; found by the collector_datagram fuzz target).
pub fn check_event(json: &mut [u8]) -> Result<Received, InvalidEvent> {
    let value = simd_json::to_owned_value(json).map_err(|_| InvalidEvent::Json)?;
    let object = value.as_object().ok_or(InvalidEvent::NotObject)?;
    let name = object
        .get("event")
        .and_then(|e| e.as_str())
        .ok_or(InvalidEvent::MissingField("event"))?;
    let kind =
        EventKind::from_name(name).ok_or_else(|| InvalidEvent::UnknownEvent(name.to_string()))?;
    for (field, ty) in ENVELOPE.iter().chain(kind.fields()) {
        let v = object
            .get(*field)
            .ok_or(InvalidEvent::MissingField(field))?;
        if !type_ok(v, *ty) {
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
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string(),
        value,
    })
}

fn type_ok(v: &OwnedValue, ty: FieldType) -> bool {
    match ty {
        FieldType::String => v.is_str(),
        FieldType::OptString => v.is_str() || v.is_null(),
        FieldType::Number => v.cast_f64().is_some_and(f64::is_finite),
        FieldType::Integer => v.as_u64().is_some(),
        FieldType::Bool => v.is_bool(),
        FieldType::Hash => v
            .as_str()
            .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())),
        FieldType::Timeframe => matches!(v.as_str(), Some("session" | "week" | "alltime")),
    }
}
