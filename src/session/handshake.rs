//! Everything before and around shares: subscribe, authorize, configure,
//! suggested difficulty.

use std::sync::Arc;

use simd_json::prelude::*;

use super::{
    Authorized, Context, Session, MAX_ADDRESS_BYTES, MAX_USERNAME_BYTES, MAX_USER_AGENT_BYTES,
    MAX_WORKER_NAME_BYTES,
};
use crate::bitcoin::address::script_pubkey;
use crate::bitcoin::hex;
use crate::server::Limit;
use crate::share::RejectReason;
use crate::stratum::{encode, Request};
use crate::work::coinbase_sig;

impl Session {
    /// `mining.subscribe [user_agent, (session id)]`; whether it earned
    /// its keep (the first does; a repeat spends the request budget).
    pub(super) fn subscribe(
        &mut self,
        req: &Request<'_>,
        ctx: &Context<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        if let Some(agent) = req.string(0) {
            self.user_agent = truncate(&agent, MAX_USER_AGENT_BYTES);
        }
        let first = !self.subscribed;
        self.subscribed = true;
        let subscription = format!("{:016x}", self.client_id);
        let en2_len = ctx.config.work.extranonce2_len;
        encode::subscribe_result(out, req.id, &subscription, self.extranonce1(), en2_len);
        first
    }

    /// `mining.authorize [address(.worker), password]`: the address is
    /// the payout address of every block this connection finds. Up to
    /// `max_workers_per_connection` workers of that address may be
    /// authorized; whether this one earned its keep (a new worker).
    pub(super) fn authorize(
        &mut self,
        req: &Request<'_>,
        ctx: &Context<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        if !self.subscribed {
            let r = RejectReason::NotSubscribed;
            encode::error(out, req.id, r.code(), r.message());
            return false;
        }
        let username = req.string(0).unwrap_or_default();
        let (address, worker_name) = username.split_once('.').unwrap_or((&username, ""));
        if address.is_empty()
            || address.len() > MAX_ADDRESS_BYTES
            || worker_name.len() > MAX_WORKER_NAME_BYTES
            || username.chars().any(char::is_control)
        {
            let why = format!(
                "Username must be a payout address, optionally .worker \
                 (a worker name of at most {MAX_WORKER_NAME_BYTES} bytes)"
            );
            encode::error(out, req.id, 24, &why);
            return false;
        }
        debug_assert!(username.len() <= MAX_USERNAME_BYTES);
        let payout_script = match script_pubkey(address, ctx.network) {
            Ok(s) => s,
            Err(e) => {
                encode::error(out, req.id, 24, &format!("Invalid payout address: {e}"));
                return false;
            }
        };
        if let Some(d) = req.string(1).as_deref().and_then(password_difficulty) {
            self.suggested_diff = Some(d);
        }
        if self.auth.is_some() {
            return self.authorize_more(req, &username, address, ctx, out);
        }
        let Some(auth) = self.identity(&username, address, payout_script, ctx) else {
            return self.too_many_workers(req, ctx, out, "for this address");
        };
        self.auth = Some(auth);
        ctx.metrics.authorized();
        encode::result_true(out, req.id);
        self.start_mining(ctx, out);
        self.connected_event(ctx);
        true
    }

    /// Another `mining.authorize` on an authorized connection.
    fn authorize_more(
        &mut self,
        req: &Request<'_>,
        username: &str,
        address: &str,
        ctx: &Context<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(auth) = &self.auth else { return false };
        if &*auth.user.address != address {
            encode::error(out, req.id, 24, "One payout address per connection");
            return false;
        }
        let known =
            &*auth.username == username || auth.more_workers.iter().any(|(n, _)| &**n == username);
        if known {
            encode::result_true(out, req.id);
            return false;
        }
        if 1 + auth.more_workers.len() >= ctx.config.max_workers_per_connection {
            return self.too_many_workers(req, ctx, out, "on one connection");
        }
        let max = ctx.config.max_workers_per_user;
        let Some(worker) = auth.user.worker_at_most(username, max) else {
            return self.too_many_workers(req, ctx, out, "for this address");
        };
        worker.set_authorised(ctx.unix_now);
        if let Some(auth) = &mut self.auth {
            auth.more_workers.push((Arc::from(username), worker));
        }
        encode::result_true(out, req.id);
        true
    }

    fn too_many_workers(
        &self,
        req: &Request<'_>,
        ctx: &Context<'_>,
        out: &mut Vec<u8>,
        place: &str,
    ) -> bool {
        ctx.limits.count(Limit::Worker);
        let (per_conn, per_user) = (
            ctx.config.max_workers_per_connection,
            ctx.config.max_workers_per_user,
        );
        let why = format!(
            "Too many workers {place} (at most {per_conn} per connection, {per_user} per address)"
        );
        encode::error(out, req.id, 24, &why);
        false
    }

    /// The identity of a first authorize; `None` if the address already
    /// has `max_workers_per_user` workers and this would be a new one.
    fn identity(
        &self,
        username: &str,
        address: &str,
        payout: Vec<u8>,
        ctx: &Context<'_>,
    ) -> Option<Authorized> {
        let max = ctx.config.max_workers_per_user;
        let (user, worker) = ctx
            .registry
            .authorise(address, username, max, ctx.unix_now)?;
        let (sig, truncated) = coinbase_sig(&ctx.config.work, username);
        if truncated && ctx.config.work.btcsig_include_username {
            log_debug!(
                "coinbase signature for {username} cut to {} bytes",
                sig.len()
            );
        }
        Some(Authorized {
            username: Arc::from(username),
            worker_name: Arc::from(username.split_once('.').map_or("", |(_, w)| w)),
            user,
            worker,
            more_workers: Vec::new(),
            payout_script: Arc::from(payout),
            sig: Arc::from(sig),
        })
    }

    fn connected_event(&self, ctx: &Context<'_>) {
        let Some(auth) = &self.auth else { return };
        ctx.events.push_at(
            ctx.unix_us,
            crate::events::Event::MinerConnected {
                user: auth.user.address.clone(),
                worker: auth.worker.name.clone(),
                client_id: self.client_id,
                ip: self.ip.clone(),
                useragent: Arc::from(self.user_agent.as_str()),
                initial_diff: self.diff,
            },
        );
    }

    /// First difficulty and job after a successful authorize, in the
    /// order cpuminer needs: set_difficulty before the notify it binds to.
    fn start_mining(&mut self, ctx: &Context<'_>, out: &mut Vec<u8>) {
        let start = self.suggested_diff.unwrap_or(ctx.config.startdiff);
        self.diff = self.vardiff.clamp(start);
        self.vardiff.reset(ctx.now);
        encode::set_difficulty(out, self.diff);
        if let Some(work) = ctx.work {
            self.send_work(work, true, ctx, out);
        }
    }

    /// `mining.suggest_difficulty [diff]`: before or after authorize, and
    /// as often as NerdMiners repeat it; clamped to `[mindiff, maxdiff]`.
    pub(super) fn suggest_difficulty(
        &mut self,
        req: &Request<'_>,
        ctx: &Context<'_>,
        out: &mut Vec<u8>,
    ) {
        let Some(d) = req.number(0).filter(|d| *d > 0.0) else {
            return encode::error(out, req.id, 20, "Difficulty must be a positive number");
        };
        let d = self.vardiff.clamp(d);
        self.suggested_diff = Some(d);
        encode::result_true(out, req.id);
        if self.auth.is_some() {
            self.change_diff(d, ctx, out);
        }
    }

    /// `mining.configure [extensions, params]` (BIP310); the first one
    /// earns its keep, a repeat spends the request budget.
    pub(super) fn configure(
        &mut self,
        req: &Request<'_>,
        ctx: &Context<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        let first = !self.configured;
        self.configured = true;
        self.configure_reply(req, ctx, out);
        first
    }

    fn configure_reply(&mut self, req: &Request<'_>, ctx: &Context<'_>, out: &mut Vec<u8>) {
        let (Some(exts), params) = (req.raw(0), req.raw(1).unwrap_or("{}")) else {
            return encode::error_null(out, req.id, 20, "configure needs [extensions, params]");
        };
        let mut exts_json = exts.as_bytes().to_vec();
        let mut params_json = params.as_bytes().to_vec();
        let (Ok(exts), Ok(params)) = (
            simd_json::to_owned_value(&mut exts_json),
            simd_json::to_owned_value(&mut params_json),
        ) else {
            return encode::error_null(out, req.id, 20, "Invalid configure params");
        };
        let mut result = String::from("{");
        for ext in exts
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str())
        {
            if result.len() > 1 {
                result.push(',');
            }
            result.push_str(&self.configure_one(ext, &params, ctx));
        }
        result.push('}');
        encode::result_raw(out, req.id, &result);
    }

    fn configure_one(
        &mut self,
        ext: &str,
        params: &simd_json::OwnedValue,
        ctx: &Context<'_>,
    ) -> String {
        let param = |name: &str| params.get(format!("{ext}.{name}").as_str());
        match ext {
            "version-rolling" => {
                let miner_mask = param("mask")
                    .and_then(|m| m.as_str())
                    .and_then(|m| u32::from_str_radix(m, 16).ok())
                    .unwrap_or(u32::MAX);
                self.version_mask = ctx.config.version_mask & miner_mask;
                format!(
                    r#""version-rolling":true,"version-rolling.mask":"{}""#,
                    hex::encode(&self.version_mask.to_be_bytes())
                )
            }
            "minimum-difficulty" => {
                if let Some(d) = param("value")
                    .and_then(|v| v.cast_f64())
                    .filter(|d| *d > 0.0)
                {
                    self.vardiff.floor = self.vardiff.clamp(d);
                }
                r#""minimum-difficulty":true"#.to_string()
            }
            "subscribe-extranonce" => {
                self.extranonce_subscribed = true;
                r#""subscribe-extranonce":true"#.to_string()
            }
            other => {
                let mut name = Vec::new();
                crate::json::write_string(&mut name, other);
                format!("{}:false", String::from_utf8_lossy(&name))
            }
        }
    }
}

/// `d=<diff>` anywhere in a comma/space separated password.
fn password_difficulty(password: &str) -> Option<f64> {
    password
        .split([',', ' ', ';'])
        .find_map(|part| part.trim().strip_prefix("d="))
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| *d > 0.0 && d.is_finite())
}

fn truncate(s: &str, max: usize) -> String {
    crate::text::prefix(s, max)
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_options() {
        assert_eq!(password_difficulty("x"), None);
        assert_eq!(password_difficulty("d=0.001"), Some(0.001));
        assert_eq!(password_difficulty("x,d=512"), Some(512.0));
        assert_eq!(password_difficulty("d=-1"), None);
        assert_eq!(password_difficulty("d=abc"), None);
    }
}
