//! Hex encoding and decoding without allocation where the caller
//! provides the buffer (the share hot path does).

use std::fmt;

/// A hex string that is malformed or has the wrong length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexError {
    /// Odd length, or a length other than the one required.
    BadLength { expected: usize, found: usize },
    /// A character that is not `0-9a-fA-F`.
    BadChar,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::BadLength { expected, found } => {
                write!(f, "hex length {found}, expected {expected}")
            }
            HexError::BadChar => write!(f, "invalid hex character"),
        }
    }
}

impl std::error::Error for HexError {}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

#[inline]
fn nibble(c: u8) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HexError::BadChar),
    }
}

/// Decode `s` into exactly `out.len()` bytes.
#[inline]
pub fn decode_into(s: &[u8], out: &mut [u8]) -> Result<(), HexError> {
    if s.len() != out.len() * 2 {
        return Err(HexError::BadLength {
            expected: out.len() * 2,
            found: s.len(),
        });
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (nibble(s[2 * i])? << 4) | nibble(s[2 * i + 1])?;
    }
    Ok(())
}

/// Decode a hex string of any even length.
pub fn decode(s: &str) -> Result<Vec<u8>, HexError> {
    if !s.len().is_multiple_of(2) {
        return Err(HexError::BadLength {
            expected: s.len() + 1,
            found: s.len(),
        });
    }
    let mut out = vec![0u8; s.len() / 2];
    decode_into(s.as_bytes(), &mut out)?;
    Ok(out)
}

/// Decode exactly 32 bytes of hex, keeping the byte order of the text.
pub fn decode32(s: &str) -> Result<[u8; 32], HexError> {
    let mut out = [0u8; 32];
    decode_into(s.as_bytes(), &mut out)?;
    Ok(out)
}

/// Parse 8 hex digits as a big-endian `u32` (Stratum's version, nbits,
/// ntime and nonce fields are written this way).
#[inline]
pub fn parse_u32_be(s: &[u8]) -> Result<u32, HexError> {
    let mut b = [0u8; 4];
    decode_into(s, &mut b)?;
    Ok(u32::from_be_bytes(b))
}

/// A 32-bit word from 1–8 hex digits of either case, as firmware writes
/// them: NerdMiner v2 sends `String(nonce, HEX)`, uppercase and without
/// leading zeros (`56AFB`), so shorter fields are left-padded.
pub fn parse_u32_loose(s: &[u8]) -> Result<u32, HexError> {
    if s.is_empty() || s.len() > 8 {
        return Err(HexError::BadLength {
            expected: 8,
            found: s.len(),
        });
    }
    let mut word = 0u32;
    for &c in s {
        word = (word << 4) | u32::from(nibble(c)?);
    }
    Ok(word)
}

/// Encode bytes as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    encode_to(bytes, &mut s);
    s
}

/// Append the lowercase hex of `bytes` to `out`.
pub fn encode_to(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
}

/// Write the lowercase hex of `bytes` into `out` (which must be twice as long).
#[inline]
pub fn encode_into(bytes: &[u8], out: &mut [u8]) {
    assert_eq!(out.len(), bytes.len() * 2);
    for (i, &b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
}

/// Hex of a 32-byte hash in display order (reversed), as RPC shows hashes.
pub fn encode_display(hash: &[u8; 32]) -> String {
    let mut r = *hash;
    r.reverse();
    encode(&r)
}

/// Decode a display-order hash (as RPC shows it) into internal order.
pub fn decode_display(s: &str) -> Result<[u8; 32], HexError> {
    let mut h = decode32(s)?;
    h.reverse();
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = [0u8, 1, 0xab, 0xff, 0x10];
        assert_eq!(encode(&bytes), "0001abff10");
        assert_eq!(decode("0001ABff10").unwrap(), bytes);
    }

    #[test]
    fn errors() {
        assert_eq!(
            decode("abc"),
            Err(HexError::BadLength {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(decode("zz"), Err(HexError::BadChar));
        assert_eq!(parse_u32_be(b"1d00ffff"), Ok(0x1d00ffff));
        assert!(parse_u32_be(b"1d00fff").is_err());
    }

    #[test]
    fn display_order() {
        let mut h = [0u8; 32];
        h[0] = 1;
        let s = encode_display(&h);
        assert!(s.ends_with("01"));
        assert_eq!(decode_display(&s).unwrap(), h);
    }

    #[test]
    fn errors_say_what_was_expected() {
        let mut three = [0u8; 3];
        assert_eq!(
            decode_into(b"abc", &mut three),
            Err(HexError::BadLength {
                expected: 6,
                found: 3
            })
        );
        assert_eq!(
            HexError::BadLength {
                expected: 4,
                found: 3
            }
            .to_string(),
            "hex length 3, expected 4"
        );
        assert_eq!(HexError::BadChar.to_string(), "invalid hex character");
    }
}
