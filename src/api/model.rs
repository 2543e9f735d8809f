//! The JSON the API writes, one struct per shape (docs/api.md shows each
//! with an example). The public-pool-compatible shapes keep its field
//! names (camelCase) so NerdMiner/AxeOS-style dashboards read them.

use serde::Serialize;

/// `GET /api/client/:address`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    pub best_difficulty: f64,
    pub workers_count: usize,
    pub workers: Vec<WorkerInfo>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerInfo {
    /// The connection (`<pool>:<run>:<client_id>`; public-pool's session id).
    pub session_id: String,
    pub name: String,
    pub best_difficulty: f64,
    pub hash_rate: f64,
    /// ISO 8601 times, as public-pool writes them.
    pub start_time: String,
    pub last_seen: String,
}

/// One 10-minute slot of `/api/client/:address/chart`.
#[derive(Debug, Serialize, PartialEq)]
pub struct ChartPoint {
    /// The slot's start, ISO 8601.
    pub label: String,
    /// Hashes per second over the slot.
    pub data: f64,
}

/// `GET /api/pool`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolInfo {
    pub total_hash_rate: f64,
    pub block_height: u64,
    pub total_miners: usize,
    pub blocks_found: Vec<FoundBlock>,
    pub fee: f64,
}

/// A block in public-pool's `blocksFound` / `blockData` lists.
#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct FoundBlock {
    pub height: u64,
    pub miner_address: String,
    pub worker: String,
    pub session_id: String,
}

/// `GET /api/info`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteInfo {
    pub block_data: Vec<FoundBlock>,
    pub user_agents: Vec<UserAgentRow>,
    pub high_scores: Vec<HighScore>,
    /// When this API process started, ISO 8601.
    pub uptime: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAgentRow {
    pub user_agent: String,
    pub count: usize,
    pub best_difficulty: f64,
    pub total_hash_rate: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HighScore {
    pub updated_at: String,
    pub best_difficulty: f64,
    pub best_difficulty_user_agent: String,
}

/// `GET /api/network`: the node's `getmininginfo` fields public-pool
/// serves (`blocks`, `difficulty`, `networkhashps`, `pooledtx`, `chain`)
/// and the tip — from the latest `new_block_network` event or the node,
/// whichever is newer. Without `node_url` the node-only fields stay 0/"".
#[derive(Debug, Serialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    pub blocks: u64,
    pub height: u64,
    pub difficulty: f64,
    pub networkhashps: f64,
    pub pooledtx: u64,
    pub chain: String,
    pub hash: String,
    pub prev_hash: String,
    /// When this tip was seen, ISO 8601 (`""` before any).
    pub time: String,
}

/// `GET /api/client/:address/bests`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bests {
    pub address: String,
    /// The current ISO week, `%G%V` (e.g. 202608).
    pub week: u32,
    pub session: f64,
    pub week_best: f64,
    pub all_time: f64,
    pub weekly_shares: u64,
    pub workers: Vec<WorkerBests>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerBests {
    pub name: String,
    pub worker: String,
    pub session: f64,
    pub week_best: f64,
    pub all_time: f64,
}

/// One entry of `GET /api/blocks`.
#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct BlockInfo {
    pub height: u64,
    pub hash: String,
    pub finder: String,
    pub worker: String,
    pub reward_sats: u64,
    pub difficulty: f64,
    pub network_difficulty: f64,
    pub pool: String,
    pub time: String,
    /// The node's verdict from the pool's `logs/blocks/*.result`
    /// (`accepted by …`, `rejected: …`), or `null` when unknown.
    pub verdict: Option<String>,
}

/// Every error reply: `{"error": "..."}` with the reason.
#[derive(Debug, Serialize)]
pub struct ApiError {
    pub error: String,
}

/// Unix seconds → ISO 8601 UTC with milliseconds (`2026-02-19T12:00:00.123Z`).
pub fn iso_time(unix: f64) -> String {
    use crate::time::civil_from_days;
    let unix = if unix.is_finite() && unix > 0.0 {
        unix
    } else {
        0.0
    };
    let ms = (unix * 1000.0) as i64;
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso_time(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(1771502400.123), "2026-02-19T12:00:00.123Z");
        assert_eq!(iso_time(f64::NAN), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn shapes_use_public_pool_names() {
        let c = ClientInfo {
            best_difficulty: 1.5,
            workers_count: 0,
            workers: vec![],
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"bestDifficulty":1.5,"workersCount":0,"workers":[]}"#
        );
    }
}
