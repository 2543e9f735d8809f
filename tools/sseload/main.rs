//! `tbg-sseload`: N browsers-worth of Server-Sent Events clients on
//! tbg-api's `/api/events`, for measuring fan-out. Each frame's event
//! carries the `ts` the pool (or tbg-eventload) stamped when sending it,
//! so now − ts is the whole path's delay: datagram → collector → Redis →
//! tbg-api → this client. Prints frames received and the delay
//! percentiles over every client.
//!
//! `tbg-sseload --api HOST:PORT [--clients 1000] [--secs 20] [--path /api/events]`

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use tbg_pool::cli;
use tbg_pool::time::unix_micros;

const USAGE: &str = "\
usage: tbg-sseload --api HOST:PORT [--clients N] [--secs S] [--path P]

Opens N (default 1000) event-stream clients on tbg-api (path default
/api/events), reads for S seconds (default 20) and prints how many frames
each got and the delay from each event's ts to its arrival (p50, p90, p99,
max over every frame at every client). Example (what perf/api-load runs):
  tbg-sseload --api 127.0.0.1:8080 --clients 1000 --secs 20";

/// Bytes kept per client between reads: a frame is a few hundred bytes.
const MAX_PENDING: usize = 1 << 20;

struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
    frames: u64,
    /// The first bytes received (the response head), for a closed client.
    head: Vec<u8>,
}

fn main() {
    let (mut api, mut clients, mut secs) = (None, 1000usize, 20u64);
    let mut path = "/api/events".to_string();
    let known = ["--api", "--clients", "--secs", "--path"];
    for (flag, value) in cli::tool_flags_or_exit(&known, USAGE) {
        match flag.as_str() {
            "--api" => api = Some(value),
            "--clients" => clients = cli::value_or_exit(&flag, &value, USAGE),
            "--secs" => secs = cli::value_or_exit(&flag, &value, USAGE),
            _ => path = value,
        }
    }
    let Some(api) = api else {
        cli::exit_usage("--api is required", USAGE)
    };
    let addr: std::net::SocketAddr = cli::value_or_exit("--api", &api, USAGE);
    let mut poll = Poll::new().expect("poll");
    let mut all = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut stream = TcpStream::connect(addr).expect("connect");
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .expect("register");
        all.push(Client {
            stream,
            pending: Vec::new(),
            frames: 0,
            head: Vec::new(),
        });
    }
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {api}\r\nAccept: text/event-stream\r\n\r\n");
    let mut sent = vec![false; clients];
    let mut delay_us = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 << 10];
    let end = Instant::now() + Duration::from_secs(secs);
    let mut closed = 0usize;
    let mut closed_sample = String::new();
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .expect("poll");
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut all[i];
            if ev.is_writable() && !sent[i] && c.stream.write_all(request.as_bytes()).is_ok() {
                sent[i] = true;
            }
            if !ev.is_readable() {
                continue;
            }
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        closed += 1;
                        if closed_sample.is_empty() {
                            closed_sample = format!(
                                "client {i} after {} frames: {:?}",
                                c.frames,
                                String::from_utf8_lossy(&c.head)
                            );
                        }
                        break;
                    }
                    Ok(n) => {
                        if c.head.len() < 200 {
                            let take = n.min(200 - c.head.len());
                            c.head.extend_from_slice(&buf[..take]);
                        }
                        c.pending.extend_from_slice(&buf[..n]);
                        let now = unix_micros();
                        c.frames += take_frames(&mut c.pending, now, &mut delay_us);
                        if c.pending.len() > MAX_PENDING {
                            c.pending.clear();
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        closed += 1;
                        break;
                    }
                }
            }
        }
    }
    let counts: Vec<u64> = all.iter().map(|c| c.frames).collect();
    let total: u64 = counts.iter().sum();
    let ms = |q: f64| delay_us.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{clients} clients ({} closed by the server), {total} frames with a ts: per client min {} max {}",
        closed,
        counts.iter().min().unwrap_or(&0),
        counts.iter().max().unwrap_or(&0)
    );
    if !closed_sample.is_empty() {
        println!("first closed: {closed_sample}");
    }
    println!(
        "delay ts → client (ms): p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        delay_us.max() as f64 / 1000.0
    );
}

/// Complete frames (ending in a blank line) out of `pending`, each
/// `data:` line's `"ts":` recorded as a delay; returns how many had one.
fn take_frames(pending: &mut Vec<u8>, now_us: u64, delay_us: &mut Histogram<u64>) -> u64 {
    let mut frames = 0;
    let mut start = 0;
    while let Some(at) = find(&pending[start..], b"\n\n") {
        let frame = &pending[start..start + at];
        if let Some(ts) = ts_of(frame) {
            let sent_us = (ts * 1e6) as u64;
            let _ = delay_us.record(now_us.saturating_sub(sent_us).max(1));
            frames += 1;
        }
        start += at + 2;
    }
    pending.drain(..start);
    frames
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn ts_of(frame: &[u8]) -> Option<f64> {
    let at = find(frame, b"\"ts\":")? + 5;
    let digits = frame[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .count();
    std::str::from_utf8(&frame[at..at + digits])
        .ok()?
        .parse()
        .ok()
}
