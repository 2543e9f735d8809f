//! The collector's per-event work off the socket: decode and check a
//! datagram against the schema, enrich it, and hand a batch of them to a
//! sink's queue and out again as the sink thread batches. (The sinks'
//! own I/O is measured end to end by `perf/collector-load`.)
//!
//! Run: `cargo bench --bench collector`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tbg_pool::collector::StoredEvent;
use tbg_pool::events::validate::parse_event;
use tbg_pool::events::Event;

/// Events per batch, as the collector's default `batch_max_events`.
const BATCH: usize = 500;

fn datagram(seq: u64) -> Vec<u8> {
    let event = Event::ShareSubmitted {
        user: Arc::from("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        worker: Arc::from("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4.rig"),
        client_id: seq,
        diff: 1024.0,
        sdiff: 2048.5,
        accepted: true,
        reject_reason: None,
        ip: Arc::from("192.0.2.1"),
    };
    let mut out = Vec::new();
    event.write_json(
        &tbg_pool::events::Envelope {
            ts_us: 1_771_502_400_000_000 + seq,
            seq,
            pool: "bench",
            run: tbg_pool::events::RunId(1),
        },
        &mut out,
    );
    out.push(b'\n');
    out
}

/// What the receiver does per datagram.
fn decode(d: &[u8]) -> StoredEvent {
    let received = parse_event(&mut d.to_vec()).expect("valid event");
    StoredEvent::from_received(received, d, 1_771_502_400_000_000, "collector-1")
}

fn bench_decode(c: &mut Criterion) {
    let d = datagram(7);
    c.bench_function("collector_decode/share_submitted", |b| {
        b.iter(|| decode(std::hint::black_box(&d)))
    });
}

fn bench_batch(c: &mut Criterion) {
    let datagrams: Vec<Vec<u8>> = (1..=BATCH as u64).map(datagram).collect();
    let mut group = c.benchmark_group("collector_batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_queue_batch_500", |b| {
        b.iter_batched(
            || crossbeam_channel::bounded::<StoredEvent>(BATCH),
            |(tx, rx)| {
                for d in &datagrams {
                    tx.try_send(decode(d)).expect("room");
                }
                let batch: Vec<StoredEvent> = rx.try_iter().collect();
                assert_eq!(batch.len(), BATCH);
                batch
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_batch);
criterion_main!(benches);
