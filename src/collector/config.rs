//! The collector's configuration (one JSON file, every key optional).

use std::path::PathBuf;

use simd_json::prelude::*;

use crate::config::{bad, boolean, parse_object, string, uint, ConfigError};

/// Collector settings; see docs/storage.md.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub socket_path: PathBuf,
    /// Permission bits of the socket file (octal text in JSON, e.g. "0660").
    pub socket_mode: u32,
    /// Group owning the socket file (so the pool's user may write to it).
    pub socket_group: Option<String>,
    pub rcvbuf_bytes: usize,
    /// Empty: no Redis sink. With `redis_cluster`, comma-separated seeds.
    pub redis_url: String,
    /// `redis_url` names seed nodes of a Redis Cluster.
    pub redis_cluster: bool,
    pub redis_maxlen: usize,
    pub redis_consumer_group: Option<String>,
    /// Empty: no PostgreSQL sink.
    pub postgres_url: String,
    pub batch_max_events: usize,
    /// Longest wait to fill a batch. Short, because the live page reads
    /// Redis: at low rates this wait *is* the share → browser delay; at
    /// high rates batches fill by `batch_max_events` first.
    pub batch_max_ms: u64,
    /// Events held in memory per sink before the receiver drops.
    pub queue_capacity: usize,
    pub spool_dir: PathBuf,
    /// Empty: no metrics endpoint.
    pub metrics_addr: String,
    /// This collector's name in stored events (default: the host name).
    pub collector_name: String,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            socket_path: PathBuf::from("/tmp/tbg-pool/events.sock"),
            socket_mode: 0o660,
            socket_group: None,
            rcvbuf_bytes: 4 << 20,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_cluster: false,
            redis_maxlen: 100_000,
            redis_consumer_group: None,
            postgres_url: "host=127.0.0.1 port=5432 user=postgres dbname=tbg".into(),
            batch_max_events: 500,
            batch_max_ms: 100,
            queue_capacity: 100_000,
            spool_dir: PathBuf::from("spool"),
            metrics_addr: "127.0.0.1:9108".into(),
            collector_name: hostname(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "collector".into())
}

impl CollectorConfig {
    /// Parse JSON text; unknown keys come back as warnings.
    pub fn parse(json: &mut [u8]) -> Result<(CollectorConfig, Vec<String>), ConfigError> {
        let value = parse_object(json)?;
        let object = value.as_object().expect("checked by parse_object");
        let mut c = CollectorConfig::default();
        let mut warnings = Vec::new();
        for (key, v) in object.iter() {
            let text = |k: &str| string(k, v);
            let uint = |k: &str| uint(k, v);
            match key.as_ref() {
                "socket_path" => c.socket_path = text(key)?.into(),
                "socket_mode" => {
                    c.socket_mode = u32::from_str_radix(&text(key)?, 8)
                        .map_err(|_| bad(key, "octal text like \"0660\""))?
                }
                "socket_group" => c.socket_group = Some(text(key)?),
                "rcvbuf_bytes" => c.rcvbuf_bytes = uint(key)? as usize,
                "redis_url" => c.redis_url = text(key)?,
                "redis_cluster" => c.redis_cluster = boolean(key, v)?,
                "redis_maxlen" => c.redis_maxlen = uint(key)? as usize,
                "redis_consumer_group" => c.redis_consumer_group = Some(text(key)?),
                "postgres_url" => c.postgres_url = text(key)?,
                "batch_max_events" => c.batch_max_events = uint(key)?.max(1) as usize,
                "batch_max_ms" => c.batch_max_ms = uint(key)?,
                "queue_capacity" => c.queue_capacity = uint(key)?.max(16) as usize,
                "spool_dir" => c.spool_dir = text(key)?.into(),
                "metrics_addr" => c.metrics_addr = text(key)?,
                "collector_name" => c.collector_name = text(key)?,
                _ => warnings.push(format!("unknown config key `{key}` ignored")),
            }
        }
        Ok((c, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_errors() {
        let (c, w) = CollectorConfig::parse(
            &mut br#"{"socket_mode":"0600","redis_url":"","batch_max_events":100,"x":1}"#.to_vec(),
        )
        .unwrap();
        assert_eq!(c.socket_mode, 0o600);
        assert!(c.redis_url.is_empty());
        assert_eq!(c.batch_max_events, 100);
        assert_eq!(w.len(), 1);
        let e = CollectorConfig::parse(&mut br#"{"socket_mode":"rw"}"#.to_vec()).unwrap_err();
        assert!(e.to_string().contains("socket_mode"));
    }

    /// A share must reach the live page within a second (issue 15): the
    /// batch wait is the largest part of that path at a few events/s.
    #[test]
    fn default_batch_wait_leaves_room_for_a_live_page() {
        assert!(CollectorConfig::default().batch_max_ms <= 100);
    }
}
