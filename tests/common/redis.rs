//! A throwaway `redis-server` for integration tests: a free port on
//! 127.0.0.1, no persistence, its own directory; killed when dropped.
//! Include with `#[path = "common/redis.rs"] mod redis_server;`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between PING attempts while it starts.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A running (or stopped) `redis-server`.
pub struct RedisServer {
    /// Append-only file with fsync on every write: data survives a kill.
    durable: bool,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Start a server on a free port and wait until it answers PING.
    pub fn start() -> RedisServer {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tbg-redis-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create redis test dir");
        let port = free_port();
        let mut server = RedisServer {
            durable: false,
            child: None,
            port,
            dir,
        };
        server.spawn();
        server
    }

    /// Like [`RedisServer::start`], but every write is fsynced to an
    /// append-only file, so a killed and restarted server keeps its data.
    pub fn start_durable() -> RedisServer {
        let mut server = RedisServer::start();
        server.durable = true;
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on (kept across [`RedisServer::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kill the server and wait for it to exit (its data is gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port (stopping it first if running).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(if self.durable {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "no"]
            })
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (Debian package redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.answers_ping() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(POLL_INTERVAL);
        }
        // A PING answered by some other server while ours failed to bind
        // would make every later check lie: ours must still be running.
        std::thread::sleep(POLL_INTERVAL);
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("redis-server on port {} exited: {status}", self.port);
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on right now.
/// A free port that no other server of this test process has had: a port
/// the OS hands out again after a test stopped its server could make that
/// test's restart collide with another test's server.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Outside the ephemeral range (32768+), spread by process id.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 400) as u16 * 25;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 10_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
