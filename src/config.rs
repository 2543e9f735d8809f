//! The pool's configuration: one JSON file with ckpool.conf's keys where
//! they exist, plus this project's own. Every key has a default (the
//! embedded default mines against `tbg-simnode` on loopback); an unknown
//! key is a warning, an invalid value a start-up error naming the key.
//! `docs/config.md` lists every key.

use std::fmt;
use std::path::{Path, PathBuf};

use simd_json::prelude::*;
use simd_json::OwnedValue;

use crate::events::validate::{MAX_DATAGRAM_BYTES, MAX_EVENT_BYTES};
use crate::node::{Auth, Endpoint};
use crate::users::MAX_WORKERS_PER_USER;
use crate::work::WorkConfig;

/// A configuration error, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The whole pool configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `btcd`: nodes in failover order.
    pub nodes: Vec<Endpoint>,
    /// `btcaddress`: optional pool address, validated at start-up.
    pub btcaddress: Option<String>,
    /// `btcsig`, `btcsig_max_len`, `btcsig_include_username`,
    /// `nonce1length`, `nonce2length`.
    pub work: WorkConfig,
    /// `blockpoll` (ms): how often to ask the node for its tip.
    pub blockpoll_ms: u64,
    /// `zmqblock` (ckpool's key): the node's ZMQ `hashblock` publisher,
    /// `tcp://host:port` (empty: none, `blockpoll` only).
    pub zmqblock: String,
    /// `update_interval` (s): fresh template without clean_jobs.
    pub update_interval_secs: u64,
    /// `mindiff`, `startdiff`, `maxdiff` (0 = no maximum).
    pub mindiff: f64,
    pub startdiff: f64,
    pub maxdiff: f64,
    /// `vardiff_target_secs`: the share interval vardiff aims for.
    pub vardiff_target_secs: f64,
    /// `logdir`: status files, found blocks.
    pub logdir: PathBuf,
    /// `serverurl`: listen addresses.
    pub serverurl: Vec<String>,
    /// `maxclients`: connections across all cores.
    pub maxclients: usize,
    /// `max_clients_per_ip` (0 = unlimited): per IPv4 address, and per
    /// IPv6 /64 (one subscriber's prefix).
    pub max_clients_per_ip: usize,
    /// `threads`: event loops (0 = one per available core).
    pub threads: usize,
    /// `pin_threads`: pin each event loop to its own core.
    pub pin_threads: bool,
    /// `max_line_bytes`: longest Stratum line accepted.
    pub max_line_bytes: usize,
    /// `max_send_buffer_bytes`: unsent bytes after which a miner that does
    /// not read is dropped.
    pub max_send_buffer_bytes: usize,
    /// `idle_timeout_secs`: drop connections that have not authorized.
    pub idle_timeout_secs: u64,
    /// `max_invalid_requests`: garbage lines before a disconnect.
    pub max_invalid_requests: u32,
    /// `max_invalid_shares`: consecutive bad shares before a disconnect.
    pub max_invalid_shares: u32,
    /// `max_lines_per_pass`: requests handled per connection before the
    /// core turns to its other connections (fairness).
    pub max_lines_per_pass: usize,
    /// `request_budget`: requests that earn nothing (pings, unknown
    /// methods, submits that are never hashed, repeated handshakes) a
    /// connection may send in a burst before it is slowed down.
    pub request_budget: u32,
    /// `request_budget_per_sec`: how fast that budget refills.
    pub request_budget_per_sec: u32,
    /// `max_throttles`: times a connection may exhaust its budget (without
    /// earning it back in full in between) before it is disconnected.
    pub max_throttles: u32,
    /// `max_workers_per_connection`: distinct workers one connection may
    /// authorize (several `mining.authorize` on one connection are real).
    pub max_workers_per_connection: usize,
    /// `max_workers_per_user`: workers one payout address may have.
    pub max_workers_per_user: usize,
    /// `user_evict_secs`: users with no connection and no share for this
    /// long leave memory (their file stays and is read back on return).
    pub user_evict_secs: u64,
    /// `seen_shares_per_core`: share fingerprints each core keeps for the
    /// duplicate check (the newest two generations of this many).
    pub seen_shares_per_core: usize,
    /// `version_mask`: BIP310 bits miners may roll (hex).
    pub version_mask: u32,
    /// `stats_interval_secs`: how often status files are written (with a
    /// fold of hashrates first). `hashrate_update` events follow
    /// `update_interval` instead.
    pub stats_interval_secs: u64,
    /// `pool_name`: this instance's name (events, status).
    pub pool_name: String,
    /// `event_enabled`: send mining events at all.
    pub event_enabled: bool,
    /// `event_socket_path`: the collector's Unix datagram socket.
    pub event_socket_path: PathBuf,
    /// `event_queue_capacity`: events queued per core before drops.
    pub event_queue_capacity: usize,
    /// `event_reconnect_ms`: shortest time between two attempts to reach
    /// a collector while none reads.
    pub event_reconnect_ms: u64,
    /// `event_backlog_events`: most events held for an absent collector.
    pub event_backlog_events: usize,
    /// `event_backlog_bytes`: most bytes of events held likewise.
    pub event_backlog_bytes: usize,
    /// `event_pack_bytes`: 0 sends one event per datagram; otherwise
    /// consecutive events share a datagram up to this many bytes, one per
    /// line (tbg-collector reads both; docs/events.md).
    pub event_pack_bytes: usize,
    /// `track_best_diff`: share_best_diff events (session/week/alltime).
    pub track_best_diff: bool,
    /// `track_weekly_stats`: weekly_summary events at ISO week rollover.
    pub track_weekly_stats: bool,
    /// `metrics_addr`: where Prometheus metrics are served (`host:port`);
    /// empty: no metrics endpoint.
    pub metrics_addr: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nodes: vec![Endpoint::new(
                "127.0.0.1:18443",
                Auth::Basic {
                    user: "tbg".into(),
                    pass: "tbg".into(),
                },
            )],
            btcaddress: None,
            work: WorkConfig::default(),
            blockpoll_ms: 100,
            zmqblock: String::new(),
            update_interval_secs: 30,
            mindiff: 1.0,
            startdiff: 42.0,
            maxdiff: 0.0,
            vardiff_target_secs: 3.33,
            logdir: PathBuf::from("logs"),
            serverurl: vec!["0.0.0.0:3333".into()],
            maxclients: 100_000,
            // A sane bound for one host; operators with many miners
            // behind one NAT address raise it.
            max_clients_per_ip: 256,
            threads: 0,
            pin_threads: true,
            max_line_bytes: 16 * 1024,
            max_send_buffer_bytes: 256 * 1024,
            // ckpool's figure for a connection that never authorizes.
            idle_timeout_secs: 60,
            max_invalid_requests: 20,
            max_invalid_shares: 500,
            max_lines_per_pass: 32,
            request_budget: 64,
            request_budget_per_sec: 2,
            max_throttles: 5,
            max_workers_per_connection: 8,
            max_workers_per_user: 1024,
            user_evict_secs: 86_400,
            seen_shares_per_core: 1 << 17,
            version_mask: 0x1fff_e000,
            stats_interval_secs: 60,
            pool_name: "tbg".into(),
            event_enabled: true,
            event_socket_path: PathBuf::from("/tmp/tbg-pool/events.sock"),
            event_queue_capacity: 65_536,
            event_reconnect_ms: 100,
            event_backlog_events: 65_536,
            event_backlog_bytes: 16 << 20,
            event_pack_bytes: 0,
            track_best_diff: true,
            track_weekly_stats: true,
            // Off unless asked for: an open port is the operator's choice.
            metrics_addr: String::new(),
        }
    }
}

impl Config {
    /// Read and check a config file; returns the config and warnings.
    pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let mut bytes = std::fs::read(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        Config::parse(&mut bytes)
    }

    /// Parse JSON text; returns the config and warnings (unknown keys).
    pub fn parse(json: &mut [u8]) -> Result<(Config, Vec<String>), ConfigError> {
        let value = parse_object(json)?;
        let object = value.as_object().expect("checked by parse_object");
        let mut c = Config::default();
        let mut warnings = Vec::new();
        for (key, v) in object.iter() {
            if !c.apply(key, v)? {
                warnings.push(format!("unknown config key `{key}` ignored"));
            }
        }
        c.validate()?;
        Ok((c, warnings))
    }

    /// Set one key; `false` if the key is unknown.
    fn apply(&mut self, key: &str, v: &OwnedValue) -> Result<bool, ConfigError> {
        match key {
            "btcd" => self.nodes = nodes(v)?,
            "btcaddress" => self.btcaddress = Some(string(key, v)?),
            "btcsig" => self.work.btcsig = string(key, v)?,
            "btcsig_max_len" => self.work.btcsig_max_len = uint(key, v)? as usize,
            "btcsig_include_username" => self.work.btcsig_include_username = boolean(key, v)?,
            "nonce1length" => self.work.extranonce1_len = uint(key, v)? as usize,
            "nonce2length" => self.work.extranonce2_len = uint(key, v)? as usize,
            "blockpoll" => self.blockpoll_ms = uint(key, v)?,
            "zmqblock" => self.zmqblock = string(key, v)?,
            "update_interval" => self.update_interval_secs = uint(key, v)?,
            "mindiff" => self.mindiff = number(key, v)?,
            "startdiff" => self.startdiff = number(key, v)?,
            "maxdiff" => self.maxdiff = number(key, v)?,
            "vardiff_target_secs" => self.vardiff_target_secs = number(key, v)?,
            "logdir" => self.logdir = PathBuf::from(string(key, v)?),
            "serverurl" => self.serverurl = strings(key, v)?,
            "maxclients" => self.maxclients = uint(key, v)? as usize,
            "max_clients_per_ip" => self.max_clients_per_ip = uint(key, v)? as usize,
            "threads" => self.threads = uint(key, v)? as usize,
            "pin_threads" => self.pin_threads = boolean(key, v)?,
            "max_line_bytes" => self.max_line_bytes = uint(key, v)? as usize,
            "max_send_buffer_bytes" => self.max_send_buffer_bytes = uint(key, v)? as usize,
            "idle_timeout_secs" => self.idle_timeout_secs = uint(key, v)?,
            "max_invalid_requests" => self.max_invalid_requests = uint32(key, v)?,
            "max_invalid_shares" => self.max_invalid_shares = uint32(key, v)?,
            "max_lines_per_pass" => self.max_lines_per_pass = uint(key, v)? as usize,
            "request_budget" => self.request_budget = uint32(key, v)?,
            "request_budget_per_sec" => self.request_budget_per_sec = uint32(key, v)?,
            "max_throttles" => self.max_throttles = uint32(key, v)?,
            "max_workers_per_connection" => {
                self.max_workers_per_connection = uint(key, v)? as usize
            }
            "max_workers_per_user" => self.max_workers_per_user = uint(key, v)? as usize,
            "user_evict_secs" => self.user_evict_secs = uint(key, v)?,
            "seen_shares_per_core" => self.seen_shares_per_core = uint(key, v)? as usize,
            "version_mask" => {
                self.version_mask = u32::from_str_radix(&string(key, v)?, 16)
                    .map_err(|_| bad(key, "a hex string such as \"1fffe000\""))?
            }
            "stats_interval_secs" => self.stats_interval_secs = uint(key, v)?,
            "pool_name" => self.pool_name = string(key, v)?,
            "event_enabled" => self.event_enabled = boolean(key, v)?,
            "event_socket_path" => self.event_socket_path = PathBuf::from(string(key, v)?),
            "event_queue_capacity" => self.event_queue_capacity = uint(key, v)? as usize,
            "event_reconnect_ms" => self.event_reconnect_ms = uint(key, v)?,
            "event_backlog_events" => self.event_backlog_events = uint(key, v)? as usize,
            "event_backlog_bytes" => self.event_backlog_bytes = uint(key, v)? as usize,
            "event_pack_bytes" => self.event_pack_bytes = uint(key, v)? as usize,
            "track_best_diff" => self.track_best_diff = boolean(key, v)?,
            "track_weekly_stats" => self.track_weekly_stats = boolean(key, v)?,
            "metrics_addr" => self.metrics_addr = string(key, v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Cross-key checks, each naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |key: &str, v: f64| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(bad(key, "a number > 0"))
            }
        };
        positive("mindiff", self.mindiff)?;
        positive("startdiff", self.startdiff)?;
        positive("vardiff_target_secs", self.vardiff_target_secs)?;
        if self.maxdiff < 0.0 || (self.maxdiff > 0.0 && self.maxdiff < self.mindiff) {
            return Err(bad("maxdiff", "0 (no maximum) or a number ≥ mindiff"));
        }
        if self.nodes.is_empty() {
            return Err(bad("btcd", "at least one node"));
        }
        if self.serverurl.is_empty() {
            return Err(bad("serverurl", "at least one listen address"));
        }
        if self.blockpoll_ms == 0 || self.update_interval_secs == 0 || self.stats_interval_secs == 0
        {
            return Err(ConfigError(
                "blockpoll, update_interval and stats_interval_secs must be > 0".into(),
            ));
        }
        if !(256..=1 << 20).contains(&self.max_line_bytes) {
            return Err(bad("max_line_bytes", "256..=1048576"));
        }
        if self.maxclients == 0 {
            return Err(bad("maxclients", "at least 1"));
        }
        // Every live connection needs its own extranonce1.
        let en1_values = 1u128 << (8 * self.work.extranonce1_len.min(8));
        if self.maxclients as u128 > en1_values / 2 {
            return Err(bad(
                "nonce1length",
                "enough bytes for twice maxclients distinct extranonce1 values",
            ));
        }
        let at_least = |key: &str, v: u64, min: u64| {
            if v >= min {
                Ok(())
            } else {
                Err(bad(key, &format!("at least {min}")))
            }
        };
        at_least("max_lines_per_pass", self.max_lines_per_pass as u64, 1)?;
        at_least("request_budget", self.request_budget.into(), 8)?;
        at_least(
            "request_budget_per_sec",
            self.request_budget_per_sec.into(),
            1,
        )?;
        at_least("max_throttles", self.max_throttles.into(), 1)?;
        at_least(
            "max_workers_per_connection",
            self.max_workers_per_connection as u64,
            1,
        )?;
        at_least("max_workers_per_user", self.max_workers_per_user as u64, 1)?;
        if self.max_workers_per_user > MAX_WORKERS_PER_USER {
            return Err(bad(
                "max_workers_per_user",
                &format!("at most {MAX_WORKERS_PER_USER} (a user file must stay loadable)"),
            ));
        }
        at_least("user_evict_secs", self.user_evict_secs, 60)?;
        if !(1024..=1 << 26).contains(&self.seen_shares_per_core) {
            return Err(bad("seen_shares_per_core", "1024..=67108864"));
        }
        if !(16..=1 << 24).contains(&self.event_queue_capacity) {
            return Err(bad("event_queue_capacity", "16..=16777216"));
        }
        if !(1..=60_000).contains(&self.event_reconnect_ms) {
            return Err(bad("event_reconnect_ms", "1..=60000"));
        }
        if !(1..=1 << 24).contains(&self.event_backlog_events) {
            return Err(bad("event_backlog_events", "1..=16777216"));
        }
        // Room for one datagram of the largest size, at most 1 GiB.
        if !(4096..=1 << 30).contains(&self.event_backlog_bytes) {
            return Err(bad("event_backlog_bytes", "4096..=1073741824"));
        }
        if self.event_pack_bytes != 0
            && !(MAX_EVENT_BYTES..=MAX_DATAGRAM_BYTES).contains(&self.event_pack_bytes)
        {
            return Err(bad("event_pack_bytes", "0, or 4096..=16384"));
        }
        if self.event_enabled && self.event_socket_path.as_os_str().len() > 100 {
            // sun_path holds 108 bytes; leave room for the terminator.
            return Err(bad("event_socket_path", "a path of at most 100 bytes"));
        }
        self.work.validate().map_err(ConfigError)
    }
}

/// Parse config text that must be one JSON object (shared with the
/// collector's config).
pub(crate) fn parse_object(json: &mut [u8]) -> Result<OwnedValue, ConfigError> {
    let value =
        simd_json::to_owned_value(json).map_err(|e| ConfigError(format!("not valid JSON: {e}")))?;
    if value.as_object().is_none() {
        return Err(ConfigError("the top level must be a JSON object".into()));
    }
    Ok(value)
}

/// The error for a key with a value of the wrong kind.
pub(crate) fn bad(key: &str, expected: &str) -> ConfigError {
    ConfigError(format!("key `{key}`: expected {expected}"))
}

pub(crate) fn string(key: &str, v: &OwnedValue) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| bad(key, "a string"))
}

fn strings(key: &str, v: &OwnedValue) -> Result<Vec<String>, ConfigError> {
    let array = v
        .as_array()
        .ok_or_else(|| bad(key, "an array of strings"))?;
    array.iter().map(|s| string(key, s)).collect()
}

fn number(key: &str, v: &OwnedValue) -> Result<f64, ConfigError> {
    v.cast_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| bad(key, "a number"))
}

pub(crate) fn uint(key: &str, v: &OwnedValue) -> Result<u64, ConfigError> {
    v.as_u64().ok_or_else(|| bad(key, "a non-negative integer"))
}

fn uint32(key: &str, v: &OwnedValue) -> Result<u32, ConfigError> {
    u32::try_from(uint(key, v)?).map_err(|_| bad(key, "an integer below 2^32"))
}

pub fn boolean(key: &str, v: &OwnedValue) -> Result<bool, ConfigError> {
    v.as_bool().ok_or_else(|| bad(key, "true or false"))
}

/// `btcd`: `[{"url": "host:port", "auth": "user", "pass": "password",
/// "cookie": "/path/.cookie", "notify": false}]`.
fn nodes(v: &OwnedValue) -> Result<Vec<Endpoint>, ConfigError> {
    let array = v
        .as_array()
        .ok_or_else(|| bad("btcd", "an array of node objects"))?;
    array
        .iter()
        .map(|n| {
            let url = n
                .get("url")
                .and_then(|u| u.as_str())
                .ok_or_else(|| bad("btcd[].url", "a string"))?;
            let field = |name: &str| n.get(name).and_then(|x| x.as_str()).map(str::to_string);
            let auth = match (field("cookie"), field("auth"), field("pass")) {
                (Some(cookie), _, _) => Auth::Cookie(cookie.into()),
                (None, Some(user), pass) => Auth::Basic {
                    user,
                    pass: pass.unwrap_or_default(),
                },
                (None, None, _) => Auth::None,
            };
            Ok(Endpoint::new(url, auth))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<(Config, Vec<String>), ConfigError> {
        Config::parse(&mut s.as_bytes().to_vec())
    }

    #[test]
    fn ckpool_style_config() {
        let (c, warnings) = parse(
            r#"{"btcd":[{"url":"127.0.0.1:8332","auth":"user","pass":"pw","notify":true},
                        {"url":"10.0.0.2:8332","cookie":"/var/lib/bitcoind/.cookie"}],
                "btcaddress":"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4","btcsig":"/mysig/",
                "blockpoll":50,"update_interval":20,"mindiff":0.001,"startdiff":10000,"maxdiff":0,
                "logdir":"/var/log/tbg","serverurl":["0.0.0.0:3333","[::]:3334"],"maxclients":5000,
                "nonce1length":4,"nonce2length":8,"version_mask":"1fffe000","frobnicate":1}"#,
        )
        .unwrap();
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(
            c.nodes[0].auth,
            Auth::Basic {
                user: "user".into(),
                pass: "pw".into()
            }
        );
        assert_eq!(
            c.nodes[1].auth,
            Auth::Cookie("/var/lib/bitcoind/.cookie".into())
        );
        assert_eq!(c.mindiff, 0.001);
        assert_eq!(c.startdiff, 10000.0);
        assert_eq!(c.serverurl.len(), 2);
        assert_eq!(c.work.btcsig, "/mysig/");
        assert_eq!(warnings, vec!["unknown config key `frobnicate` ignored"]);
    }

    #[test]
    fn empty_config_is_the_embedded_default() {
        let (c, warnings) = parse("{}").unwrap();
        assert!(warnings.is_empty());
        assert_eq!(c.nodes[0].address, "127.0.0.1:18443");
        assert_eq!(c.version_mask, 0x1fff_e000);
        assert_eq!(c.metrics_addr, "", "metrics are off by default");
        let (c, _) = parse(r#"{"metrics_addr":"127.0.0.1:9109"}"#).unwrap();
        assert_eq!(c.metrics_addr, "127.0.0.1:9109");
        assert!(parse(r#"{"metrics_addr":9109}"#).is_err());
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            (r#"{"mindiff":"high"}"#, "mindiff"),
            (r#"{"mindiff":0}"#, "mindiff"),
            (r#"{"maxdiff":0.5,"mindiff":1}"#, "maxdiff"),
            (r#"{"maxclients":-1}"#, "maxclients"),
            (r#"{"btcd":[]}"#, "btcd"),
            (r#"{"btcd":[{"auth":"x"}]}"#, "btcd[].url"),
            (r#"{"serverurl":"0.0.0.0:3333"}"#, "serverurl"),
            (r#"{"version_mask":"zz"}"#, "version_mask"),
            (r#"{"nonce2length":1}"#, "nonce2length"),
            (r#"{"pin_threads":"yes"}"#, "pin_threads"),
        ];
        for (json, key) in cases {
            let e = parse(json).unwrap_err().to_string();
            assert!(e.contains(key), "{json}: {e}");
        }
        assert!(parse("[1]").unwrap_err().to_string().contains("object"));
        assert!(parse("{").unwrap_err().to_string().contains("JSON"));
    }
}
