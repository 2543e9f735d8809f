//! One miner's connection state: subscribe, authorize, configure,
//! difficulty (suggested and vardiff), its jobs, and its shares.
//!
//! A session is pure state: it reads parsed requests and writes replies
//! into the connection's buffer, with everything else it needs in a
//! [`Context`] from its core, so the same code runs in the server, in the
//! fuzz target and in tests without sockets ([`crate::testkit`]: every
//! firmware replay of tests/firmware.rs runs through it first).
//!
//! Every request that earns nothing (a ping, an unknown method, a submit
//! that is never hashed, a repeated handshake) spends the connection's
//! request budget; out of budget, the connection is paused until it
//! refills, and paused too often it is closed. Honest firmware sends a
//! handful of such requests a minute; a flood is slowed to the refill
//! rate and then dropped, never starving the core's other miners.

mod handshake;
mod jobs;
mod submit;
#[cfg(test)]
mod tests;
pub mod vardiff;

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::bitcoin::Network;
use crate::config::Config;
use crate::events::{Event, EventSender};
use crate::node::FoundBlock;
use crate::server::{CoreMetrics, Limit, LimitCounters};
use crate::share::{MinerJob, SeenShares, MAX_NTIME_AHEAD_SECS};
use crate::stratum::{encode, ParseError, Request};
use crate::users::{Registry, User, Worker};
use crate::work::{build_coinbase, Work};
pub use jobs::JobRing;
use vardiff::Vardiff;

/// Longest user agent kept.
pub const MAX_USER_AGENT_BYTES: usize = 64;
/// Longest worker name accepted after the address and its `.`.
pub const MAX_WORKER_NAME_BYTES: usize = 128;
/// Longest payout address (bech32 addresses are at most 90 characters).
pub const MAX_ADDRESS_BYTES: usize = 90;
/// Longest username (`address.worker`) accepted.
pub const MAX_USERNAME_BYTES: usize = MAX_ADDRESS_BYTES + 1 + MAX_WORKER_NAME_BYTES;

/// What a core lends a session for one request.
pub struct Context<'a> {
    pub config: &'a Config,
    pub network: Network,
    /// The current work, once the node has given a template.
    pub work: Option<&'a Arc<Work>>,
    pub registry: &'a Registry,
    /// This core's duplicate-share set.
    pub seen: &'a mut SeenShares,
    /// Found blocks go to the submitter thread.
    pub blocks: &'a Sender<FoundBlock>,
    /// This core's event queue.
    pub events: &'a EventSender,
    /// Counters of the limits that struck (shared by every core).
    pub limits: &'a LimitCounters,
    /// This core's metrics.
    pub metrics: &'a CoreMetrics,
    pub now: Instant,
    pub unix_now: u64,
    /// Event timestamp for this batch of requests (unix microseconds).
    pub unix_us: u64,
}

/// Whether the connection stays open after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Out of request budget: handle nothing more from this connection
    /// until [`Session::is_paused`] says otherwise (after a tick).
    Pause,
    /// Flush what was written, then close.
    Close,
}

/// The authorized identity of a connection.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// As the miner sent it: `address` or `address.worker`.
    pub username: Arc<str>,
    pub worker_name: Arc<str>,
    pub user: Arc<User>,
    pub worker: Arc<Worker>,
    /// Further workers authorized on this connection (same address), by
    /// the username they were authorized as; at most
    /// `max_workers_per_connection` in all with the first.
    pub more_workers: Vec<(Arc<str>, Arc<Worker>)>,
    payout_script: Arc<[u8]>,
    sig: Arc<[u8]>,
}

impl Authorized {
    /// The worker a submit names, if this connection authorized it.
    pub fn worker_named(&self, username: &str) -> Option<&Arc<Worker>> {
        if username == &*self.username {
            return Some(&self.worker);
        }
        self.more_workers
            .iter()
            .find(|(n, _)| &**n == username)
            .map(|(_, w)| w)
    }
}

/// One miner's connection.
#[derive(Debug)]
pub struct Session {
    pub client_id: u64,
    /// The miner's address, for events and logs.
    pub ip: Arc<str>,
    extranonce1: [u8; 8],
    extranonce1_len: usize,
    pub subscribed: bool,
    pub user_agent: String,
    pub auth: Option<Authorized>,
    /// BIP310 mask agreed in `mining.configure` (0: no version rolling).
    pub version_mask: u32,
    /// Difficulty of the newest job sent (0 before any).
    pub diff: f64,
    /// The miner's own difficulty wish (suggest_difficulty, `d=`).
    pub suggested_diff: Option<f64>,
    pub vardiff: Vardiff,
    pub jobs: JobRing,
    /// The ntime of the newest job sent (see `send_fresh_work`).
    newest_ntime: u32,
    pub connected_at: Instant,
    pub shares_accepted: u64,
    pub best_diff: f64,
    pub extranonce_subscribed: bool,
    configured: bool,
    invalid_requests: u32,
    invalid_shares_in_a_row: u32,
    budget: Budget,
}

/// The request budget (see the module doc): a token bucket.
#[derive(Debug)]
struct Budget {
    tokens: u32,
    /// Times it ran out since it was last full.
    throttles: u32,
    paused: bool,
    refilled_at: Instant,
}

impl Session {
    /// A new connection with its (process-unique) extranonce1.
    pub fn new(
        client_id: u64,
        ip: Arc<str>,
        extranonce1: &[u8],
        config: &Config,
        now: Instant,
    ) -> Session {
        assert!(extranonce1.len() <= 8);
        let mut en1 = [0u8; 8];
        en1[..extranonce1.len()].copy_from_slice(extranonce1);
        Session {
            client_id,
            ip,
            extranonce1: en1,
            extranonce1_len: extranonce1.len(),
            subscribed: false,
            user_agent: String::new(),
            auth: None,
            version_mask: 0,
            diff: 0.0,
            suggested_diff: None,
            vardiff: Vardiff::new(
                config.vardiff_target_secs,
                config.mindiff,
                config.maxdiff,
                now,
            ),
            jobs: JobRing::default(),
            newest_ntime: 0,
            connected_at: now,
            shares_accepted: 0,
            best_diff: 0.0,
            extranonce_subscribed: false,
            configured: false,
            invalid_requests: 0,
            invalid_shares_in_a_row: 0,
            budget: Budget {
                tokens: config.request_budget,
                throttles: 0,
                paused: false,
                refilled_at: now,
            },
        }
    }

    /// Whether this connection is out of budget (its requests wait).
    pub fn is_paused(&self) -> bool {
        self.budget.paused
    }

    /// Spend one unit of the request budget on a request that earned
    /// nothing (its reply is already written).
    fn spend(&mut self, ctx: &Context<'_>) -> Flow {
        let b = &mut self.budget;
        b.tokens = b.tokens.saturating_sub(1);
        if b.tokens > 0 {
            return Flow::Continue;
        }
        b.throttles += 1;
        if b.throttles > ctx.config.max_throttles {
            ctx.limits.count(Limit::Flood);
            log_debug!(
                "client {}: out of request budget {} times, disconnecting",
                self.client_id,
                b.throttles
            );
            return Flow::Close;
        }
        ctx.limits.count(Limit::Throttled);
        b.paused = true;
        Flow::Pause
    }

    /// Refill the budget for the whole seconds since the last refill.
    fn refill(&mut self, ctx: &Context<'_>) {
        let b = &mut self.budget;
        let secs = ctx.now.saturating_duration_since(b.refilled_at).as_secs();
        if secs == 0 {
            return;
        }
        b.refilled_at += std::time::Duration::from_secs(secs);
        let add = secs.saturating_mul(ctx.config.request_budget_per_sec.into());
        let full = ctx.config.request_budget;
        b.tokens = u64::from(b.tokens).saturating_add(add).min(full.into()) as u32;
        if b.tokens == full {
            b.throttles = 0; // earned back in full: a fresh start
        }
        if b.tokens > 0 {
            b.paused = false;
        }
    }

    pub fn extranonce1(&self) -> &[u8] {
        &self.extranonce1[..self.extranonce1_len]
    }

    /// Handle one request line.
    pub fn handle_line(&mut self, line: &[u8], ctx: &mut Context<'_>, out: &mut Vec<u8>) -> Flow {
        match Request::parse(line) {
            Ok(req) => self.handle(&req, ctx, out),
            Err(e) => self.garbage(e, ctx, out),
        }
    }

    fn garbage(&mut self, e: ParseError, ctx: &Context<'_>, out: &mut Vec<u8>) -> Flow {
        encode::error_null(out, "null", 20, e.message());
        self.invalid_requests += 1;
        if self.invalid_requests > ctx.config.max_invalid_requests {
            ctx.limits.count(Limit::Invalid);
            return Flow::Close;
        }
        self.spend(ctx)
    }

    /// Dispatch a parsed request.
    pub fn handle(&mut self, req: &Request<'_>, ctx: &mut Context<'_>, out: &mut Vec<u8>) -> Flow {
        let earned = match req.method {
            "mining.submit" => return self.submit(req, ctx, out),
            "mining.subscribe" => self.subscribe(req, ctx, out),
            "mining.authorize" => self.authorize(req, ctx, out),
            "mining.configure" => self.configure(req, ctx, out),
            "mining.suggest_difficulty" => {
                self.suggest_difficulty(req, ctx, out);
                false
            }
            "mining.suggest_target" => {
                encode::result_true(out, req.id);
                false
            }
            "mining.extranonce.subscribe" => {
                let first = !self.extranonce_subscribed;
                self.extranonce_subscribed = true;
                encode::result_true(out, req.id);
                first
            }
            "mining.ping" => {
                encode::result_raw(out, req.id, "\"pong\"");
                false
            }
            // ESP-Miner answers a server's `mining.ping` with a request
            // named `pong`: nothing to answer.
            "pong" => false,
            _ => {
                encode::error_null(out, req.id, 20, "Method not found");
                false
            }
        };
        if earned {
            Flow::Continue
        } else {
            self.spend(ctx)
        }
    }

    /// Send work as a new job; `clean` tells the miner to drop older jobs.
    pub fn send_work(&mut self, work: &Work, clean: bool, ctx: &Context<'_>, out: &mut Vec<u8>) {
        self.send_job(work, clean, &work.notify_tail, ctx, out);
        self.newest_ntime = work.template.cur_time;
    }

    /// The current work again as a new job after a difficulty change, with
    /// an ntime no older job of this connection has (a second past the
    /// newest, or now), so its headers differ from theirs: cpuminer only
    /// takes a new job whose header differs from the one it mines (else it
    /// keeps the old job, difficulty and all), and a miner restarting its
    /// nonce on an identical header would send duplicates.
    fn send_fresh_work(&mut self, work: &Work, ctx: &Context<'_>, out: &mut Vec<u8>) {
        let t = &work.template;
        let now = u32::try_from(ctx.unix_now).unwrap_or(u32::MAX);
        let ntime = (self.newest_ntime.saturating_add(1))
            .max(now)
            .min(t.cur_time.saturating_add(MAX_NTIME_AHEAD_SECS / 2));
        let tail = encode::tail_with_ntime(&work.notify_tail, ntime);
        self.send_job(work, false, &tail, ctx, out);
        self.newest_ntime = ntime;
    }

    fn send_job(
        &mut self,
        work: &Work,
        clean: bool,
        tail: &str,
        ctx: &Context<'_>,
        out: &mut Vec<u8>,
    ) {
        let Some(auth) = &self.auth else { return };
        let t = &work.template;
        let cb = build_coinbase(t, &ctx.config.work, &auth.payout_script, &auth.sig);
        let en2_len = ctx.config.work.extranonce2_len;
        let job = MinerJob::new(t.clone(), &cb, self.extranonce1(), en2_len, self.diff);
        let id = self.jobs.push(job, clean);
        let job_id = format!("{id:x}");
        encode::notify(
            out,
            &job_id,
            &work.prevhash,
            &cb.coinb1,
            &cb.coinb2,
            tail,
            clean,
        );
    }

    /// Change difficulty: `mining.set_difficulty` now; jobs sent from
    /// now on carry it (cpuminer binds a difficulty at the next notify,
    /// Bitaxe and cgminer-style firmware apply it at once; a share is
    /// judged at the lower of its job's and the current difficulty, so
    /// both are judged fairly).
    /// Whether the difficulty changed (a new value equal to the current
    /// one changes nothing).
    pub fn change_diff(&mut self, new_diff: f64, ctx: &Context<'_>, out: &mut Vec<u8>) -> bool {
        if (new_diff - self.diff).abs() <= self.diff * 1e-12 {
            return false;
        }
        let old_diff = self.diff;
        self.diff = new_diff;
        self.vardiff.reset(ctx.now);
        encode::set_difficulty(out, new_diff);
        if let Some(auth) = &self.auth {
            ctx.events.push_at(
                ctx.unix_us,
                Event::DiffUpdated {
                    user: auth.user.address.clone(),
                    worker: auth.worker.name.clone(),
                    client_id: self.client_id,
                    old_diff,
                    new_diff,
                },
            );
        }
        true
    }

    /// A change vardiff asked for, counted in metrics when it is one, and
    /// followed by a fresh job at the new difficulty: cpuminer-style
    /// firmware binds a difficulty only at its next `mining.notify`, which
    /// would otherwise come with the next work (seen: ~20 s at ~220
    /// shares/s). Not clean: older jobs stay valid at their own difficulty,
    /// and firmware that applies `set_difficulty` at once just mines on.
    fn vardiff_change(&mut self, new_diff: f64, ctx: &Context<'_>, out: &mut Vec<u8>) {
        let old = self.diff;
        if self.change_diff(new_diff, ctx, out) {
            ctx.metrics.vardiff_change(old, new_diff);
            if let Some(work) = ctx.work {
                self.send_fresh_work(work, ctx, out);
            }
        }
    }

    /// The `miner_disconnected` event, if this connection had authorized.
    pub fn disconnected(&self, ctx: &Context<'_>) {
        let Some(auth) = &self.auth else { return };
        ctx.metrics.deauthorized();
        ctx.events.push_at(
            ctx.unix_us,
            Event::MinerDisconnected {
                user: auth.user.address.clone(),
                worker: auth.worker.name.clone(),
                client_id: self.client_id,
                ip: self.ip.clone(),
                session_duration: ctx
                    .now
                    .saturating_duration_since(self.connected_at)
                    .as_secs_f64(),
                shares_session: self.shares_accepted,
            },
        );
    }

    /// Whether this connection's newest job was built from `work` (it got
    /// it at authorization, so a fan-out of the same work skips it).
    pub fn has_work(&self, work: &Work) -> bool {
        self.jobs
            .latest()
            .is_some_and(|j| Arc::ptr_eq(&j.template, &work.template))
    }

    /// The chain moved on: shares for every job are stale even before
    /// this connection's clean job reaches it (a block on the newest is
    /// still submitted; see [`JobRing`]).
    pub fn drop_jobs(&mut self) {
        self.jobs.retire_all();
    }

    /// Periodic upkeep: the request budget refills, and vardiff for quiet
    /// miners (once they hold a job at their current difficulty: until
    /// then their shares are not counted).
    pub fn tick(&mut self, ctx: &Context<'_>, out: &mut Vec<u8>) {
        self.refill(ctx);
        if self.auth.is_none() || !self.jobs.latest().is_some_and(|j| j.diff == self.diff) {
            return;
        }
        if let Some(d) = self.vardiff.on_tick(self.diff, ctx.now) {
            self.vardiff_change(d, ctx, out);
        }
    }
}
