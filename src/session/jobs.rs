//! The jobs a connection may still submit shares for.

use crate::share::MinerJob;

/// Jobs kept per connection: the current one and a few before it (a
/// template refresh must not make in-flight work stale). Four cover two
/// minutes of 30-second refreshes; each costs ~600 bytes per connection
/// (its coinbase and root cache), which at 100k miners is what matters.
pub const JOBS_KEPT: usize = 4;

/// A small ring of (job id, job); ids are per connection and increasing.
#[derive(Debug, Default)]
pub struct JobRing {
    jobs: Vec<(u64, MinerJob)>,
    next_id: u64,
}

impl JobRing {
    /// Add a job; returns its id. `clean` drops every older job first.
    pub fn push(&mut self, job: MinerJob, clean: bool) -> u64 {
        if clean {
            self.jobs.clear();
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
        self.next_id
    }

    /// Whether `job_id_hex` names a job this connection was sent (kept or
    /// not): a submit for one that is gone is stale, not made up.
    pub fn was_issued(&self, job_id_hex: &str) -> bool {
        u64::from_str_radix(job_id_hex, 16).is_ok_and(|id| (1..=self.next_id).contains(&id))
    }

    /// The job a submit names by its hex id.
    pub fn get(&mut self, job_id_hex: &str) -> Option<&mut MinerJob> {
        let id = u64::from_str_radix(job_id_hex, 16).ok()?;
        self.jobs.iter_mut().find(|(i, _)| *i == id).map(|(_, j)| j)
    }

    /// The newest job.
    pub fn latest(&self) -> Option<&MinerJob> {
        self.jobs.last().map(|(_, j)| j)
    }

    pub fn clear(&mut self) {
        self.jobs.clear();
    }
}
