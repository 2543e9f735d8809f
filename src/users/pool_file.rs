//! `logdir/pool/pool.status`, defined once: ckpool's three JSON lines
//! (clients, hashrates, shares; ckpool's names), then this pool's limit
//! counters as a fourth line when it has them. Written by the stats thread
//! ([`super::status::pool_status_text`]), read back by `tbg-perf` and the
//! tests. Numbers are read as `f64` and written by
//! [`crate::json::serialize_number`], like the user files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::json::serialize_number as number;

/// The first line: who is connected.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoolRun {
    /// Seconds since the pool started.
    pub runtime: u64,
    /// Unix seconds of this write.
    pub lastupdate: u64,
    #[serde(rename = "Users")]
    pub users: u64,
    #[serde(rename = "Workers")]
    pub workers: u64,
    #[serde(rename = "Idle")]
    pub idle: u64,
    #[serde(rename = "Disconnected")]
    pub disconnected: u64,
    #[serde(rename = "Clients")]
    pub clients: u64,
}

/// The second line: the pool's hashrate over each window, as ckpool
/// prints it (`"1.23T"`).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoolHashrates {
    pub hashrate1m: String,
    pub hashrate5m: String,
    pub hashrate1hr: String,
    pub hashrate1d: String,
    pub hashrate7d: String,
}

/// The third line: the round and the shares.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoolShares {
    /// The round's work as a percentage of the network difficulty (0
    /// while the network difficulty is unknown).
    #[serde(serialize_with = "number")]
    pub diff: f64,
    /// Accepted and rejected work, in difficulty-1 shares.
    #[serde(serialize_with = "number")]
    pub accepted: f64,
    #[serde(serialize_with = "number")]
    pub rejected: f64,
    #[serde(serialize_with = "number")]
    pub bestshare: f64,
    /// Difficulty-1 shares per second over 1 min, 5 min and 1 h.
    #[serde(rename = "SPS1m", serialize_with = "number")]
    pub sps1m: f64,
    #[serde(rename = "SPS5m", serialize_with = "number")]
    pub sps5m: f64,
    #[serde(rename = "SPS1h", serialize_with = "number")]
    pub sps1h: f64,
}

/// The whole file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PoolStatus {
    pub run: PoolRun,
    pub hashrates: PoolHashrates,
    pub shares: PoolShares,
    /// How often each connection limit struck (`refused_maxclients`, …;
    /// [`crate::server::limits::Limit::name`]), when the writer has them.
    pub limits: Option<BTreeMap<String, u64>>,
}

impl PoolStatus {
    /// The file's text: three or four JSON lines, each ending in a newline.
    pub fn to_text(&self) -> String {
        fn line<T: Serialize>(text: &mut String, value: &T) {
            text.push_str(&serde_json::to_string(value).expect("pool.status always serializes"));
            text.push('\n');
        }
        let mut text = String::new();
        line(&mut text, &self.run);
        line(&mut text, &self.hashrates);
        line(&mut text, &self.shares);
        if let Some(limits) = &self.limits {
            line(&mut text, limits);
        }
        text
    }

    /// The file's fields from its text (`None`: not this file).
    pub fn parse(text: &str) -> Option<PoolStatus> {
        let mut lines = text.lines();
        let mut next = || lines.next();
        let run = serde_json::from_str(next()?).ok()?;
        let hashrates = serde_json::from_str(next()?).ok()?;
        let shares = serde_json::from_str(next()?).ok()?;
        let limits = match next() {
            Some(line) => Some(serde_json::from_str(line).ok()?),
            None => None,
        };
        Some(PoolStatus {
            run,
            hashrates,
            shares,
            limits,
        })
    }

    /// The file at `path` (`None`: not written yet, or not this file).
    pub fn read(path: &Path) -> Option<PoolStatus> {
        PoolStatus::parse(&std::fs::read_to_string(path).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PoolStatus {
        PoolStatus {
            run: PoolRun {
                runtime: 60,
                lastupdate: 1_060,
                users: 1,
                workers: 2,
                idle: 0,
                disconnected: 3,
                clients: 4,
            },
            hashrates: PoolHashrates {
                hashrate1m: "45.2G".into(),
                hashrate5m: "9.1G".into(),
                hashrate1hr: "760M".into(),
                hashrate1d: "31.7M".into(),
                hashrate7d: "4.5M".into(),
            },
            shares: PoolShares {
                diff: 25.5,
                accepted: 1_000.0,
                rejected: 2.0,
                bestshare: 1e20,
                sps1m: 16.666666666666668,
                sps5m: 3.3,
                sps1h: 0.0,
            },
            limits: Some(BTreeMap::from([("closed_flood".to_string(), 2)])),
        }
    }

    /// Written, read back, written again: the same values and bytes, with
    /// ckpool's names on every line.
    #[test]
    fn round_trips_with_ckpools_names() {
        let status = sample();
        let text = status.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"runtime":60,"lastupdate":1060,"Users":1,"Workers":2,"Idle":0,"Disconnected":3,"Clients":4}"#
        );
        assert!(lines[1].starts_with(r#"{"hashrate1m":"45.2G","hashrate5m":"#));
        assert!(
            lines[2].starts_with(r#"{"diff":25.5,"accepted":1000,"rejected":2,"bestshare":1e+20,"SPS1m":16.666666666666668,"#),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], r#"{"closed_flood":2}"#);
        assert!(text.ends_with("}\n"));
        let back = PoolStatus::parse(&text).unwrap();
        assert_eq!(back, status);
        assert_eq!(back.to_text(), text);
        let three = PoolStatus {
            limits: None,
            ..status
        };
        assert_eq!(three.to_text().lines().count(), 3);
        assert_eq!(PoolStatus::parse(&three.to_text()), Some(three));
    }

    /// ckpool's own file loads (its extra fields are ignored).
    #[test]
    fn reads_ckpools_file() {
        let text = "{\"runtime\":18,\"lastupdate\":1700000018,\"Users\":1,\"Workers\":1,\"Idle\":0,\"Disconnected\":0}\n\
                    {\"hashrate1m\":\"2.1G\",\"hashrate5m\":\"1G\",\"hashrate15m\":\"400M\",\"hashrate1hr\":\"100M\",\"hashrate6hr\":\"17M\",\"hashrate1d\":\"4M\",\"hashrate7d\":\"600K\"}\n\
                    {\"diff\":0.5,\"accepted\":44,\"rejected\":0,\"bestshare\":12,\"SPS1m\":0.2,\"SPS5m\":0.1,\"SPS15m\":0.04,\"SPS1h\":0.01}\n";
        let s = PoolStatus::parse(text).unwrap();
        assert_eq!(
            (s.run.users, s.run.clients, s.shares.bestshare),
            (1, 0, 12.0)
        );
        assert_eq!(
            (s.hashrates.hashrate1m.as_str(), s.shares.sps1h),
            ("2.1G", 0.01)
        );
        assert_eq!(s.limits, None);
    }

    #[test]
    fn foreign_text_is_none() {
        assert_eq!(PoolStatus::parse(""), None);
        assert_eq!(PoolStatus::parse("{}\n{}\n"), None);
        assert_eq!(PoolStatus::parse("{}\n{}\n{}\n[1]\n"), None);
        assert_eq!(
            PoolStatus::read(Path::new("/nonexistent/pool.status")),
            None
        );
    }
}
