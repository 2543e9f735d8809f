//! What one event-loop thread counts and measures: plain counters, the
//! submit→reply latency histogram (microseconds), and reject reasons;
//! merged across threads for the progress line and the summary.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest latency the histogram resolves (longer ones are clamped): 60 s.
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// Significant decimal digits the histogram keeps.
pub const LATENCY_SIGFIG: u8 = 3;

/// Distinct reject reasons kept; further ones are counted as "other".
pub const MAX_REJECT_KINDS: usize = 64;

/// Distinct previous-block hashes whose clean jobs are timed; later ones
/// are not (a run sees a handful of blocks).
pub const MAX_WAVES: usize = 1024;

/// The reason reject reasons beyond [`MAX_REJECT_KINDS`] are filed under.
pub const OTHER_REJECTS: &str = "(other reasons)";

/// Monotonic counts (and one gauge, `open`), summed across threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub connect_attempts: u64,
    pub connections_opened: u64,
    pub connect_failed: u64,
    pub closed_by_pool: u64,
    /// Connections open right now (a gauge).
    pub open: u64,
    /// Connections open when the run ended.
    pub open_at_end: u64,
    pub protocol_errors: u64,
    pub oversize_lines: u64,
    pub subscribed: u64,
    pub authorized: u64,
    pub auth_refused: u64,
    pub reconnect_requests: u64,
    pub show_messages: u64,
    pub version_masks: u64,
    pub set_extranonce: u64,
    pub notifies: u64,
    pub clean_jobs: u64,
    pub set_difficulty: u64,
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Submits given up after `SUBMIT_TIMEOUT` without a reply.
    pub timed_out: u64,
    /// Submits still waiting for a reply when the run ended.
    pub unanswered: u64,
    pub hashes: u64,
}

impl Counters {
    /// Add `other` field by field.
    pub fn add(&mut self, o: &Counters) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        sum!(
            connect_attempts,
            connections_opened,
            connect_failed,
            closed_by_pool,
            open,
            open_at_end,
            protocol_errors,
            oversize_lines,
            subscribed,
            authorized,
            auth_refused,
            reconnect_requests,
            show_messages,
            version_masks,
            set_extranonce,
            notifies,
            clean_jobs,
            set_difficulty,
            submitted,
            accepted,
            rejected,
            timed_out,
            unanswered,
            hashes
        );
    }
}

/// A latency histogram with this tool's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, LATENCY_SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// One thread's measurements.
#[derive(Debug, Clone)]
pub struct Stats {
    pub counters: Counters,
    /// Every latency since the start.
    pub latency: Histogram<u64>,
    /// Latencies since the last progress snapshot.
    pub recent: Histogram<u64>,
    /// Rejected shares by the pool's code and message.
    pub rejects: BTreeMap<String, u64>,
    /// Clean jobs by previous-block hash: how one block reached the miners.
    pub waves: BTreeMap<[u8; 32], Wave>,
}

/// When the clean jobs on one previous block reached this run's miners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wave {
    pub miners: u64,
    pub first_unix_us: u64,
    pub last_unix_us: u64,
}

impl Wave {
    fn merge(&mut self, o: &Wave) {
        self.miners += o.miners;
        self.first_unix_us = self.first_unix_us.min(o.first_unix_us);
        self.last_unix_us = self.last_unix_us.max(o.last_unix_us);
    }
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            counters: Counters::default(),
            latency: new_histogram(),
            recent: new_histogram(),
            rejects: BTreeMap::new(),
            waves: BTreeMap::new(),
        }
    }
}

impl Stats {
    /// A reply arrived `elapsed` after its submit was queued.
    pub fn record_latency(&mut self, elapsed: Duration) {
        let us = (elapsed.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        self.latency.saturating_record(us);
        self.recent.saturating_record(us);
    }

    /// A share the pool rejected, filed under its reason.
    pub fn record_reject(&mut self, reason: &str) {
        self.counters.rejected += 1;
        add_reject(&mut self.rejects, reason, 1);
    }

    /// A clean job on `prevhash` arrived at `unix_us`.
    pub fn record_clean_job(&mut self, prevhash: [u8; 32], unix_us: u64) {
        let arrival = Wave {
            miners: 1,
            first_unix_us: unix_us,
            last_unix_us: unix_us,
        };
        add_wave(&mut self.waves, prevhash, &arrival);
    }

    /// Take the latencies recorded since the last call.
    pub fn take_recent(&mut self) -> Histogram<u64> {
        let fresh = new_histogram();
        std::mem::replace(&mut self.recent, fresh)
    }
}

/// Add `n` rejects for `reason`, keeping at most [`MAX_REJECT_KINDS`] kinds.
pub fn add_reject(rejects: &mut BTreeMap<String, u64>, reason: &str, n: u64) {
    if let Some(count) = rejects.get_mut(reason) {
        *count += n;
    } else if rejects.len() < MAX_REJECT_KINDS {
        rejects.insert(reason.to_string(), n);
    } else {
        *rejects.entry(OTHER_REJECTS.to_string()).or_insert(0) += n;
    }
}

fn add_wave(waves: &mut BTreeMap<[u8; 32], Wave>, prevhash: [u8; 32], wave: &Wave) {
    if let Some(w) = waves.get_mut(&prevhash) {
        w.merge(wave);
    } else if waves.len() < MAX_WAVES {
        waves.insert(prevhash, *wave);
    }
}

/// Microseconds since the Unix epoch (wall clock: comparable with the
/// time another process triggered a block).
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Everything the threads measured, merged.
#[derive(Debug, Clone)]
pub struct Totals {
    pub counters: Counters,
    pub latency: Histogram<u64>,
    pub rejects: BTreeMap<String, u64>,
    pub waves: BTreeMap<[u8; 32], Wave>,
}

impl Totals {
    /// Merge the final stats of every thread.
    pub fn merge(threads: &[Stats]) -> Totals {
        let mut totals = Totals {
            counters: Counters::default(),
            latency: new_histogram(),
            rejects: BTreeMap::new(),
            waves: BTreeMap::new(),
        };
        for t in threads {
            for (prevhash, wave) in &t.waves {
                add_wave(&mut totals.waves, *prevhash, wave);
            }
            totals.counters.add(&t.counters);
            // Same bounds on both sides: adding cannot fail.
            let _ = totals.latency.add(&t.latency);
            for (reason, n) in &t.rejects {
                add_reject(&mut totals.rejects, reason, *n);
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_threads() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.counters.accepted = 3;
        b.counters.accepted = 4;
        a.record_latency(Duration::from_micros(40));
        b.record_latency(Duration::from_micros(90));
        b.record_latency(Duration::from_secs(3600));
        a.record_reject("23 Low difficulty share");
        b.record_reject("23 Low difficulty share");
        b.record_reject("21 Job not found");
        let t = Totals::merge(&[a, b]);
        assert_eq!(t.counters.accepted, 7);
        assert_eq!(t.counters.rejected, 3);
        assert_eq!(t.latency.len(), 3);
        assert_eq!(t.latency.min(), 40);
        assert!(t.latency.max() >= MAX_LATENCY_US - MAX_LATENCY_US / 500);
        assert_eq!(t.rejects["23 Low difficulty share"], 2);
        assert_eq!(t.rejects["21 Job not found"], 1);
    }

    #[test]
    fn clean_job_waves_merge_by_block() {
        let (mut a, mut b) = (Stats::default(), Stats::default());
        a.record_clean_job([1; 32], 100);
        a.record_clean_job([1; 32], 130);
        b.record_clean_job([1; 32], 90);
        b.record_clean_job([2; 32], 500);
        let t = Totals::merge(&[a, b]);
        assert_eq!(
            t.waves[&[1; 32]],
            Wave {
                miners: 3,
                first_unix_us: 90,
                last_unix_us: 130
            }
        );
        assert_eq!(t.waves[&[2; 32]].miners, 1);
    }

    #[test]
    fn reject_kinds_are_bounded() {
        let mut s = Stats::default();
        for i in 0..MAX_REJECT_KINDS + 10 {
            s.record_reject(&format!("reason {i}"));
        }
        assert_eq!(s.rejects.len(), MAX_REJECT_KINDS + 1);
        assert_eq!(s.rejects[OTHER_REJECTS], 10);
        assert_eq!(s.take_recent().len(), 0);
    }
}
