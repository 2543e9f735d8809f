//! Newline-delimited framing of what the pool sends: bytes arrive in any
//! split (partial lines, several lines per read) and come out as whole
//! lines, each bounded in length.

/// Longest line accepted from a pool. A `mining.notify` for a full
/// mainnet block is ~1.5 KiB (12 branch hashes, a few hundred bytes of
/// coinbase); anything near this limit is a broken or hostile peer.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A line longer than [`MAX_LINE_BYTES`]: the connection must be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversize;

/// Bytes received but not yet handed out as lines.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Start of the first byte not yet handed out.
    start: usize,
    /// Bytes from `start` already known to hold no newline.
    scanned: usize,
}

impl LineBuffer {
    /// Append received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, without its `\n` (and `\r`), writable in
    /// place (the JSON parser unescapes strings inside the buffer).
    /// `Ok(None)` when no complete line is buffered yet.
    pub fn next_line(&mut self) -> Result<Option<&mut [u8]>, Oversize> {
        let pending = &self.buf[self.start + self.scanned..];
        let Some(pos) = pending.iter().position(|&b| b == b'\n') else {
            self.scanned = self.buf.len() - self.start;
            if self.scanned > MAX_LINE_BYTES {
                return Err(Oversize);
            }
            self.compact();
            return Ok(None);
        };
        let begin = self.start;
        let end = self.start + self.scanned + pos;
        self.start = end + 1;
        self.scanned = 0;
        if end - begin > MAX_LINE_BYTES {
            return Err(Oversize);
        }
        let line = &mut self.buf[begin..end];
        Ok(Some(match line.last() {
            Some(b'\r') => {
                let n = line.len() - 1;
                &mut line[..n]
            }
            _ => line,
        }))
    }

    /// Bytes buffered and not yet handed out.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Move the unfinished tail to the front of the buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buf: &mut LineBuffer) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(line) = buf.next_line().unwrap() {
            out.push(String::from_utf8(line.to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn partial_lines_are_held_back() {
        let mut buf = LineBuffer::default();
        buf.extend(b"{\"id\":1,");
        assert!(lines(&mut buf).is_empty());
        buf.extend(b"\"result\":true}");
        assert!(lines(&mut buf).is_empty());
        buf.extend(b"\n{\"id\"");
        assert_eq!(lines(&mut buf), ["{\"id\":1,\"result\":true}"]);
        assert_eq!(buf.buffered(), 5);
        buf.extend(b":2}\r\n");
        assert_eq!(lines(&mut buf), ["{\"id\":2}"]);
        assert_eq!(buf.buffered(), 0);
    }

    #[test]
    fn several_lines_in_one_read() {
        let mut buf = LineBuffer::default();
        buf.extend(b"a\nbb\r\n\nccc\nd");
        assert_eq!(lines(&mut buf), ["a", "bb", "", "ccc"]);
        buf.extend(b"\n");
        assert_eq!(lines(&mut buf), ["d"]);
    }

    #[test]
    fn oversize_lines_are_refused() {
        // Without a newline: refused once past the limit.
        let mut buf = LineBuffer::default();
        buf.extend(&vec![b'x'; MAX_LINE_BYTES]);
        assert_eq!(buf.next_line().unwrap(), None);
        buf.extend(b"xx");
        assert_eq!(buf.next_line(), Err(Oversize));
        // Arriving complete in one read: refused too.
        let mut buf = LineBuffer::default();
        let mut big = vec![b'y'; MAX_LINE_BYTES + 1];
        big.push(b'\n');
        buf.extend(&big);
        assert_eq!(buf.next_line(), Err(Oversize));
        // Exactly at the limit: fine.
        let mut buf = LineBuffer::default();
        let mut ok = vec![b'z'; MAX_LINE_BYTES];
        ok.push(b'\n');
        buf.extend(&ok);
        assert_eq!(buf.next_line().unwrap().unwrap().len(), MAX_LINE_BYTES);
    }
}
