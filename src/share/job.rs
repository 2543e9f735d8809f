//! One miner's view of a job and the share check on it.

use std::sync::Arc;

use super::reject::RejectReason;
use super::seen::SeenShares;
use super::submit::Submit;
use crate::bitcoin::encode::write_compact_size;
use crate::bitcoin::merkle::fold_branch;
use crate::bitcoin::target::{difficulty_to_share_target, hash_difficulty, hash_meets, U256};
use crate::bitcoin::{sha256d, Hash32};
use crate::work::coinbase::EXTRANONCE2_MAX;
use crate::work::{Coinbase, JobTemplate};

/// How far past the template's `curtime` a miner may roll ntime (ckpool
/// allows the same; consensus allows two hours past the node's clock).
pub const MAX_NTIME_AHEAD_SECS: u32 = 7000;

/// A job as sent to one miner: its coinbase (with its extranonce1) and the
/// share difficulty fixed when the job was sent.
#[derive(Debug, Clone)]
pub struct MinerJob {
    pub template: Arc<JobTemplate>,
    /// coinb1 | extranonce1 | extranonce2 | coinb2; extranonce2 is written
    /// in place for each share so the hot path never allocates.
    coinbase: Vec<u8>,
    extranonce2_offset: usize,
    extranonce2_len: usize,
    /// Share difficulty of this job (fixed when sent).
    pub diff: f64,
    share_target: U256,
    roots: RootCache,
}

/// Merkle roots of the last few extranonce2 values on a job. Miners roll
/// extranonce2 rarely (an ASIC exhausts nonce × version space first;
/// cpuminer gives each thread its own), so most shares skip the coinbase
/// hash and the merkle fold: one header hash instead of ~15 SHA-256 runs.
#[derive(Debug, Clone, Default)]
struct RootCache {
    entries: [([u8; EXTRANONCE2_MAX], Hash32); ROOT_CACHE_SIZE],
    valid: usize,
    next: usize,
}

const ROOT_CACHE_SIZE: usize = 4;

impl RootCache {
    #[inline]
    fn get(&self, extranonce2: &[u8]) -> Option<Hash32> {
        self.entries[..self.valid]
            .iter()
            .find(|(key, _)| &key[..extranonce2.len()] == extranonce2)
            .map(|(_, root)| *root)
    }

    #[inline]
    fn put(&mut self, extranonce2: &[u8], root: Hash32) {
        let entry = &mut self.entries[self.next];
        entry.0[..extranonce2.len()].copy_from_slice(extranonce2);
        entry.1 = root;
        self.next = (self.next + 1) % ROOT_CACHE_SIZE;
        self.valid = (self.valid + 1).min(ROOT_CACHE_SIZE);
    }
}

/// The outcome of one share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// `None` when accepted.
    pub reject: Option<RejectReason>,
    /// The hash meets the network target: a block.
    pub is_block: bool,
    /// Difficulty the hash achieved (0 when no hash was computed).
    pub share_diff: f64,
    /// Block hash, internal order (zeros when no hash was computed).
    pub hash: Hash32,
    /// The header the share implies.
    pub header: [u8; 80],
}

impl Verdict {
    fn rejected(reason: RejectReason) -> Verdict {
        Verdict {
            reject: Some(reason),
            is_block: false,
            share_diff: 0.0,
            hash: [0; 32],
            header: [0; 80],
        }
    }

    pub fn accepted(&self) -> bool {
        self.reject.is_none()
    }
}

impl MinerJob {
    /// A job for one miner at share difficulty `diff`.
    pub fn new(
        template: Arc<JobTemplate>,
        coinbase: &Coinbase,
        extranonce1: &[u8],
        extranonce2_len: usize,
        diff: f64,
    ) -> MinerJob {
        let mut buf = Vec::with_capacity(
            coinbase.coinb1.len() + extranonce1.len() + extranonce2_len + coinbase.coinb2.len(),
        );
        buf.extend_from_slice(&coinbase.coinb1);
        buf.extend_from_slice(extranonce1);
        let extranonce2_offset = buf.len();
        buf.resize(extranonce2_offset + extranonce2_len, 0);
        buf.extend_from_slice(&coinbase.coinb2);
        MinerJob {
            template,
            coinbase: buf,
            extranonce2_offset,
            extranonce2_len,
            diff,
            share_target: difficulty_to_share_target(diff),
            roots: RootCache::default(),
        }
    }

    /// Lower this job's share difficulty (never raise it: work done at the
    /// difficulty a job was sent with stays good).
    pub fn lower_diff(&mut self, diff: f64) {
        if diff < self.diff {
            self.diff = diff;
            self.share_target = difficulty_to_share_target(diff);
        }
    }

    /// Judge a share. `version_mask` is the BIP310 mask negotiated with
    /// this miner (0 without version rolling). Accepted shares (and blocks)
    /// are recorded in `seen`.
    pub fn check(&mut self, submit: &Submit, version_mask: u32, seen: &mut SeenShares) -> Verdict {
        if submit.extranonce2().len() != self.extranonce2_len {
            return Verdict::rejected(RejectReason::BadExtranonce2Length);
        }
        let t = &*self.template;
        if submit.ntime < t.min_time
            || submit.ntime > t.cur_time.saturating_add(MAX_NTIME_AHEAD_SECS)
        {
            return Verdict::rejected(RejectReason::NtimeOutOfRange);
        }
        let version = match submit.version_bits {
            Some(bits) if bits & !version_mask != 0 => {
                return Verdict::rejected(RejectReason::BadVersionBits)
            }
            Some(bits) => (t.version & !version_mask) | bits,
            None => t.version,
        };
        let header = self.header(submit, version);
        let hash = sha256d(&header);
        let is_block = hash_meets(&hash, &self.template.network_target);
        let reject = if !is_block && !hash_meets(&hash, &self.share_target) {
            Some(RejectReason::LowDifficulty)
        } else if !seen.insert(SeenShares::fingerprint(&hash)) {
            Some(RejectReason::Duplicate)
        } else {
            None
        };
        Verdict {
            reject,
            is_block,
            share_diff: hash_difficulty(&hash),
            hash,
            header,
        }
    }

    /// The 80-byte header a submit implies.
    pub fn header(&mut self, submit: &Submit, version: u32) -> [u8; 80] {
        let root = self.merkle_root(submit);
        let t = &*self.template;
        let mut header = [0u8; 80];
        header[0..4].copy_from_slice(&version.to_le_bytes());
        header[4..36].copy_from_slice(&t.prev_hash);
        header[36..68].copy_from_slice(&root);
        header[68..72].copy_from_slice(&submit.ntime.to_le_bytes());
        header[72..76].copy_from_slice(&t.bits.to_le_bytes());
        header[76..80].copy_from_slice(&submit.nonce.to_le_bytes());
        header
    }

    /// The merkle root with this submit's extranonce2 (cached per value).
    #[inline]
    pub fn merkle_root(&mut self, submit: &Submit) -> Hash32 {
        if let Some(root) = self.roots.get(submit.extranonce2()) {
            return root;
        }
        let root = fold_branch(self.coinbase_txid(submit), &self.template.merkle_branch);
        self.roots.put(submit.extranonce2(), root);
        root
    }

    /// The coinbase txid with this submit's extranonce2.
    pub fn coinbase_txid(&mut self, submit: &Submit) -> Hash32 {
        let slot = self.extranonce2_offset..self.extranonce2_offset + self.extranonce2_len;
        self.coinbase[slot].copy_from_slice(submit.extranonce2());
        sha256d(&self.coinbase)
    }

    /// The complete serialized block for `submitblock`: header, tx count,
    /// the coinbase (with its witness reserved value when the template
    /// commits to witnesses), then the template's transactions.
    /// Off the hot path: it allocates.
    pub fn block(&mut self, submit: &Submit, header: &[u8; 80]) -> Vec<u8> {
        self.coinbase_txid(submit); // writes this submit's extranonce2
        let t = &*self.template;
        let mut block = Vec::with_capacity(80 + 9 + self.coinbase.len() + 40 + t.txs_raw.len());
        block.extend_from_slice(header);
        write_compact_size(&mut block, 1 + t.tx_count as u64);
        let cb = &self.coinbase;
        if t.witness_commitment_script.is_some() {
            block.extend_from_slice(&cb[..4]); // version
            block.extend_from_slice(&[0x00, 0x01]); // segwit marker, flag
            block.extend_from_slice(&cb[4..cb.len() - 4]);
            block.extend_from_slice(&[0x01, 0x20]); // one witness item of 32 bytes
            block.extend_from_slice(&[0u8; 32]); // the witness reserved value
            block.extend_from_slice(&cb[cb.len() - 4..]); // lock time
        } else {
            block.extend_from_slice(cb);
        }
        block.extend_from_slice(&t.txs_raw);
        block
    }

    /// The coinbase bytes as last written (for tests and logs).
    pub fn coinbase_bytes(&self) -> &[u8] {
        &self.coinbase
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bitcoin::target::compact_to_target;
    use crate::node::Template;
    use crate::work::{build_coinbase, WorkConfig};

    const REGTEST_GBT: &str =
        include_str!("../../tests/vectors/bitcoind-regtest-getblocktemplate.json");

    fn regtest_job() -> JobTemplate {
        let t = Template::from_json(&mut REGTEST_GBT.as_bytes().to_vec()).unwrap();
        JobTemplate::new(7, &t)
    }

    /// The regtest template at network difficulty 1: shares at tiny
    /// difficulties are then shares, not blocks.
    fn job_at(diff: f64) -> MinerJob {
        let mut t = regtest_job();
        t.bits = 0x1d00_ffff;
        t.network_target = compact_to_target(t.bits).unwrap();
        let cb = build_coinbase(&t, &WorkConfig::default(), &[0x51], b"/x/");
        MinerJob::new(Arc::new(t), &cb, &[1, 2, 3, 4], 8, diff)
    }

    fn submit(en2: &str, ntime: u32, nonce: u32, version: Option<u32>) -> Submit {
        let v = version.map(|v| format!("{v:08x}"));
        Submit::parse(
            en2,
            &format!("{ntime:08x}"),
            &format!("{nonce:08x}"),
            v.as_deref(),
            8,
        )
        .unwrap()
    }

    const EN2: &str = "0000000000000000";

    /// The first nonce whose share difficulty satisfies `want`.
    fn nonce_where(job: &mut MinerJob, want: impl Fn(f64) -> bool) -> u32 {
        let ntime = job.template.cur_time;
        (0u32..1_000_000)
            .find(|&n| {
                let v = job.check(&submit(EN2, ntime, n, None), 0, &mut SeenShares::new(4));
                want(v.share_diff)
            })
            .expect("a nonce within a million")
    }

    #[test]
    fn regtest_job_mines_a_block_with_the_pool_code() {
        let job = Arc::new(regtest_job());
        let cb = build_coinbase(&job, &WorkConfig::default(), &[0x51], b"/x/");
        let mut miner = MinerJob::new(job.clone(), &cb, &[1, 2, 3, 4], 8, 1.0);
        let mut seen = SeenShares::new(16);
        let ntime = format!("{:08x}", job.cur_time);
        // Regtest's target is half the hash space: a few nonces suffice.
        let verdict = (0u32..64)
            .map(|n| {
                let submit =
                    Submit::parse("0000000000000000", &ntime, &format!("{n:08x}"), None, 8)
                        .unwrap();
                (submit, miner.check(&submit, 0, &mut seen))
            })
            .find(|(_, v)| v.is_block)
            .expect("a regtest block within 64 nonces");
        let (submit, v) = verdict;
        assert!(v.accepted());
        let block = miner.block(&submit, &v.header);
        let parsed = crate::bitcoin::block::Block::parse(&block).unwrap();
        assert_eq!(parsed.header.hash(), v.hash);
        assert_eq!(parsed.computed_merkle_root(), parsed.header.merkle_root);
        assert!(
            parsed.txs[0].has_witness,
            "coinbase carries the witness reserved value"
        );
    }

    #[test]
    fn extranonce2_of_another_length_is_refused() {
        let mut job = job_at(1e-9);
        let s = Submit::parse("00000000", "00000000", "00000000", None, 4).unwrap();
        let v = job.check(&s, 0, &mut SeenShares::new(4));
        assert_eq!(v.reject, Some(RejectReason::BadExtranonce2Length));
        assert!(!v.accepted());
    }

    /// ntime from the template's mintime up to curtime + 7000 s, both ends
    /// included; one second outside either end is refused.
    #[test]
    fn ntime_window_is_inclusive() {
        let mut job = job_at(1e-12);
        let (min, cur) = (job.template.min_time, job.template.cur_time);
        let mut seen = SeenShares::new(16);
        for (ntime, ok) in [
            (min - 1, false),
            (min, true),
            (cur + MAX_NTIME_AHEAD_SECS, true),
            (cur + MAX_NTIME_AHEAD_SECS + 1, false),
        ] {
            let v = job.check(&submit(EN2, ntime, 1, None), 0, &mut seen);
            let want = if ok {
                None
            } else {
                Some(RejectReason::NtimeOutOfRange)
            };
            assert_eq!(v.reject, want, "ntime {ntime}");
        }
    }

    /// Version bits inside the negotiated mask roll the header's version;
    /// any bit outside it (or any bit without a mask) is refused.
    #[test]
    fn version_bits_must_stay_inside_the_mask() {
        let mut job = job_at(1e-12);
        let ntime = job.template.cur_time;
        let base = job.template.version;
        let mask = 0x1fff_e000;
        let mut seen = SeenShares::new(16);
        let v = job.check(&submit(EN2, ntime, 1, Some(0x0000_2000)), mask, &mut seen);
        assert!(v.accepted(), "{v:?}");
        let version = u32::from_le_bytes(v.header[0..4].try_into().unwrap());
        assert_eq!(version, (base & !mask) | 0x2000);
        for (bits, m) in [(0x0000_1000, mask), (0x2000_0000, mask), (0x0000_2000, 0)] {
            let v = job.check(&submit(EN2, ntime, 2, Some(bits)), m, &mut seen);
            assert_eq!(
                v.reject,
                Some(RejectReason::BadVersionBits),
                "{bits:x} mask {m:x}"
            );
        }
        let v = job.check(&submit(EN2, ntime, 3, None), mask, &mut seen);
        let version = u32::from_le_bytes(v.header[0..4].try_into().unwrap());
        assert_eq!(version, base, "no version bits: the template's version");
    }

    /// A share between the lowered and the job's difficulty: refused at
    /// the job's, accepted once the job is lowered; raising does nothing.
    #[test]
    fn lower_diff_lowers_and_never_raises() {
        let mut job = job_at(1e-5);
        let nonce = nonce_where(&mut job, |d| (1e-6..1e-5).contains(&d));
        let ntime = job.template.cur_time;
        let s = submit(EN2, ntime, nonce, None);
        let v = job.check(&s, 0, &mut SeenShares::new(4));
        assert_eq!(v.reject, Some(RejectReason::LowDifficulty));
        job.lower_diff(1e-4);
        assert_eq!(job.diff, 1e-5, "never raised");
        job.lower_diff(1e-6);
        assert_eq!(job.diff, 1e-6);
        let v = job.check(&s, 0, &mut SeenShares::new(4));
        assert!(v.accepted(), "{v:?}");
        assert!(v.share_diff >= 1e-6 && v.share_diff < 1e-5);
    }

    #[test]
    fn a_share_counts_once() {
        let mut job = job_at(1e-12);
        let s = submit(EN2, job.template.cur_time, 5, None);
        let mut seen = SeenShares::new(16);
        assert!(job.check(&s, 0, &mut seen).accepted());
        assert_eq!(
            job.check(&s, 0, &mut seen).reject,
            Some(RejectReason::Duplicate)
        );
    }

    /// Every extranonce2 gets its own merkle root, however the cache of
    /// recent roots is filled: a cached root for another extranonce2
    /// would judge the share against the wrong header.
    #[test]
    fn merkle_roots_follow_the_extranonce2() {
        let mut job = job_at(1e-12);
        let mut fresh = job.clone();
        let ntime = job.template.cur_time;
        let en2s: Vec<String> = (0..10u64).map(|i| format!("{i:016x}")).collect();
        for round in 0..2 {
            for en2 in en2s.iter().chain(en2s.iter().rev()) {
                let s = submit(en2, ntime, 0, None);
                let want = fold_branch(fresh.coinbase_txid(&s), &fresh.template.merkle_branch);
                assert_eq!(job.merkle_root(&s), want, "round {round} en2 {en2}");
            }
        }
    }

    /// The cache keeps the roots of the last `ROOT_CACHE_SIZE`
    /// extranonce2 values, evicting the oldest, and answers for them
    /// alone (a miss only costs the hash; a wrong hit would cost shares).
    #[test]
    fn root_cache_keeps_the_last_few_and_only_those() {
        let mut cache = RootCache::default();
        assert_eq!(cache.get(&[1; 8]), None);
        for i in 0..ROOT_CACHE_SIZE as u8 + 1 {
            cache.put(&[i; 8], [i; 32]);
            assert_eq!(cache.get(&[i; 8]), Some([i; 32]), "just put {i}");
        }
        assert_eq!(cache.get(&[0; 8]), None, "the oldest is evicted");
        for i in 1..ROOT_CACHE_SIZE as u8 + 1 {
            assert_eq!(cache.get(&[i; 8]), Some([i; 32]), "kept {i}");
        }
        assert_eq!(cache.get(&[9; 8]), None);
    }

    /// The coinbase as last judged: coinb1 | extranonce1 | extranonce2 | coinb2.
    #[test]
    fn coinbase_bytes_hold_the_last_extranonce2() {
        let mut t = regtest_job();
        t.bits = 0x1d00_ffff;
        let cb = build_coinbase(&t, &WorkConfig::default(), &[0x51], b"/x/");
        let mut job = MinerJob::new(Arc::new(t), &cb, &[1, 2, 3, 4], 8, 1e-12);
        let s = submit("0a0b0c0d0e0f1011", job.template.cur_time, 0, None);
        job.coinbase_txid(&s);
        let mut want = cb.coinb1.clone();
        want.extend_from_slice(&[1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11]);
        want.extend_from_slice(&cb.coinb2);
        assert_eq!(job.coinbase_bytes(), &want[..]);
    }

    /// A job's second share with the same extranonce2 reuses the root.
    #[test]
    fn merkle_root_is_cached_per_extranonce2() {
        let mut job = job_at(1e-12);
        let s = submit(EN2, job.template.cur_time, 0, None);
        let root = job.merkle_root(&s);
        assert_eq!(job.roots.get(s.extranonce2()), Some(root));
    }

    #[test]
    fn verdict_accepted_means_no_reject() {
        let mut job = job_at(1e-12);
        let v = job.check(
            &submit(EN2, job.template.cur_time, 9, None),
            0,
            &mut SeenShares::new(4),
        );
        assert!(v.accepted() && v.reject.is_none() && !v.is_block);
        assert!(v.share_diff > 0.0);
        assert_eq!(v.hash, sha256d(&v.header));
    }
}
