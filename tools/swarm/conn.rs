//! One connection: its socket, the line framing of what arrives, the
//! bytes waiting to be sent, and the miner state machine behind them.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::miner::{Closing, Miner, Work};
use crate::stats::Stats;
use tbg_pool::stratum::LineBuffer;

/// Longest line accepted from a pool; longer ends the connection.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Bytes read per `read` call.
pub const READ_CHUNK: usize = 16 * 1024;

/// Most `read` calls per readiness event; the rest waits for the next
/// turn so one chatty pool connection cannot hold the thread.
pub const MAX_READS_PER_EVENT: usize = 8;

/// A connect not completed after this long counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most unsent bytes before the pool counts as not reading (stuck).
pub const MAX_PENDING_OUT: usize = 1024 * 1024;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    ConnectFailed,
    ConnectTimeout,
    /// EOF, reset, or a write error: the pool closed it.
    ClosedByPool,
    /// A line above [`MAX_LINE_BYTES`].
    Oversize,
    /// The pool stopped reading what we send.
    Stuck,
    /// The miner ended it (refused, protocol error, `client.reconnect`).
    Miner(Closing),
}

/// One connection to the pool.
pub struct Conn {
    /// Which of the run's miners this is (worker name, source address).
    pub miner_index: usize,
    pub stream: TcpStream,
    /// `Some(start)` until the TCP connect completes.
    connecting_since: Option<Instant>,
    lines: LineBuffer,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    out_pos: usize,
    miner: Miner,
    /// The pacing wake-up this connection has in the timer heap.
    pub wake_at: Option<Instant>,
    /// Whether it is in the thread's queue of work to do now.
    pub queued: bool,
    /// A read stopped at [`MAX_READS_PER_EVENT`]; read again next turn.
    pub read_pending: bool,
}

impl Conn {
    /// A connection whose connect was just started.
    pub fn new(miner_index: usize, stream: TcpStream, miner: Miner, now: Instant) -> Conn {
        Conn {
            miner_index,
            stream,
            connecting_since: Some(now),
            lines: LineBuffer::new(MAX_LINE_BYTES),
            out: Vec::new(),
            out_pos: 0,
            miner,
            wake_at: None,
            queued: false,
            read_pending: false,
        }
    }

    /// Whether the TCP connect has completed.
    pub fn is_open(&self) -> bool {
        self.connecting_since.is_none()
    }

    /// The miner behind this connection.
    pub fn miner_mut(&mut self) -> &mut Miner {
        &mut self.miner
    }

    /// Handle readiness (`error` includes hang-ups before connecting).
    pub fn on_ready(
        &mut self,
        readable: bool,
        writable: bool,
        error: bool,
        stats: &mut Stats,
    ) -> Result<(), End> {
        if self.connecting_since.is_some() {
            if error {
                return Err(End::ConnectFailed);
            }
            if !(readable || writable) || !self.finish_connect(stats)? {
                return Ok(());
            }
        }
        if readable || error || self.read_pending {
            self.read(stats)?;
        }
        self.flush()
    }

    /// Complete a non-blocking connect; `Ok(false)` if still under way.
    fn finish_connect(&mut self, stats: &mut Stats) -> Result<bool, End> {
        match self.stream.take_error() {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => return Err(End::ConnectFailed),
        }
        match self.stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
            Err(_) => return Err(End::ConnectFailed),
        }
        self.connecting_since = None;
        stats.counters.connections_opened += 1;
        stats.counters.open += 1;
        self.miner.start(&mut self.out);
        Ok(true)
    }

    /// Read what has arrived and hand every complete line to the miner.
    fn read(&mut self, stats: &mut Stats) -> Result<(), End> {
        let mut chunk = [0u8; READ_CHUNK];
        self.read_pending = false;
        for _ in 0..MAX_READS_PER_EVENT {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(End::ClosedByPool),
                Ok(n) => {
                    self.lines.push(&chunk[..n]);
                    self.drain_lines(stats)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(End::ClosedByPool),
            }
        }
        self.read_pending = true;
        Ok(())
    }

    /// Every complete buffered line, through the miner.
    fn drain_lines(&mut self, stats: &mut Stats) -> Result<(), End> {
        while let Some(line) = self.lines.next_line().map_err(|_| End::Oversize)? {
            self.miner
                .handle_line(line, &mut self.out, stats)
                .map_err(End::Miner)?;
        }
        Ok(())
    }

    /// Let the miner hash and submit, then send what it wrote.
    pub fn pump(&mut self, now: Instant, mining: bool, stats: &mut Stats) -> Result<Work, End> {
        if !self.is_open() {
            return Ok(Work::Idle);
        }
        let work = self.miner.work(now, mining, &mut self.out, stats);
        self.flush()?;
        Ok(work)
    }

    /// Write as much of the pending output as the socket takes.
    pub fn flush(&mut self) -> Result<(), End> {
        while self.out_pos < self.out.len() && self.is_open() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(End::ClosedByPool),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(End::ClosedByPool),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out.len() - self.out_pos > MAX_PENDING_OUT {
            return Err(End::Stuck);
        }
        Ok(())
    }

    /// Whether the connect has been pending longer than [`CONNECT_TIMEOUT`].
    pub fn connect_timed_out(&self, now: Instant) -> bool {
        self.connecting_since
            .is_some_and(|since| now.saturating_duration_since(since) >= CONNECT_TIMEOUT)
    }
}
