//! Server-Sent Events: one hub thread owns every `/api/events` client.
//! The stream reader hands it each live event through a bounded channel;
//! the hub appends the frame to every matching client's buffer and writes
//! what each socket takes without blocking (the sockets are non-blocking).
//! A client whose buffer passes `sse_buffer_bytes` (it does not read) is
//! dropped, so a slow browser never delays the others or grows memory;
//! idle clients get a comment line every `sse_heartbeat_secs` so proxies
//! keep the connection and a dead peer is noticed.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// One event for the browsers: its type, the user it concerns (`""`:
/// everyone's, as a new network block), the stream entry id and its JSON.
#[derive(Debug, Clone)]
pub struct Live {
    pub kind: String,
    pub user: String,
    pub id: String,
    pub json: String,
}

impl Live {
    /// The SSE frame: `id`, `event` (the type) and `data` (the JSON,
    /// which never holds a newline: the pool writes one line).
    fn frame(&self) -> Vec<u8> {
        let json = self.json.replace(['\r', '\n'], " ");
        format!("id: {}\nevent: {}\ndata: {}\n\n", self.id, self.kind, json).into_bytes()
    }
}

enum Msg {
    Event(Live),
    Client(Client),
}

struct Client {
    stream: TcpStream,
    /// Only this user's events (and those for everyone), or all.
    address: Option<String>,
    pending: Vec<u8>,
    last_write: Instant,
}

/// Counters shown on `/api/info`-style checks and in the log.
#[derive(Debug, Default)]
pub struct HubCounters {
    pub clients: AtomicUsize,
    pub dropped_slow: AtomicU64,
    pub dropped_events: AtomicU64,
}

/// The handle producers and the HTTP workers hold.
#[derive(Clone)]
pub struct Hub {
    tx: Sender<Msg>,
    pub counters: Arc<HubCounters>,
    max_clients: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    pub max_clients: usize,
    pub buffer_bytes: usize,
    pub heartbeat: Duration,
}

/// Messages waiting for the hub thread (events and new clients).
const CHANNEL: usize = 16_384;
/// The hub wakes at least this often to write what sockets now take.
const TICK: Duration = Duration::from_millis(50);
/// Messages taken between two write passes.
const BATCH: usize = 1024;

impl Hub {
    /// Start the hub thread.
    pub fn start(limits: HubLimits) -> std::io::Result<Hub> {
        let (tx, rx) = bounded(CHANNEL);
        let counters = Arc::new(HubCounters::default());
        let c = counters.clone();
        std::thread::Builder::new()
            .name("sse".into())
            .spawn(move || run(rx, limits, &c))?;
        Ok(Hub {
            tx,
            counters,
            max_clients: limits.max_clients,
        })
    }

    /// Hand an event to the browsers; dropped (counted) when the hub is
    /// that far behind, never waiting: the reader must keep applying.
    pub fn publish(&self, live: Live) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Msg::Event(live)) {
            self.counters.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether another client may join.
    pub fn has_room(&self) -> bool {
        self.counters.clients.load(Ordering::Relaxed) < self.max_clients
    }

    /// Adopt a client whose response head was written.
    pub fn add(&self, stream: TcpStream, address: Option<String>) -> bool {
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        self.counters.clients.fetch_add(1, Ordering::Relaxed);
        let client = Client {
            stream,
            address,
            pending: Vec::new(),
            last_write: Instant::now(),
        };
        if self.tx.try_send(Msg::Client(client)).is_err() {
            self.counters.clients.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

fn run(rx: Receiver<Msg>, limits: HubLimits, counters: &HubCounters) {
    let mut clients: Vec<Client> = Vec::new();
    loop {
        match rx.recv_timeout(TICK) {
            Ok(msg) => take(msg, &mut clients, limits),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        }
        // Some more of what arrived meanwhile, then one write pass. Bounded:
        // a producer as fast as the hub would otherwise starve the writes.
        for msg in rx.try_iter().take(BATCH) {
            take(msg, &mut clients, limits);
        }
        heartbeat(&mut clients, limits.heartbeat);
        let before = clients.len();
        clients.retain_mut(|c| flush(c, limits.buffer_bytes));
        let gone = before - clients.len();
        if gone > 0 {
            counters.clients.fetch_sub(gone, Ordering::Relaxed);
        }
    }
}

fn take(msg: Msg, clients: &mut Vec<Client>, limits: HubLimits) {
    match msg {
        Msg::Client(c) => clients.push(c),
        Msg::Event(live) => {
            if !clients.iter().any(|c| wants(c, &live)) {
                return;
            }
            let frame = live.frame();
            for c in clients.iter_mut().filter(|c| wants(c, &live)) {
                // Past the bound the client is dropped at the next flush;
                // stop buffering for it now.
                if c.pending.len() <= limits.buffer_bytes {
                    c.pending.extend_from_slice(&frame);
                }
            }
        }
    }
}

fn wants(c: &Client, live: &Live) -> bool {
    match &c.address {
        None => true,
        Some(a) => live.user.is_empty() || *a == live.user,
    }
}

fn heartbeat(clients: &mut [Client], every: Duration) {
    for c in clients.iter_mut() {
        if c.pending.is_empty() && c.last_write.elapsed() >= every {
            c.pending.extend_from_slice(b": heartbeat\n\n");
        }
    }
}

/// Write what the socket takes now; false when the client is to go
/// (closed, failed, or too far behind).
fn flush(c: &mut Client, limit: usize) -> bool {
    if c.pending.len() > limit {
        return false;
    }
    while !c.pending.is_empty() {
        match c.stream.write(&c.pending) {
            Ok(0) => return false,
            Ok(n) => {
                c.pending.drain(..n);
                c.last_write = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    fn live(user: &str) -> Live {
        Live {
            kind: "share_submitted".into(),
            user: user.into(),
            id: "1-0".into(),
            json: format!("{{\"user\":\"{user}\"}}"),
        }
    }

    #[test]
    fn frames_reach_matching_clients_and_a_slow_one_is_dropped() {
        let hub = Hub::start(HubLimits {
            max_clients: 3,
            buffer_bytes: 4096,
            heartbeat: Duration::from_secs(60),
        })
        .unwrap();
        let (all, all_server) = pair();
        let (only_b, b_server) = pair();
        let (slow, slow_server) = pair();
        // Small socket buffers: the slow client is full after a few KiB.
        socket2::SockRef::from(&slow_server)
            .set_send_buffer_size(4096)
            .unwrap();
        socket2::SockRef::from(&slow)
            .set_recv_buffer_size(4096)
            .unwrap();
        assert!(hub.add(all_server, None));
        assert!(hub.add(b_server, Some("b".into())));
        assert!(hub.add(slow_server, Some("s".into())));
        std::thread::sleep(Duration::from_millis(100));
        hub.publish(live("a"));
        hub.publish(live("b"));
        let mut lines = BufReader::new(all).lines();
        let got: Vec<String> = (0..8).map(|_| lines.next().unwrap().unwrap()).collect();
        assert_eq!(got[1], "event: share_submitted");
        assert_eq!(got[2], r#"data: {"user":"a"}"#);
        assert_eq!(got[6], r#"data: {"user":"b"}"#);
        let mut b = BufReader::new(only_b).lines();
        assert_eq!(b.nth(2).unwrap().unwrap(), r#"data: {"user":"b"}"#);
        // The unfiltered client goes away: it is dropped at the next write
        // (no reader thread here that a loaded machine could starve).
        drop(lines);
        // The slow client never reads: once its socket buffers are full
        // and 4 KiB wait, it is dropped; the client for "b", whose events
        // these are not, stays.
        let big = Live {
            json: "x".repeat(1000),
            ..live("s")
        };
        for _ in 0..5000 {
            hub.publish(big.clone());
            std::thread::sleep(Duration::from_millis(1));
            if hub.counters.clients.load(Ordering::Relaxed) < 2 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(hub.counters.clients.load(Ordering::Relaxed), 1);
        hub.publish(live("b"));
        assert_eq!(b.nth(3).unwrap().unwrap(), r#"data: {"user":"b"}"#);
        drop(slow);
    }
}
