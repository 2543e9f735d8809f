//! `mining.submit`: the share hot path as a session sees it.

use std::sync::Arc;

use super::{Context, Flow, Session};
use crate::node::FoundBlock;
use crate::share::{MinerJob, RejectReason, Submit, Verdict};
use crate::stratum::{encode, Request};
use crate::users::Worker;

/// A share that reached the hash check.
struct Checked {
    verdict: Verdict,
    worker: Arc<Worker>,
    /// The difficulty of the job it names (not the session's current one).
    job_diff: f64,
}

impl Session {
    /// `mining.submit [worker, job_id, extranonce2, ntime, nonce, (version_bits)]`.
    /// Exactly one reply per submit.
    pub(super) fn submit(
        &mut self,
        req: &Request<'_>,
        ctx: &mut Context<'_>,
        out: &mut Vec<u8>,
    ) -> Flow {
        let checked = self.judge(req, ctx);
        let reject = match &checked {
            Ok(c) => c.verdict.reject,
            Err(reason) => Some(*reason),
        };
        match reject {
            None => encode::result_true(out, req.id),
            Some(r) => encode::error(out, req.id, r.code(), r.message()),
        }
        self.account(reject, checked.ok(), ctx, out);
        if self.invalid_shares_in_a_row > ctx.config.max_invalid_shares {
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Find the job and check the share; `Err` when it never got that far.
    fn judge(&mut self, req: &Request<'_>, ctx: &mut Context<'_>) -> Result<Checked, RejectReason> {
        if !self.subscribed {
            return Err(RejectReason::NotSubscribed);
        }
        let auth = self.auth.as_ref().ok_or(RejectReason::Unauthorized)?;
        let name = req.plain_str(0).ok_or(RejectReason::Malformed)?;
        let worker = if name == &*auth.username {
            auth.worker.clone()
        } else if name.split('.').next() == Some(&*auth.user.address) {
            auth.user.worker(name) // another worker name on the same address
        } else {
            return Err(RejectReason::Unauthorized);
        };
        if !(5..=6).contains(&req.params_len()) {
            return Err(RejectReason::Malformed);
        }
        let field = |i: usize| req.plain_str(i).ok_or(RejectReason::Malformed);
        let version_bits = if req.params_len() == 6 {
            Some(field(5)?)
        } else {
            None
        };
        let en2_len = ctx.config.work.extranonce2_len;
        let submit = Submit::parse(field(2)?, field(3)?, field(4)?, version_bits, en2_len)?;
        let job = self.jobs.get(field(1)?).ok_or(RejectReason::Stale)?;
        // A job is judged at the difficulty it was sent with, or at the
        // connection's current one when that is lower: after a vardiff
        // decrease, firmware that applies set_difficulty at once submits
        // shares for the older job at the new, lower difficulty, and
        // refusing that valid work would be the pool's fault.
        if self.diff > 0.0 && self.diff < job.diff {
            job.lower_diff(self.diff);
        }
        let verdict = job.check(&submit, self.version_mask, ctx.seen);
        if verdict.is_block && verdict.accepted() {
            // Unbounded channel: a block is never dropped here.
            let _ = ctx
                .blocks
                .send(found_block(job, &submit, &verdict, &worker, ctx.unix_now));
        }
        Ok(Checked {
            verdict,
            worker,
            job_diff: job.diff,
        })
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
        let worker = checked.as_ref().map_or(&auth.worker, |c| &c.worker);
        let Some(r) = reject else {
            let share_diff = checked.as_ref().map_or(0.0, |c| c.verdict.share_diff);
            ctx.registry
                .record_accepted(&auth.user, worker, job_diff, share_diff, ctx.unix_now);
            self.invalid_shares_in_a_row = 0;
            self.shares_accepted += 1;
            self.best_diff = self.best_diff.max(share_diff);
            if let Some(d) = self.vardiff.on_share(self.diff, ctx.now) {
                self.change_diff(d, ctx, out);
            }
            return;
        };
        ctx.registry
            .record_rejected(Some((&auth.user, worker)), r, job_diff);
        // Stale shares are normal right after a block; anything else
        // repeated without a single good share is a broken or hostile miner.
        if r != RejectReason::Stale {
            self.invalid_shares_in_a_row += 1;
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
