//! Share validation cost: the hot path from decoded submit to verdict,
//! for templates with 1 and 4,000 transactions, plus its parts.
//!
//! Run: `cargo bench --bench share`. Goal: ≤ 2 µs per share with SHA-NI.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;
use common::template;
use tbg_pool::bitcoin::sha256d;
use tbg_pool::share::{MinerJob, SeenShares, Submit};
use tbg_pool::work::{build_coinbase, coinbase_sig, JobTemplate, WorkConfig};

fn miner_job(txs: usize, diff: f64) -> MinerJob {
    let jt = Arc::new(JobTemplate::new(1, &template(txs)));
    let cfg = WorkConfig::default();
    let (sig, _) = coinbase_sig(&cfg, "");
    let payout = [0x00, 0x14]
        .iter()
        .copied()
        .chain([0xab; 20])
        .collect::<Vec<u8>>();
    let cb = build_coinbase(&jt, &cfg, &payout, &sig);
    MinerJob::new(jt, &cb, &[1, 2, 3, 4], 8, diff)
}

/// Pre-decoded submits: `distinct_en2` extranonce2 values cycled, each
/// with fresh nonces, so decoding stays out of the measurement.
fn submits(distinct_en2: u64) -> Vec<Submit> {
    (0..4096u64)
        .map(|i| {
            let en2 = format!("{:016x}", i % distinct_en2);
            Submit::parse(&en2, "6553f100", &format!("{i:08x}"), None, 8).unwrap()
        })
        .collect()
}

fn bench_share_check(c: &mut Criterion) {
    for txs in [1usize, 4000] {
        // `cold`: a new extranonce2 every share (coinbase hash + merkle fold
        // + header); `warm`: the same extranonce2 (header only), which is
        // what an ASIC rolling nonce and version bits sends.
        for (name, distinct) in [("cold", 4096), ("warm", 1)] {
            // A difficulty no hash reaches: the full path, judged low.
            let mut job = miner_job(txs, 1e15);
            let mut seen = SeenShares::new(1 << 16);
            let submits = submits(distinct);
            let mut i = 0;
            c.bench_function(&format!("share_check/{txs}_txs/{name}"), |b| {
                b.iter(|| {
                    i = (i + 1) % submits.len();
                    black_box(job.check(black_box(&submits[i]), 0, &mut seen))
                })
            });
        }
    }
}

fn bench_parts(c: &mut Criterion) {
    let header = [0x5au8; 80];
    c.bench_function("sha256d/80_bytes", |b| {
        b.iter(|| sha256d(black_box(&header)))
    });
    c.bench_function("submit_parse", |b| {
        b.iter(|| {
            Submit::parse(
                black_box("0011223344556677"),
                black_box("6553f100"),
                black_box("90300000"),
                Some(black_box("1fffe000")),
                8,
            )
        })
    });
    let jt = JobTemplate::new(1, &template(4000));
    let cfg = WorkConfig::default();
    c.bench_function("coinbase_build/per_miner", |b| {
        b.iter(|| build_coinbase(black_box(&jt), &cfg, &[0x51, 0x20], b"/The Bitcoin Game/"))
    });
    let t = template(4000);
    c.bench_function("job_template/4000_txs", |b| {
        b.iter(|| JobTemplate::new(1, black_box(&t)))
    });
}

criterion_group!(benches, bench_share_check, bench_parts);

fn bench_merkle(c: &mut Criterion) {
    let block = [0x11u8; 64];
    c.bench_function("sha256d/64_generic", |b| {
        b.iter(|| sha256d(black_box(&block)))
    });
    let (l, r) = ([0x11u8; 32], [0x22u8; 32]);
    c.bench_function("merkle_parent", |b| {
        b.iter(|| tbg_pool::bitcoin::hash::merkle_parent(black_box(&l), black_box(&r)))
    });
    let inputs = [[0x11u8; 64]; 2];
    let mut outputs = [[0u8; 32]; 2];
    c.bench_function("sha256d/64_many_x2", |b| {
        b.iter(|| bitcoin_hashes::sha256d::Hash::hash_64_many(&mut outputs, black_box(&inputs)))
    });
}
criterion_group!(merkle, bench_merkle);
criterion_main!(benches, merkle);
