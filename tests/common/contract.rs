//! The event contract as a strict, typed consumer holds it: the original
//! spec's collector decodes each datagram into typed structs (msgspec), so
//! a field that is null or of another JSON type fails the whole event.
//! Mirrors the list in docs/events.md: exact types, no `Option`; fields
//! beyond these are allowed; the envelope adds this pool's `seq`, `pool`
//! and `run`.

#![allow(dead_code)] // the fields are there to be type-checked

use serde::Deserialize;

#[derive(Deserialize)]
struct Envelope {
    event: String,
    ts: f64,
    // This pool's own envelope members (docs/events.md), exact types too.
    seq: u64,
    pool: String,
    run: String,
}

#[derive(Deserialize)]
struct ShareSubmitted {
    user: String,
    worker: String,
    client_id: i64,
    diff: f64,
    sdiff: f64,
    accepted: bool,
    reject_reason: String,
    ip: String,
}

#[derive(Deserialize)]
struct BlockFound {
    user: String,
    worker: String,
    height: i64,
    hash: String,
    diff: f64,
    network_diff: f64,
    reward_sats: i64,
    coinbase_sig: String,
}

#[derive(Deserialize)]
struct MinerConnected {
    user: String,
    worker: String,
    client_id: i64,
    ip: String,
    useragent: String,
    initial_diff: f64,
}

#[derive(Deserialize)]
struct MinerDisconnected {
    user: String,
    worker: String,
    client_id: i64,
    ip: String,
    session_duration: f64,
    shares_session: i64,
}

#[derive(Deserialize)]
struct DiffUpdated {
    user: String,
    worker: String,
    client_id: i64,
    old_diff: f64,
    new_diff: f64,
}

#[derive(Deserialize)]
struct HashrateUpdate {
    user: String,
    worker: String,
    hashrate_1m: f64,
    hashrate_5m: f64,
    hashrate_1h: f64,
    hashrate_1d: f64,
}

#[derive(Deserialize)]
struct NewBlockNetwork {
    height: i64,
    hash: String,
    diff: f64,
    prev_hash: String,
}

#[derive(Deserialize)]
struct ShareBestDiff {
    user: String,
    worker: String,
    new_best: f64,
    prev_best: f64,
    timeframe: String,
}

#[derive(Deserialize)]
struct WeeklySummary {
    user: String,
    week: i64,
    best_diff_week: f64,
    total_shares_week: i64,
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a mut [u8]) -> Result<T, String> {
    simd_json::serde::from_slice::<T>(bytes).map_err(|e| e.to_string())
}

/// Decode one datagram as the typed consumer does; `Err` says why not.
pub fn decode_strict(datagram: &[u8]) -> Result<String, String> {
    let envelope: Envelope = decode(&mut datagram.to_vec())?;
    let mut bytes = datagram.to_vec();
    let b = &mut bytes[..];
    match envelope.event.as_str() {
        "share_submitted" => decode::<ShareSubmitted>(b).map(drop),
        "block_found" => decode::<BlockFound>(b).map(drop),
        "miner_connected" => decode::<MinerConnected>(b).map(drop),
        "miner_disconnected" => decode::<MinerDisconnected>(b).map(drop),
        "diff_updated" => decode::<DiffUpdated>(b).map(drop),
        "hashrate_update" => decode::<HashrateUpdate>(b).map(drop),
        "new_block_network" => decode::<NewBlockNetwork>(b).map(drop),
        "share_best_diff" => decode::<ShareBestDiff>(b).map(drop),
        "weekly_summary" => decode::<WeeklySummary>(b).map(drop),
        other => Err(format!("unknown event {other:?}")),
    }?;
    Ok(envelope.event)
}
