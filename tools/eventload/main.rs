//! `tbg-eventload`: send N events to a collector's socket as fast as it
//! takes them (blocking sends, like the pool's emitter waiting for room),
//! for measuring the collector. Each event is a `share_submitted` with the
//! current time as `ts`, so the stored rows give datagram → row latency.
//!
//! `tbg-eventload --socket PATH [--events 100000] [--pool NAME] [--run HEX] [--rate R]`

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Instant;

use tbg_pool::cli;
use tbg_pool::events::{Envelope, Event, RunId};
use tbg_pool::time::unix_micros;

const USAGE: &str = "\
usage: tbg-eventload --socket PATH [--events N] [--pool NAME] [--run HEX] [--rate R]

Sends N share_submitted events (default 100000), seq 1..N, as pool NAME
(default load) and run HEX (16 hex digits; default random: the same run
again re-sends the same events) to a collector's socket, waiting for room like the pool's emitter, and prints
the rate. --rate R paces them at R events/s (default: as fast as taken). Example (what perf/collector-load runs):
  tbg-eventload --socket /tmp/tbg-pool/events.sock --events 100000";

fn main() {
    let (mut socket, mut events, mut pool) = (None, 100_000u64, "load".to_string());
    let mut run = RunId::random();
    let mut rate = 0f64;
    let known = ["--socket", "--events", "--pool", "--rate", "--run"];
    for (flag, value) in cli::tool_flags_or_exit(&known, USAGE) {
        match flag.as_str() {
            "--socket" => socket = Some(value),
            "--events" => events = cli::value_or_exit(&flag, &value, USAGE),
            "--pool" => pool = value,
            "--rate" => rate = cli::value_or_exit(&flag, &value, USAGE),
            _ => match RunId::parse(&value) {
                Some(r) => run = r,
                None => cli::exit_usage("--run takes 16 lowercase hex digits", USAGE),
            },
        }
    }
    let Some(socket) = socket else {
        cli::exit_usage("--socket is required", USAGE)
    };
    let sender = UnixDatagram::unbound().expect("socket");
    let (user, worker, ip): (Arc<str>, Arc<str>, Arc<str>) =
        ("bc1qload".into(), "bc1qload.w".into(), "127.0.0.1".into());
    let started = Instant::now();
    let mut buf = Vec::with_capacity(512);
    for seq in 1..=events {
        if rate > 0.0 {
            let due = started + std::time::Duration::from_secs_f64(seq as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let event = Event::ShareSubmitted {
            user: user.clone(),
            worker: worker.clone(),
            client_id: seq % 1000,
            diff: 1.0,
            sdiff: 1.5,
            accepted: true,
            reject_reason: None,
            ip: ip.clone(),
        };
        buf.clear();
        let envelope = Envelope {
            ts_us: unix_micros(),
            seq,
            pool: &pool,
            run,
        };
        event.write_json(&envelope, &mut buf);
        if let Err(e) = sender.send_to(&buf, &socket) {
            eprintln!("send {seq}: {e}");
            std::process::exit(1);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {events} events in {secs:.2} s ({:.0}/s)",
        events as f64 / secs
    );
}
