//! The hex fields of `mining.submit`, decoded without allocation.

use super::reject::RejectReason;
use crate::bitcoin::hex;
use crate::work::coinbase::EXTRANONCE2_MAX;

/// A decoded submit: `[worker, job_id, extranonce2, ntime, nonce, (version_bits)]`
/// minus the worker and job id, which the session resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submit {
    extranonce2: [u8; EXTRANONCE2_MAX],
    extranonce2_len: u8,
    /// As the header carries it (the hex is big-endian).
    pub ntime: u32,
    /// As the header carries it: the hex is big-endian, so its bytes are
    /// reversed into the header (see `tests/vectors/cpuminer-shares.json`).
    pub nonce: u32,
    /// BIP310 version bits (the 6th param), if sent.
    pub version_bits: Option<u32>,
}

impl Submit {
    /// Decode the hex fields; `extranonce2_len` is the negotiated size.
    pub fn parse(
        extranonce2: &str,
        ntime: &str,
        nonce: &str,
        version_bits: Option<&str>,
        extranonce2_len: usize,
    ) -> Result<Submit, RejectReason> {
        assert!(extranonce2_len <= EXTRANONCE2_MAX);
        if extranonce2.len() != extranonce2_len * 2 {
            return Err(RejectReason::BadExtranonce2Length);
        }
        let mut en2 = [0u8; EXTRANONCE2_MAX];
        hex::decode_into(extranonce2.as_bytes(), &mut en2[..extranonce2_len])
            .map_err(|_| RejectReason::Malformed)?;
        // 1–8 digits of either case (NerdMiner: unpadded uppercase nonces);
        // duplicates are found on the decoded header, so `0056afb` and
        // `56AFB` are one share.
        let word =
            |s: &str| hex::parse_u32_loose(s.as_bytes()).map_err(|_| RejectReason::Malformed);
        Ok(Submit {
            extranonce2: en2,
            extranonce2_len: extranonce2_len as u8,
            ntime: word(ntime)?,
            nonce: word(nonce)?,
            version_bits: version_bits.map(word).transpose()?,
        })
    }

    pub fn extranonce2(&self) -> &[u8] {
        &self.extranonce2[..self.extranonce2_len as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpuminer_fields() {
        let s = Submit::parse("00000000", "6b06107f", "90300000", None, 4).unwrap();
        assert_eq!(s.extranonce2(), &[0, 0, 0, 0]);
        assert_eq!(s.ntime, 0x6b06_107f);
        assert_eq!(s.nonce, 0x9030_0000);
        assert_eq!(s.version_bits, None);
        let s = Submit::parse(
            "0011223344556677",
            "6b06107f",
            "90300000",
            Some("1fffe000"),
            8,
        );
        assert_eq!(s.unwrap().version_bits, Some(0x1fff_e000));
    }

    #[test]
    fn accepts_unpadded_and_uppercase_words() {
        // NerdMiner v2: String(nonce, HEX).
        let s = Submit::parse("00000000", "6B06107F", "56AFB", Some("2000"), 4).unwrap();
        assert_eq!(s.nonce, 0x0005_6afb);
        assert_eq!(s.ntime, 0x6b06_107f);
        assert_eq!(s.version_bits, Some(0x2000));
        let padded = Submit::parse("00000000", "6b06107f", "00056afb", Some("00002000"), 4);
        assert_eq!(padded.unwrap(), s);
        for bad in ["", "123456789", "12 4", "0x12", "g"] {
            assert_eq!(
                Submit::parse("00000000", "6b06107f", bad, None, 4),
                Err(RejectReason::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_fields() {
        let bad = |en2, ntime, nonce, v| Submit::parse(en2, ntime, nonce, v, 4).unwrap_err();
        assert_eq!(
            bad("000000", "6b06107f", "90300000", None),
            RejectReason::BadExtranonce2Length
        );
        assert_eq!(
            bad("0000000g", "6b06107f", "90300000", None),
            RejectReason::Malformed
        );
        assert_eq!(
            bad("00000000", "6b06107f0", "90300000", None),
            RejectReason::Malformed
        );
        assert_eq!(
            bad("00000000", "6b06107f", "9030000x", None),
            RejectReason::Malformed
        );
        assert_eq!(
            bad("00000000", "6b06107f", "90300000", Some("zz")),
            RejectReason::Malformed
        );
    }
}
