//! New-block fan-out on one core: a template's job sent to 1,000 authorized
//! sessions (coinbase, job, notify text), without the socket writes.
//!
//! Run: `cargo bench --bench fanout`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;
use common::template;
use tbg_pool::bitcoin::Network;
use tbg_pool::config::Config;
use tbg_pool::session::Session;
use tbg_pool::testkit::Core;
use tbg_pool::work::{JobTemplate, Work};

fn bench_fanout(c: &mut Criterion) {
    // Events off: the fan-out alone is measured.
    let mut core = Core::new(Config::default(), false);
    core.network = Network::Mainnet;
    let work = Arc::new(Work::new(
        Arc::new(JobTemplate::new(1, &template(4000))),
        true,
    ));
    let mut sessions: Vec<(Session, Vec<u8>)> = Vec::new();
    // Authorized before any work exists, so none is sent yet.
    let none = Arc::new(Work::new(Arc::new(JobTemplate::new(0, &template(0))), true));
    let address = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    for i in 0..1000u64 {
        let mut s = Session::new(
            i,
            "127.0.0.1".into(),
            &(i as u32).to_be_bytes(),
            &core.config,
            Instant::now(),
        );
        let mut out = Vec::new();
        let mut ctx = core.context(&none);
        ctx.work = None;
        s.handle_line(
            br#"{"id":1,"method":"mining.subscribe","params":["bench"]}"#,
            &mut ctx,
            &mut out,
        );
        let auth =
            format!(r#"{{"id":2,"method":"mining.authorize","params":["{address}.w{i}","x"]}}"#);
        s.handle_line(auth.as_bytes(), &mut ctx, &mut out);
        sessions.push((s, Vec::with_capacity(4096)));
    }
    c.bench_function("fanout/1000_miners_4000_txs", |b| {
        b.iter(|| {
            let ctx = core.context(&work);
            for (s, out) in sessions.iter_mut() {
                out.clear();
                s.send_work(black_box(&work), true, &ctx, out);
            }
        })
    });
}

criterion_group!(benches, bench_fanout);
criterion_main!(benches);
