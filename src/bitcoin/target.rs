//! Targets, compact `nbits`, and difficulty.
//!
//! A hash meets a target when, read as a little-endian 256-bit integer
//! (internal byte order), it is less than or equal to the target.
//! Difficulty 1 is the target `0x00000000ffff0000…` (compact `0x1d00ffff`),
//! the convention of Bitcoin's `getdifficulty` and of Stratum's
//! `mining.set_difficulty`.

use std::cmp::Ordering;

/// Unsigned 256-bit integer, four little-endian 64-bit limbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U256(pub [u64; 4]);

/// 2^64 as f64.
const TWO_64: f64 = 18_446_744_073_709_551_616.0;

/// 2^104 as f64 (exact).
const TWO_104: f64 = (1u128 << 104) as f64;

/// The difficulty-1 target as f64: 0xffff × 2^208 (exact).
pub const DIFF1_TARGET_F64: f64 = 65535.0 * TWO_104 * TWO_104;

impl U256 {
    pub const ZERO: U256 = U256([0; 4]);
    pub const MAX: U256 = U256([u64::MAX; 4]);

    /// The difficulty-1 target, 0x00000000ffff0000…0000.
    pub const DIFF1: U256 = U256([0, 0, 0, 0x0000_0000_ffff_0000]);

    /// Read a hash in internal byte order as a little-endian integer.
    #[inline]
    pub fn from_le_bytes(bytes: &[u8; 32]) -> U256 {
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            *limb = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        }
        U256(limbs)
    }

    /// The integer as 32 little-endian bytes (internal hash order).
    pub fn to_le_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, limb) in self.0.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    /// The integer as 32 big-endian bytes (as `getblocktemplate`'s `target`).
    pub fn to_be_bytes(self) -> [u8; 32] {
        let mut out = self.to_le_bytes();
        out.reverse();
        out
    }

    /// Nearest f64 (exact to 53 significant bits).
    #[inline]
    pub fn to_f64(self) -> f64 {
        let l = self.0;
        ((l[3] as f64 * TWO_64 + l[2] as f64) * TWO_64 + l[1] as f64) * TWO_64 + l[0] as f64
    }

    /// The integer part of a non-negative f64, saturating at `MAX`.
    pub fn from_f64(x: f64) -> U256 {
        if x.is_nan() || x < 1.0 {
            return U256::ZERO;
        }
        if x >= 2f64.powi(256) {
            return U256::MAX;
        }
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i32 - 1075; // x = mant × 2^exp
        let mant = (bits & ((1 << 52) - 1)) | (1 << 52);
        if exp <= 0 {
            return U256([mant >> (-exp) as u32, 0, 0, 0]);
        }
        U256([mant, 0, 0, 0]).shl_bits(exp as u32)
    }

    /// Shift left by `n` bits (n < 256); bits shifted out are lost.
    #[allow(clippy::needless_range_loop)] // limb arithmetic reads clearer indexed
    pub fn shl_bits(self, n: u32) -> U256 {
        // A caller shifting by 256 or more has mis-decoded a target.
        assert!(n < 256, "U256 shift by {n}");
        let mut out = [0u64; 4];
        let limbs = (n / 64) as usize;
        let bits = n % 64;
        for i in limbs..4 {
            out[i] = self.0[i - limbs] << bits;
            if bits > 0 && i > limbs {
                out[i] |= self.0[i - limbs - 1] >> (64 - bits);
            }
        }
        U256(out)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    /// Number of significant bits.
    pub fn bits(&self) -> u32 {
        for i in (0..4).rev() {
            if self.0[i] != 0 {
                return 64 * i as u32 + 64 - self.0[i].leading_zeros();
            }
        }
        0
    }

    /// Shift right by `n` bits (n < 256).
    #[allow(clippy::needless_range_loop)] // limb arithmetic reads clearer indexed
    pub fn shr_bits(self, n: u32) -> U256 {
        assert!(n < 256, "U256 shift by {n}");
        let mut out = [0u64; 4];
        let limbs = (n / 64) as usize;
        let bits = n % 64;
        for i in 0..4 - limbs {
            out[i] = self.0[i + limbs] >> bits;
            if bits > 0 && i + limbs + 1 < 4 {
                out[i] |= self.0[i + limbs + 1] << (64 - bits);
            }
        }
        U256(out)
    }
}

impl Ord for U256 {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        for i in (0..4).rev() {
            match self.0[i].cmp(&other.0[i]) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A compact target that is negative or overflows 256 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadCompact(pub u32);

/// Expand compact `nbits` into a target, with Bitcoin Core's
/// `arith_uint256::SetCompact` rules (negative and overflow are errors).
pub fn compact_to_target(nbits: u32) -> Result<U256, BadCompact> {
    let exponent = nbits >> 24;
    let mantissa = nbits & 0x007f_ffff;
    let negative = nbits & 0x0080_0000 != 0;
    if mantissa != 0 && negative {
        return Err(BadCompact(nbits));
    }
    let overflow = mantissa != 0
        && (exponent > 34
            || (mantissa > 0xff && exponent > 33)
            || (mantissa > 0xffff && exponent > 32));
    if overflow {
        return Err(BadCompact(nbits));
    }
    if mantissa == 0 {
        return Ok(U256::ZERO); // any exponent: no shift needed (or valid)
    }
    let m = U256([mantissa as u64, 0, 0, 0]);
    Ok(if exponent <= 3 {
        m.shr_bits(8 * (3 - exponent))
    } else {
        m.shl_bits(8 * (exponent - 3))
    })
}

/// Compress a target into `nbits` (Bitcoin Core's `GetCompact`).
pub fn target_to_compact(target: U256) -> u32 {
    let mut size = target.bits().div_ceil(8);
    let mut compact = if size <= 3 {
        (target.0[0] << (8 * (3 - size))) as u32
    } else {
        target.shr_bits(8 * (size - 3)).0[0] as u32
    };
    if compact & 0x0080_0000 != 0 {
        compact >>= 8;
        size += 1;
    }
    compact | (size << 24)
}

/// Difficulty of a target: diff1 / target (`getdifficulty` for nbits).
pub fn target_to_difficulty(target: U256) -> f64 {
    if target.is_zero() {
        return f64::INFINITY;
    }
    DIFF1_TARGET_F64 / target.to_f64()
}

/// Difficulty of compact `nbits`, as bitcoind's `getdifficulty` reports it.
pub fn compact_to_difficulty(nbits: u32) -> f64 {
    match compact_to_target(nbits) {
        Ok(t) => target_to_difficulty(t),
        Err(_) => 0.0,
    }
}

/// Relative slack granted when turning a share difficulty into a target.
/// Miners compute their target from the same float in their own way; a
/// hash on the exact boundary must not be rejected because our rounding
/// differs from theirs. One part in 10^9 is far below any meaningful
/// difference in work.
const SHARE_TARGET_SLACK: f64 = 1e-9;

/// The target a share must meet at difficulty `diff` (which may be far
/// below 1, down to 1e-8 and beyond). Rounded generously; see above.
pub fn difficulty_to_share_target(diff: f64) -> U256 {
    assert!(diff > 0.0 && diff.is_finite(), "difficulty {diff}");
    U256::from_f64(DIFF1_TARGET_F64 / diff * (1.0 + SHARE_TARGET_SLACK))
}

/// The difficulty a hash achieved: diff1 / hash (Stratum's "share difficulty").
#[inline]
pub fn hash_difficulty(hash: &[u8; 32]) -> f64 {
    target_to_difficulty(U256::from_le_bytes(hash))
}

/// Whether `hash` (internal byte order) meets `target`.
#[inline]
pub fn hash_meets(hash: &[u8; 32], target: &U256) -> bool {
    U256::from_le_bytes(hash) <= *target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff1_constants_agree() {
        assert_eq!(compact_to_target(0x1d00ffff).unwrap(), U256::DIFF1);
        assert_eq!(U256::DIFF1.to_f64(), DIFF1_TARGET_F64);
        assert_eq!(target_to_difficulty(U256::DIFF1), 1.0);
        assert_eq!(target_to_compact(U256::DIFF1), 0x1d00ffff);
    }

    #[test]
    fn real_nbits_difficulties() {
        // Block 100,000 (nbits 0x1b04864c): 14,484.1623612254 by bitcoind.
        let d = compact_to_difficulty(0x1b04_864c);
        assert!((d - 14_484.162_361_225_4).abs() < 1e-6, "{d}");
        // Regtest's 0x207fffff: 4.656542373906925e-10.
        let d = compact_to_difficulty(0x207f_ffff);
        assert!((d / 4.656_542_373_906_925e-10 - 1.0).abs() < 1e-12, "{d}");
    }

    #[test]
    fn zero_mantissa_with_any_exponent_is_zero() {
        // From a hostile node: a shift by 8 × 252 bits would be a bug.
        for exponent in [0u32, 3, 34, 35, 200, 255] {
            assert_eq!(compact_to_target(exponent << 24), Ok(U256::ZERO));
        }
        assert_eq!(U256::MAX.shr_bits(255), U256([1, 0, 0, 0]));
    }

    #[test]
    fn compact_round_trips() {
        for nbits in [
            0x1d00ffffu32,
            0x1804_8ed4,
            0x207f_ffff,
            0x1703_4219,
            0x1b0404cb,
        ] {
            let t = compact_to_target(nbits).unwrap();
            assert_eq!(target_to_compact(t), nbits, "{nbits:08x}");
        }
        assert!(compact_to_target(0x0180_0001).is_err(), "negative");
        assert!(compact_to_target(0xff12_3456).is_err(), "overflow");
        let t = compact_to_target(0x1b0404cb).unwrap();
        assert_eq!(
            crate::bitcoin::hex::encode(&t.to_be_bytes()),
            "00000000000404cb000000000000000000000000000000000000000000000000"
        );
    }

    #[test]
    fn share_targets_for_fractional_difficulty() {
        assert!(difficulty_to_share_target(1.0) >= U256::DIFF1);
        // diff 0.5 doubles the target; 1e-8 multiplies it by 1e8.
        let half = difficulty_to_share_target(0.5);
        assert!(half >= U256::DIFF1.shl_bits(1));
        let tiny = difficulty_to_share_target(1e-8);
        let want = DIFF1_TARGET_F64 * 1e8;
        assert!((tiny.to_f64() / want - 1.0).abs() < 1e-8);
        // Round trip: a hash exactly at a difficulty's target is accepted.
        for diff in [1e-8, 0.001, 0.5, 1.0, 1.5, 65536.0, 1e12] {
            let t = U256::from_f64(DIFF1_TARGET_F64 / diff);
            let hash = t.to_le_bytes();
            assert!(hash_meets(&hash, &difficulty_to_share_target(diff)));
            assert!((hash_difficulty(&hash) / diff - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn from_f64_is_exact_for_powers_of_two() {
        assert_eq!(U256::from_f64(1.0), U256([1, 0, 0, 0]));
        assert_eq!(U256::from_f64(2f64.powi(200)), U256([0, 0, 0, 1 << 8]));
        assert_eq!(U256::from_f64(0.5), U256::ZERO);
        assert_eq!(U256::from_f64(1e300), U256::MAX);
    }

    #[test]
    fn from_f64_edges() {
        for x in [f64::NAN, -3.0, 0.0, 0.5, 0.999] {
            assert_eq!(U256::from_f64(x), U256::ZERO, "{x}");
        }
        assert_eq!(U256::from_f64(1.0), U256([1, 0, 0, 0]));
        assert_eq!(U256::from_f64(2f64.powi(256)), U256::MAX);
        assert_eq!(U256::from_f64(2f64.powi(64)), U256([0, 1, 0, 0]));
    }

    #[test]
    fn whole_limb_shifts_and_zero() {
        let x = U256([0x8000_0000_0000_0001, 0x2, 0, 0]);
        assert_eq!(x.shl_bits(64), U256([0, 0x8000_0000_0000_0001, 0x2, 0]));
        assert_eq!(x.shl_bits(128), U256([0, 0, 0x8000_0000_0000_0001, 0x2]));
        assert_eq!(x.shl_bits(1), U256([2, 0x5, 0, 0]));
        assert!(U256::ZERO.is_zero());
        assert!(!x.is_zero());
        assert!(!U256([0, 0, 0, 1]).is_zero());
    }

    #[test]
    fn right_shifts_carry_between_limbs() {
        let top = 0x8000_0000_0000_0000;
        let x = U256([1, 3, top, 5]);
        assert_eq!(x.shr_bits(0), x);
        assert_eq!(x.shr_bits(1), U256([top, 1, 0xc000_0000_0000_0000, 2]));
        assert_eq!(x.shr_bits(64), U256([3, top, 5, 0]));
        assert_eq!(x.shr_bits(65), U256([1, 0xc000_0000_0000_0000, 2, 0]));
        assert_eq!(x.shr_bits(200), U256::ZERO);
        assert_eq!(U256([0, 0, 0, 1 << 63]).shr_bits(255), U256([1, 0, 0, 0]));
    }

    /// Bitcoin Core's `SetCompact`/`GetCompact` vectors
    /// (src/test/arith_uint256_tests.cpp) and its overflow boundaries.
    #[test]
    fn core_compact_vectors() {
        let small = |v: u64| U256([v, 0, 0, 0]);
        for (nbits, value, back) in [
            (0x0112_3456, 0x12, 0x0112_0000),
            (0x0212_3456, 0x1234, 0x0212_3400),
            (0x0312_3456, 0x12_3456, 0x0312_3456),
            (0x0412_3456, 0x1234_5600, 0x0412_3456),
            (0x0500_9234, 0x9234_0000, 0x0500_9234),
        ] {
            assert_eq!(compact_to_target(nbits), Ok(small(value)), "{nbits:08x}");
            assert_eq!(target_to_compact(small(value)), back, "{value:x}");
        }
        for nbits in [
            0x0012_3456,
            0x0100_3456,
            0x0200_0056,
            0x0300_0000,
            0x0400_0000,
        ] {
            assert_eq!(compact_to_target(nbits), Ok(U256::ZERO), "{nbits:08x}");
        }
        // The sign bit of a mantissa moves it a byte up.
        assert_eq!(target_to_compact(small(0x80)), 0x0200_8000);
        assert_eq!(
            compact_to_target(0x2012_3456),
            Ok(U256([0, 0, 0, 0x0012_3456 << 40]))
        );
        // Overflow: the value must fit 256 bits.
        assert_eq!(compact_to_target(0x2200_0001), Ok(U256([0, 0, 0, 1 << 56])));
        assert!(compact_to_target(0x2200_00ff).is_ok());
        assert!(compact_to_target(0x2200_0100).is_err());
        assert!(compact_to_target(0x2300_0001).is_err());
        assert!(compact_to_target(0x2100_ffff).is_ok());
        assert!(compact_to_target(0x2101_0000).is_err());
        assert!(compact_to_target(0x2001_0000).is_ok());
        assert!(compact_to_target(0x0492_3456).is_err(), "negative");
    }

    /// Every limb counts, with its weight, while the value fits 53 bits.
    #[test]
    fn to_f64_weighs_every_limb() {
        let two = |n: i32| 2f64.powi(n);
        assert_eq!(U256([1 << 20, 1, 0, 0]).to_f64(), two(64) + two(20));
        assert_eq!(U256([0, 1 << 40, 1, 0]).to_f64(), two(128) + two(104));
        assert_eq!(U256([0, 0, 1 << 30, 1]).to_f64(), two(192) + two(158));
    }
}
