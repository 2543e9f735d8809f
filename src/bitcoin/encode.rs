//! Bitcoin's serialization building blocks: CompactSize integers, script
//! pushes (BIP34 height), and a bounds-checked reader for parsing.

use std::fmt;

/// Append a CompactSize ("varint") to `out`.
pub fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// The minimal script push of a number, as BIP34 requires for the block
/// height at the start of the coinbase scriptSig (CScript() << height).
pub fn script_push_number(out: &mut Vec<u8>, n: i64) {
    if n == 0 {
        out.push(0x00); // OP_0
        return;
    }
    if (1..=16).contains(&n) {
        out.push(0x50 + n as u8); // OP_1 .. OP_16
        return;
    }
    if n == -1 {
        out.push(0x4f); // OP_1NEGATE
        return;
    }
    let mut bytes = [0u8; 9];
    let mut len = 0;
    let negative = n < 0;
    let mut abs = n.unsigned_abs();
    while abs > 0 {
        bytes[len] = (abs & 0xff) as u8;
        abs >>= 8;
        len += 1;
    }
    // The top bit carries the sign: add a byte when the magnitude uses it.
    if bytes[len - 1] & 0x80 != 0 {
        bytes[len] = if negative { 0x80 } else { 0x00 };
        len += 1;
    } else if negative {
        bytes[len - 1] |= 0x80;
    }
    out.push(len as u8);
    out.extend_from_slice(&bytes[..len]);
}

/// Append a data push (`OP_PUSHBYTES_n` or `OP_PUSHDATA1`) for `data`.
pub fn script_push_data(out: &mut Vec<u8>, data: &[u8]) {
    assert!(data.len() <= 255, "push of {} bytes", data.len());
    if data.len() >= 0x4c {
        out.push(0x4c); // OP_PUSHDATA1
    }
    out.push(data.len() as u8);
    out.extend_from_slice(data);
}

/// Ran past the end of the input, or met a value out of range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decode error: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A cursor over serialized bytes; every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// The whole buffer this reader walks.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError("unexpected end of data"));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn peek_u8(&self) -> Result<u8, DecodeError> {
        self.data
            .get(self.pos)
            .copied()
            .ok_or(DecodeError("unexpected end of data"))
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32_le(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    pub fn u64_le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    pub fn hash32(&mut self) -> Result<[u8; 32], DecodeError> {
        Ok(self.take(32)?.try_into().unwrap())
    }

    /// A CompactSize, rejecting non-canonical encodings as Bitcoin Core does.
    pub fn compact_size(&mut self) -> Result<u64, DecodeError> {
        let first = self.u8()?;
        let (n, min) = match first {
            0xfd => (
                u16::from_le_bytes(self.take(2)?.try_into().unwrap()) as u64,
                0xfd,
            ),
            0xfe => (
                u32::from_le_bytes(self.take(4)?.try_into().unwrap()) as u64,
                0x1_0000,
            ),
            0xff => (self.u64_le()?, 0x1_0000_0000),
            n => return Ok(n as u64),
        };
        if n < min {
            return Err(DecodeError("non-canonical compact size"));
        }
        Ok(n)
    }

    /// A CompactSize used as a length or count, bounded by the bytes left
    /// so that a hostile length cannot make us allocate gigabytes.
    pub fn length(&mut self) -> Result<usize, DecodeError> {
        let n = self.compact_size()?;
        if n > self.remaining() as u64 {
            return Err(DecodeError("length exceeds data"));
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_size_round_trip() {
        for n in [0u64, 1, 0xfc, 0xfd, 0xffff, 0x1_0000, 0xffff_ffff, 1 << 40] {
            let mut v = Vec::new();
            write_compact_size(&mut v, n);
            assert_eq!(Reader::new(&v).compact_size().unwrap(), n);
        }
        assert!(Reader::new(&[0xfd, 0x01, 0x00]).compact_size().is_err());
    }

    #[test]
    fn bip34_heights() {
        let cases: &[(i64, &[u8])] = &[
            (1, &[0x51]),
            (16, &[0x60]),
            (17, &[0x01, 0x11]),
            (127, &[0x01, 0x7f]),
            (128, &[0x02, 0x80, 0x00]),
            (255, &[0x02, 0xff, 0x00]),
            (256, &[0x02, 0x00, 0x01]),
            // Block 413,567 (0x064f7f) from the vectors: 03 7f 4f 06.
            (413_567, &[0x03, 0x7f, 0x4f, 0x06]),
            (8_388_608, &[0x04, 0x00, 0x00, 0x80, 0x00]),
        ];
        for (height, want) in cases {
            let mut v = Vec::new();
            script_push_number(&mut v, *height);
            assert_eq!(&v[..], *want, "height {height}");
        }
    }

    /// CScriptNum's minimal encoding, signs included, as Core writes them.
    #[test]
    fn script_numbers_with_signs() {
        let push = |n: i64| {
            let mut out = Vec::new();
            script_push_number(&mut out, n);
            out
        };
        assert_eq!(push(-1), [0x4f]);
        assert_eq!(push(17), [0x01, 0x11]);
        assert_eq!(push(-2), [0x01, 0x82]);
        assert_eq!(push(127), [0x01, 0x7f]);
        assert_eq!(push(128), [0x02, 0x80, 0x00]);
        assert_eq!(push(-128), [0x02, 0x80, 0x80]);
        assert_eq!(push(-255), [0x02, 0xff, 0x80]);
        assert_eq!(push(-256), [0x02, 0x00, 0x81]);
        assert_eq!(push(840_000), [0x03, 0x40, 0xd1, 0x0c]);
    }

    /// A length may use every byte left, not one more.
    #[test]
    fn lengths_are_bounded_by_the_bytes_left() {
        assert_eq!(Reader::new(&[2, 7, 7]).length(), Ok(2));
        assert_eq!(
            Reader::new(&[3, 7, 7]).length(),
            Err(DecodeError("length exceeds data"))
        );
        assert_eq!(DecodeError("x").to_string(), "decode error: x");
    }
}
