//! Newline-delimited framing with an explicit limit on line length.

/// Why the byte stream cannot be framed any further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// A line longer than the limit: the peer is broken or hostile.
    TooLong,
}

/// A connection's receive buffer. It holds nothing between reads for a
/// miner whose lines arrive whole (100k idle connections must stay
/// cheap): [`LineBuffer::read_with`] reads into the core's one scratch
/// buffer, and [`LineBuffer::release`] hands it back, keeping only bytes
/// not yet handled (a partial line, or lines left for the next pass) in a
/// buffer of their own, up to the line limit plus one read (each read
/// adds at most [`READ_CHUNK`] bytes). That buffer is freed once drained,
/// and cut back to one read's size once a long line is handled and little
/// is left (so a miner that sent one long line does not keep its memory).
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Start of unconsumed bytes.
    start: usize,
    max_line_bytes: usize,
    /// Whether `buf` is the core's scratch buffer, lent by `read_with`.
    borrowed: bool,
}

/// Bytes asked of the socket per read (the scratch buffer's size).
pub const READ_CHUNK: usize = 4096;

impl LineBuffer {
    pub fn new(max_line_bytes: usize) -> LineBuffer {
        assert!(max_line_bytes >= 64);
        LineBuffer {
            buf: Vec::new(),
            start: 0,
            max_line_bytes,
            borrowed: false,
        }
    }

    /// A scratch buffer for [`LineBuffer::read_with`] (one per core).
    pub fn scratch() -> Vec<u8> {
        Vec::with_capacity(READ_CHUNK)
    }

    /// One read from `r`: into `scratch` when nothing is pending (lend it
    /// back with [`LineBuffer::release`] before the next connection's
    /// turn), else after the pending bytes. `Ok(0)` means EOF, or that a
    /// line over the limit is held.
    pub fn read_with(
        &mut self,
        r: &mut impl std::io::Read,
        scratch: &mut Vec<u8>,
    ) -> std::io::Result<usize> {
        if self.pending_bytes() == 0 && !self.borrowed {
            assert!(scratch.is_empty(), "scratch buffer still lent");
            std::mem::swap(&mut self.buf, scratch);
            self.start = 0;
            self.borrowed = true;
        }
        self.read_from(r)
    }

    /// Give the scratch buffer back (if lent), keeping what is not yet
    /// handled; free this buffer's own memory once it is drained, and cut
    /// it back to [`READ_CHUNK`] when it grew past twice that (a long
    /// line) and what is left fits in one read.
    pub fn release(&mut self, scratch: &mut Vec<u8>) {
        if self.borrowed {
            let rest = self.buf[self.start..].to_vec();
            std::mem::swap(&mut self.buf, scratch);
            scratch.clear();
            self.buf = rest;
            self.start = 0;
            self.borrowed = false;
        } else if self.pending_bytes() == 0 && self.buf.capacity() > 0 {
            self.buf = Vec::new();
            self.start = 0;
        } else if self.buf.capacity() > 2 * READ_CHUNK && self.pending_bytes() <= READ_CHUNK {
            // Rare (after a line over 4 KiB): one reallocation, never on
            // the path of lines that arrive whole.
            self.compact();
            self.buf.shrink_to(READ_CHUNK);
        }
    }

    /// Whether a whole line is buffered (for the next pass to handle).
    pub fn has_line(&self) -> bool {
        self.buf[self.start..].contains(&b'\n')
    }

    /// Bytes this buffer holds in memory of its own.
    pub fn capacity(&self) -> usize {
        if self.borrowed {
            0
        } else {
            self.buf.capacity()
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
    fn lends_the_scratch_buffer_and_keeps_only_the_rest() {
        let mut scratch = LineBuffer::scratch();
        let mut b = LineBuffer::new(1024);
        let mut reader = &b"{\"a\":1}\n{\"b\":2}\n"[..];
        assert_eq!(b.read_with(&mut reader, &mut scratch).unwrap(), 16);
        assert!(scratch.capacity() == 0, "lent");
        assert_eq!(lines(&mut b), vec!["{\"a\":1}", "{\"b\":2}"]);
        b.release(&mut scratch);
        assert_eq!(scratch.capacity(), READ_CHUNK);
        assert_eq!(b.capacity(), 0, "nothing kept for whole lines");
        // A partial line stays, in a buffer of its own.
        let mut reader = &b"{\"c\":3}\n{\"d\""[..];
        b.read_with(&mut reader, &mut scratch).unwrap();
        assert_eq!(lines(&mut b), vec!["{\"c\":3}"]);
        b.release(&mut scratch);
        assert_eq!((b.pending_bytes(), scratch.len()), (4, 0));
        assert!(!b.has_line());
        let mut reader = &b":4}\n"[..];
        b.read_with(&mut reader, &mut scratch).unwrap();
        assert!(b.has_line());
        assert_eq!(lines(&mut b), vec!["{\"d\":4}"]);
        b.release(&mut scratch);
        assert_eq!(b.capacity(), 0, "freed once drained");
        assert_eq!(scratch.capacity(), READ_CHUNK);
    }

    #[test]
    fn shrinks_back_after_a_long_line() {
        let mut scratch = LineBuffer::scratch();
        let mut b = LineBuffer::new(16 * 1024);
        // A 12 KiB line arriving over several reads, then a partial one.
        let mut data = vec![b'x'; 12 * 1024];
        data.extend_from_slice(b"\n{\"id\"");
        let mut reader = &data[..];
        while b.read_with(&mut reader, &mut scratch).unwrap() > 0 {
            b.release(&mut scratch);
        }
        assert!(b.capacity() >= 12 * 1024, "{}", b.capacity());
        assert_eq!(b.next_line().unwrap().unwrap().len(), 12 * 1024);
        assert_eq!(b.next_line().unwrap(), None);
        b.release(&mut scratch);
        assert!(b.capacity() <= READ_CHUNK, "kept {} bytes", b.capacity());
        assert_eq!(b.pending_bytes(), 5);
        let mut reader = &b":1}\n"[..];
        b.read_with(&mut reader, &mut scratch).unwrap();
        assert_eq!(lines(&mut b), vec!["{\"id\":1}"]);
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
