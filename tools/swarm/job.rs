//! One job as a miner sees it: `mining.notify` fields and the extranonces
//! → coinbase → txid → merkle root → 80-byte header, and the nonce scan
//! (real SHA-256d) for hashes meeting the job's share target.
//!
//! Written from the miner's side, independently of the pool's `work` and
//! `share` modules; proven against a real cpuminer session in the tests.

use tbg_pool::bitcoin::hash::{merkle_parent, sha256d, Hash32};
use tbg_pool::bitcoin::hex;
use tbg_pool::bitcoin::target::{difficulty_to_share_target, hash_meets, U256};

use crate::message::NotifyParams;

/// Difficulty used when a pool sent none before its first job (cpuminer's).
pub const DEFAULT_DIFFICULTY: f64 = 1.0;

/// Number of nonces per extranonce2 value.
const NONCES_PER_EXTRANONCE2: u64 = 1 << 32;

/// A share found by [`Job::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundShare {
    pub extranonce2: Vec<u8>,
    /// The nonce as the integer the header carries little-endian.
    pub nonce: u32,
    pub hash: Hash32,
}

impl FoundShare {
    /// `mining.submit`'s nonce field: big-endian hex of the integer.
    pub fn nonce_hex(&self) -> String {
        format!("{:08x}", self.nonce)
    }
}

/// Result of one bounded stretch of hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    Found(FoundShare),
    /// The budget ran out first; call again.
    NotYet,
    /// Every nonce of every extranonce2 value was tried (only with a tiny
    /// extranonce2 at a huge difficulty): wait for the next job.
    Exhausted,
}

/// One job bound to one connection's extranonce1 and difficulty.
#[derive(Debug, Clone)]
pub struct Job {
    pub job_id: String,
    pub ntime: u32,
    /// Share target, fixed when the job arrived (as cpuminer binds it).
    target: U256,
    /// coinb1 | extranonce1 | extranonce2 | coinb2.
    coinbase: Vec<u8>,
    en2_offset: usize,
    en2_len: usize,
    branch: Vec<Hash32>,
    header: [u8; 80],
    /// Next nonce counter to hash; [`NONCES_PER_EXTRANONCE2`] = rolled out.
    counter: u64,
}

impl Job {
    /// The job for `notify` with this connection's extranonce1, an
    /// extranonce2 of `en2_size` zero bytes (cpuminer starts each job at
    /// zero) and the share difficulty in force.
    pub fn new(notify: &NotifyParams, extranonce1: &[u8], en2_size: usize, difficulty: f64) -> Job {
        let difficulty = if difficulty > 0.0 && difficulty.is_finite() {
            difficulty
        } else {
            DEFAULT_DIFFICULTY
        };
        let mut coinbase = notify.coinb1.clone();
        coinbase.extend_from_slice(extranonce1);
        let en2_offset = coinbase.len();
        coinbase.resize(en2_offset + en2_size, 0);
        coinbase.extend_from_slice(&notify.coinb2);
        let mut header = [0u8; 80];
        header[0..4].copy_from_slice(&notify.version.to_le_bytes());
        header[4..36].copy_from_slice(&unswap_prevhash(&notify.prevhash));
        header[68..72].copy_from_slice(&notify.ntime.to_le_bytes());
        header[72..76].copy_from_slice(&notify.nbits.to_le_bytes());
        let mut job = Job {
            job_id: notify.job_id.clone(),
            ntime: notify.ntime,
            target: difficulty_to_share_target(difficulty),
            coinbase,
            en2_offset,
            en2_len: en2_size,
            branch: notify.branch.clone(),
            header,
            counter: 0,
        };
        job.update_merkle_root();
        job
    }

    /// The current extranonce2 bytes.
    pub fn extranonce2(&self) -> &[u8] {
        &self.coinbase[self.en2_offset..self.en2_offset + self.en2_len]
    }

    /// The share target this job was bound to.
    #[cfg(test)]
    pub fn target(&self) -> U256 {
        self.target
    }

    /// The header for `nonce` (the integer; its bytes go in little-endian)
    /// with the current extranonce2.
    #[cfg(test)]
    pub fn header_with_nonce(&self, nonce: u32) -> [u8; 80] {
        let mut header = self.header;
        header[76..80].copy_from_slice(&nonce.to_le_bytes());
        header
    }

    /// Hash at most `budget` nonces, in cpuminer's order, and stop at the
    /// first share. Returns the outcome and the number of hashes done.
    pub fn scan(&mut self, budget: u32) -> (Scan, u32) {
        let mut done = 0;
        while done < budget {
            if self.counter >= NONCES_PER_EXTRANONCE2 && !self.roll_extranonce2() {
                return (Scan::Exhausted, done);
            }
            // cpuminer counts n = 0, 1, 2, … and puts it big-endian in the
            // header: the nonce integer is n with its bytes swapped.
            let nonce = (self.counter as u32).swap_bytes();
            self.counter += 1;
            self.header[76..80].copy_from_slice(&nonce.to_le_bytes());
            let hash = sha256d(&self.header);
            done += 1;
            if hash_meets(&hash, &self.target) {
                let share = FoundShare {
                    extranonce2: self.extranonce2().to_vec(),
                    nonce,
                    hash,
                };
                return (Scan::Found(share), done);
            }
        }
        (Scan::NotYet, done)
    }

    /// The next nonce as a share, unhashed (`--unchecked-shares`): each
    /// one distinct, so the pool judges it rather than calling it a
    /// duplicate.
    pub fn next_unchecked(&mut self) -> Scan {
        if self.counter >= NONCES_PER_EXTRANONCE2 && !self.roll_extranonce2() {
            return Scan::Exhausted;
        }
        let nonce = (self.counter as u32).swap_bytes();
        self.counter += 1;
        Scan::Found(FoundShare {
            extranonce2: self.extranonce2().to_vec(),
            nonce,
            hash: [0xff; 32],
        })
    }

    /// `mining.submit`'s extranonce2 field.
    pub fn extranonce2_hex(share: &FoundShare) -> String {
        hex::encode(&share.extranonce2)
    }

    /// `mining.submit`'s ntime field (the job's, unrolled).
    pub fn ntime_hex(&self) -> String {
        format!("{:08x}", self.ntime)
    }

    /// Next extranonce2 (little-endian increment, as cpuminer does) and
    /// its merkle root; `false` when every value has been used.
    fn roll_extranonce2(&mut self) -> bool {
        let en2 = &mut self.coinbase[self.en2_offset..self.en2_offset + self.en2_len];
        for byte in en2.iter_mut() {
            *byte = byte.wrapping_add(1);
            if *byte != 0 {
                self.counter = 0;
                self.update_merkle_root();
                return true;
            }
        }
        false
    }

    /// txid of the coinbase folded up the branch, into the header.
    fn update_merkle_root(&mut self) {
        let mut root = sha256d(&self.coinbase);
        for node in &self.branch {
            root = merkle_parent(&root, node);
        }
        self.header[36..68].copy_from_slice(&root);
    }

    /// Start the scan at nonce counter `counter` (tests replay a session).
    #[cfg(test)]
    pub fn seek(&mut self, counter: u32) {
        self.counter = u64::from(counter);
    }
}

/// Notify's prevhash (each 32-bit word byte-reversed) back to internal order.
pub fn unswap_prevhash(sent: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (dst, src) in out.chunks_exact_mut(4).zip(sent.chunks_exact(4)) {
        dst.copy_from_slice(src);
        dst.reverse();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse, Message};
    use simd_json::prelude::*;

    /// Nonces tried before each recorded share when replaying the session.
    const REPLAY_WINDOW: u32 = 5_000;

    const VECTOR: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/cpuminer-shares.json"
    ));

    /// The vector's job, built by the swarm's own notify parser.
    fn vector_job() -> (Job, simd_json::OwnedValue) {
        let v = simd_json::to_owned_value(&mut VECTOR.as_bytes().to_vec()).unwrap();
        let params = simd_json::to_string(&v["jobs"]["job1"]["params"]).unwrap();
        let line = format!("{{\"id\":null,\"method\":\"mining.notify\",\"params\":{params}}}");
        let Ok(Message::Notify(n)) = parse(&mut line.into_bytes()) else {
            panic!("vector notify does not parse");
        };
        let en1 = hex::decode(v["extranonce1"].as_str().unwrap()).unwrap();
        let en2_size = v["extranonce2_size"].as_usize().unwrap();
        let diff = v["jobs"]["job1"]["difficulty"].as_f64().unwrap();
        (Job::new(&n, &en1, en2_size, diff), v)
    }

    #[test]
    fn every_cpuminer_share_gives_the_recorded_header_and_hash() {
        let (job, v) = vector_job();
        let shares = v["shares"].as_array().unwrap();
        assert_eq!(shares.len(), 40);
        for share in shares {
            let submit = share["submit"].as_array().unwrap();
            let field = |i: usize| submit[i].as_str().unwrap();
            assert_eq!(field(1), job.job_id);
            assert_eq!(hex::encode(job.extranonce2()), field(2));
            assert_eq!(job.ntime_hex(), field(3));
            let nonce = hex::parse_u32_be(field(4).as_bytes()).unwrap();
            let header = job.header_with_nonce(nonce);
            assert_eq!(hex::encode(&header), share["header_hex"].as_str().unwrap());
            let hash = sha256d(&header);
            assert_eq!(hex::encode_display(&hash), share["hash"].as_str().unwrap());
            assert!(hash_meets(&hash, &job.target));
        }
    }

    /// The scan finds cpuminer's shares in cpuminer's order: starting a
    /// little before each, the first hit is exactly that share.
    #[test]
    fn scan_finds_the_same_shares_as_cpuminer() {
        let (mut job, v) = vector_job();
        let mut previous = 0u32;
        for share in v["shares"].as_array().unwrap() {
            let want = share["submit"][4].as_str().unwrap();
            let counter = hex::parse_u32_be(want.as_bytes()).unwrap().swap_bytes();
            let start = counter.saturating_sub(REPLAY_WINDOW).max(previous);
            job.seek(start);
            let (scan, hashes) = job.scan(u32::MAX);
            let Scan::Found(found) = scan else {
                panic!("no share for {want}")
            };
            assert_eq!(found.nonce_hex(), want);
            assert_eq!(Job::extranonce2_hex(&found), "00000000");
            assert_eq!(hashes, counter - start + 1);
            assert_eq!(
                hex::encode_display(&found.hash),
                share["hash"].as_str().unwrap()
            );
            previous = counter + 1;
        }
    }

    #[test]
    fn scan_respects_its_budget_and_rolls_extranonce2() {
        let (mut job, _) = vector_job();
        assert_eq!(job.scan(10), (Scan::NotYet, 10));
        // Past the last nonce: extranonce2 becomes 01000000 (little-endian
        // increment) with a new merkle root.
        let root_before = job.header[36..68].to_vec();
        job.counter = NONCES_PER_EXTRANONCE2;
        let (_, hashes) = job.scan(1);
        assert_eq!(hashes, 1);
        assert_eq!(hex::encode(job.extranonce2()), "01000000");
        assert_ne!(job.header[36..68], root_before[..]);
        // No extranonce2 at all: exhausted once the nonces run out.
        let notify = NotifyParams {
            job_id: "j".into(),
            prevhash: [0; 32],
            coinb1: vec![1],
            coinb2: vec![2],
            branch: vec![],
            version: 0x2000_0000,
            nbits: 0x1d00_ffff,
            ntime: 0,
            clean_jobs: true,
        };
        let mut tiny = Job::new(&notify, &[], 0, 1e12);
        tiny.counter = NONCES_PER_EXTRANONCE2;
        assert_eq!(tiny.scan(5), (Scan::Exhausted, 0));
        // A nonsensical difficulty falls back to the default.
        let fallback = Job::new(&notify, &[], 0, f64::NAN).target;
        assert_eq!(fallback, difficulty_to_share_target(DEFAULT_DIFFICULTY));
    }
}
