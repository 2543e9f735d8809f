//! Events end to end: simulated node + pool + test miners + a real Unix
//! datagram reader. Every one of the nine types arrives and parses into the
//! schema with the right values; mining goes on with no reader, and events
//! flow once a reader appears, without a pool restart.

mod common;
#[path = "common/contract.rs"]
mod contract;

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::miner::Miner;
use common::{PoolProcess, SimNode, TempDir};
use simd_json::prelude::*;
use tbg_pool::bitcoin::target::{difficulty_to_share_target, hash_meets};
use tbg_pool::events::validate::{parse_event, Received};

/// A datagram the collector's check took, and its whole JSON value.
struct Got {
    checked: Received,
    value: simd_json::OwnedValue,
}

impl std::ops::Deref for Got {
    type Target = Received;
    fn deref(&self) -> &Received {
        &self.checked
    }
}
use tbg_pool::events::EventKind;

const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const USER: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.rig1";

/// Everything the reader got, in arrival order.
struct Reader {
    socket: UnixDatagram,
    events: Vec<Got>,
}

impl Reader {
    fn bind(path: &std::path::Path) -> Reader {
        let socket = UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Reader {
            socket,
            events: Vec::new(),
        }
    }

    /// Read until `done(events)` or the deadline.
    fn until(&mut self, done: impl Fn(&[Got]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            if done(&self.events) {
                return true;
            }
            if let Ok(n) = self.socket.recv(&mut buf) {
                let mut datagram = buf[..n].to_vec();
                let text = String::from_utf8_lossy(&datagram).to_string();
                let value = simd_json::to_owned_value(&mut datagram.clone())
                    .unwrap_or_else(|e| panic!("not JSON {text}: {e}"));
                if let Err(e) = contract::decode_strict(&datagram) {
                    panic!("a typed consumer refuses {text}: {e}");
                }
                let checked = parse_event(&mut datagram)
                    .unwrap_or_else(|e| panic!("invalid event {text}: {e}"));
                self.events.push(Got { checked, value });
            }
        }
        done(&self.events)
    }

    fn of(&self, kind: EventKind) -> Vec<&Got> {
        self.events.iter().filter(|e| e.kind == kind).collect()
    }
}

fn has(kind: EventKind) -> impl Fn(&[Got]) -> bool {
    move |events| events.iter().any(|e| e.kind == kind)
}

fn pool_config(dir: &TempDir) -> String {
    // maxdiff below the network difficulty of `--bits 1f00ffff` (2^-16), so
    // vardiff never makes every valid share a block.
    format!(
        r#""event_socket_path":"{}","update_interval":1,"pool_name":"test-pool","maxdiff":0.00001"#,
        dir.path.join("ev.sock").display()
    )
}

#[test]
fn all_nine_event_types_arrive_with_the_right_values() {
    let node = SimNode::start(&["--bits", "1f00ffff"]);
    let dir = TempDir::new("events-e2e");
    // A user known from an earlier week: its next share rolls the week over.
    std::fs::create_dir_all(dir.path.join("logs/users")).unwrap();
    std::fs::write(
        dir.path.join("logs/users").join(ADDRESS),
        r#"{"hashrate1m":"0","hashrate5m":"0","hashrate1hr":"0","hashrate1d":"0","hashrate7d":"0","lastshare":1,"workers":0,"shares":2,"bestshare":0,"bestever":1e-9,"authorised":1,"week":202001,"bestweek":0.5,"sharesweek":7,"worker":[]}"#,
    )
    .unwrap();
    let mut reader = Reader::bind(&dir.path.join("ev.sock"));
    let pool = PoolProcess::start(&node, &dir.path, &pool_config(&dir));

    let mut m = Miner::connect(&pool.addr);
    m.subscribe();
    m.authorize(USER);
    m.wait_job(|_| true);
    assert!(reader.until(has(EventKind::MinerConnected)));
    m.request("mining.suggest_difficulty", "[0.00001]");
    assert!(reader.until(has(EventKind::DiffUpdated)));

    // Shares until one is a block; verdicts mirrored one for one.
    let mut submitted = 0;
    let mut block_hash = String::new();
    while block_hash.is_empty() {
        let share = m.valid_share();
        assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
        submitted += 1;
        if share.is_block {
            block_hash = share.hash.clone();
        }
    }
    // Our block moved the tip: mine the duplicate on the clean job.
    let old_prev = m.job.clone().unwrap().prevhash;
    m.wait_job(|j| j.clean && j.prevhash != old_prev);
    let dup = m.find_share(|h, is_block, j| {
        !is_block && hash_meets(h, &difficulty_to_share_target(j.diff))
    });
    m.submit(USER, &dup);
    m.submit(USER, &dup); // duplicate
    submitted += 2;
    assert!(reader.until(|e| e
        .iter()
        .filter(|e| e.kind == EventKind::ShareSubmitted)
        .count()
        == submitted));
    assert!(reader.until(has(EventKind::BlockFound)));
    assert!(
        reader.until(has(EventKind::NewBlockNetwork)),
        "the pool's own block moves the tip"
    );
    assert!(reader.until(has(EventKind::HashrateUpdate)));
    drop(m);
    assert!(reader.until(has(EventKind::MinerDisconnected)));

    let shares = reader.of(EventKind::ShareSubmitted);
    let last = shares.last().unwrap();
    assert_eq!(last.value["accepted"].as_bool(), Some(false));
    assert_eq!(last.value["reject_reason"].as_str(), Some("duplicate"));
    assert!(shares[..shares.len() - 1]
        .iter()
        .all(|s| s.value["accepted"].as_bool() == Some(true)));
    assert_eq!(shares[0].value["user"].as_str(), Some(ADDRESS));
    assert_eq!(shares[0].value["worker"].as_str(), Some(USER));
    assert_eq!(shares[0].value["ip"].as_str(), Some("127.0.0.1"));
    assert_eq!(shares[0].pool, "test-pool");

    let block = &reader.of(EventKind::BlockFound)[0].value;
    assert_eq!(block["hash"].as_str(), Some(block_hash.as_str()));
    assert_eq!(block["height"].as_u64(), Some(101));
    assert!(block["reward_sats"].as_u64().unwrap() >= 5_000_000_000);
    assert!(block["diff"].cast_f64().unwrap() >= block["network_diff"].cast_f64().unwrap());
    // Once per new tip, never for the template refreshes (every second here).
    assert_eq!(reader.of(EventKind::NewBlockNetwork).len(), 1);
    let tip = &reader.of(EventKind::NewBlockNetwork)[0].value;
    assert_eq!(tip["hash"].as_str(), Some(block_hash.as_str()));
    assert_eq!(tip["height"].as_u64(), Some(101));

    // Personal bests: session, week and all-time tiers, in that order for
    // the first share; each later event strictly beats its tier's previous.
    let bests = reader.of(EventKind::ShareBestDiff);
    let tiers: Vec<&str> = bests
        .iter()
        .take(3)
        .map(|b| b.value["timeframe"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["session", "week", "alltime"]);
    let mut last_best: BTreeMap<String, f64> = BTreeMap::new();
    for b in &bests {
        let tier = b.value["timeframe"].as_str().unwrap().to_string();
        let new = b.value["new_best"].cast_f64().unwrap();
        assert!(new > b.value["prev_best"].cast_f64().unwrap());
        assert!(last_best.get(&tier).is_none_or(|p| new > *p));
        last_best.insert(tier, new);
    }
    let weekly = &reader.of(EventKind::WeeklySummary)[0].value;
    assert_eq!(weekly["week"].as_u64(), Some(202001));
    assert_eq!(weekly["best_diff_week"].cast_f64(), Some(0.5));
    assert_eq!(weekly["total_shares_week"].as_u64(), Some(7));
    let disconnected = &reader.of(EventKind::MinerDisconnected)[0].value;
    assert_eq!(
        disconnected["shares_session"].as_u64(),
        Some(submitted as u64 - 1)
    );

    for kind in EventKind::ALL {
        assert!(!reader.of(kind).is_empty(), "no {kind:?}");
    }
    let seqs: Vec<u64> = reader.events.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "seq strictly increasing: {seqs:?}"
    );
    drop(pool);
}

/// The pool's events.status, all counters 0 while the file is not there.
fn status(dir: &TempDir) -> tbg_pool::events::EventsStatus {
    tbg_pool::events::EventsStatus::read(&dir.path.join("logs/pool/events.status"))
        .unwrap_or_default()
}

/// A pool mining while no collector reads (not started yet, or
/// restarting): mining goes on, events wait in the emitter's backlog, and
/// the collector gets all of them, in order from seq 1, once it binds.
/// (Before the backlog every one of them was dropped.)
#[test]
fn events_wait_for_a_reader_and_arrive_in_order_when_one_binds() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("events-e2e");
    let pool = PoolProcess::start(
        &node,
        &dir.path,
        &format!("{},\"stats_interval_secs\":1", pool_config(&dir)),
    );
    let mut m = Miner::connect(&pool.addr);
    m.subscribe();
    m.authorize(USER);
    m.wait_job(|_| true);
    for _ in 0..3 {
        let share = m.valid_share();
        assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
    }
    // Past a few reconnect intervals, with the status file written.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        status(&dir).counters.dropped_no_reader,
        0,
        "nothing dropped"
    );
    assert_eq!(status(&dir).counters.sent, 0);

    let mut reader = Reader::bind(&dir.path.join("ev.sock"));
    let share = m.valid_share();
    assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
    let four_shares = |events: &[Got]| {
        events
            .iter()
            .filter(|e| e.kind == EventKind::ShareSubmitted)
            .count()
            == 4
    };
    assert!(reader.until(four_shares), "the held events and the new one");
    let seqs: Vec<u64> = reader.events.iter().map(|e| e.seq).collect();
    let from_one: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, from_one, "every event, in order, no gap");
    assert!(reader.of(EventKind::MinerConnected).len() == 1);
}

/// A collector away longer than the backlog holds: the oldest events are
/// dropped, counted, and are a seq gap of exactly that size.
#[test]
fn a_full_backlog_drops_the_oldest_as_a_counted_seq_gap() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("events-e2e");
    let pool = PoolProcess::start(
        &node,
        &dir.path,
        &format!(
            "{},\"stats_interval_secs\":1,\"event_backlog_events\":2",
            pool_config(&dir)
        ),
    );
    let mut m = Miner::connect(&pool.addr);
    m.subscribe();
    m.authorize(USER);
    m.wait_job(|_| true);
    for _ in 0..5 {
        let share = m.valid_share();
        assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&dir).counters.dropped_no_reader < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut reader = Reader::bind(&dir.path.join("ev.sock"));
    assert!(
        reader.until(|events| events.len() >= 2),
        "the two held events"
    );
    // A status written after the two were sent counts every drop before.
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&dir).counters.sent < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let dropped = status(&dir).counters.dropped_no_reader;
    assert!(dropped >= 4, "drops are counted: {dropped}");
    let first = reader.events[0].seq;
    assert_eq!(first - 1, dropped, "the gap before the first event seen");
    assert_eq!(reader.events[1].seq, first + 1);
}

/// Every event a core drops on its full queue (it never got a `seq`) is
/// still a gap in `seq` downstream: the real collector receiver's gap
/// counter equals the pool's drop counter (the drops left no gap before).
#[test]
fn events_dropped_on_a_full_queue_are_seq_gaps_the_collector_counts() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tbg_pool::collector::metrics::{Metrics, SinkMetrics};
    use tbg_pool::collector::receiver::{self, SinkQueue};
    use tbg_pool::events::{emitter, Event, Events};

    let dir = TempDir::new("gaps");
    let path = dir.path.join("events.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    // As the collector's service sets it: the receiver checks `stop` between reads.
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let (queue, stored) = crossbeam_channel::unbounded();
    let sink = SinkQueue {
        tx: queue,
        metrics: Arc::new(SinkMetrics::default()),
    };
    let metrics = Arc::new(Metrics::default());
    let stop_collector = Arc::new(AtomicBool::new(false));
    let (m, s) = (metrics.clone(), stop_collector.clone());
    let collector =
        std::thread::spawn(move || receiver::run(socket, vec![sink], m, "host".into(), &s));

    let mut events = Events::new(true, 4);
    let tx = events.sender();
    let counters = events.counters.clone();
    let receivers = events.take_receivers();
    let cfg = emitter::EmitterConfig::new(path.clone(), "p".into(), tbg_pool::events::RunId(1));
    let stop_pool = Arc::new(AtomicBool::new(false));
    let (c, s) = (counters.clone(), stop_pool.clone());
    let pool = std::thread::spawn(move || emitter::run(receivers, cfg, c, &s));
    let weekly = |week| Event::WeeklySummary {
        user: "u".into(),
        week,
        best_diff_week: 1.0,
        total_shares_week: 1,
    };
    // Bursts far faster than one emitter sends: most are dropped.
    for round in 0..20 {
        for i in 0..1000 {
            tx.push(weekly(round * 1000 + i));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // One last event once the queue has room, so no drop is trailing.
    let queued = |c: &tbg_pool::events::EventCounters| c.snapshot().queued;
    let before = queued(&counters);
    while queued(&counters) == before {
        std::thread::sleep(Duration::from_millis(5));
        tx.push(weekly(999_999));
    }
    stop_pool.store(true, Ordering::Release);
    pool.join().unwrap();
    let snap = counters.snapshot();
    let deadline = Instant::now() + Duration::from_secs(20);
    while (stored.len() as u64) < snap.sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop_collector.store(true, Ordering::Release);
    collector.join().unwrap();

    assert!(snap.dropped_queue_full > 0, "{snap:?}");
    assert_eq!(
        snap.dropped_no_reader + snap.dropped_oversize,
        0,
        "{snap:?}"
    );
    assert_eq!(stored.len() as u64, snap.sent);
    let seqs: Vec<u64> = stored.try_iter().map(|e| e.seq).collect();
    // The collector counts gaps after the first seq it sees; any drop
    // before that is the first seq's distance from 1.
    let gaps = metrics.seq_gaps.load(Ordering::Relaxed) + seqs[0] - 1;
    assert_eq!(gaps, snap.dropped_queue_full, "{snap:?}");
}

/// With `event_pack_bytes`, consecutive events share a datagram, one per
/// line, never over the limit, in `seq` order with none lost; each line
/// is an event the collector takes.
#[test]
fn packed_datagrams_carry_every_event_in_order_within_the_limit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tbg_pool::events::{emitter, Event, Events};

    const EVENTS: u64 = 2_000;
    const PACK_BYTES: usize = 4_096;
    let dir = TempDir::new("packed");
    let path = dir.path.join("events.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let reader = std::thread::spawn(move || {
        let (mut datagrams, mut events) = (Vec::new(), 0u64);
        let mut buf = vec![0u8; 65_536];
        let deadline = Instant::now() + Duration::from_secs(30);
        while events < EVENTS && Instant::now() < deadline {
            if let Ok(n) = socket.recv(&mut buf) {
                events += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                datagrams.push(buf[..n].to_vec());
            }
        }
        datagrams
    });

    let mut events = Events::new(true, EVENTS as usize);
    let tx = events.sender();
    let counters = events.counters.clone();
    let receivers = events.take_receivers();
    let cfg = emitter::EmitterConfig {
        pack_bytes: PACK_BYTES,
        ..emitter::EmitterConfig::new(path.clone(), "p".into(), tbg_pool::events::RunId(1))
    };
    for week in 0..EVENTS as u32 {
        tx.push(Event::WeeklySummary {
            user: "u".into(),
            week,
            best_diff_week: 1.0,
            total_shares_week: 1,
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (c, s) = (counters.clone(), stop.clone());
    let pool = std::thread::spawn(move || emitter::run(receivers, cfg, c, &s));
    let datagrams = reader.join().unwrap();
    stop.store(true, Ordering::Release);
    pool.join().unwrap();

    let snap = counters.snapshot();
    assert_eq!((snap.queued, snap.sent), (EVENTS, EVENTS), "{snap:?}");
    assert!(datagrams.iter().all(|d| d.len() <= PACK_BYTES));
    assert!(
        datagrams.len() < EVENTS as usize / 10,
        "{} datagrams for {EVENTS} events",
        datagrams.len()
    );
    let mut seq = 0;
    for d in &datagrams {
        assert_eq!(d.last(), Some(&b'\n'), "every event ends its line");
        for line in tbg_pool::collector::receiver::events_of(d) {
            let r = parse_event(&mut line.to_vec()).expect("an event the collector takes");
            seq += 1;
            assert_eq!(r.seq, seq, "in order, none lost");
        }
    }
    assert_eq!(seq, EVENTS);
}
