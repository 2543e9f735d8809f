//! The event contract: docs/events.md's examples, the code's field table
//! and the JSON the emitter writes must agree exactly.

mod common;
#[path = "common/contract.rs"]
mod contract;

use std::collections::BTreeSet;

use simd_json::prelude::*;
use tbg_pool::events::schema::{EventKind, ENVELOPE, MAX_STRING_BYTES};
use tbg_pool::events::validate::{parse_event, MAX_EVENT_BYTES};
use tbg_pool::events::Event;

fn json_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```json")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().trim().to_string())
        .collect()
}

/// The top-level keys of a JSON object's text.
fn keys(text: &str) -> BTreeSet<String> {
    value(text)
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.to_string())
        .collect()
}

fn value(text: &str) -> simd_json::OwnedValue {
    simd_json::to_owned_value(&mut text.as_bytes().to_vec()).unwrap()
}

fn expected_keys(kind: EventKind) -> BTreeSet<String> {
    ENVELOPE
        .iter()
        .chain(kind.fields())
        .map(|(k, _)| k.to_string())
        .collect()
}

#[test]
fn docs_examples_match_the_schema_exactly() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.md")).unwrap();
    let mut seen = BTreeSet::new();
    for block in json_blocks(&docs) {
        let mut bytes = block.clone().into_bytes();
        let event = parse_event(&mut bytes).unwrap_or_else(|e| panic!("{block}: {e}"));
        assert_eq!(keys(&block), expected_keys(event.kind), "{block}");
        assert!(seen.insert(event.kind), "two examples of {:?}", event.kind);
    }
    assert_eq!(
        seen.len(),
        EventKind::ALL.len(),
        "one example per event type"
    );
}

#[test]
fn every_event_the_pool_writes_parses_into_the_schema() {
    for (i, event) in common::sample_events().into_iter().enumerate() {
        let mut out = Vec::new();
        event.write_json(
            &tbg_pool::events::Envelope {
                ts_us: 1_771_502_400_123_456,
                seq: i as u64 + 1,
                pool: "tbg",
                run: tbg_pool::events::RunId(1),
            },
            &mut out,
        );
        let text = String::from_utf8(out.clone()).unwrap();
        let parsed = parse_event(&mut out).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed.kind, event.kind());
        assert_eq!(keys(&text), expected_keys(event.kind()), "{text}");
        assert_eq!(parsed.seq, i as u64 + 1);
        assert_eq!(parsed.ts, 1_771_502_400.123_456);
    }
}

#[test]
fn hostile_miner_strings_stay_valid_and_bounded() {
    let nasty: std::sync::Arc<str> = format!("\"}}\n\\\u{0}é{}", "x".repeat(5000)).into();
    let event = Event::MinerConnected {
        user: nasty.clone(),
        worker: nasty.clone(),
        client_id: u64::MAX,
        ip: nasty.clone(),
        useragent: nasty,
        initial_diff: 1.0,
    };
    let mut out = Vec::new();
    event.write_json(
        &tbg_pool::events::Envelope {
            ts_us: 0,
            seq: 1,
            pool: "tbg",
            run: tbg_pool::events::RunId(1),
        },
        &mut out,
    );
    assert!(out.len() <= MAX_EVENT_BYTES, "{} bytes", out.len());
    let text = String::from_utf8(out.clone()).unwrap();
    parse_event(&mut out).unwrap();
    let parsed = value(&text);
    let user = parsed["user"].as_str().unwrap();
    assert!(user.starts_with("\"}\n\\\u{0}é"));
    assert!(user.len() <= MAX_STRING_BYTES);
}

#[test]
fn invalid_datagrams_are_named() {
    let cases: [(&str, &str); 9] = [
        ("not json", "malformed_json"),
        ("[1]", "not_an_object"),
        (r#"{"event":"party"}"#, "unknown_event"),
        (
            r#"{"event":"weekly_summary","ts":1,"seq":1,"pool":"p","run":"00000000000000a1","user":"u","week":1,"best_diff_week":1}"#,
            "missing_field",
        ),
        (
            r#"{"event":"weekly_summary","ts":1,"seq":1,"pool":"p","user":"u","week":1,"best_diff_week":1,"total_shares_week":1}"#,
            "missing_field",
        ),
        (
            r#"{"event":"weekly_summary","ts":1,"seq":1,"pool":"p","run":"A1","user":"u","week":1,"best_diff_week":1,"total_shares_week":1}"#,
            "wrong_type",
        ),
        (
            r#"{"event":"weekly_summary","ts":1,"seq":1,"pool":"p","run":"00000000000000a1","user":"u","week":"x","best_diff_week":1,"total_shares_week":1}"#,
            "wrong_type",
        ),
        (
            r#"{"event":"weekly_summary","ts":1,"seq":1,"pool":"p","run":"00000000000000a1","user":"u","week":1,"best_diff_week":1,"total_shares_week":1,"pool":"q"}"#,
            "duplicate_field",
        ),
        (
            r#"{"event":"weekly_summary","ts":1,"seq":1,"pool":"p","run":"00000000000000a1","user":"u","week":1,"best_diff_week":1,"total_shares_week":1,"collector":"me"}"#,
            "reserved_field",
        ),
    ];
    for (datagram, reason) in cases {
        let e = parse_event(&mut datagram.as_bytes().to_vec()).unwrap_err();
        assert_eq!(e.reason(), reason, "{datagram}");
    }
    assert_eq!(
        parse_event(&mut vec![b' '; 5000]).unwrap_err().reason(),
        "oversize"
    );
}

/// Every difficulty vardiff can produce, small or large, is written as a
/// number the collector's parser takes (a regression: some were refused
/// as malformed JSON under load).
#[test]
fn any_finite_difficulty_round_trips() {
    use std::sync::Arc;
    use tbg_pool::events::validate::parse_event;
    use tbg_pool::events::Event;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bad = Vec::new();
    for exp in -12..=30 {
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mantissa = 1.0 + (x % 1_000_000_007) as f64 / 1_000_000_007.0;
            let diff = mantissa * 10f64.powi(exp);
            let event = Event::DiffUpdated {
                user: Arc::from("u"),
                worker: Arc::from("u.w"),
                client_id: 1,
                old_diff: diff / 3.0,
                new_diff: diff,
            };
            let mut out = Vec::new();
            event.write_json(
                &tbg_pool::events::Envelope {
                    ts_us: 1_771_502_400_000_000,
                    seq: 1,
                    pool: "p",
                    run: tbg_pool::events::RunId(1),
                },
                &mut out,
            );
            let text = String::from_utf8(out.clone()).unwrap();
            if parse_event(&mut out).is_err() {
                bad.push(text);
            }
        }
    }
    assert!(bad.is_empty(), "{} refused, e.g. {}", bad.len(), bad[0]);
}

/// Every event the pool writes — all nine types, an accepted share and
/// one refused for every reason — decodes with the original consumer's
/// exact types (`reject_reason` was null when accepted: every accepted
/// share failed there), and so does every example in docs/events.md.
#[test]
fn every_event_decodes_into_the_typed_contract() {
    use std::sync::Arc;
    use tbg_pool::events::Event;
    use tbg_pool::share::RejectReason;
    let share = |reject: Option<RejectReason>| Event::ShareSubmitted {
        user: Arc::from("u"),
        worker: Arc::from("u.w"),
        client_id: 1,
        diff: 1024.0,
        sdiff: 1.0,
        accepted: reject.is_none(),
        reject_reason: reject.map(RejectReason::as_str),
        ip: Arc::from("192.0.2.1"),
    };
    let mut events = common::sample_events();
    events.push(share(None));
    events.extend(RejectReason::ALL.into_iter().map(|r| share(Some(r))));
    let mut kinds = BTreeSet::new();
    for (i, event) in events.iter().enumerate() {
        let mut out = Vec::new();
        event.write_json(
            &tbg_pool::events::Envelope {
                ts_us: 1_771_502_400_123_456,
                seq: i as u64 + 1,
                pool: "tbg",
                run: tbg_pool::events::RunId(1),
            },
            &mut out,
        );
        let text = String::from_utf8_lossy(&out).to_string();
        let kind = contract::decode_strict(&out).unwrap_or_else(|e| panic!("{text}: {e}"));
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), EventKind::ALL.len());
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.md")).unwrap();
    for block in json_blocks(&docs) {
        contract::decode_strict(block.as_bytes()).unwrap_or_else(|e| panic!("{block}: {e}"));
    }
}

/// The field-type table in docs/events.md is the code's field table.
#[test]
fn docs_field_types_match_the_schema() {
    use tbg_pool::events::FieldType;
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.md")).unwrap();
    let section = docs.split("## Field types").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let mut rows = 0;
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let kind = EventKind::from_name(cells[1].trim_matches('`')).expect(line);
        let documented: Vec<(String, String)> = cells[2]
            .split(", ")
            .map(|f| {
                let mut words = f.split_whitespace();
                let name = words.next().unwrap().trim_matches('`').to_string();
                (name, words.next().unwrap().to_string())
            })
            .collect();
        let code: Vec<(String, String)> = kind
            .fields()
            .iter()
            .map(|(name, ty)| {
                let ty = match ty {
                    FieldType::String | FieldType::Timeframe | FieldType::RunId => "string",
                    FieldType::Number => "number",
                    FieldType::Integer => "integer",
                    FieldType::Bool => "bool",
                    FieldType::Hash => "hash",
                };
                (name.to_string(), ty.to_string())
            })
            .collect();
        assert_eq!(documented, code, "{line}");
        rows += 1;
    }
    assert_eq!(rows, EventKind::ALL.len());
}

/// The exact text of a share event, so a faster writer cannot drift from
/// what the collector, the API and anyone reading the socket were given.
#[test]
fn a_share_event_is_written_byte_for_byte() {
    let event = Event::ShareSubmitted {
        user: "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh".into(),
        worker: "rig\"1\\é\u{1}".into(),
        client_id: 18_446_744_073_709_551_615,
        diff: 0.00001,
        sdiff: 1.5e20,
        accepted: false,
        reject_reason: Some("low difficulty"),
        ip: "127.0.0.1".into(),
    };
    let mut out = Vec::new();
    event.write_json(
        &tbg_pool::events::Envelope {
            ts_us: 1_771_502_400_000_007,
            seq: 10_000_000_001,
            pool: "tbg \"eu\"",
            run: tbg_pool::events::RunId(0x00a1_b2c3_d4e5_f607),
        },
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        concat!(
            r#"{"event":"share_submitted","ts":1771502400.000007,"seq":10000000001,"#,
            r#""pool":"tbg \"eu\"","run":"00a1b2c3d4e5f607","#,
            r#""user":"bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh","worker":"rig\"1\\é\u0001","#,
            r#""client_id":18446744073709551615,"diff":0.00001,"sdiff":1.5e20,"accepted":false,"#,
            r#""reject_reason":"low difficulty","ip":"127.0.0.1"}"#
        )
    );
}
