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
    /// A Redis Cluster node (its `nodes.conf` in `dir` survives restarts).
    cluster: bool,
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
            cluster: false,
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
            .args(if self.cluster {
                ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]
            } else {
                ["--cluster-enabled", "no", "--cluster-node-timeout", "15000"]
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

/// A Redis Cluster of `n` masters (no replicas), each durable, on free
/// ports: `redis-cli --cluster create` assigns the slots.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start(n: usize) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..n)
            .map(|_| {
                let mut node = RedisServer::start();
                node.durable = true;
                node.cluster = true;
                node.restart();
                node
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli (Debian package redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// The seed list for `redis_cluster` (every node).
    pub fn urls(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(RedisServer::url).collect();
        urls.join(",")
    }

    /// Wait until every node says `cluster_state:ok`.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-p", &node.port.to_string(), "CLUSTER", "INFO"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster not ok: {info}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The node serving `key`'s slot.
    pub fn node_of(&self, key: &str) -> usize {
        let slot = Command::new("redis-cli")
            .args([
                "-p",
                &self.nodes[0].port.to_string(),
                "CLUSTER",
                "KEYSLOT",
                key,
            ])
            .output()
            .expect("CLUSTER KEYSLOT");
        let slot: u16 = String::from_utf8_lossy(&slot.stdout)
            .trim()
            .parse()
            .expect("a slot");
        // CLUSTER NODES: `<id> <ip:port@bus> <flags> … <from-to> <from-to> …`.
        let nodes = Command::new("redis-cli")
            .args(["-p", &self.nodes[0].port.to_string(), "CLUSTER", "NODES"])
            .output()
            .expect("CLUSTER NODES");
        let text = String::from_utf8_lossy(&nodes.stdout).into_owned();
        let owner = text
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let owns = fields.iter().skip(8).any(|range| {
                    let (from, to) = range.split_once('-').unwrap_or((range, range));
                    matches!((from.parse::<u16>(), to.parse::<u16>()), (Ok(f), Ok(t)) if (f..=t).contains(&slot))
                });
                let port = fields.get(1)?.split(['@', ':']).nth(1)?.parse::<u16>().ok()?;
                owns.then_some(port)
            })
            .expect("a node serves the slot");
        self.nodes
            .iter()
            .position(|n| n.port == owner)
            .expect("the owner is one of ours")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free port that no other server of this test process has had: a port
/// the OS hands out again after a test stopped its server could make that
/// test's restart collide with another test's server. It and its cluster
/// bus port (+10000, which a cluster node binds too) are both below the
/// ephemeral range (32768+), so no connection's local port can take them
/// meanwhile: 20000..22768 and 30000..32768, spread by process id.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 2_768;
    const BUS_OFFSET: u16 = 10_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 100) as u16 * 25;
    let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
    loop {
        let port = FIRST + (base + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) % SPAN;
        if free(port) && free(port + BUS_OFFSET) {
            return port;
        }
    }
}
