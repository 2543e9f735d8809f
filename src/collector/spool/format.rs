//! The spool's record format, and a reader that finds records in a file.
//!
//! A record is one text line: `{len:08x} {crc:08x} {payload}\n`, where
//! `len` is the payload's length in bytes and `crc` its CRC-32 (IEEE, the
//! zlib/PNG one), both in lowercase hex. The payload is the event's JSON
//! (one line, see `StoredEvent::spool_line`), so `less` still reads a
//! spool. A record is valid only if its header parses, its length fits
//! the bytes that follow, the byte after the payload is `\n` and the CRC
//! matches: a record cut short by a crash or a full disk, or followed by
//! another glued to it, is never taken for a valid one.
//!
//! Earlier versions wrote bare JSON lines. A line that starts with `{`
//! is read as such a legacy record (valid if it is a whole line that
//! parses as an event), so a spool left by an upgrade is still replayed.
//!
//! The CRC is a small table-driven one written here (checked against the
//! standard check value below) rather than a new dependency: a spool
//! record is a few hundred bytes, far from where a SIMD CRC would matter.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::collector::record::StoredEvent;

/// `{len:08x} {crc:08x} `.
pub const HEADER_LEN: usize = 18;

/// The largest payload a record may hold. Payloads are a datagram (at
/// most 4 KiB) plus the enrichment; a header claiming more is damage, and
/// the bound keeps a damaged length from making the reader load gigabytes.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// How much the reader reads at a time.
const READ_CHUNK: usize = 64 * 1024;

/// First read when looking for the end of a legacy line (they are a few
/// hundred bytes; longer ones are read with growing reads).
const LEGACY_FIRST_READ: usize = 4096;

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`).
pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Append one record holding `payload` to `out`.
pub fn encode(payload: &str, out: &mut Vec<u8>) -> io::Result<()> {
    if payload.len() > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("an event of {} bytes is too large to spool", payload.len()),
        ));
    }
    let header = format!("{:08x} {:08x} ", payload.len(), crc32(payload.as_bytes()));
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload.as_bytes());
    out.push(b'\n');
    Ok(())
}

/// Eight lowercase hex digits.
fn hex8(bytes: &[u8]) -> Option<u32> {
    if bytes.len() != 8 {
        return None;
    }
    bytes.iter().try_fold(0u32, |n, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(n << 4 | u32::from(digit))
    })
}

/// `(len, crc)` from a record header.
fn parse_header(h: &[u8]) -> Option<(usize, u32)> {
    if h.len() < HEADER_LEN || h[8] != b' ' || h[17] != b' ' {
        return None;
    }
    Some((hex8(&h[..8])? as usize, hex8(&h[9..17])?))
}

/// Where a valid record lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub start: u64,
    /// Where its payload starts; the payload ends just before the `\n`
    /// that ends the record.
    pub payload_start: u64,
    /// Just past its `\n`.
    pub end: u64,
}

/// Reads records from a file up to `limit`, through a buffer.
pub struct Reader<'f> {
    file: &'f File,
    limit: u64,
    base: u64,
    buf: Vec<u8>,
}

impl<'f> Reader<'f> {
    pub fn new(file: &'f File, limit: u64) -> Reader<'f> {
        Reader {
            file,
            limit,
            base: 0,
            buf: Vec::new(),
        }
    }

    /// Up to `n` bytes from `pos` (fewer only where the limit comes first).
    fn bytes(&mut self, pos: u64, n: usize) -> io::Result<&[u8]> {
        let end = self.base + self.buf.len() as u64;
        let wanted_end = (pos + n as u64).min(self.limit);
        if pos < self.base || wanted_end > end {
            self.fill(pos, n)?;
        }
        let from = (pos - self.base) as usize;
        let to = (from + n).min(self.buf.len());
        Ok(&self.buf[from.min(to)..to])
    }

    /// Read from `pos` at least `n` bytes (up to the limit). A file found
    /// shorter than the limit lowers the limit: its end is the end.
    fn fill(&mut self, pos: u64, n: usize) -> io::Result<()> {
        let size = (n.max(READ_CHUNK) as u64).min(self.limit.saturating_sub(pos)) as usize;
        self.buf.resize(size, 0);
        self.base = pos;
        let mut got = 0;
        while got < size {
            match self.file.read_at(&mut self.buf[got..], pos + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.truncate(got);
        if got < size {
            self.limit = pos + got as u64;
        }
        Ok(())
    }

    /// The valid record that starts at `pos`, if one does. `line_start`:
    /// `pos` follows a `\n` (or is the file's start), where a legacy line
    /// may begin.
    pub fn record_at(&mut self, pos: u64, line_start: bool) -> io::Result<Option<Record>> {
        let head = self.bytes(pos, HEADER_LEN)?;
        if line_start && head.first() == Some(&b'{') {
            return self.legacy_at(pos);
        }
        let Some((len, crc)) = parse_header(head) else {
            return Ok(None);
        };
        if len > MAX_PAYLOAD {
            return Ok(None);
        }
        let total = HEADER_LEN + len + 1;
        let bytes = self.bytes(pos, total)?;
        let valid = bytes.len() == total
            && bytes[total - 1] == b'\n'
            && crc32(&bytes[HEADER_LEN..total - 1]) == crc;
        Ok(valid.then_some(Record {
            start: pos,
            payload_start: pos + HEADER_LEN as u64,
            end: pos + total as u64,
        }))
    }

    /// A legacy record (a bare JSON line) at `pos`, if it is a whole line
    /// that parses as an event.
    fn legacy_at(&mut self, pos: u64) -> io::Result<Option<Record>> {
        let mut want = LEGACY_FIRST_READ;
        loop {
            let bytes = self.bytes(pos, want)?;
            if let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
                let valid = std::str::from_utf8(&bytes[..nl])
                    .ok()
                    .and_then(StoredEvent::from_spool_line)
                    .is_some();
                return Ok(valid.then_some(Record {
                    start: pos,
                    payload_start: pos,
                    end: pos + nl as u64 + 1,
                }));
            }
            if bytes.len() < want || want > MAX_PAYLOAD {
                return Ok(None); // no end of line before the limit
            }
            want *= 4;
        }
    }

    /// The first valid record that starts after `pos` (at any byte, not
    /// only at a line start: a record glued to a torn one is found).
    pub fn next_record_after(&mut self, pos: u64) -> io::Result<Option<Record>> {
        let mut at = pos + 1;
        while at < self.limit {
            let line_start = self.bytes(at - 1, 1)?.first() == Some(&b'\n');
            if let Some(r) = self.record_at(at, line_start)? {
                return Ok(Some(r));
            }
            at += 1;
        }
        Ok(None)
    }

    /// A record's payload (no `\n`).
    pub fn payload(&mut self, r: Record) -> io::Result<&[u8]> {
        let len = (r.end - 1 - r.payload_start) as usize;
        self.bytes(r.payload_start, len)
    }

    /// Whether `pos` follows a `\n` (or is the start of the file).
    pub fn is_line_start(&mut self, pos: u64) -> io::Result<bool> {
        Ok(pos == 0 || self.bytes(pos - 1, 1)?.first() == Some(&b'\n'))
    }

    /// The limit (lowered if the file turned out shorter).
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn a_record_is_a_readable_line() {
        let mut out = Vec::new();
        encode("{\"a\":1}", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            format!("00000007 {:08x} {{\"a\":1}}\n", crc32(b"{\"a\":1}"))
        );
    }

    #[test]
    fn the_example_in_docs_storage_md() {
        let payload = r#"{"event":"weekly_summary","ts":1771502400.5,"seq":7,"pool":"p1","run":"00000000000000a1","user":"u","week":202608,"best_diff_week":1.5,"total_shares_week":3,"received_at":1771502401.000000,"collector":"host-a"}"#;
        let mut out = Vec::new();
        encode(payload, &mut out).unwrap();
        assert!(out.starts_with(b"000000d2 89a35953 {"));
    }

    #[test]
    fn headers_are_strict() {
        assert_eq!(parse_header(b"0000000a 0000000b "), Some((10, 11)));
        for bad in [
            &b"0000000A 0000000b "[..],
            b"+000000a 0000000b ",
            b"0000000a-0000000b ",
            b"0000000a 0000000b",
        ] {
            assert_eq!(parse_header(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_oversize_payload_is_refused() {
        let mut out = Vec::new();
        assert!(encode(&"x".repeat(MAX_PAYLOAD + 1), &mut out).is_err());
        assert!(out.is_empty());
    }
}
