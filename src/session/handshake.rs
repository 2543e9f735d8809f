//! Everything before and around shares: subscribe, authorize, configure,
//! suggested difficulty.

use std::sync::Arc;

use simd_json::prelude::*;

use super::{Authorized, Context, Session, MAX_USERNAME_BYTES, MAX_USER_AGENT_BYTES};
use crate::bitcoin::address::script_pubkey;
use crate::bitcoin::hex;
use crate::share::RejectReason;
use crate::stratum::{encode, Request};
use crate::work::coinbase_sig;

impl Session {
    /// `mining.subscribe [user_agent, (session id)]`.
    pub(super) fn subscribe(&mut self, req: &Request<'_>, ctx: &Context<'_>, out: &mut Vec<u8>) {
        if let Some(agent) = req.string(0) {
            self.user_agent = truncate(&agent, MAX_USER_AGENT_BYTES);
        }
        self.subscribed = true;
        let subscription = format!("{:016x}", self.client_id);
        let en2_len = ctx.config.work.extranonce2_len;
        encode::subscribe_result(out, req.id, &subscription, self.extranonce1(), en2_len);
    }

    /// `mining.authorize [address(.worker), password]`: the address is
    /// the payout address of every block this connection finds.
    pub(super) fn authorize(&mut self, req: &Request<'_>, ctx: &Context<'_>, out: &mut Vec<u8>) {
        if !self.subscribed {
            let r = RejectReason::NotSubscribed;
            return encode::error(out, req.id, r.code(), r.message());
        }
        let Some(username) = req
            .string(0)
            .filter(|u| !u.is_empty() && u.len() <= MAX_USERNAME_BYTES)
        else {
            return encode::error(
                out,
                req.id,
                24,
                "Username must be a payout address, optionally .worker",
            );
        };
        let address = username.split('.').next().unwrap_or("");
        let payout_script = match script_pubkey(address, ctx.network) {
            Ok(s) => s,
            Err(e) => {
                return encode::error(out, req.id, 24, &format!("Invalid payout address: {e}"))
            }
        };
        if let Some(existing) = &self.auth {
            if &*existing.user.address != address {
                return encode::error(out, req.id, 24, "One payout address per connection");
            }
        }
        if let Some(d) = req.string(1).as_deref().and_then(password_difficulty) {
            self.suggested_diff = Some(d);
        }
        let first = self.auth.is_none();
        self.auth = Some(self.identity(&username, address, payout_script, ctx));
        encode::result_true(out, req.id);
        if first {
            self.start_mining(ctx, out);
            self.connected_event(ctx);
        }
    }

    fn identity(
        &self,
        username: &str,
        address: &str,
        payout: Vec<u8>,
        ctx: &Context<'_>,
    ) -> Authorized {
        let (user, worker) = ctx.registry.authorise(address, username, ctx.unix_now);
        let (sig, truncated) = coinbase_sig(&ctx.config.work, username);
        if truncated && ctx.config.work.btcsig_include_username {
            log_debug!(
                "coinbase signature for {username} cut to {} bytes",
                sig.len()
            );
        }
        Authorized {
            username: Arc::from(username),
            worker_name: Arc::from(username.split_once('.').map_or("", |(_, w)| w)),
            user,
            worker,
            payout_script: Arc::from(payout),
            sig: Arc::from(sig),
        }
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

    /// `mining.configure [extensions, params]` (BIP310).
    pub(super) fn configure(&mut self, req: &Request<'_>, ctx: &Context<'_>, out: &mut Vec<u8>) {
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
                encode::json_string(&mut name, other);
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
