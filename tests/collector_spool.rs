//! The spool under crashes: a real `tbg-collector` is killed with SIGKILL
//! at random points, 200 times, while it spools (sinks unreachable) and
//! while it replays (sinks back), with Redis and PostgreSQL as sinks.
//!
//! What is checked has to be exact although a kill loses whatever the
//! process held in memory (datagrams received but not yet spooled or
//! written: with datagrams that is inherent, and shows as seq gaps). So
//! the test does not ask for every event sent; after each kill, with no
//! collector running, it reads each sink's spool file itself (whole
//! lines only, with its own parser) and notes every event that reached
//! it. In the end every event noted for a sink must be stored in that
//! sink, each stored event was sent, none twice, and Redis holds them in
//! seq order. Two thirds of the spooling cycles wait (reading the spool
//! files) until all their events are spooled before the kill, so the
//! check never rests on luck, and a third of the replaying cycles wait
//! (through the metrics) until the spools are replayed to the end, so
//! the spools are emptied now and then; every other cycle is killed
//! after a random pause of up to 40 ms. A quarter of the kills also tear the spool's
//! newest records (cut at a random byte inside one), as a crash or a full
//! disk mid-append would: the next start must cut that tail (counted in
//! `tbg_collector_spool_torn_total`) and not glue the next append to it.
//!
//! Nothing depends on speed: the randomness is a seeded PRNG, and every
//! wait is a poll with a generous deadline.

mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/stack.rs"]
mod stack;

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{dead_port_addr, TempDir};
use stack::{redis_entries, wait_for, CollectorProcess};

const CYCLES: usize = 200;
const POOL: &str = "crash";
const SINKS: [&str; 2] = ["redis", "postgres"];

/// xorshift64*: a small seeded PRNG (no crate needed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// One whole record found in a spool file: its bytes and event's seq.
struct Found {
    start: u64,
    end: u64,
    seq: u64,
}

/// The whole records of a spool file, read independently of the
/// collector's reader: a `\n`-ended line ending in `{len:08x} {crc:08x}
/// {payload}` whose length matches (a record glued behind torn bytes is
/// found too, at the end of their line).
fn records(path: &Path) -> Vec<Found> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut found = Vec::new();
    let mut line_start = 0;
    for (i, _) in bytes.iter().enumerate().filter(|(_, &b)| b == b'\n') {
        let line = &bytes[line_start..i];
        if let Some((at, seq)) = record_in(line) {
            found.push(Found {
                start: (line_start + at) as u64,
                end: i as u64 + 1,
                seq,
            });
        }
        line_start = i + 1;
    }
    found
}

/// Where in `line` a record starts that runs to its end, and its seq.
fn record_in(line: &[u8]) -> Option<(usize, u64)> {
    let is_hex = |b: &[u8]| {
        b.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    };
    (0..line.len().saturating_sub(18)).find_map(|at| {
        let h = &line[at..at + 18];
        let header_ok = is_hex(&h[..8]) && h[8] == b' ' && is_hex(&h[9..17]) && h[17] == b' ';
        let len = usize::from_str_radix(std::str::from_utf8(&h[..8]).ok()?, 16).ok()?;
        (header_ok && len == line.len() - at - 18)
            .then(|| seq_of(&line[at + 18..]))
            .flatten()
            .map(|seq| (at, seq))
    })
}

fn seq_of(payload: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(payload).ok()?;
    let digits = text.split("\"seq\":").nth(1)?;
    let end = digits.find(|c: char| !c.is_ascii_digit())?;
    digits[..end].parse().ok()
}

/// The collector's config, with the sinks reachable or not.
fn config(dir: &Path, socket: &Path, redis: &str, postgres: &str) -> String {
    format!(
        r#"{{"socket_path":"{}","redis_url":"{redis}","postgres_url":"{postgres}","spool_dir":"{}","metrics_addr":"127.0.0.1:0","batch_max_events":20,"batch_max_ms":5,"collector_name":"k"}}"#,
        socket.display(),
        dir.join("k-spool").display()
    )
}

/// Cut the newest records that no earlier look saw at a random byte
/// inside one of them, as a crash mid-append leaves a spool. Returns
/// whether it cut.
fn tear(path: &Path, seen: &BTreeSet<u64>, rng: &mut Rng) -> bool {
    let found = records(path);
    let new = found.iter().rev().take_while(|r| !seen.contains(&r.seq));
    let new: Vec<&Found> = new.collect();
    if new.is_empty() {
        return false;
    }
    let r = new[rng.below(new.len() as u64) as usize];
    let cut = r.start + 1 + rng.below(r.end - r.start - 1);
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(cut).unwrap();
    true
}

/// Send events `seqs` as the pool would, with increasing timestamps.
fn send(sender: &UnixDatagram, socket: &Path, seqs: std::ops::Range<u64>, base_us: u64) {
    let template = common::sample_events().remove(0);
    for seq in seqs {
        let mut d = Vec::with_capacity(300);
        let envelope = tbg_pool::events::Envelope {
            ts_us: base_us + seq,
            seq,
            pool: POOL,
            run: tbg_pool::events::RunId(1),
        };
        template.write_json(&envelope, &mut d);
        sender.send_to(&d, socket).unwrap();
    }
}

/// Whether every one of `seqs` is a whole record in each spool.
fn all_spooled(spools: &[PathBuf], seqs: &std::ops::Range<u64>) -> bool {
    spools.iter().all(|p| {
        let have: BTreeSet<u64> = records(p).iter().map(|r| r.seq).collect();
        seqs.clone().all(|s| have.contains(&s))
    })
}

/// Poll (often: a cycle is short) until every one of `seqs` is spooled.
fn wait_for_spooled(spools: &[PathBuf], seqs: &std::ops::Range<u64>) {
    for _ in 0..6000 {
        if all_spooled(spools, seqs) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("events {seqs:?} not spooled within 30 s");
}

/// Poll until the collector has replayed both spools to the end.
fn wait_for_replayed(collector: &CollectorProcess) {
    for _ in 0..6000 {
        if spools_empty(collector) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("spools not replayed within 30 s");
}

fn spools_empty(collector: &CollectorProcess) -> bool {
    SINKS.iter().all(|s| {
        let pending = format!("tbg_collector_spool_bytes{{sink=\"{s}\"}}");
        collector.metric(&pending) == 0.0
    })
}

/// The test's state across cycles.
struct Crashes {
    collector: CollectorProcess,
    /// The collector's config with the sinks reachable, and not.
    up: String,
    down: String,
    spools: Vec<PathBuf>,
    /// Per sink: every event seen in its spool after a kill.
    seen: Vec<BTreeSet<u64>>,
    /// Per sink: its spool's tail was torn after the last kill.
    torn: Vec<bool>,
    tears: u32,
    rng: Rng,
    sender: UnixDatagram,
    next_seq: u64,
    base_us: u64,
}

impl Crashes {
    fn new(dir: &Path, redis: &redis_server::RedisServer, pg: &pg::PgServer) -> Crashes {
        let mut collector = CollectorProcess::start(dir, "k", "", "");
        collector.kill();
        let dead = dead_port_addr();
        let dead_port = dead.rsplit(':').next().unwrap();
        let socket = collector.socket.clone();
        Crashes {
            up: config(dir, &socket, &redis.url(), &pg.url()),
            down: config(
                dir,
                &socket,
                &format!("redis://{dead}/"),
                &format!("host=127.0.0.1 port={dead_port} user=postgres dbname=tbg"),
            ),
            collector,
            spools: SINKS
                .iter()
                .map(|s| dir.join("k-spool").join(format!("{s}.spool")))
                .collect(),
            seen: vec![BTreeSet::new(); SINKS.len()],
            torn: vec![false; SINKS.len()],
            tears: 0,
            rng: Rng(0x9E37_79B9_7F4A_7C15),
            sender: UnixDatagram::unbound().unwrap(),
            next_seq: 1,
            base_us: tbg_pool::time::unix_micros(),
        }
    }

    /// Start the collector (sinks up or down), send events, kill it at
    /// some point, and look at (and maybe tear) the spools.
    fn cycle(&mut self) {
        let replaying = self.rng.below(5) < 2;
        self.start(replaying);
        let seqs = self.next_seq..self.next_seq + 1 + self.rng.below(120);
        self.next_seq = seqs.end;
        let socket = self.collector.socket.clone();
        send(&self.sender, &socket, seqs.clone(), self.base_us);
        match (replaying, self.rng.below(3)) {
            (false, 0 | 1) => wait_for_spooled(&self.spools, &seqs),
            (true, 0) => wait_for_replayed(&self.collector),
            _ => std::thread::sleep(Duration::from_millis(self.rng.below(40))),
        }
        self.collector.kill();
        self.look();
    }

    /// Start with the sinks reachable or not; a tail torn after the last
    /// kill must have been cut (and counted) on open.
    fn start(&mut self, sinks_up: bool) {
        let config = if sinks_up { &self.up } else { &self.down };
        std::fs::write(&self.collector.config, config).unwrap();
        self.collector.start_again();
        for (sink, torn) in SINKS.iter().zip(&self.torn) {
            if *torn {
                let metric = format!("tbg_collector_spool_torn_total{{sink=\"{sink}\"}}");
                assert_eq!(self.collector.metric(&metric), 1.0, "{sink}: torn tail cut");
            }
        }
    }

    /// With no collector running: maybe tear each spool's newest
    /// records, then note every event its file holds.
    fn look(&mut self) {
        let tear_now = self.rng.below(4) == 0;
        for (i, spool) in self.spools.iter().enumerate() {
            self.torn[i] = tear_now && tear(spool, &self.seen[i], &mut self.rng);
            self.tears += u32::from(self.torn[i]);
            self.seen[i].extend(records(spool).iter().map(|r| r.seq));
        }
    }
}

#[test]
fn every_spooled_event_is_stored_once_across_200_kills() {
    let (redis, pg) = (redis_server::RedisServer::start(), pg::PgServer::start());
    let dir = TempDir::new("collector-spool");
    let mut crashes = Crashes::new(&dir.path, &redis, &pg);
    for _ in 0..CYCLES {
        crashes.cycle();
    }
    crashes.start(true);
    wait_for("every spool replayed", Duration::from_secs(120), || {
        spools_empty(&crashes.collector)
    });
    crashes.collector.stop();
    let (in_redis, in_pg) = (redis_seqs(&redis), pg_seqs(&pg));
    assert!(
        in_redis.windows(2).all(|w| w[0] < w[1]),
        "Redis: each event once, in seq order"
    );
    let in_pg_once: BTreeSet<u64> = in_pg.iter().copied().collect();
    assert_eq!(in_pg_once.len(), in_pg.len(), "PostgreSQL: each event once");
    check_stored("redis", &in_redis, &crashes.seen[0], crashes.next_seq);
    check_stored("postgres", &in_pg, &crashes.seen[1], crashes.next_seq);
    assert!(crashes.tears > 0 && crashes.seen.iter().all(|s| !s.is_empty()));
    eprintln!(
        "{CYCLES} kills, {} events sent, {} tails torn; in spool after a kill / stored: redis {}/{}, postgres {}/{}",
        crashes.next_seq - 1,
        crashes.tears,
        crashes.seen[0].len(),
        in_redis.len(),
        crashes.seen[1].len(),
        in_pg.len()
    );
}

/// Every event that reached the sink's spool is stored; nothing stored
/// was never sent.
fn check_stored(sink: &str, stored: &[u64], spooled: &BTreeSet<u64>, next: u64) {
    let stored: BTreeSet<u64> = stored.iter().copied().collect();
    let missing: Vec<&u64> = spooled.difference(&stored).take(10).collect();
    assert!(
        missing.is_empty(),
        "{sink}: spooled, never stored: {missing:?}"
    );
    assert!(
        stored.iter().all(|&s| s >= 1 && s < next),
        "{sink}: unknown seq"
    );
}

fn pg_seqs(pg: &pg::PgServer) -> Vec<u64> {
    let rows = pg
        .client()
        .query("select seq from mining_events where pool = $1", &[&POOL])
        .unwrap();
    rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect()
}

fn redis_seqs(redis: &redis_server::RedisServer) -> Vec<u64> {
    redis_entries(redis, "events:share_submitted")
        .into_iter()
        .map(|fields| {
            let seq = fields.into_iter().find(|(k, _)| k == "seq").unwrap().1;
            seq.parse().unwrap()
        })
        .collect()
}
