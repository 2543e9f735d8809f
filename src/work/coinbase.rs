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
            return Err(format!("extranonce1_len must be 1..={EXTRANONCE1_MAX}"));
        }
        if !(EXTRANONCE2_MIN..=EXTRANONCE2_MAX).contains(&self.extranonce2_len) {
            return Err(format!(
                "extranonce2_len must be {EXTRANONCE2_MIN}..={EXTRANONCE2_MAX}"
            ));
        }
        if self.btcsig_max_len > SIG_PUSH_MAX {
            return Err(format!("btcsig_max_len must be at most {SIG_PUSH_MAX}"));
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
    if s.len() <= max {
        return (s.clone().into_bytes(), false);
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    (s.clone().into_bytes(), true)
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
    push_output(&mut coinb2, job.coinbase_value_sats, payout_script);
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
        assert!(bad.validate().unwrap_err().contains("extranonce2_len"));
    }
}
