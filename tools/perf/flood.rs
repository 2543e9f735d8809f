//! `flood`: hostile clients against one pool core. An honest swarm
//! (real shares) mines while N connections each write bursts of 20,000
//! requests that earn nothing — pings, unknown methods, submits before
//! authorize — draining the replies and reconnecting when dropped; then
//! 100,000 short hostile connections (garbage until dropped, or an
//! authorize with a made-up address) and the pool's memory after them.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::Config;
use crate::load::{self, Kind, Load, Target};
use crate::procs;
use crate::report::{Plot, Section};

/// Flooding connections per step.
const STEPS: [usize; 3] = [0, 10, 50];
/// Requests per flood write.
const BURST: usize = 20_000;
/// Short hostile connections after the steps.
const HOSTILE_CONNECTIONS: u64 = 100_000;

pub fn flood(cfg: &Config, dir: &Path) -> Result<Section, String> {
    let secs = cfg.secs.unwrap_or(20);
    let honest = Load {
        miners: 20,
        rate: 5.0,
        secs,
        connect_rate: 1_000,
        swarm_cpus: None,
    };
    let mut s = Section::new("flood");
    let _ = writeln!(s.body, "One pool core (`threads` 1; ckpool as it runs). {} honest swarm miners × {}/s real shares for {secs} s per step, while N flooding connections each write bursts of {BURST} requests that earn nothing (pings, unknown methods, submits before authorize, in turn), drain the replies, and reconnect when dropped. Then {HOSTILE_CONNECTIONS} short hostile connections (garbage lines until dropped, or a made-up address authorized), 32 at a time, and the pool's RSS after.\n", honest.miners, honest.rate);
    s.table_header(&[
        "pool",
        "flooders",
        "honest accepted",
        "honest rejected",
        "p50 µs",
        "p99 µs",
        "max µs",
        "flood replies",
        "flood connections",
        "pool CPU cores",
    ]);
    let mut rss_rows = Vec::new();
    let mut curves = Vec::new();
    for kind in load::kinds(cfg) {
        let extra = match kind {
            Kind::This => r#","threads":1"#,
            _ => "",
        };
        let raw = dir.join("raw").join(label(&kind));
        let t = load::start_with(cfg, &kind, &raw, false, extra)?;
        let mut p99 = Vec::new();
        for flooders in STEPS {
            let stop = Arc::new(AtomicBool::new(false));
            let counts = Arc::new(FloodCounts::default());
            let threads: Vec<_> = (0..flooders)
                .map(|i| {
                    let (addr, stop, counts) = (t.addr.clone(), stop.clone(), counts.clone());
                    std::thread::spawn(move || flood_loop(&addr, i, &stop, &counts))
                })
                .collect();
            std::thread::sleep(Duration::from_secs(1));
            let tag = format!("flood-{}-{flooders}", t.label);
            let run = load::swarm(&t, &honest, false, dir, &tag)?;
            stop.store(true, Ordering::Release);
            for th in threads {
                let _ = th.join();
            }
            s.row(&[
                t.label.clone(),
                flooders.to_string(),
                run.count("accepted").to_string(),
                run.count("rejected").to_string(),
                run.latency("p50").to_string(),
                run.latency("p99").to_string(),
                run.latency("max").to_string(),
                counts.replies.load(Ordering::Relaxed).to_string(),
                counts.connections.load(Ordering::Relaxed).to_string(),
                format!("{:.2}", run.pool_cores_busy()),
            ]);
            p99.push((flooders as f64, run.latency("p99") as f64));
        }
        curves.push((t.label.clone(), p99));
        rss_rows.push(hostile_connections(&t)?);
    }
    let _ = writeln!(s.body);
    s.table_header(&[
        "pool",
        "hostile connections",
        "seconds",
        "RSS before MiB",
        "RSS after MiB",
        "limit counters (pool.status)",
    ]);
    for row in rss_rows {
        s.row(&row);
    }
    s.plots.push(Plot::new(
        "flood-p99.png",
        "Honest miners' p99 submit latency vs flooding connections",
        "flooding connections",
        "p99 µs",
        curves,
    ));
    Ok(s)
}

fn label(kind: &Kind) -> &'static str {
    match kind {
        Kind::Ckpool(_) => "ckpool",
        _ => "tbg-pool",
    }
}

#[derive(Default)]
struct FloodCounts {
    replies: AtomicU64,
    connections: AtomicU64,
}

/// Flood `addr` until `stop`: connect, write bursts, read replies, and
/// connect again whenever the pool drops the connection.
fn flood_loop(addr: &str, which: usize, stop: &AtomicBool, counts: &FloodCounts) {
    let method = ["mining.ping", "mining.frobnicate", "mining.submit"][which % 3];
    let params = if method == "mining.submit" {
        r#"["x","1","00000000","00000000","00000000"]"#
    } else {
        "[]"
    };
    let burst: String = (0..BURST)
        .map(|i| format!("{{\"id\":{i},\"method\":\"{method}\",\"params\":{params}}}\n"))
        .collect();
    while !stop.load(Ordering::Acquire) {
        let Ok(mut stream) = TcpStream::connect(addr) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        counts.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
        let mut buf = vec![0u8; 64 * 1024];
        'conn: while !stop.load(Ordering::Acquire) {
            let mut sent = 0;
            while sent < burst.len() {
                match stream.write(&burst.as_bytes()[sent..]) {
                    Ok(0) => break 'conn,
                    Ok(n) => sent += n,
                    Err(e) if is_timeout(&e) => break,
                    Err(_) => break 'conn,
                }
            }
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
                    counts.replies.fetch_add(lines as u64, Ordering::Relaxed);
                }
                Err(e) if is_timeout(&e) => {}
                Err(_) => break,
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// 100k short hostile connections, 32 at a time; the report row.
fn hostile_connections(t: &Target) -> Result<Vec<String>, String> {
    let before = t.pid.map_or(0, procs::rss_kib);
    let started = std::time::Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (addr, next) = (t.addr.clone(), next.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= HOSTILE_CONNECTIONS {
                    return;
                }
                hostile_once(&addr, i);
            })
        })
        .collect();
    for th in threads {
        let _ = th.join();
    }
    let secs = started.elapsed().as_secs_f64();
    // Let the pool close what it has not yet and run a stats pass.
    std::thread::sleep(Duration::from_secs(3));
    let after = t.pid.map_or(0, procs::rss_kib);
    let counters = t
        .logdir
        .as_ref()
        .and_then(|d| tbg_pool::users::PoolStatus::read(&d.join("pool/pool.status")))
        .and_then(|s| serde_json::to_string(&s.limits?).ok())
        .unwrap_or_else(|| "-".into());
    Ok(vec![
        t.label.clone(),
        HOSTILE_CONNECTIONS.to_string(),
        format!("{secs:.0}"),
        format!("{:.1}", before as f64 / 1024.0),
        format!("{:.1}", after as f64 / 1024.0),
        format!("`{counters}`"),
    ])
}

/// One hostile connection: garbage until the pool drops it (so the
/// pool's side holds the TIME_WAIT, not this machine's ports), or every
/// fourth, a subscribe and an authorize with a made-up address.
fn hostile_once(addr: &str, i: u64) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let text = if i.is_multiple_of(4) {
        let address = made_up_address(i);
        format!(
            "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"hostile\"]}}\n\
             {{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"{address}.w{i}\",\"x\"]}}\n{}",
            "[[[\n".repeat(25)
        )
    } else {
        "[[[\n".repeat(25)
    };
    let _ = stream.write_all(text.as_bytes());
    let mut buf = [0u8; 4096];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// A valid regtest P2WPKH address nobody owns.
fn made_up_address(i: u64) -> String {
    let mut program = [0u8; 20];
    program[..8].copy_from_slice(&i.to_be_bytes());
    program[8..16].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    let hrp = bech32::Hrp::parse("bcrt").expect("a valid hrp");
    bech32::segwit::encode_v0(hrp, &program).expect("a 20-byte program")
}
