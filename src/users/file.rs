//! The `users/<address>` file, defined once: written by the stats thread
//! ([`super::status::user_status_text`]) and read back at start
//! ([`super::load`]). ckpool's field names, plus The Bitcoin Game's weekly
//! tier. Numbers are read as `f64`, so a file written by ckpool or by hand
//! with either integer or fraction form still loads; they are written by
//! [`crate::json::serialize_number`] (whole values without a fraction).

use serde::{Deserialize, Serialize};

use crate::json::serialize_number as number;

use super::hashrate::{Hashrates, Window};
use super::human::format_hashrate;

/// What a user and each of its workers carry.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedFields {
    pub hashrate1m: String,
    pub hashrate5m: String,
    pub hashrate1hr: String,
    pub hashrate1d: String,
    pub hashrate7d: String,
    /// Unix seconds of the last accepted share (0: none).
    #[serde(serialize_with = "number")]
    pub lastshare: f64,
    /// Accepted work, in difficulty-1 shares.
    #[serde(serialize_with = "number")]
    pub shares: f64,
    /// Best share difficulty of the current run.
    #[serde(serialize_with = "number")]
    pub bestshare: f64,
    /// Best share difficulty ever: the player's record.
    #[serde(serialize_with = "number")]
    pub bestever: f64,
}

/// The five hashrates of `rates` as ckpool prints them (`"1.23T"`), in
/// [`Window::ALL`] order: 1m, 5m, 1hr, 1d, 7d.
pub fn hashrate_texts(rates: &Hashrates) -> [String; 5] {
    Window::ALL.map(|w| format_hashrate(rates.hashes_per_sec(w)))
}

impl SavedFields {
    /// A user's or a worker's figures.
    pub fn of(
        lastshare_secs: u64,
        shares: f64,
        best: f64,
        best_ever: f64,
        rates: &Hashrates,
    ) -> SavedFields {
        let [hashrate1m, hashrate5m, hashrate1hr, hashrate1d, hashrate7d] = hashrate_texts(rates);
        SavedFields {
            hashrate1m,
            hashrate5m,
            hashrate1hr,
            hashrate1d,
            hashrate7d,
            lastshare: lastshare_secs as f64,
            shares,
            bestshare: best,
            bestever: best_ever,
        }
    }
}

/// One worker's entry in `worker`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerFile {
    pub workername: String,
    #[serde(flatten)]
    pub fields: SavedFields,
}

/// The whole file: one JSON object and a newline.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserFile {
    #[serde(flatten)]
    pub fields: SavedFields,
    /// Workers listed (those with a share).
    #[serde(serialize_with = "number")]
    pub workers: f64,
    /// The weekly tier: best share difficulty, accepted shares and the ISO
    /// week they belong to ([`crate::time::iso_week`]; 0: none yet).
    /// Absent from older and ckpool files.
    #[serde(serialize_with = "number")]
    pub bestweek: f64,
    #[serde(serialize_with = "number")]
    pub sharesweek: f64,
    #[serde(serialize_with = "number")]
    pub week: f64,
    /// Unix seconds the user first authorised.
    #[serde(serialize_with = "number")]
    pub authorised: f64,
    pub worker: Vec<WorkerFile>,
}

impl UserFile {
    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string(self).expect("a user file always serializes");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UserFile {
        let fields = |best: f64| SavedFields {
            hashrate1m: "1.5T".into(),
            hashrate5m: "1.2T".into(),
            hashrate1hr: "900G".into(),
            hashrate1d: "0".into(),
            hashrate7d: "0".into(),
            lastshare: 1_771_502_400.0,
            shares: 4096.0,
            bestshare: best,
            bestever: 1e20,
        };
        UserFile {
            fields: fields(4711.25),
            workers: 1.0,
            bestweek: 4711.25,
            sharesweek: 12.0,
            week: 202608.0,
            authorised: 1_771_500_000.0,
            worker: vec![WorkerFile {
                workername: "bc1q.rig \"1\"".into(),
                fields: fields(0.000123),
            }],
        }
    }

    /// Written, read back, written again: the same values and bytes.
    #[test]
    fn round_trips() {
        let file = sample();
        let text = file.to_text();
        assert!(text.ends_with("}\n") && text.lines().count() == 1, "{text}");
        assert!(
            text.contains("\"shares\":4096,"),
            "whole numbers without a fraction: {text}"
        );
        assert!(text.contains("\"week\":202608,"), "{text}");
        assert!(text.contains("\"bestever\":1e+20"), "{text}");
        let mut bytes = text.clone().into_bytes();
        let back: UserFile = simd_json::serde::from_slice(&mut bytes).unwrap();
        assert_eq!(back, file);
        assert_eq!(back.to_text(), text);
    }

    /// ckpool's own file (no weekly tier, integers or fractions) loads.
    #[test]
    fn reads_ckpool_files() {
        let mut text = br#"{"hashrate1m":"2.1G","hashrate5m":"2G","hashrate1hr":"1.9G","hashrate1d":"1G","hashrate7d":"500M","lastshare":1700000000,"workers":1,"shares":12.5,"bestshare":33.0,"bestever":44,"authorised":1690000000,"worker":[{"workername":"a.b","hashrate1m":"2.1G","lastshare":1700000000,"shares":12.5,"bestshare":33,"bestever":44}]}"#.to_vec();
        let f: UserFile = simd_json::serde::from_slice(&mut text).unwrap();
        assert_eq!((f.fields.bestever, f.week, f.worker.len()), (44.0, 0.0, 1));
        assert_eq!(f.worker[0].fields.shares, 12.5);
    }

    #[test]
    fn odd_numbers_are_written_as_json() {
        let mut f = UserFile::default();
        f.fields.bestever = f64::NAN;
        f.fields.shares = f64::INFINITY;
        let text = f.to_text();
        assert!(
            text.contains("\"bestever\":0,") && text.contains("\"shares\":0,"),
            "{text}"
        );
    }
}
