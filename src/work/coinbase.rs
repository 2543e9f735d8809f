//! One miner's coinbase transaction, split around the extranonce.
//!
//! Layout (no segwit marker: Stratum's coinbase is the txid serialization):
//! ```text
//! coinb1 = version | 01 | 00…00 ffffffff | len(scriptSig) | push(height) | push-opcode(en1+en2)
//!          en1 | en2                                     (extranonce slot)
//! coinb2 = push(sig) | ffffffff | n outputs | payout: value, script | [commitment] | locktime 0
//! ```
//! The whole `coinbasevalue` goes to the miner's own script: solo mining.

use crate::bitcoin::encode::{script_push_data, script_push_number, write_compact_size};

use super::job::JobTemplate;

/// Consensus bounds on the coinbase scriptSig (`bad-cb-length`).
pub const SCRIPT_SIG_MAX: usize = 100;
/// Largest signature we push with a single-byte opcode (`OP_PUSHBYTES_75`).
const SIG_PUSH_MAX: usize = 75;
/// Extranonce limits (bytes).
pub const EXTRANONCE1_MAX: usize = 8;
pub const EXTRANONCE2_MIN: usize = 2;
pub const EXTRANONCE2_MAX: usize = 16;

/// Coinbase settings from the pool config.
#[derive(Debug, Clone)]
pub struct WorkConfig {
    /// Bytes of extranonce1 per connection (4 by default).
    pub extranonce1_len: usize,
    /// Bytes of extranonce2 the miner rolls (8 by default).
    pub extranonce2_len: usize,
    /// Pool signature in every coinbase (`btcsig`).
    pub btcsig: String,
    /// Longest signature, username included (`btcsig_max_len`).
    pub btcsig_max_len: usize,
    /// Append the miner's username to the signature.
    pub btcsig_include_username: bool,
}

impl Default for WorkConfig {
    fn default() -> Self {
        WorkConfig {
            extranonce1_len: 4,
            extranonce2_len: 8,
            btcsig: "/The Bitcoin Game/".to_string(),
            btcsig_max_len: 40,
            btcsig_include_username: false,
        }
    }
}

impl WorkConfig {
    /// Check the limits; the message names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=EXTRANONCE1_MAX).contains(&self.extranonce1_len) {
            return Err(format!(
                "key `nonce1length`: expected 1..={EXTRANONCE1_MAX}"
            ));
        }
        if !(EXTRANONCE2_MIN..=EXTRANONCE2_MAX).contains(&self.extranonce2_len) {
            return Err(format!(
                "key `nonce2length`: expected {EXTRANONCE2_MIN}..={EXTRANONCE2_MAX}"
            ));
        }
        if self.btcsig_max_len > SIG_PUSH_MAX {
            return Err(format!(
                "key `btcsig_max_len`: expected at most {SIG_PUSH_MAX}"
            ));
        }
        Ok(())
    }
}

/// A miner's coinbase around the extranonce slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coinbase {
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    /// The signature had to be cut to fit; worth a warning once.
    pub sig_truncated: bool,
}

/// The signature text for a miner: `btcsig`, then the username if
/// configured, cut to `btcsig_max_len` bytes (on a char boundary).
pub fn coinbase_sig(cfg: &WorkConfig, username: &str) -> (Vec<u8>, bool) {
    let mut sig = cfg.btcsig.clone();
    if cfg.btcsig_include_username {
        sig.push_str(username);
    }
    truncate_utf8(&mut sig, cfg.btcsig_max_len)
}

fn truncate_utf8(s: &mut String, max: usize) -> (Vec<u8>, bool) {
    let cut = crate::text::truncate(s, max);
    (s.clone().into_bytes(), cut)
}

/// Build one miner's coinbase for a job template.
pub fn build_coinbase(
    job: &JobTemplate,
    cfg: &WorkConfig,
    payout_script: &[u8],
    sig: &[u8],
) -> Coinbase {
    let extranonce_len = cfg.extranonce1_len + cfg.extranonce2_len;
    let mut height_push = Vec::with_capacity(6);
    script_push_number(&mut height_push, job.height as i64);
    // scriptSig = push(height) | push(extranonce) | push(sig), ≤ 100 bytes.
    let fixed = height_push.len() + 1 + extranonce_len;
    let room = SCRIPT_SIG_MAX.saturating_sub(fixed + 1).min(SIG_PUSH_MAX);
    let sig_truncated = sig.len() > room;
    let sig = &sig[..sig.len().min(room)];
    let script_sig_len = fixed + if sig.is_empty() { 0 } else { 1 + sig.len() };
    assert!((2..=SCRIPT_SIG_MAX).contains(&script_sig_len));

    let mut coinb1 = Vec::with_capacity(64);
    coinb1.extend_from_slice(&1u32.to_le_bytes()); // tx version
    coinb1.push(1); // one input
    coinb1.extend_from_slice(&[0u8; 32]); // null outpoint
    coinb1.extend_from_slice(&u32::MAX.to_le_bytes());
    write_compact_size(&mut coinb1, script_sig_len as u64);
    coinb1.extend_from_slice(&height_push);
    coinb1.push(extranonce_len as u8); // OP_PUSHBYTES_n for the extranonce

    let mut coinb2 = Vec::with_capacity(128 + payout_script.len());
    if !sig.is_empty() {
        script_push_data(&mut coinb2, sig);
    }
    coinb2.extend_from_slice(&u32::MAX.to_le_bytes()); // sequence
    let commitment = job.witness_commitment_script.as_deref();
    write_compact_size(&mut coinb2, 1 + commitment.is_some() as u64);
    let payout_at = coinb2.len();
    push_output(&mut coinb2, job.coinbase_value_sats, payout_script);
    // Solo: the first output is the whole reward to the miner's own
    // script. A mistake here pays someone else the block.
    let payout = &coinb2[payout_at..];
    assert_eq!(payout[..8], job.coinbase_value_sats.to_le_bytes());
    assert!(payout_script.len() < 0xfd, "a standard output script");
    assert_eq!(payout[8] as usize, payout_script.len());
    assert_eq!(&payout[9..], payout_script);
    if let Some(script) = commitment {
        push_output(&mut coinb2, 0, script);
    }
    coinb2.extend_from_slice(&0u32.to_le_bytes()); // lock time
    Coinbase {
        coinb1,
        coinb2,
        sig_truncated,
    }
}

fn push_output(out: &mut Vec<u8>, value_sats: u64, script: &[u8]) {
    out.extend_from_slice(&value_sats.to_le_bytes());
    write_compact_size(out, script.len() as u64);
    out.extend_from_slice(script);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig_is_cut_on_char_boundary() {
        let cfg = WorkConfig {
            btcsig: "/The Bitcoin Game/".into(),
            btcsig_max_len: 20,
            btcsig_include_username: true,
            ..WorkConfig::default()
        };
        let (sig, cut) = coinbase_sig(&cfg, "ünïcode");
        assert!(cut);
        assert!(sig.len() <= 20);
        assert!(std::str::from_utf8(&sig).is_ok());
        let (sig, cut) = coinbase_sig(&WorkConfig::default(), "bc1qxyz");
        assert_eq!(sig, b"/The Bitcoin Game/");
        assert!(!cut);
    }

    #[test]
    fn config_limits() {
        assert!(WorkConfig::default().validate().is_ok());
        let bad = WorkConfig {
            extranonce2_len: 1,
            ..WorkConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("nonce2length"));
        let sig = |len| WorkConfig {
            btcsig_max_len: len,
            ..WorkConfig::default()
        };
        assert!(sig(0).validate().is_ok());
        assert!(
            sig(SIG_PUSH_MAX).validate().is_ok(),
            "the largest push fits"
        );
        let err = sig(SIG_PUSH_MAX + 1).validate().unwrap_err();
        assert!(err.contains("btcsig_max_len"), "{err}");
    }
}

#[cfg(test)]
mod template_tests {
    use std::sync::Arc;

    use super::*;
    use crate::bitcoin::address::{script_pubkey, Network};
    use crate::bitcoin::block::Tx;
    use crate::bitcoin::encode::script_push_number;
    use crate::node::Template;

    const REGTEST_GBT: &str =
        include_str!("../../tests/vectors/bitcoind-regtest-getblocktemplate.json");

    fn regtest_job() -> JobTemplate {
        let t = Template::from_json(&mut REGTEST_GBT.as_bytes().to_vec()).unwrap();
        JobTemplate::new(7, &t)
    }

    /// Assemble the coinbase as a miner would and parse it back.
    fn assembled(cb: &Coinbase, en: &[u8]) -> Vec<u8> {
        let mut tx = cb.coinb1.clone();
        tx.extend_from_slice(en);
        tx.extend_from_slice(&cb.coinb2);
        tx
    }

    #[test]
    fn solo_coinbase_pays_the_miner_everything() {
        let job = regtest_job();
        let payout = script_pubkey(
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
            Network::Regtest,
        )
        .unwrap();
        let cfg = WorkConfig::default();
        let (sig, _) = coinbase_sig(&cfg, "bcrt1q…");
        let cb = build_coinbase(&job, &cfg, &payout, &sig);
        let raw = assembled(&cb, &[0xaa; 12]);
        let tx = Tx::parse_exact(&raw).unwrap();
        assert!(tx.is_coinbase());
        assert_eq!(tx.outputs.len(), 2);
        assert_eq!(tx.outputs[0].value_sats, 5_000_000_000);
        assert_eq!(tx.outputs[0].script_pubkey, &payout[..]);
        assert_eq!(tx.outputs[1].value_sats, 0);
        assert_eq!(
            tx.outputs[1].script_pubkey,
            &job.witness_commitment_script.clone().unwrap()[..]
        );
        let script_sig = tx.inputs[0].script_sig;
        let mut height = Vec::new();
        script_push_number(&mut height, 103);
        assert!(script_sig.starts_with(&height), "BIP34 height first");
        assert_eq!(
            script_sig[height.len()],
            12,
            "push of the 12 extranonce bytes"
        );
        assert!(script_sig.ends_with(b"/The Bitcoin Game/"));
        assert!(script_sig.len() <= SCRIPT_SIG_MAX);
        // The extranonce slot sits exactly between coinb1 and coinb2.
        assert_eq!(&raw[cb.coinb1.len()..cb.coinb1.len() + 12], &[0xaa; 12]);
    }

    #[test]
    fn long_signatures_fit_the_script_sig_limit() {
        let job = regtest_job();
        let cfg = WorkConfig {
            extranonce1_len: 8,
            extranonce2_len: 16,
            btcsig: "x".repeat(75),
            btcsig_max_len: 75,
            btcsig_include_username: false,
        };
        let (sig, _) = coinbase_sig(&cfg, "");
        let cb = build_coinbase(&job, &cfg, &[0x51], &sig);
        assert!(cb.sig_truncated);
        let raw = assembled(&cb, &[0u8; 24]);
        let tx = Tx::parse_exact(&raw).unwrap();
        assert_eq!(tx.inputs[0].script_sig.len(), SCRIPT_SIG_MAX);
    }

    #[test]
    fn empty_signature_is_allowed() {
        let job = regtest_job();
        let cfg = WorkConfig {
            btcsig: String::new(),
            ..WorkConfig::default()
        };
        let cb = build_coinbase(&job, &cfg, &[0x51], b"");
        let tx_raw = assembled(&cb, &[0u8; 12]);
        assert!(Tx::parse_exact(&tx_raw).unwrap().is_coinbase());
    }

    /// The `mining.notify` line production sends (`Work::new` +
    /// `encode::notify`, as `Session::send_work` calls them), parsed back
    /// as a miner parses it.
    #[test]
    fn notify_line_as_miners_expect() {
        use simd_json::prelude::*;
        let job = Arc::new(regtest_job());
        let cb = build_coinbase(&job, &WorkConfig::default(), &[0x51], b"/x/");
        let work = crate::work::Work::new(job.clone(), true);
        let mut line = Vec::new();
        crate::stratum::encode::notify(
            &mut line,
            "7",
            &work.prevhash,
            &cb.coinb1,
            &cb.coinb2,
            &work.notify_tail,
            true,
        );
        assert_eq!(line.last(), Some(&b'\n'));
        let v = simd_json::to_owned_value(&mut line).unwrap();
        assert_eq!(v["method"].as_str(), Some("mining.notify"));
        let p = v["params"].as_array().unwrap();
        assert_eq!(p.len(), 9);
        assert_eq!(p[0].as_str(), Some("7"));
        // Display 0fe7d6d4…0a3d7e7d → internal 7d7e3d0a…d4d6e70f → words swapped.
        let prevhash = p[1].as_str().unwrap();
        assert!(prevhash.starts_with("0a3d7e7d"), "{prevhash}");
        assert!(prevhash.ends_with("0fe7d6d4"), "{prevhash}");
        assert_eq!(
            p[2].as_str(),
            Some(crate::bitcoin::hex::encode(&cb.coinb1).as_str())
        );
        assert_eq!(
            p[3].as_str(),
            Some(crate::bitcoin::hex::encode(&cb.coinb2).as_str())
        );
        assert!(p[4].as_array().unwrap().is_empty(), "no transactions");
        assert_eq!(p[5].as_str(), Some("20000000"));
        assert_eq!(p[6].as_str(), Some("207fffff"));
        assert_eq!(
            p[7].as_str(),
            Some(format!("{:08x}", 1_795_568_718u32).as_str())
        );
        assert_eq!(p[8].as_bool(), Some(true));
    }
}
