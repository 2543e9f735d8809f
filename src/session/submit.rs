//! `mining.submit`: the share hot path as a session sees it.

use std::sync::Arc;
use std::time::Instant;

use super::jobs::JobState;
use super::{Context, Flow, Session};
use crate::events::{Event, Timeframe};
use crate::node::{submitter, FoundBlock};
use crate::server::Limit;
use crate::share::{MinerJob, RejectReason, Submit, Verdict};
use crate::stratum::{encode, Request};
use crate::users::{BestUpdate, Worker};

/// A submit refused before its hash check.
struct Refused {
    reason: RejectReason,
    /// Whether it spends the request budget: everything but a stale
    /// share on a job this connection was really sent (normal after a
    /// block) is a request that earned nothing.
    free: bool,
}

impl From<RejectReason> for Refused {
    fn from(reason: RejectReason) -> Refused {
        Refused { reason, free: true }
    }
}

/// A share that reached the hash check.
struct Checked {
    verdict: Verdict,
    worker: Arc<Worker>,
    /// The difficulty it was judged at (see `lower_diff` below).
    job_diff: f64,
    /// Whether its job was sent at the connection's current difficulty:
    /// only such shares say how fast the miner works at it (see vardiff).
    at_current_diff: bool,
}

impl Session {
    /// `mining.submit [worker, job_id, extranonce2, ntime, nonce, (version_bits)]`.
    /// Exactly one reply and one `share_submitted` event per submit.
    pub(super) fn submit(
        &mut self,
        req: &Request<'_>,
        ctx: &mut Context<'_>,
        out: &mut Vec<u8>,
    ) -> Flow {
        let checked = self.judge(req, ctx);
        let (reject, free) = match &checked {
            Ok(c) => (c.verdict.reject, false),
            Err(r) => (Some(r.reason), r.free),
        };
        match reject {
            None => encode::result_true(out, req.id),
            Some(r) => encode::error(out, req.id, r.code(), r.message()),
        }
        ctx.metrics.submit(reject);
        if reject == Some(RejectReason::WorkerMismatch) {
            ctx.limits.count(Limit::Worker);
        }
        self.share_event(req, reject, checked.as_ref().ok(), ctx);
        self.account(reject, checked.ok(), ctx, out);
        if self.invalid_shares_in_a_row > ctx.config.max_invalid_shares {
            ctx.limits.count(Limit::Invalid);
            return Flow::Close;
        }
        if free {
            return self.spend(ctx);
        }
        Flow::Continue
    }

    /// Find the job and check the share; `Err` when it never got that far.
    /// Nothing is created for a submit: its worker must be one this
    /// connection authorized (as ckpool refuses a "worker mismatch").
    fn judge(&mut self, req: &Request<'_>, ctx: &mut Context<'_>) -> Result<Checked, Refused> {
        if !self.subscribed {
            return Err(RejectReason::NotSubscribed.into());
        }
        let auth = self.auth.as_ref().ok_or(RejectReason::Unauthorized)?;
        let name = req.plain_str(0).ok_or(RejectReason::Malformed)?;
        let worker = auth
            .worker_named(name)
            .ok_or(RejectReason::WorkerMismatch)?
            .clone();
        if !(5..=6).contains(&req.params_len()) {
            return Err(RejectReason::Malformed.into());
        }
        let field = |i: usize| req.plain_str(i).ok_or(RejectReason::Malformed);
        let version_bits = if req.params_len() == 6 {
            Some(field(5)?)
        } else {
            None
        };
        let en2_len = ctx.config.work.extranonce2_len;
        let submit = Submit::parse(field(2)?, field(3)?, field(4)?, version_bits, en2_len)?;
        let job_id = field(1)?;
        let issued = self.jobs.was_issued(job_id);
        let (job, state) = self.jobs.get(job_id).ok_or(Refused {
            reason: RejectReason::Stale,
            free: !issued,
        })?;
        let at_current_diff = job.diff == self.diff;
        // A job is judged at the difficulty it was sent with, or at the
        // connection's current one when that is lower: after a vardiff
        // decrease, firmware that applies set_difficulty at once submits
        // shares for the older job at the new, lower difficulty, and
        // refusing that valid work would be the pool's fault.
        if self.diff > 0.0 && self.diff < job.diff {
            job.lower_diff(self.diff);
        }
        // Without `mining.configure`, some Antminer firmware still rolls
        // version bits: allowed within the pool's own mask.
        let mask = if self.configured {
            self.version_mask
        } else {
            ctx.config.version_mask
        };
        // Two monotonic clock reads (vDSO: no system call) around the
        // check alone, so refusals that never hash do not dilute it.
        let started = Instant::now();
        let verdict = job.check(&submit, mask, ctx.seen);
        ctx.metrics.share_checked(started.elapsed());
        let is_block = verdict.is_block && verdict.accepted();
        if state == JobState::Stale && !is_block {
            return Err(Refused {
                reason: RejectReason::Stale,
                free: false,
            });
        }
        if is_block {
            ctx.metrics.block_found();
            let found = found_block(job, &submit, &verdict, &worker, ctx.unix_now);
            ctx.events.push_at(
                ctx.unix_us,
                Event::BlockFound {
                    user: auth.user.address.clone(),
                    worker: worker.name.clone(),
                    height: found.height,
                    hash: found.hash,
                    diff: found.share_diff,
                    network_diff: found.network_diff,
                    reward_sats: found.reward_sats,
                    coinbase_sig: Arc::from(String::from_utf8_lossy(&auth.sig)),
                },
            );
            // On disk before any queue, so no crash can lose it; then to
            // the submitter (unbounded channel: never dropped here).
            if let Err(e) = submitter::persist(&ctx.config.logdir, &found) {
                log_error!("cannot write the block found at {}: {e}", found.height);
            }
            let _ = ctx.blocks.send(found);
        }
        Ok(Checked {
            verdict,
            worker,
            job_diff: job.diff,
            at_current_diff,
        })
    }

    /// The `share_submitted` event, with the verdict the miner was given.
    fn share_event(
        &self,
        req: &Request<'_>,
        reject: Option<RejectReason>,
        checked: Option<&Checked>,
        ctx: &Context<'_>,
    ) {
        if !ctx.events.enabled() {
            return;
        }
        let (user, worker): (Arc<str>, Arc<str>) = match (&self.auth, checked) {
            (Some(auth), Some(c)) => (auth.user.address.clone(), c.worker.name.clone()),
            (Some(auth), None) => (auth.user.address.clone(), auth.worker.name.clone()),
            // Never authorized: what the miner claimed, bounded.
            (None, _) => {
                let name = req.string(0).unwrap_or_default();
                let name = crate::text::prefix(&name, super::MAX_USERNAME_BYTES);
                (
                    Arc::from(name.split('.').next().unwrap_or("")),
                    Arc::from(name),
                )
            }
        };
        ctx.events.push_at(
            ctx.unix_us,
            Event::ShareSubmitted {
                user,
                worker,
                client_id: self.client_id,
                diff: checked.map_or(self.diff, |c| c.job_diff),
                sdiff: checked.map_or(0.0, |c| c.verdict.share_diff),
                accepted: reject.is_none(),
                reject_reason: reject.map(RejectReason::as_str),
                ip: self.ip.clone(),
            },
        );
    }

    /// Stats, best difficulty, flood counting and vardiff for one submit.
    fn account(
        &mut self,
        reject: Option<RejectReason>,
        checked: Option<Checked>,
        ctx: &Context<'_>,
        out: &mut Vec<u8>,
    ) {
        let Some(auth) = &self.auth else { return };
        let job_diff = checked.as_ref().map_or(self.diff, |c| c.job_diff);
        let worker = checked.as_ref().map_or(&auth.worker, |c| &c.worker).clone();
        let Some(r) = reject else {
            let share_diff = checked.as_ref().map_or(0.0, |c| c.verdict.share_diff);
            let update = ctx.registry.record_accepted(
                &auth.user,
                &worker,
                job_diff,
                share_diff,
                ctx.unix_now,
            );
            self.invalid_shares_in_a_row = 0;
            self.shares_accepted += 1;
            self.personal_bests(share_diff, update, &worker, ctx);
            // Shares on jobs sent before the last difficulty change are
            // left out of vardiff: whether the miner mined them at the old
            // difficulty (cpuminer: until its next job) or the new one
            // (Bitaxe: at once) cannot be told, and counting either way
            // pushes the difficulty on again for the other kind.
            let counted = checked.as_ref().is_some_and(|c| c.at_current_diff);
            let retarget = counted
                .then(|| self.vardiff.on_share(job_diff, self.diff, ctx.now))
                .flatten();
            if let Some(d) = retarget {
                // Never above the network's difficulty (a share that hard
                // is a block), unless mindiff or a suggestion says so.
                let network = ctx.work.map_or(f64::MAX, |w| w.template.network_diff);
                self.vardiff_change(self.vardiff.clamp(d.min(network)), ctx, out);
            }
            return;
        };
        ctx.registry
            .record_rejected(Some((&auth.user, &worker)), r, job_diff);
        // Stale shares are normal right after a block; anything else
        // repeated without a single good share is a broken or hostile miner.
        if r != RejectReason::Stale {
            self.invalid_shares_in_a_row += 1;
        }
    }

    /// Best-difficulty tiers, beaten by an accepted share: session, then
    /// week, then all time, one event per tier beaten.
    fn personal_bests(
        &mut self,
        share_diff: f64,
        update: BestUpdate,
        worker: &Worker,
        ctx: &Context<'_>,
    ) {
        let Some(auth) = &self.auth else { return };
        let beat = |timeframe, prev, new| Event::ShareBestDiff {
            user: auth.user.address.clone(),
            worker: worker.name.clone(),
            new_best: new,
            prev_best: prev,
            timeframe,
        };
        if share_diff > self.best_diff {
            if ctx.config.track_best_diff {
                let event = beat(Timeframe::Session, self.best_diff, share_diff);
                ctx.events.push_at(ctx.unix_us, event);
            }
            self.best_diff = share_diff;
        }
        if let (Some(summary), true) = (update.rollover, ctx.config.track_weekly_stats) {
            ctx.events.push_at(
                ctx.unix_us,
                Event::WeeklySummary {
                    user: auth.user.address.clone(),
                    week: summary.week,
                    best_diff_week: summary.best_diff_week,
                    total_shares_week: summary.total_shares_week,
                },
            );
        }
        if !ctx.config.track_best_diff {
            return;
        }
        if let Some((prev, new)) = update.week {
            ctx.events
                .push_at(ctx.unix_us, beat(Timeframe::Week, prev, new));
        }
        if let Some((prev, new)) = update.alltime {
            ctx.events
                .push_at(ctx.unix_us, beat(Timeframe::Alltime, prev, new));
        }
    }
}

fn found_block(
    job: &mut MinerJob,
    submit: &Submit,
    v: &Verdict,
    worker: &Worker,
    unix_now: u64,
) -> FoundBlock {
    let t = job.template.clone();
    FoundBlock {
        height: t.height,
        hash: v.hash,
        block: job.block(submit, &v.header),
        username: worker.name.clone(),
        worker: worker.name.clone(),
        share_diff: v.share_diff,
        network_diff: t.network_diff,
        reward_sats: t.coinbase_value_sats,
        found_at_unix: unix_now,
    }
}
