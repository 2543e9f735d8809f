//! `tbg-api`'s configuration: one JSON file, every key optional, every
//! limit of the HTTP server a key (docs/api.md lists them).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Settings; defaults in [`ApiConfig::default`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Where the HTTP server listens.
    pub listen: String,
    /// Redis holding the `events:<type>` streams; `""` disables the reader.
    pub redis_url: String,
    /// This API's consumer group on every stream (created if missing).
    pub redis_group: String,
    /// This process's consumer name in the group.
    pub redis_consumer: String,
    /// PostgreSQL with `mining_events` and `hourly_shares`; `""`: none.
    pub postgres_url: String,
    /// Entries read per stream per `XREADGROUP`.
    pub read_count: usize,
    /// At start the group is rewound this far before PostgreSQL's newest
    /// event (covers the sinks' batching skew; see docs/api.md).
    pub replay_margin_ms: u64,
    /// Threads answering requests.
    pub threads: usize,
    /// Connections open at once (reading, queued, answering); more are
    /// closed at accept. Server-Sent Events clients are counted apart.
    pub max_connections: usize,
    /// Requests with a complete head waiting for a thread.
    pub queue_capacity: usize,
    /// Longest request head (request line and headers).
    pub max_header_bytes: usize,
    /// Time a client has for its whole request head (slowloris bound).
    pub read_timeout_ms: u64,
    /// Time a reply may take to write.
    pub write_timeout_ms: u64,
    /// Server-Sent Events clients at once; more get 503.
    pub max_sse_clients: usize,
    /// Bytes waiting for one SSE client; past this it is dropped.
    pub sse_buffer_bytes: usize,
    /// Comment line sent to idle SSE clients this often.
    pub sse_heartbeat_secs: u64,
    /// A session with no share for this long is not listed.
    pub active_window_secs: u64,
    /// Users and sessions held in memory (more are not tracked).
    pub max_users: usize,
    pub max_sessions: usize,
    /// Blocks kept for `/api/blocks`.
    pub max_blocks: usize,
    /// The pool's `logs/blocks` (the node's verdict on each block); none: unknown.
    pub blocks_dir: Option<PathBuf>,
    /// Serve the live page from here instead of the copy built in.
    pub web_dir: Option<PathBuf>,
    /// The node's RPC (`host:port`) for `/api/network` (its
    /// `getmininginfo` and tip header, as public-pool serves); `""`: the
    /// tip comes from `new_block_network` events only.
    pub node_url: String,
    /// RPC user and password (both empty: no authentication).
    pub node_user: String,
    pub node_pass: String,
    /// How often the node is asked.
    pub node_poll_secs: u64,
    /// The chain whose addresses `/api/client/:address` accepts
    /// (`main`, `test`, `signet`, `regtest`); none: any chain's.
    pub network: Option<String>,
    /// Pool fee in percent, as `/api/pool` reports it (solo: 0).
    pub fee: f64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8080".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_group: "tbg-api".into(),
            redis_consumer: "api-1".into(),
            postgres_url: "host=127.0.0.1 port=5432 user=postgres dbname=tbg".into(),
            read_count: 1000,
            replay_margin_ms: 10_000,
            threads: 4,
            max_connections: 1024,
            queue_capacity: 256,
            max_header_bytes: 8 << 10,
            read_timeout_ms: 5_000,
            write_timeout_ms: 5_000,
            max_sse_clients: 10_000,
            sse_buffer_bytes: 256 << 10,
            sse_heartbeat_secs: 15,
            active_window_secs: 1800,
            max_users: 100_000,
            max_sessions: 100_000,
            max_blocks: 1000,
            blocks_dir: None,
            web_dir: None,
            node_url: String::new(),
            node_user: String::new(),
            node_pass: String::new(),
            node_poll_secs: 5,
            network: None,
            fee: 0.0,
        }
    }
}

impl ApiConfig {
    /// Parse and check JSON text; the error names the key.
    pub fn parse(json: &[u8]) -> Result<ApiConfig, String> {
        let c: ApiConfig = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        let positive = [
            ("threads", self.threads),
            ("max_connections", self.max_connections),
            ("queue_capacity", self.queue_capacity),
            ("max_header_bytes", self.max_header_bytes),
            ("read_count", self.read_count),
            ("sse_buffer_bytes", self.sse_buffer_bytes),
            ("read_timeout_ms", self.read_timeout_ms as usize),
            ("write_timeout_ms", self.write_timeout_ms as usize),
            ("sse_heartbeat_secs", self.sse_heartbeat_secs as usize),
            ("node_poll_secs", self.node_poll_secs as usize),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(format!("{key}: must be at least 1"));
            }
        }
        if self.threads > 256 {
            return Err("threads: at most 256".into());
        }
        if !(0.0..=100.0).contains(&self.fee) {
            return Err("fee: a percentage from 0 to 100".into());
        }
        if self.redis_group.is_empty() || self.redis_consumer.is_empty() {
            return Err("redis_group and redis_consumer: must not be empty".into());
        }
        if let Some(n) = &self.network {
            if crate::bitcoin::address::Network::from_chain(n).is_none() {
                return Err(format!(
                    "network: unknown chain {n:?} (main, test, signet, regtest)"
                ));
            }
        }
        Ok(())
    }

    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms)
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_key() {
        let c = ApiConfig::parse(b"{}").unwrap();
        assert_eq!(c.threads, 4);
        let c = ApiConfig::parse(br#"{"threads":2,"listen":"127.0.0.1:0"}"#).unwrap();
        assert_eq!((c.threads, c.listen.as_str()), (2, "127.0.0.1:0"));
        let e = ApiConfig::parse(br#"{"thread":2}"#).unwrap_err();
        assert!(e.contains("thread"), "{e}");
        let e = ApiConfig::parse(br#"{"threads":0}"#).unwrap_err();
        assert!(e.starts_with("threads"), "{e}");
        let e = ApiConfig::parse(br#"{"max_connections":"x"}"#).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
    }
}
