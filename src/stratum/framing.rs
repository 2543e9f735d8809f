//! Newline-delimited framing with an explicit limit on line length.

/// Why the byte stream cannot be framed any further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// A line longer than the limit: the peer is broken or hostile.
    TooLong,
}

/// A connection's receive buffer. Starts small (most miners' lines are
/// 100–300 bytes, and 100k idle connections must stay cheap) and grows up
/// to the line limit only for a peer that sends long lines.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Start of unconsumed bytes.
    start: usize,
    max_line_bytes: usize,
}

/// Initial capacity of a receive buffer.
const INITIAL_BYTES: usize = 512;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 4096;

impl LineBuffer {
    pub fn new(max_line_bytes: usize) -> LineBuffer {
        assert!(max_line_bytes >= 64);
        LineBuffer {
            buf: Vec::with_capacity(INITIAL_BYTES),
            start: 0,
            max_line_bytes,
        }
    }

    /// Read what the reader has into the buffer: `Ok(0)` means EOF.
    pub fn read_from(&mut self, r: &mut impl std::io::Read) -> std::io::Result<usize> {
        self.compact();
        let len = self.buf.len();
        // Never hold more than one line's limit plus one read unconsumed.
        let room = (self.max_line_bytes + READ_CHUNK)
            .saturating_sub(len)
            .min(READ_CHUNK);
        if room == 0 {
            return Ok(0);
        }
        self.buf.resize(len + room, 0);
        let result = r.read(&mut self.buf[len..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        result
    }

    /// Append bytes (tests and replay).
    pub fn push(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line without its `\n` (and `\r`), mutable so a
    /// parser may work in place. `Ok(None)` when no full line is buffered.
    pub fn next_line(&mut self) -> Result<Option<&mut [u8]>, LineError> {
        let pending = &self.buf[self.start..];
        match pending.iter().position(|&b| b == b'\n') {
            Some(n) if n > self.max_line_bytes => Err(LineError::TooLong),
            Some(n) => {
                let line_start = self.start;
                self.start += n + 1;
                let mut end = line_start + n;
                if end > line_start && self.buf[end - 1] == b'\r' {
                    end -= 1;
                }
                Ok(Some(&mut self.buf[line_start..end]))
            }
            None if pending.len() > self.max_line_bytes => Err(LineError::TooLong),
            None => Ok(None),
        }
    }

    /// Bytes held for an incomplete line.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() - self.start
    }

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
    fn splits_partial_and_multiple_lines() {
        let mut b = LineBuffer::new(64);
        b.push(b"{\"a\":1}\n{\"b\"");
        assert_eq!(lines(&mut b), vec!["{\"a\":1}"]);
        b.push(b":2}\r\n\n{\"c\":3}\n");
        assert_eq!(lines(&mut b), vec!["{\"b\":2}", "", "{\"c\":3}"]);
        assert_eq!(b.pending_bytes(), 0);
    }

    #[test]
    fn refuses_oversize_lines_with_or_without_newline() {
        let mut b = LineBuffer::new(64);
        b.push(&[b'x'; 65]);
        assert_eq!(b.next_line().unwrap_err(), LineError::TooLong);
        let mut b = LineBuffer::new(64);
        b.push(&[b'x'; 70]);
        b.push(b"\n");
        assert_eq!(b.next_line().unwrap_err(), LineError::TooLong);
        let mut b = LineBuffer::new(64);
        b.push(&[b'x'; 64]);
        b.push(b"\n");
        assert_eq!(b.next_line().unwrap().unwrap().len(), 64);
    }

    #[test]
    fn reads_from_a_reader_in_chunks() {
        let data = b"{\"id\":1}\n".repeat(1000);
        let mut reader = &data[..];
        let mut b = LineBuffer::new(16 * 1024);
        let mut count = 0;
        while b.read_from(&mut reader).unwrap() > 0 {
            count += lines(&mut b).len();
        }
        assert_eq!(count, 1000);
    }
}
