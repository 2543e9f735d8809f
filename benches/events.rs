//! Event costs: the push a core makes per event (goal ≤ 100 ns), and the
//! emitter's throughput to a fast reader (goal ≥ 500k datagrams/s, none lost).
//!
//! Run: `cargo bench --bench events`.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tbg_pool::events::emitter::{self, EmitterConfig};
use tbg_pool::events::{Event, Events};

fn share_event(user: &Arc<str>, worker: &Arc<str>, ip: &Arc<str>, n: u64) -> Event {
    Event::ShareSubmitted {
        user: user.clone(),
        worker: worker.clone(),
        client_id: n,
        diff: 1024.0,
        sdiff: 2048.5,
        accepted: true,
        reject_reason: None,
        ip: ip.clone(),
    }
}

fn bench_push(c: &mut Criterion) {
    let (user, worker, ip): (Arc<str>, Arc<str>, Arc<str>) = (
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".into(),
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4.rig".into(),
        "192.0.2.1".into(),
    );
    let mut events = Events::new(true, 1 << 20);
    let tx = events.sender();
    let rx = events.take_receivers().pop().unwrap();
    c.bench_function("event_push/share_submitted", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(1 << 19);
                let ts = tbg_pool::time::unix_micros();
                let start = Instant::now();
                for i in 0..n {
                    tx.push_at(ts, share_event(&user, &worker, &ip, i));
                }
                total += start.elapsed();
                rx.try_iter().for_each(drop); // keep the queue from filling
                left -= n;
            }
            total
        })
    });
}

fn bench_format(c: &mut Criterion) {
    let (user, worker, ip): (Arc<str>, Arc<str>, Arc<str>) =
        ("bc1q".into(), "bc1q.rig".into(), "127.0.0.1".into());
    let event = share_event(&user, &worker, &ip, 7);
    let mut buf = Vec::with_capacity(4096);
    c.bench_function("event_format/share_submitted", |b| {
        b.iter(|| {
            buf.clear();
            event.write_json(
                &tbg_pool::events::Envelope {
                    ts_us: 1_771_502_400_123_456,
                    seq: 42,
                    pool: "tbg",
                    run: tbg_pool::events::RunId(1),
                },
                &mut buf,
            );
        })
    });
    let dir = std::env::temp_dir().join(format!("tbg-bench-send-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let _ = std::fs::remove_file(&path);
    let reader = UnixDatagram::bind(&path).unwrap();
    let sender = UnixDatagram::unbound().unwrap();
    sender.connect(&path).unwrap();
    let mut rbuf = [0u8; 4096];
    c.bench_function("unix_datagram/send_recv_pair", |b| {
        b.iter(|| {
            sender.send(&buf).unwrap();
            reader.recv(&mut rbuf).unwrap()
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench_emitter(c: &mut Criterion) {
    emitter_to_reader(c, "format_and_send_to_reader", 0);
    emitter_to_reader(c, "format_and_send_packed_16k", 16_384);
}

/// The emitter thread sending to a reader thread, `pack_bytes` as the
/// pool's `event_pack_bytes`; the reader counts events (lines).
fn emitter_to_reader(c: &mut Criterion, name: &str, pack_bytes: usize) {
    let dir = std::env::temp_dir().join(format!(
        "tbg-bench-events-{}-{pack_bytes}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ev.sock");
    let _ = std::fs::remove_file(&path);
    let reader = UnixDatagram::bind(&path).unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16_384];
        while let Ok(n) = reader.recv(&mut buf) {
            let events = buf[..n].iter().filter(|&&b| b == b'\n').count();
            r.fetch_add(events as u64, Ordering::Relaxed);
        }
    });
    let mut events = Events::new(true, 1 << 20);
    let tx = events.sender();
    let receivers = events.take_receivers();
    let counters = events.counters.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let cfg = EmitterConfig {
        pack_bytes,
        ..EmitterConfig::new(path.clone(), "bench".into(), tbg_pool::events::RunId(1))
    };
    let emitter = std::thread::spawn(move || emitter::run(receivers, cfg, counters.clone(), &s));
    let (user, worker, ip): (Arc<str>, Arc<str>, Arc<str>) =
        ("bc1q".into(), "bc1q.rig".into(), "127.0.0.1".into());
    let mut group = c.benchmark_group("emitter");
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let target = received.load(Ordering::Relaxed) + iters;
            let start = Instant::now();
            let mut pushed = 0;
            while pushed < iters {
                tx.push(share_event(&user, &worker, &ip, pushed));
                pushed += 1;
                if pushed % 4096 == 0 {
                    // Stay below the queue bound: the bench measures the
                    // emitter, not drops.
                    while received.load(Ordering::Relaxed) + (1 << 19) < target - (iters - pushed) {
                        std::hint::spin_loop();
                    }
                }
            }
            while received.load(Ordering::Relaxed) < target {
                std::thread::sleep(Duration::from_micros(50));
            }
            start.elapsed()
        })
    });
    group.finish();
    stop.store(true, Ordering::Release);
    let _ = emitter.join();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_push, bench_format, bench_emitter);
criterion_main!(benches);
