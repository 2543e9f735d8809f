//! In-process stand-ins for what a core lends its sessions, for the fuzz
//! targets ([`crate::fuzz`]) and for tests that drive a [`Session`]
//! through its [`Context`] without sockets: the same handshakes, replies
//! and share checks as the server, with a clock the caller moves.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::bitcoin::block::Block;
use crate::bitcoin::target::{compact_to_target, difficulty_to_share_target, hash_meets};
use crate::bitcoin::{hex, sha256d, Network};
use crate::config::Config;
use crate::events::queue::Stamped;
use crate::events::validate::{parse_event, MAX_EVENT_BYTES};
use crate::events::{Envelope, EventSender, Events, RunId};
use crate::node::{FoundBlock, Template};
use crate::server::{CoreMetrics, Extranonces, LimitCounters};
use crate::session::{Context, Flow, Session};
use crate::share::{SeenShares, Submit};
use crate::users::Registry;
use crate::work::{JobTemplate, Work};

/// What a core owns and lends its sessions, without its sockets.
pub struct Core {
    pub config: Config,
    pub registry: Registry,
    pub seen: SeenShares,
    pub blocks: Sender<FoundBlock>,
    pub found: Receiver<FoundBlock>,
    pub events: EventSender,
    pub event_queues: Vec<Receiver<Stamped>>,
    pub limits: LimitCounters,
    pub metrics: CoreMetrics,
    pub start: Instant,
    /// Seconds since `start` (the fuzz input moves the clock).
    pub secs: u64,
    /// The chain addresses are checked against (regtest unless set).
    pub network: Network,
}

/// A directory of this core's for found blocks (see [`Core::new`]).
fn scratch_logdir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("tbg-fuzz-{}-{n}", std::process::id()))
}

impl Drop for Core {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.config.logdir);
    }
}

impl Core {
    /// A core with `config` (its `logdir` replaced by a scratch directory,
    /// removed when the core is dropped), events queued when enabled.
    pub fn new(mut config: Config, events_enabled: bool) -> Core {
        // Found blocks are written where a core writes them: here in a
        // scratch directory of this process's (tmpfs where there is one,
        // so the fsyncs cost nothing), emptied after each input.
        config.logdir = scratch_logdir();
        let (blocks, found) = crossbeam_channel::unbounded();
        let mut events = Events::new(events_enabled, 1024);
        let sender = events.sender();
        Core {
            config,
            registry: Registry::started_at(1_795_568_000),
            seen: SeenShares::new(64),
            blocks,
            found,
            events: sender,
            event_queues: events.take_receivers(),
            limits: LimitCounters::default(),
            metrics: CoreMetrics::default(),
            start: Instant::now(),
            secs: 0,
            network: Network::Regtest,
        }
    }

    /// What a session gets for one request, `secs` after the start.
    pub fn context<'a>(&'a mut self, work: &'a Arc<Work>) -> Context<'a> {
        let unix_now = 1_795_568_718 + self.secs;
        Context {
            config: &self.config,
            network: self.network,
            work: Some(work),
            registry: &self.registry,
            seen: &mut self.seen,
            blocks: &self.blocks,
            events: &self.events,
            limits: &self.limits,
            metrics: &self.metrics,
            now: self.start + Duration::from_secs(self.secs),
            unix_now,
            unix_us: unix_now * 1_000_000,
        }
    }

    /// Every event queued so far must pass the collector's schema check
    /// (as the emitter writes it); every found block must be a block.
    pub fn check_outputs(&mut self, payout: &[u8]) {
        let mut buf = Vec::new();
        for queue in &self.event_queues {
            for (seq, stamped) in queue.try_iter().enumerate() {
                buf.clear();
                let ev = &stamped.event;
                let envelope = Envelope {
                    ts_us: stamped.ts_us,
                    seq: seq as u64,
                    pool: &self.config.pool_name,
                    run: RunId(7),
                };
                ev.write_json(&envelope, &mut buf);
                if buf.len() < MAX_EVENT_BYTES {
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    match parse_event(&mut buf) {
                        Ok(r) => assert_eq!(r.kind, ev.kind(), "{text}"),
                        Err(e) => panic!("an event the collector refuses ({e}): {text}"),
                    }
                }
            }
        }
        for found in self.found.try_iter() {
            let file = crate::node::submitter::block_path(&self.config.logdir, &found);
            let on_disk = std::fs::read_to_string(&file).expect("a found block is on disk");
            assert_eq!(on_disk, hex::encode(&found.block));
            let block = Block::parse(&found.block).expect("a found block parses");
            let h = &block.header;
            assert_eq!(h.hash(), found.hash);
            assert_eq!(block.computed_merkle_root(), h.merkle_root);
            let target = compact_to_target(h.bits).expect("the template's bits");
            assert!(hash_meets(&found.hash, &target), "a block above its target");
            let coinbase = &block.txs[0];
            assert!(coinbase.is_coinbase());
            assert_eq!(coinbase.outputs[0].script_pubkey, payout);
        }
    }
}
/// One miner's connection on a [`Core`], fed whole lines as the server
/// feeds them (after framing) and keeping every line the session wrote
/// until the caller reads it. New connections on the same core get fresh
/// extranonce1 values, as the server's [`Extranonces`] hands them out.
pub struct Connection {
    pub core: Core,
    pub session: Session,
    pub work: Arc<Work>,
    extranonces: Extranonces,
    next_client_id: u64,
    /// Where [`Connection::share`] goes on searching.
    next_nonce: u32,
    /// Lines written by the session and not read yet, newline included.
    pending: VecDeque<Vec<u8>>,
}

impl Connection {
    /// A connection on a new core serving `template`'s work. Events are
    /// queued and checked against the collector's schema by
    /// [`Core::check_outputs`].
    pub fn new(config: Config, template: &Template, network: Network) -> Connection {
        let work = Arc::new(Work::new(Arc::new(JobTemplate::new(1, template)), true));
        let mut core = Core::new(config, true);
        core.network = network;
        let extranonces = Extranonces::new(core.config.work.extranonce1_len);
        let session = Session::new(
            1,
            Arc::from("192.0.2.1"),
            &extranonces.allocate(),
            &core.config,
            core.start,
        );
        Connection {
            core,
            session,
            work,
            extranonces,
            next_client_id: 2,
            next_nonce: 0,
            pending: VecDeque::new(),
        }
    }

    /// The miner hangs up and connects again: a new session on the same
    /// core (same users, same duplicate set), with its own extranonce1.
    pub fn reconnect(&mut self) {
        self.close();
        let en1 = self.extranonces.allocate();
        let (id, now) = (self.next_client_id, self.now());
        self.next_client_id += 1;
        self.session = Session::new(id, Arc::from("192.0.2.1"), &en1, &self.core.config, now);
        self.pending.clear();
    }

    /// The connection closes as the server closes it.
    pub fn close(&mut self) {
        let work = self.work.clone();
        let ctx = self.core.context(&work);
        self.session.disconnected(&ctx);
        self.extranonces.release(self.session.extranonce1());
    }

    fn now(&self) -> Instant {
        self.core.start + Duration::from_secs(self.core.secs)
    }

    /// One request line, without its newline; what the session wrote is
    /// queued for [`Connection::line`]. Every line written must be JSON.
    pub fn send(&mut self, line: &[u8]) -> Flow {
        let mut out = Vec::new();
        let work = self.work.clone();
        let mut ctx = self.core.context(&work);
        let flow = self.session.handle_line(line, &mut ctx, &mut out);
        self.queue(&out);
        flow
    }

    /// The core sends the current work as a new job (`clean`: drop the
    /// older ones), as it does to every connection when work changes.
    pub fn send_work(&mut self, clean: bool) {
        let mut out = Vec::new();
        let work = self.work.clone();
        self.session
            .send_work(&work, clean, &self.core.context(&work), &mut out);
        self.queue(&out);
    }

    /// Let `secs` pass and run the core's once-a-second upkeep.
    pub fn tick(&mut self, secs: u64) {
        self.core.secs += secs;
        let mut out = Vec::new();
        let work = self.work.clone();
        self.session.tick(&self.core.context(&work), &mut out);
        self.queue(&out);
    }

    fn queue(&mut self, out: &[u8]) {
        for line in out.split_inclusive(|&b| b == b'\n') {
            assert!(
                line.ends_with(b"\n"),
                "a line the session left unfinished: {line:?}"
            );
            self.pending.push_back(line.to_vec());
        }
    }

    /// The next line the session wrote (newline included), if any.
    pub fn line(&mut self) -> Option<Vec<u8>> {
        self.pending.pop_front()
    }

    /// A `mining.submit` line (id `id`, as `user`) for a new share on job
    /// `job_hex` at `ntime` (as its notify gave it) that meets `diff` and is
    /// no block, mined on the job as the
    /// session holds it (its header as [`crate::share::MinerJob::header`]
    /// builds it: proven against real blocks by tests/known_answers.rs).
    pub fn share(&mut self, id: u64, user: &str, job_hex: &str, ntime: &str, diff: f64) -> String {
        let (job, _) = self
            .session
            .jobs
            .get(job_hex)
            .expect("a job the session holds");
        let mut job = job.clone();
        let en2 = "00".repeat(self.core.config.work.extranonce2_len);
        let target = difficulty_to_share_target(diff);
        loop {
            let nonce = format!("{:08x}", self.next_nonce);
            self.next_nonce = self.next_nonce.checked_add(1).expect("nonces left");
            let len = self.core.config.work.extranonce2_len;
            let submit =
                Submit::parse(&en2, ntime, &nonce, None, len).expect("a well-formed share");
            let hash = sha256d(&job.header(&submit, job.template.version));
            if hash_meets(&hash, &target) && !hash_meets(&hash, &job.template.network_target) {
                return format!(
                    r#"{{"id":{id},"method":"mining.submit","params":["{user}","{job_hex}","{en2}","{ntime}","{nonce}"]}}"#
                );
            }
        }
    }
}
