//! One core's event loop: its own listeners, its own connections, share
//! validation inline, new work fanned out to its miners. Nothing here is
//! shared mutably with other cores except the per-user atomics in
//! `users` and the connection limits (touched on accept/close only).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{IpAddr, TcpListener as StdListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::cursor::Cursor;
use super::{CoreMetrics, Limit, Shared};
use crate::events::EventSender;
use crate::session::{Context, Flow, Session};
use crate::share::SeenShares;
use crate::stratum::{LineBuffer, LineError, READ_CHUNK};
use crate::time::unix_micros;
use crate::work::Work;

/// Token of the waker that announces new work.
pub const WAKER: Token = Token(0);
/// Listener tokens are 1..=listeners; connections start here.
const FIRST_CONN: usize = 1 << 20;
/// How often idle and vardiff checks run.
const TICK: Duration = Duration::from_secs(1);
/// Connections ticked between two looks at the sockets. A tick is a
/// fraction of a microsecond per idle miner, but one pass over 10k
/// miners (a vardiff change writes a difficulty and a job) held every
/// waiting submit for milliseconds once a second; in chunks a submit
/// waits one chunk at most.
const TICK_CHUNK: usize = 256;
/// Events handled per poll.
const EVENTS: usize = 1024;
/// A connection's write buffer is shrunk back to this once drained: room
/// for any reply (so answering a share never allocates), while a notify
/// (~1–2 KB) grows it only until it is sent — memory per idle connection
/// is what limits how many miners a host holds.
const OUT_KEEP_BYTES: usize = 512;
/// Connections given new work between two looks at the sockets. A
/// notify costs a loopback/NIC write (~1–25 µs), so fanning out to
/// thousands of miners in one go would hold every waiting submit for
/// tens of milliseconds; in chunks, submits wait one chunk at most.
const FANOUT_CHUNK: usize = 64;

/// One miner's connection.
struct Conn {
    stream: TcpStream,
    ip: IpAddr,
    reader: LineBuffer,
    out: Vec<u8>,
    out_sent: usize,
    session: Session,
    wants_write: bool,
    /// On the core's ready list (input left for a later pass).
    queued: bool,
}

/// What one pass over a connection's input left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Everything readable was handled (or it is paused).
    Done,
    /// Input is left: serve it again after the other connections.
    More,
    /// Close it.
    Close,
}

/// The state one core owns.
pub struct Core {
    shared: Arc<Shared>,
    poll: Poll,
    listeners: Vec<TcpListener>,
    /// Boxed: a slot costs a pointer, not a whole `Conn`, so the vector's
    /// spare capacity after growing stays small at 100k connections.
    conns: Vec<Option<Box<Conn>>>,
    free: Vec<usize>,
    work: Option<Arc<Work>>,
    work_rx: Receiver<Arc<Work>>,
    seen: SeenShares,
    events: EventSender,
    /// New work still being sent out, chunk by chunk.
    fanout: Option<Fanout>,
    /// Connections with input left after their pass, served in turn
    /// (a connection reads once and handles at most `max_lines_per_pass`
    /// lines per pass, so one cannot starve the others).
    ready: VecDeque<usize>,
    /// The one read buffer every connection of this core reads into.
    scratch: Vec<u8>,
    /// This core's counters (`Shared::core_metrics`).
    metrics: Arc<CoreMetrics>,
    /// The next slot the once-a-second tick visits while a round is
    /// under way, chunk by chunk.
    ticking: Option<usize>,
}

/// Work on its way to this core's miners.
struct Fanout {
    work: Arc<Work>,
    clean: bool,
    /// Which connection slot gets it next.
    cursor: Cursor,
    miners: usize,
    started: Instant,
}

impl Core {
    pub fn new(
        shared: Arc<Shared>,
        poll: Poll,
        listeners: Vec<StdListener>,
        work_rx: Receiver<Arc<Work>>,
        events: EventSender,
        metrics: Arc<CoreMetrics>,
    ) -> io::Result<Core> {
        let mut mio_listeners = Vec::with_capacity(listeners.len());
        for (i, l) in listeners.into_iter().enumerate() {
            let mut l = TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(1 + i), Interest::READABLE)?;
            mio_listeners.push(l);
        }
        Ok(Core {
            poll,
            listeners: mio_listeners,
            conns: Vec::new(),
            free: Vec::new(),
            work: None,
            work_rx,
            seen: SeenShares::new(shared.config.seen_shares_per_core),
            events,
            fanout: None,
            ready: VecDeque::new(),
            scratch: LineBuffer::scratch(),
            metrics,
            ticking: None,
            shared,
        })
    }

    /// Run until the pool stops.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        let mut next_tick = Instant::now() + TICK;
        while !self.shared.stopping.load(Ordering::Acquire) {
            // With work still to send or input left, only look at the
            // sockets in passing.
            let busy = self.fanout.is_some() || self.ticking.is_some() || !self.ready.is_empty();
            let timeout = if busy {
                Duration::ZERO
            } else {
                next_tick.saturating_duration_since(Instant::now())
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log_error!("poll failed: {e}");
                }
                continue;
            }
            let pass_start = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => self.take_work(),
                    Token(t) if t < FIRST_CONN => self.accept(t - 1),
                    Token(t) => {
                        self.ready(t - FIRST_CONN, event.is_readable(), event.is_writable())
                    }
                }
            }
            self.serve_ready();
            if self.fanout.is_some() {
                self.fan_out_chunk();
            }
            if self.ticking.is_none() && Instant::now() >= next_tick {
                self.ticking = Some(0);
                next_tick = Instant::now() + TICK;
            }
            let ticking = self.ticking.is_some();
            if ticking {
                self.tick_chunk();
            }
            if busy || ticking || !events.is_empty() {
                self.metrics.loop_pass(pass_start.elapsed());
            }
        }
        let open: Vec<usize> = (0..self.conns.len())
            .filter(|&i| self.conns[i].is_some())
            .collect();
        for i in open {
            self.close(i);
        }
    }

    fn context(&mut self) -> Context<'_> {
        let unix_us = unix_micros();
        Context {
            config: &self.shared.config,
            network: self.shared.network,
            work: self.work.as_ref(),
            registry: &self.shared.registry,
            seen: &mut self.seen,
            blocks: &self.shared.blocks,
            events: &self.events,
            limits: &self.shared.limit_counters,
            metrics: &self.metrics,
            now: Instant::now(),
            unix_now: unix_us / 1_000_000,
            unix_us,
        }
    }

    /// New work from the node thread: becomes current at once (shares
    /// are judged against it), and goes out to every miner in chunks.
    fn take_work(&mut self) {
        let mut clean = false;
        let mut latest = None;
        while let Ok(w) = self.work_rx.try_recv() {
            clean |= w.clean;
            latest = Some(w);
        }
        let Some(work) = latest else { return };
        if clean {
            // The chain moved: every older job is stale now, not only once
            // the clean job reaches its miner (no I/O here: microseconds).
            for conn in self.conns.iter_mut().flatten() {
                conn.session.drop_jobs();
            }
        }
        // Work replacing a fan-out under way carries on from its cursor
        // (so no slot waits on a stream of new work), makes one full pass,
        // and stays clean if either was.
        let start = match self.fanout.take() {
            Some(previous) => {
                clean |= previous.clean;
                previous.cursor.position()
            }
            None => 0,
        };
        self.work = Some(work.clone());
        self.fanout = Some(Fanout {
            work,
            clean,
            cursor: Cursor::starting_at(start),
            miners: 0,
            started: Instant::now(),
        });
    }

    /// Send the pending work to the next [`FANOUT_CHUNK`] connections.
    fn fan_out_chunk(&mut self) {
        let Some(mut f) = self.fanout.take() else {
            return;
        };
        for _ in 0..FANOUT_CHUNK {
            let Some(i) = f.cursor.next(self.conns.len()) else {
                break;
            };
            let Some(mut conn) = self.conns[i].take() else {
                continue;
            };
            // Authorized during this fan-out: it already has this work.
            if !conn.session.has_work(&f.work) {
                f.miners += conn.session.auth.is_some() as usize;
                conn.session
                    .send_work(&f.work, f.clean, &self.context(), &mut conn.out);
            }
            self.conns[i] = Some(conn);
            self.flush(i);
        }
        if !f.cursor.done(self.conns.len()) {
            self.fanout = Some(f);
            return;
        }
        log_debug!(
            "work {} (clean={}) sent to {} miners in {} us",
            f.work.template.id,
            f.clean,
            f.miners,
            f.started.elapsed().as_micros()
        );
    }

    fn accept(&mut self, listener: usize) {
        loop {
            let (stream, peer) = match self.listeners[listener].accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: keep serving the miners we have.
                    log_warn!("accept: {e}");
                    return;
                }
            };
            if let Err(limit) = self.shared.limits.admit(peer.ip()) {
                self.shared.limit_counters.count(limit);
                log_debug!("connection from {peer} refused: {}", limit.name());
                continue; // dropping the stream closes it
            }
            if let Err(e) = self.add(stream, peer.ip()) {
                log_warn!("cannot register connection from {peer}: {e}");
                self.shared.limits.release(peer.ip());
            }
        }
    }

    fn add(&mut self, mut stream: TcpStream, ip: IpAddr) -> io::Result<()> {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut stream, Token(FIRST_CONN + slot), Interest::READABLE)
        {
            self.free.push(slot);
            return Err(e);
        }
        let _ = stream.set_nodelay(true);
        let client_id = self.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        let en1 = self.shared.extranonces.allocate();
        let session = Session::new(
            client_id,
            Arc::from(ip.to_string()),
            &en1,
            &self.shared.config,
            Instant::now(),
        );
        self.conns[slot] = Some(Box::new(Conn {
            stream,
            ip,
            reader: LineBuffer::new(self.shared.config.max_line_bytes),
            out: Vec::new(),
            out_sent: 0,
            session,
            wants_write: false,
            queued: false,
        }));
        self.metrics.connection_accepted();
        Ok(())
    }

    fn ready(&mut self, slot: usize, readable: bool, writable: bool) {
        if slot >= self.conns.len() || self.conns[slot].is_none() {
            return;
        }
        if readable {
            self.serve(slot);
        } else if writable {
            self.flush(slot);
        }
    }

    /// One pass for each connection that had input left, in turn; those
    /// still not done go to the back of the list.
    fn serve_ready(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(slot) = self.ready.pop_front() else {
                return;
            };
            if let Some(conn) = self.conns[slot].as_mut() {
                conn.queued = false;
                self.serve(slot);
            }
        }
    }

    /// One pass over a connection's input, then its replies are written.
    fn serve(&mut self, slot: usize) {
        let Some(mut conn) = self.conns[slot].take() else {
            return;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let pass = self.serve_conn(&mut conn, &mut scratch);
        conn.reader.release(&mut scratch);
        self.scratch = scratch;
        if pass == Pass::More && !conn.queued {
            conn.queued = true;
            self.ready.push_back(slot);
        }
        self.conns[slot] = Some(conn);
        self.flush(slot);
        if pass == Pass::Close {
            self.close(slot);
        }
    }

    /// Handle buffered lines, then read once and handle what came, up to
    /// `max_lines_per_pass` lines in all.
    fn serve_conn(&mut self, conn: &mut Conn, scratch: &mut Vec<u8>) -> Pass {
        if conn.session.is_paused() {
            return Pass::Done; // the tick that refills its budget resumes it
        }
        let mut lines_left = self.shared.config.max_lines_per_pass;
        // The clocks are read once for the pass: every request of one read
        // is answered and stamped at the same moment.
        let mut ctx = self.context();
        match handle_lines(conn, &mut ctx, &mut lines_left) {
            Flow::Continue if lines_left == 0 => return Pass::More,
            Flow::Continue => {}
            Flow::Pause => return Pass::Done, // the tick that refills resumes it
            Flow::Close => return Pass::Close,
        }
        let n = match conn.reader.read_with(&mut conn.stream, scratch) {
            Ok(0) => return Pass::Close, // EOF (or a line over the limit held)
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Pass::Done,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Pass::More,
            Err(_) => return Pass::Close,
        };
        let flow = handle_lines(conn, &mut ctx, &mut lines_left);
        if !drain_replies(conn, &ctx) {
            return Pass::Close;
        }
        match flow {
            Flow::Close => Pass::Close,
            Flow::Pause => Pass::Done,
            // A full read may have left more in the socket: with
            // edge-triggered readiness, no new event would say so.
            Flow::Continue if lines_left == 0 || n == READ_CHUNK => Pass::More,
            Flow::Continue => Pass::Done,
        }
    }

    /// Write what is buffered; watch for writability if the socket is full.
    fn flush(&mut self, slot: usize) {
        let max_unsent = self.shared.config.max_send_buffer_bytes;
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let Ok(unsent) = write_pending(conn) else {
            return self.close(slot);
        };
        if unsent == 0 {
            conn.out.clear();
            conn.out_sent = 0;
            if conn.out.capacity() > OUT_KEEP_BYTES {
                conn.out.shrink_to(OUT_KEEP_BYTES);
            }
        } else if unsent > max_unsent {
            // A miner that does not read must not grow our memory or
            // stall this core: drop it.
            self.shared.limit_counters.count(Limit::SendBuffer);
            log_debug!(
                "client {}: {unsent} bytes unsent, disconnecting",
                conn.session.client_id
            );
            return self.close(slot);
        }
        let want = unsent > 0;
        if want != conn.wants_write {
            conn.wants_write = want;
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = self.poll.registry().reregister(
                &mut conn.stream,
                Token(FIRST_CONN + slot),
                interest,
            );
        }
    }

    fn close(&mut self, slot: usize) {
        let Some(mut conn) = self.conns[slot].take() else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.shared.limits.release(conn.ip);
        self.shared.extranonces.release(conn.session.extranonce1());
        self.free.push(slot);
        conn.session.disconnected(&self.context());
    }

    /// Once a second, [`TICK_CHUNK`] connections per loop pass: drop
    /// connections that never authorized, refill request budgets (a
    /// connection paused for want of one resumes), and let vardiff lower
    /// quiet miners' difficulty.
    fn tick_chunk(&mut self) {
        let Some(start) = self.ticking.take() else {
            return;
        };
        let (slots, next) = tick_slots(start, self.conns.len(), TICK_CHUNK);
        self.ticking = next;
        let idle = Duration::from_secs(self.shared.config.idle_timeout_secs);
        for i in slots {
            let Some(mut conn) = self.conns[i].take() else {
                continue;
            };
            let ctx = self.context();
            let expired = conn.session.auth.is_none()
                && ctx.now.duration_since(conn.session.connected_at) > idle;
            let was_paused = conn.session.is_paused();
            conn.session.tick(&ctx, &mut conn.out);
            if was_paused && !conn.session.is_paused() && !conn.queued {
                conn.queued = true;
                self.ready.push_back(i);
            }
            self.conns[i] = Some(conn);
            if expired {
                self.shared.limit_counters.count(Limit::Idle);
                self.close(i);
            } else {
                self.flush(i);
            }
        }
    }
}

/// Handle complete lines while `lines_left` lasts.
fn handle_lines(conn: &mut Conn, ctx: &mut Context<'_>, lines_left: &mut usize) -> Flow {
    while *lines_left > 0 {
        let line = match conn.reader.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => return Flow::Continue,
            Err(LineError::TooLong) => {
                ctx.limits.count(Limit::LineTooLong);
                log_debug!(
                    "client {}: line over {} bytes, disconnecting",
                    conn.session.client_id,
                    ctx.config.max_line_bytes
                );
                return Flow::Close;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        *lines_left -= 1;
        match conn.session.handle_line(line, ctx, &mut conn.out) {
            Flow::Continue => {}
            stop => return stop,
        }
    }
    Flow::Continue
}

/// Write replies while still reading, so a miner that sends without
/// reading cannot grow our buffer past the bound; `false` to close.
fn drain_replies(conn: &mut Conn, ctx: &Context<'_>) -> bool {
    match write_pending(conn) {
        Ok(unsent) if unsent > ctx.config.max_send_buffer_bytes => {
            ctx.limits.count(Limit::SendBuffer);
            log_debug!(
                "client {}: {unsent} bytes unsent, disconnecting",
                conn.session.client_id
            );
            false
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// The slots one tick chunk visits from `start` among `len`, and where
/// the next chunk starts (`None`: the round is over).
fn tick_slots(start: usize, len: usize, chunk: usize) -> (std::ops::Range<usize>, Option<usize>) {
    assert!(chunk > 0, "a round must move on");
    let start = start.min(len);
    let end = start.saturating_add(chunk).min(len);
    (start..end, (end < len).then_some(end))
}

/// Write buffered replies until done or the socket is full; the bytes
/// still unsent, or the error of a dead socket.
fn write_pending(conn: &mut Conn) -> io::Result<usize> {
    while conn.out_sent < conn.out.len() {
        match conn.stream.write(&conn.out[conn.out_sent..]) {
            Ok(0) => break,
            Ok(n) => conn.out_sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(conn.out.len() - conn.out_sent)
}

#[cfg(test)]
mod tests {
    use super::tick_slots;

    #[test]
    fn a_tick_round_visits_every_slot_once_in_chunks() {
        for len in [0, 1, 255, 256, 257, 600, 10_000] {
            let (mut seen, mut next, mut chunks) = (Vec::new(), Some(0), 0);
            while let Some(start) = next {
                let (slots, after) = tick_slots(start, len, 256);
                assert!(slots.len() <= 256, "a chunk holds at most its size");
                seen.extend(slots);
                next = after;
                chunks += 1;
            }
            assert_eq!(seen, (0..len).collect::<Vec<_>>(), "len {len}");
            assert_eq!(chunks, len.div_ceil(256).max(1), "len {len}");
        }
        // Slots gone past the end (never today: slots are reused) end the round.
        assert_eq!(tick_slots(900, 600, 256), (600..600, None));
    }
}
