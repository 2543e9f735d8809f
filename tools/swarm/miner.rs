//! One miner's Stratum v1 client state, without sockets: cpuminer's
//! handshake, difficulty bound at notify time, jobs, paced submits and
//! their replies. Lines come in through [`Miner::handle_line`]; bytes to
//! send are appended to an output buffer the connection flushes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::job::{Job, Scan, DEFAULT_DIFFICULTY};
use crate::message::{self, Message, NotifyParams, Outcome};
use crate::pacer::Pacer;
use crate::request::{self, SubmitFields, AUTHORIZE_ID, FIRST_SUBMIT_ID, SUBSCRIBE_ID};
use crate::stats::Stats;

/// Most submits one connection keeps waiting for a reply.
pub const MAX_OUTSTANDING: usize = 4;

/// A submit without a reply after this long is given up (and counted).
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Most hashes per [`Miner::work`] call, so one connection at a high
/// difficulty cannot starve the others (~0.3 ms with SHA-NI).
pub const HASH_BUDGET: u32 = 2048;

/// Longest `client.reconnect` wait honoured.
pub const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(60);

/// What every miner of a run shares.
#[derive(Debug, Clone)]
pub struct Settings {
    pub password: String,
    pub agent: String,
    pub suggest_diff: Option<f64>,
    /// Shares per second per miner; 0 = unpaced.
    pub rate: f64,
    /// Submit nonces without hashing them (`--unchecked-shares`).
    pub unchecked: bool,
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Subscribing,
    Authorizing,
    Mining,
}

/// Why a connection must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The pool refused the worker: do not come back.
    AuthRefused,
    /// Subscribe failed or the pool's replies make no sense.
    ProtocolError,
    /// `client.reconnect`: reconnect to the same pool after the wait.
    Reconnect(Duration),
}

/// What a miner wants next from the event loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// More hashing to do right away.
    Busy,
    /// Nothing until this instant (the next pacing token).
    WaitUntil(Instant),
    /// Nothing until the pool sends something.
    Idle,
}

/// One miner's Stratum state.
pub struct Miner {
    settings: Arc<Settings>,
    worker: String,
    phase: Phase,
    extranonce1: Option<Vec<u8>>,
    en2_size: usize,
    /// Set by `mining.set_difficulty`; bound to the next job.
    next_difficulty: f64,
    job: Option<Job>,
    job_exhausted: bool,
    next_id: u64,
    /// Submits awaiting a reply: request id and when it was queued.
    inflight: Vec<(u64, Instant)>,
    pacer: Pacer,
}

impl Miner {
    /// A miner for `worker` whose first share may go at `first_share`.
    pub fn new(settings: Arc<Settings>, worker: String, first_share: Instant) -> Miner {
        let pacer = Pacer::new(settings.rate, first_share);
        Miner {
            settings,
            worker,
            phase: Phase::Subscribing,
            extranonce1: None,
            en2_size: 0,
            next_difficulty: DEFAULT_DIFFICULTY,
            job: None,
            job_exhausted: false,
            next_id: FIRST_SUBMIT_ID,
            inflight: Vec::with_capacity(MAX_OUTSTANDING),
            pacer,
        }
    }

    /// The connection is up: send `mining.subscribe`.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        request::subscribe(out, &self.settings.agent);
    }

    /// Submits waiting for a reply.
    #[cfg(test)]
    pub fn outstanding(&self) -> usize {
        self.inflight.len()
    }

    /// Handle one line from the pool.
    pub fn handle_line(
        &mut self,
        line: &mut [u8],
        out: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> Result<(), Closing> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let c = &mut stats.counters;
        match message::parse(line) {
            Err(_) => c.protocol_errors += 1,
            Ok(Message::Response { id, outcome }) => {
                return self.on_response(id, outcome, out, stats)
            }
            Ok(Message::Notify(n)) => self.on_notify(&n, stats),
            Ok(Message::SetDifficulty(d)) => {
                c.set_difficulty += 1;
                self.next_difficulty = d;
            }
            Ok(Message::SetExtranonce {
                extranonce1,
                en2_size,
            }) => {
                // Like a subscribe result: applies from the next job.
                c.set_extranonce += 1;
                self.extranonce1 = Some(extranonce1);
                self.en2_size = en2_size;
            }
            Ok(Message::Reconnect { wait_secs }) => {
                c.reconnect_requests += 1;
                let wait = Duration::from_secs(wait_secs).min(MAX_RECONNECT_WAIT);
                return Err(Closing::Reconnect(wait));
            }
            Ok(Message::ShowText) => c.show_messages += 1,
            Ok(Message::SetVersionMask) => c.version_masks += 1,
            Ok(Message::GetVersion(id)) => request::version_reply(out, &id, &self.settings.agent),
            Ok(Message::Other) => {}
        }
        Ok(())
    }

    /// A reply to one of our requests.
    fn on_response(
        &mut self,
        id: u64,
        outcome: Outcome,
        out: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> Result<(), Closing> {
        let c = &mut stats.counters;
        match (id, outcome) {
            (
                SUBSCRIBE_ID,
                Outcome::Subscribed {
                    extranonce1,
                    en2_size,
                },
            ) if self.phase == Phase::Subscribing => {
                c.subscribed += 1;
                self.extranonce1 = Some(extranonce1);
                self.en2_size = en2_size;
                self.phase = Phase::Authorizing;
                if let Some(diff) = self.settings.suggest_diff {
                    request::suggest_difficulty(out, diff);
                }
                request::authorize(out, &self.worker, &self.settings.password);
            }
            (SUBSCRIBE_ID, _) if self.phase == Phase::Subscribing => {
                c.protocol_errors += 1;
                return Err(Closing::ProtocolError);
            }
            (AUTHORIZE_ID, Outcome::Accepted) if self.phase == Phase::Authorizing => {
                c.authorized += 1;
                self.phase = Phase::Mining;
            }
            (AUTHORIZE_ID, _) if self.phase == Phase::Authorizing => {
                c.auth_refused += 1;
                return Err(Closing::AuthRefused);
            }
            (id, outcome) if id >= FIRST_SUBMIT_ID => self.on_submit_reply(id, outcome, stats),
            _ => {}
        }
        Ok(())
    }

    /// A reply to a `mining.submit`: latency, then accepted or why not.
    fn on_submit_reply(&mut self, id: u64, outcome: Outcome, stats: &mut Stats) {
        let Some(pos) = self.inflight.iter().position(|&(i, _)| i == id) else {
            return; // timed out earlier, or not ours
        };
        let (_, sent) = self.inflight.swap_remove(pos);
        stats.record_latency(sent.elapsed());
        match outcome {
            Outcome::Refused(reason) => stats.record_reject(&reason),
            _ => stats.counters.accepted += 1,
        }
    }

    /// A new job, bound to the difficulty and extranonce now in force.
    fn on_notify(&mut self, n: &NotifyParams, stats: &mut Stats) {
        stats.counters.notifies += 1;
        stats.counters.clean_jobs += u64::from(n.clean_jobs);
        if n.clean_jobs {
            stats.record_clean_job(n.prevhash, crate::stats::unix_micros());
        }
        if let Some(en1) = &self.extranonce1 {
            self.job = Some(Job::new(n, en1, self.en2_size, self.next_difficulty));
            self.job_exhausted = false;
        }
    }

    /// Hash and submit as pacing allows; say when to come back.
    /// `mining` is false once the run's duration is over.
    pub fn work(
        &mut self,
        now: Instant,
        mining: bool,
        out: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> Work {
        let Some(job) = self
            .job
            .as_mut()
            .filter(|_| self.phase == Phase::Mining && mining)
        else {
            return Work::Idle;
        };
        if self.job_exhausted || self.inflight.len() >= MAX_OUTSTANDING {
            return Work::Idle;
        }
        if !self.pacer.ready(now) {
            return self.pacer.due().map_or(Work::Busy, Work::WaitUntil);
        }
        let (scan, hashes) = if self.settings.unchecked {
            (job.next_unchecked(), 0)
        } else {
            job.scan(HASH_BUDGET)
        };
        stats.counters.hashes += u64::from(hashes);
        let share = match scan {
            Scan::Found(share) => share,
            Scan::NotYet => return Work::Busy,
            Scan::Exhausted => {
                self.job_exhausted = true;
                return Work::Idle;
            }
        };
        let fields = SubmitFields {
            worker: &self.worker,
            job_id: &job.job_id,
            extranonce2: &Job::extranonce2_hex(&share),
            ntime: &job.ntime_hex(),
            nonce: &share.nonce_hex(),
        };
        request::submit(out, self.next_id, &fields);
        self.inflight.push((self.next_id, Instant::now()));
        self.next_id += 1;
        stats.counters.submitted += 1;
        self.pacer.take(now);
        if self.inflight.len() >= MAX_OUTSTANDING {
            Work::Idle
        } else if self.pacer.ready(now) {
            Work::Busy
        } else {
            self.pacer.due().map_or(Work::Busy, Work::WaitUntil)
        }
    }

    /// Give up submits older than [`SUBMIT_TIMEOUT`]; `true` if any were.
    pub fn expire(&mut self, now: Instant, stats: &mut Stats) -> bool {
        let before = self.inflight.len();
        self.inflight
            .retain(|&(_, sent)| now.saturating_duration_since(sent) < SUBMIT_TIMEOUT);
        let expired = before - self.inflight.len();
        stats.counters.timed_out += expired as u64;
        expired > 0
    }

    /// The run is over (or the connection closed): count what is left
    /// waiting as unanswered.
    pub fn abandon(&mut self, stats: &mut Stats) {
        stats.counters.unanswered += self.inflight.len() as u64;
        self.inflight.clear();
    }

    /// Whether the job being mined was bound to `difficulty` (tests).
    #[cfg(test)]
    pub fn job_difficulty_is(&self, difficulty: f64) -> bool {
        let target = tbg_pool::bitcoin::target::difficulty_to_share_target(difficulty);
        self.job.as_ref().is_some_and(|j| j.target() == target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIFY: &str = r#"{"id":null,"method":"mining.notify","params":["JOB","03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff2003a086012f66616b652f","ffffffff0100f2052a010000001976a914000000000000000000000000000000000000000088ac00000000",["28119e3f33aa8c203c31ef210ad9bb91414a3607342db65be11280ecee354c8a"],"20000000","1d00ffff","6b06107f",true]}"#;

    struct Harness {
        miner: Miner,
        out: Vec<u8>,
        stats: Stats,
    }

    impl Harness {
        fn new(suggest_diff: Option<f64>, rate: f64) -> Harness {
            let settings = Settings {
                password: "x".into(),
                agent: "cpuminer/2.5.1".into(),
                suggest_diff,
                rate,
                unchecked: false,
            };
            let miner = Miner::new(Arc::new(settings), "addr.w0".into(), Instant::now());
            Harness {
                miner,
                out: Vec::new(),
                stats: Stats::default(),
            }
        }

        fn feed(&mut self, line: &str) -> Result<(), Closing> {
            let mut bytes = line.as_bytes().to_vec();
            self.miner
                .handle_line(&mut bytes, &mut self.out, &mut self.stats)
        }

        fn sent(&mut self) -> String {
            String::from_utf8(std::mem::take(&mut self.out)).unwrap()
        }

        /// Work until a submit is written (bounded).
        fn mine_one(&mut self) -> String {
            for _ in 0..1000 {
                let w = self
                    .miner
                    .work(Instant::now(), true, &mut self.out, &mut self.stats);
                if !self.out.is_empty() {
                    return self.sent();
                }
                assert_eq!(w, Work::Busy);
            }
            panic!("no share found");
        }

        fn handshake(&mut self) {
            self.miner.start(&mut self.out);
            self.feed(r#"{"id":1,"result":[[["mining.notify","s"]],"f000000f",4],"error":null}"#)
                .unwrap();
            self.feed(r#"{"id":2,"result":true,"error":null}"#).unwrap();
            self.sent();
        }
    }

    #[test]
    fn cpuminer_handshake_then_a_share() {
        let mut h = Harness::new(Some(0.001), 0.0);
        h.miner.start(&mut h.out);
        assert!(h
            .sent()
            .contains("\"mining.subscribe\", \"params\": [\"cpuminer/2.5.1\"]"));
        assert_eq!(
            h.miner.work(Instant::now(), true, &mut h.out, &mut h.stats),
            Work::Idle
        );
        h.feed(r#"{"id":1,"result":[[["mining.notify","s"]],"f000000f",4],"error":null}"#)
            .unwrap();
        let sent = h.sent();
        let lines: Vec<&str> = sent.lines().collect();
        assert!(
            lines[0].contains("\"mining.suggest_difficulty\", \"params\": [0.001]"),
            "{sent}"
        );
        assert!(
            lines[1].contains("\"mining.authorize\", \"params\": [\"addr.w0\", \"x\"]"),
            "{sent}"
        );
        h.feed(r#"{"id":null,"method":"mining.set_difficulty","params":[1e-8]}"#)
            .unwrap();
        h.feed(NOTIFY).unwrap();
        assert_eq!(
            h.miner.work(Instant::now(), true, &mut h.out, &mut h.stats),
            Work::Idle,
            "not authorized yet"
        );
        h.feed(r#"{"id":2,"result":true,"error":null}"#).unwrap();
        let submit = h.mine_one();
        assert!(submit.starts_with("{\"id\": 4, \"method\": \"mining.submit\", \"params\": [\"addr.w0\", \"JOB\", \"00000000\", \"6b06107f\", \""), "{submit}");
        h.feed(r#"{"id":4,"result":true,"error":null}"#).unwrap();
        let c = h.stats.counters;
        assert_eq!(
            (
                c.subscribed,
                c.authorized,
                c.notifies,
                c.clean_jobs,
                c.set_difficulty
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!((c.submitted, c.accepted, h.stats.latency.len()), (1, 1, 1));
        assert!(c.hashes > 0);
    }

    #[test]
    fn difficulty_applies_from_the_next_notify() {
        let mut h = Harness::new(None, 0.0);
        h.handshake();
        h.feed(NOTIFY).unwrap();
        assert!(h.miner.job_difficulty_is(DEFAULT_DIFFICULTY));
        h.feed(r#"{"method":"mining.set_difficulty","params":[0.5]}"#)
            .unwrap();
        assert!(h.miner.job_difficulty_is(DEFAULT_DIFFICULTY));
        h.feed(&NOTIFY.replace("true]", "false]")).unwrap();
        assert!(h.miner.job_difficulty_is(0.5));
        assert_eq!(
            (h.stats.counters.notifies, h.stats.counters.clean_jobs),
            (2, 1)
        );
    }

    #[test]
    fn rejects_outstanding_limit_and_timeouts() {
        let mut h = Harness::new(None, 0.0);
        h.handshake();
        h.feed(r#"{"method":"mining.set_difficulty","params":[1e-8]}"#)
            .unwrap();
        h.feed(NOTIFY).unwrap();
        for _ in 0..MAX_OUTSTANDING {
            h.mine_one();
        }
        assert_eq!(
            h.miner.work(Instant::now(), true, &mut h.out, &mut h.stats),
            Work::Idle
        );
        h.feed(r#"{"id":4,"result":null,"error":[23,"Low difficulty share",null]}"#)
            .unwrap();
        h.feed(r#"{"id":4,"result":true,"error":null}"#).unwrap(); // duplicate reply: ignored
        assert_eq!(h.stats.rejects["23 Low difficulty share"], 1);
        assert_eq!(
            (h.stats.counters.rejected, h.stats.counters.accepted),
            (1, 0)
        );
        assert!(h
            .miner
            .expire(Instant::now() + SUBMIT_TIMEOUT, &mut h.stats));
        assert_eq!((h.stats.counters.timed_out, h.miner.outstanding()), (3, 0));
        h.mine_one();
        h.miner.abandon(&mut h.stats);
        assert_eq!(h.stats.counters.unanswered, 1);
        assert_eq!(
            h.miner
                .work(Instant::now(), false, &mut h.out, &mut h.stats),
            Work::Idle
        );
    }

    #[test]
    fn pacing_waits_for_the_next_token() {
        let mut h = Harness::new(None, 1.0);
        h.handshake();
        h.feed(r#"{"method":"mining.set_difficulty","params":[1e-8]}"#)
            .unwrap();
        h.feed(NOTIFY).unwrap();
        h.mine_one(); // the first token is due at once; the next in 1 s
        assert!(matches!(
            h.miner.work(Instant::now(), true, &mut h.out, &mut h.stats),
            Work::WaitUntil(_)
        ));
    }

    #[test]
    fn closing_and_other_messages() {
        let mut h = Harness::new(None, 0.0);
        h.miner.start(&mut h.out);
        h.feed(r#"{"id":1,"result":[[["mining.notify","s"]],"f000000f",4],"error":null}"#)
            .unwrap();
        assert_eq!(
            h.feed(r#"{"id":2,"result":false,"error":[24,"Unauthorized worker",null]}"#),
            Err(Closing::AuthRefused)
        );
        assert_eq!(h.stats.counters.auth_refused, 1);

        let mut h = Harness::new(None, 0.0);
        h.miner.start(&mut h.out);
        assert_eq!(
            h.feed(r#"{"id":1,"result":null,"error":[20,"Busy",null]}"#),
            Err(Closing::ProtocolError)
        );

        let mut h = Harness::new(None, 0.0);
        h.handshake();
        h.feed("garbage").unwrap();
        h.feed("").unwrap();
        h.feed(r#"{"method":"client.show_message","params":["hi"]}"#)
            .unwrap();
        h.feed(r#"{"method":"mining.set_version_mask","params":["1fffe000"]}"#)
            .unwrap();
        h.feed(r#"{"method":"mining.set_extranonce","params":["aa",2]}"#)
            .unwrap();
        h.feed(r#"{"id":5,"method":"client.get_version","params":[]}"#)
            .unwrap();
        assert!(h.sent().contains("\"result\": \"cpuminer/2.5.1\""));
        let c = h.stats.counters;
        assert_eq!(
            (
                c.protocol_errors,
                c.show_messages,
                c.version_masks,
                c.set_extranonce
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(
            h.feed(r#"{"method":"client.reconnect","params":["h",1,600]}"#),
            Err(Closing::Reconnect(MAX_RECONNECT_WAIT))
        );
    }
}
