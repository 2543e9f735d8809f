//! The jobs a connection may still submit shares for.

use crate::share::MinerJob;

/// Jobs kept per connection: the current one and a few before it (a
/// template refresh must not make in-flight work stale). Four cover two
/// minutes of 30-second refreshes; each costs ~600 bytes per connection
/// (its coinbase and root cache), which at 100k miners is what matters.
pub const JOBS_KEPT: usize = 4;

/// Whether a kept job still earns shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Current,
    /// The chain moved past it: its shares are stale, but a block on it
    /// is still submitted (in a block race the old tip may still win, so
    /// ckpool checks every submit against the network target).
    Stale,
}

/// A small ring of (job id, job); ids are per connection and increasing.
/// Jobs with an id below `current_from` are stale. Only the newest job
/// before a clean one is kept stale, and only until the next job after
/// it (one `update_interval`): what a miner was hashing when the block
/// came, at the cost of one job per connection for that while.
#[derive(Debug, Default)]
pub struct JobRing {
    jobs: Vec<(u64, MinerJob)>,
    next_id: u64,
    current_from: u64,
}

impl JobRing {
    /// Add a job; returns its id. `clean` makes every older job stale.
    pub fn push(&mut self, job: MinerJob, clean: bool) -> u64 {
        if clean {
            self.retire_all();
        } else {
            let current_from = self.current_from;
            self.jobs.retain(|(id, _)| *id >= current_from);
        }
        if self.jobs.len() == JOBS_KEPT {
            self.jobs.remove(0);
        } else if self.jobs.len() == self.jobs.capacity() {
            // Grow one job at a time: most connections hold one or two
            // jobs, and a job is ~300 bytes (a plain push reserves four).
            self.jobs.reserve_exact(1);
        }
        self.next_id += 1;
        // Ids only grow, so a submit can never name a job of another time.
        assert!(self.jobs.iter().all(|(id, _)| *id < self.next_id));
        self.jobs.push((self.next_id, job));
        // Bounded per connection: a miner can never make a core hold more.
        assert!(self.jobs.len() <= JOBS_KEPT);
        self.next_id
    }

    /// The chain moved on: every job is stale; the newest is kept for
    /// block checks, the others are dropped.
    pub fn retire_all(&mut self) {
        if self.jobs.len() > 1 {
            self.jobs.drain(..self.jobs.len() - 1);
        }
        self.current_from = self.next_id + 1;
        debug_assert!(self.jobs.iter().all(|(id, _)| *id < self.current_from));
    }

    /// Whether `job_id_hex` names a job this connection was sent (kept or
    /// not): a submit for one that is gone is stale, not made up.
    pub fn was_issued(&self, job_id_hex: &str) -> bool {
        u64::from_str_radix(job_id_hex, 16).is_ok_and(|id| (1..=self.next_id).contains(&id))
    }

    /// The job a submit names by its hex id, and whether it is current.
    pub fn get(&mut self, job_id_hex: &str) -> Option<(&mut MinerJob, JobState)> {
        let id = u64::from_str_radix(job_id_hex, 16).ok()?;
        let state = if id >= self.current_from {
            JobState::Current
        } else {
            JobState::Stale
        };
        let (_, job) = self.jobs.iter_mut().find(|(i, _)| *i == id)?;
        Some((job, state))
    }

    /// The newest current job.
    pub fn latest(&self) -> Option<&MinerJob> {
        self.jobs
            .last()
            .filter(|(id, _)| *id >= self.current_from)
            .map(|(_, j)| j)
    }

    /// How many jobs are kept (current and stale).
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::node::Template;
    use crate::work::{build_coinbase, JobTemplate, WorkConfig};

    fn job() -> MinerJob {
        let gbt = include_str!("../../tests/vectors/bitcoind-regtest-getblocktemplate.json");
        let t = Template::from_json(&mut gbt.as_bytes().to_vec()).unwrap();
        let jt = Arc::new(JobTemplate::new(1, &t));
        let cb = build_coinbase(&jt, &WorkConfig::default(), &[0x51], b"/t/");
        MinerJob::new(jt, &cb, &[1, 2, 3, 4], 8, 1.0)
    }

    fn state(ring: &mut JobRing, id: u64) -> Option<JobState> {
        ring.get(&format!("{id:x}")).map(|(_, s)| s)
    }

    #[test]
    fn a_clean_job_keeps_the_newest_older_one_stale_until_the_next_job() {
        let mut ring = JobRing::default();
        for _ in 0..3 {
            ring.push(job(), false);
        }
        ring.push(job(), true);
        assert_eq!(state(&mut ring, 4), Some(JobState::Current));
        assert_eq!(state(&mut ring, 3), Some(JobState::Stale));
        assert_eq!(state(&mut ring, 2), None, "only the newest is kept");
        assert_eq!(ring.len(), 2);
        ring.push(job(), false);
        assert_eq!(state(&mut ring, 3), None, "stale for one job only");
        assert_eq!(state(&mut ring, 4), Some(JobState::Current));
        assert!(ring.was_issued("3") && !ring.was_issued("6"));
    }

    #[test]
    fn retired_jobs_are_stale_and_not_the_latest() {
        let mut ring = JobRing::default();
        ring.push(job(), false);
        ring.push(job(), false);
        ring.retire_all();
        assert!(ring.latest().is_none());
        assert_eq!(state(&mut ring, 2), Some(JobState::Stale));
        assert_eq!(state(&mut ring, 1), None);
        // The clean job that follows keeps the same stale one.
        ring.push(job(), true);
        assert_eq!(state(&mut ring, 2), Some(JobState::Stale));
        assert_eq!(state(&mut ring, 3), Some(JobState::Current));
        assert_eq!(ring.len(), 2);
    }
}
