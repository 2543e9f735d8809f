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
use tbg_pool::events::EventSender;
use tbg_pool::server::{CoreMetrics, LimitCounters};
use tbg_pool::session::{Context, Session};
use tbg_pool::share::SeenShares;
use tbg_pool::users::Registry;
use tbg_pool::work::{JobTemplate, Work};

/// What a core owns and lends its sessions.
struct CoreState {
    config: Config,
    registry: Registry,
    events: EventSender,
    blocks: crossbeam_channel::Sender<tbg_pool::node::FoundBlock>,
    seen: SeenShares,
    limits: LimitCounters,
    metrics: CoreMetrics,
}

impl CoreState {
    fn context<'a>(&'a mut self, work: Option<&'a Arc<Work>>) -> Context<'a> {
        Context {
            config: &self.config,
            network: Network::Mainnet,
            work,
            registry: &self.registry,
            seen: &mut self.seen,
            blocks: &self.blocks,
            events: &self.events,
            limits: &self.limits,
            metrics: &self.metrics,
            now: Instant::now(),
            unix_now: 0,
            unix_us: 0,
        }
    }
}

fn bench_fanout(c: &mut Criterion) {
    let (blocks, _rx) = crossbeam_channel::unbounded();
    let mut core = CoreState {
        config: Config::default(),
        registry: Registry::new(),
        events: EventSender::disabled(),
        blocks,
        seen: SeenShares::new(16),
        limits: LimitCounters::default(),
        metrics: CoreMetrics::default(),
    };
    let work = Arc::new(Work::new(
        Arc::new(JobTemplate::new(1, &template(4000))),
        true,
    ));
    let mut sessions: Vec<(Session, Vec<u8>)> = Vec::new();
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
        let mut ctx = core.context(None);
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
            let ctx = core.context(Some(&work));
            for (s, out) in sessions.iter_mut() {
                out.clear();
                s.send_work(black_box(&work), true, &ctx, out);
            }
        })
    });
}

criterion_group!(benches, bench_fanout);
criterion_main!(benches);
