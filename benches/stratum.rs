//! Stratum wire costs: parsing a miner's request line (the submit on the
//! hot path, and a Bitaxe configure), and encoding replies and notifies.
//!
//! Run: `cargo bench --bench stratum`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tbg_pool::stratum::{encode, Request};

const SUBMIT: &[u8] = br#"{"params": ["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4.bitaxe", "1a", "0011223344556677", "6b06107f", "90300000", "1fffe000"], "id": 4242, "method": "mining.submit"}"#;
const CONFIGURE: &[u8] = br#"{"id": 1, "method": "mining.configure", "params": [["version-rolling", "minimum-difficulty"], {"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": 16, "minimum-difficulty.value": 512}]}"#;

fn bench_parse(c: &mut Criterion) {
    c.bench_function("request_parse/submit", |b| {
        b.iter(|| {
            let r = Request::parse(black_box(SUBMIT)).unwrap();
            black_box((r.plain_str(2), r.plain_str(4)))
        })
    });
    c.bench_function("request_parse/configure", |b| {
        b.iter(|| Request::parse(black_box(CONFIGURE)).unwrap().params_len())
    });
}

fn bench_encode(c: &mut Criterion) {
    let mut out = Vec::with_capacity(4096);
    c.bench_function("reply_encode/result_true", |b| {
        b.iter(|| {
            out.clear();
            encode::result_true(&mut out, black_box("4242"));
        })
    });
    let branch: Vec<String> = (0..12).map(|i| format!("{:064x}", i)).collect();
    let tail = encode::notify_shared_tail(&branch, "20000000", "17034219", "6553f100");
    let (coinb1, coinb2) = (vec![0x01u8; 60], vec![0x02u8; 120]);
    c.bench_function("notify_encode/12_branch", |b| {
        b.iter(|| {
            out.clear();
            encode::notify(
                &mut out,
                "1a",
                black_box(&"00".repeat(32)),
                &coinb1,
                &coinb2,
                &tail,
                true,
            );
        })
    });
}

criterion_group!(benches, bench_parse, bench_encode);
criterion_main!(benches);
