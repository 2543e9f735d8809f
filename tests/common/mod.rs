//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// Read a test vector: the repo's own `tests/vectors/` first, then the
/// team's `../shared/vectors/`. `None` when neither has it, which is a
/// failure under CI (where `../shared` is always present).
pub fn vector(name: &str) -> Option<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // TBG_VECTORS: where a copy of the tree (cargo-mutants' build
    // directory) finds the shared vectors it has no `../shared` beside.
    let shared = std::env::var_os("TBG_VECTORS").map(PathBuf::from);
    let dirs = [root.join("tests/vectors"), root.join("../shared/vectors")];
    for dir in shared.into_iter().chain(dirs) {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            return Some(bytes);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "test vector {name} missing (expected in tests/vectors or ../shared/vectors)"
    );
    eprintln!("skipping: test vector {name} not found");
    None
}

/// A running `tbg-simnode`, killed when dropped (test passes or fails).
pub struct SimNode {
    child: std::process::Child,
    /// `host:port` it listens on.
    pub addr: String,
    _dir: TempDir,
}

impl SimNode {
    /// Start the simulated node on a free port with extra flags.
    pub fn start(extra: &[&str]) -> SimNode {
        Self::start_on("127.0.0.1:0", extra)
    }

    /// Start the simulated node on `bind` (a fixed port lets a test stop
    /// it and bring a node back at the same address).
    pub fn start_on(bind: &str, extra: &[&str]) -> SimNode {
        let dir = TempDir::new("simnode");
        let ready = dir.path.join("ready");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tbg-simnode"))
            .args(["--bind", bind, "--ready-file"])
            .arg(&ready)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start tbg-simnode");
        let mut node = SimNode {
            child,
            addr: String::new(),
            _dir: dir,
        };
        node.addr = wait_for_file(&ready, &mut node.child);
        node
    }

    /// Kill it: the address stops answering.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A node client with the simulated node's default credentials.
    pub fn client(&self) -> tbg_pool::node::NodeClient {
        tbg_pool::node::NodeClient::new(vec![self.endpoint()], Default::default())
    }

    pub fn endpoint(&self) -> tbg_pool::node::Endpoint {
        let auth = tbg_pool::node::Auth::Basic {
            user: "tbg".into(),
            pass: "tbg".into(),
        };
        tbg_pool::node::Endpoint::new(&self.addr, auth)
    }
}

impl Drop for SimNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copy a child's output line by line to this process's stderr (shown
/// when a test fails) and append it to `path` (for tests that read logs).
fn tee_lines(from: impl std::io::Read + Send + 'static, path: PathBuf) {
    use std::io::{BufRead, Write};
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log file");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            let _ = writeln!(file, "{line}");
        }
    });
}

fn wait_for_file(path: &std::path::Path, child: &mut std::process::Child) -> String {
    for _ in 0..600 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.trim().is_empty() {
                return s.trim().to_string();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Its stderr is in the test's output (inherited or copied).
            panic!(
                "the process that was to write {} exited early: {status}",
                path.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

/// A directory removed when dropped.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "tbg-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A local port nothing listens on (bound, then released). Taken below
/// the ephemeral range (32768+) and below the test servers' ports
/// (tests/common/redis.rs), so no `connect` or `bind(0)` on the machine
/// takes it while a test keeps it for a server to start on later.
pub fn dead_port_addr() -> String {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 10_000 + (std::process::id() % 400) as u16 * 25;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 10_000;
        let port = 10_000 + (port - 10_000) % 10_000;
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().unwrap().to_string();
        }
    }
}

/// What a miner does with `mining.notify`, written independently of the
/// pool's code: coinbase → txid → fold branch → header.
#[allow(clippy::too_many_arguments)]
pub fn header_from_parts(
    coinb1: &str,
    en1: &[u8],
    en2: &[u8],
    coinb2: &str,
    branch: &[String],
    prevhash: &str,
    version_hex: &str,
    nbits_hex: &str,
    ntime: u32,
    nonce: u32,
) -> [u8; 80] {
    use tbg_pool::bitcoin::{hex, sha256d};
    let mut coinbase = hex::decode(coinb1).unwrap();
    coinbase.extend_from_slice(en1);
    coinbase.extend_from_slice(en2);
    coinbase.extend_from_slice(&hex::decode(coinb2).unwrap());
    let mut root = sha256d(&coinbase);
    for node in branch {
        let mut buf = root.to_vec();
        buf.extend_from_slice(&hex::decode(node).unwrap());
        root = sha256d(&buf);
    }
    // prevhash: each 32-bit word byte-swapped back to internal order.
    let swapped = hex::decode(prevhash).unwrap();
    let prev: Vec<u8> = swapped
        .chunks(4)
        .flat_map(|w| w.iter().rev().copied())
        .collect();
    let mut header = Vec::with_capacity(80);
    let be_word = |s: &str| u32::from_str_radix(s, 16).unwrap().to_le_bytes();
    header.extend_from_slice(&be_word(version_hex));
    header.extend_from_slice(&prev);
    header.extend_from_slice(&root);
    header.extend_from_slice(&ntime.to_le_bytes());
    header.extend_from_slice(&be_word(nbits_hex));
    header.extend_from_slice(&nonce.to_le_bytes());
    header.try_into().unwrap()
}

/// A running `tbg-pool` against a node, killed when dropped.
pub struct PoolProcess {
    child: std::process::Child,
    /// Where miners connect.
    pub addr: String,
    pub dir: PathBuf,
    config_path: PathBuf,
}

impl PoolProcess {
    /// Start the pool on a free port with `extra` config keys (JSON
    /// members, e.g. `"mindiff":0.001`) in `dir` (its logdir is `dir/logs`).
    pub fn start(node: &SimNode, dir: &std::path::Path, extra: &str) -> PoolProcess {
        Self::start_on(node, "127.0.0.1:0", dir, extra)
    }

    /// [`PoolProcess::start`] listening on `listen` (a fixed port keeps
    /// its address across [`PoolProcess::restart`], so miners come back).
    pub fn start_on(
        node: &SimNode,
        listen: &str,
        dir: &std::path::Path,
        extra: &str,
    ) -> PoolProcess {
        Self::start_with_node(&node.addr, listen, dir, extra)
    }

    /// [`PoolProcess::start_on`] with the node at `node_addr` (a proxy
    /// in front of a simulated node, say).
    pub fn start_with_node(
        node_addr: &str,
        listen: &str,
        dir: &std::path::Path,
        extra: &str,
    ) -> PoolProcess {
        let config_path = dir.join("pool.json");
        let logdir = dir.join("logs");
        let sep = if extra.is_empty() { "" } else { "," };
        let config = format!(
            r#"{{"btcd":[{{"url":"{}","auth":"tbg","pass":"tbg"}}],"serverurl":["{listen}"],"logdir":"{}","blockpoll":50,"threads":2,"pin_threads":false,"mindiff":0.00000001,"startdiff":0.000001{sep}{extra}}}"#,
            node_addr,
            logdir.display()
        );
        std::fs::write(&config_path, config).unwrap();
        Self::spawn(dir, config_path)
    }

    fn spawn(dir: &std::path::Path, config_path: PathBuf) -> PoolProcess {
        let ready = dir.join("pool.ready");
        let _ = std::fs::remove_file(&ready);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tbg-pool"))
            .arg("-c")
            .arg(&config_path)
            .arg("--ready-file")
            .arg(&ready)
            .args(["--log-level", "debug"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start tbg-pool");
        tee_lines(child.stderr.take().unwrap(), dir.join("pool.log"));
        let addr = wait_for_file(&ready, &mut child);
        let addr = addr.lines().next().unwrap().to_string();
        PoolProcess {
            child,
            addr,
            dir: dir.to_path_buf(),
            config_path,
        }
    }

    /// Stop with SIGTERM (statistics saved) and wait; a pool that does
    /// not exit in time is a bug, and fails the test.
    pub fn stop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("tbg-pool did not exit within 15 s of SIGTERM");
    }

    /// Kill with SIGKILL (nothing saved, no clean-up: a crash or an OOM
    /// kill) and start again with the same config and logdir.
    pub fn kill_and_start_again(&mut self) {
        self.kill_and_start_again_when(|| {});
    }

    /// [`PoolProcess::kill_and_start_again`], doing `between` while no
    /// pool runs (bring a node back, say).
    pub fn kill_and_start_again_when(&mut self, between: impl FnOnce()) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        between();
        let (dir, config) = (self.dir.clone(), self.config_path.clone());
        *self = Self::spawn(&dir, config);
    }

    /// Everything the pool (and earlier runs in this directory) logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pool.log")).unwrap_or_default()
    }

    /// Where its `/metrics` is served (`metrics_addr` set in its
    /// config): the address it logged, waited for.
    pub fn metrics_addr(&self) -> String {
        const LOGGED: &str = "metrics on http://";
        for _ in 0..100 {
            let log = self.log();
            let found = log.lines().rev().find_map(|l| {
                let rest = &l[l.find(LOGGED)? + LOGGED.len()..];
                Some(rest.strip_suffix("/metrics")?.to_string())
            });
            if let Some(addr) = found {
                return addr;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the pool never logged its metrics address");
    }

    /// The text of its `/metrics`.
    pub fn metrics(&self) -> String {
        let (status, body) = http_get(&self.metrics_addr(), "/metrics");
        assert!(status.contains(" 200 "), "{status}");
        body
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Start again with the same config and logdir.
    pub fn restart(&mut self) {
        self.stop();
        let (dir, config) = (self.dir.clone(), self.config_path.clone());
        *self = Self::spawn(&dir, config);
    }
}

impl Drop for PoolProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
pub mod miner;

/// One event of each of the nine types, with distinctive values (and a
/// NaN hashrate: JSON cannot hold it, the writer must not emit it).
pub fn sample_events() -> Vec<tbg_pool::events::Event> {
    use tbg_pool::events::{Event, Timeframe};
    let (u, w, ip): (
        std::sync::Arc<str>,
        std::sync::Arc<str>,
        std::sync::Arc<str>,
    ) = ("bc1qu".into(), "bc1qu.w".into(), "10.0.0.1".into());
    vec![
        Event::ShareSubmitted {
            user: u.clone(),
            worker: w.clone(),
            client_id: 1,
            diff: 2.0,
            sdiff: 3.5,
            accepted: true,
            reject_reason: None,
            ip: ip.clone(),
        },
        Event::BlockFound {
            user: u.clone(),
            worker: w.clone(),
            height: 7,
            hash: [1; 32],
            diff: 9.0,
            network_diff: 8.0,
            reward_sats: 5,
            coinbase_sig: "/s/".into(),
        },
        Event::MinerConnected {
            user: u.clone(),
            worker: w.clone(),
            client_id: 1,
            ip: ip.clone(),
            useragent: "ua".into(),
            initial_diff: 1.0,
        },
        Event::MinerDisconnected {
            user: u.clone(),
            worker: w.clone(),
            client_id: 1,
            ip,
            session_duration: 1.5,
            shares_session: 2,
        },
        Event::DiffUpdated {
            user: u.clone(),
            worker: w.clone(),
            client_id: 1,
            old_diff: 1.0,
            new_diff: 2.0,
        },
        Event::HashrateUpdate {
            user: u.clone(),
            worker: w.clone(),
            hashrate_1m: 1.0,
            hashrate_5m: 2.0,
            hashrate_1h: f64::NAN,
            hashrate_1d: 4.0,
        },
        Event::NewBlockNetwork {
            height: 8,
            hash: [2; 32],
            diff: 8.0,
            prev_hash: [1; 32],
        },
        Event::ShareBestDiff {
            user: u.clone(),
            worker: w,
            new_best: 3.5,
            prev_best: 1.0,
            timeframe: Timeframe::Week,
        },
        Event::WeeklySummary {
            user: u,
            week: 202608,
            best_diff_week: 3.5,
            total_shares_week: 9,
        },
    ]
}

/// `GET path` on `addr` (HTTP/1.1, the server closes): the status line
/// and the body.
pub fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

/// One sample's value in a Prometheus page (`name` with its labels, as
/// written), 0 when absent.
pub fn metric_value(page: &str, name: &str) -> f64 {
    let prefix = format!("{name} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `promtool check metrics` on a page (from Debian's `prometheus`;
/// tools/test installs it): the format and Prometheus's naming rules.
/// Without promtool the check is skipped with a note, except under CI.
pub fn promtool_check(what: &str, page: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool missing under CI (Debian package prometheus; tools/test installs it)"
            );
            eprintln!(
                "note: promtool not installed, {what} not checked (apt-get install prometheus)"
            );
            return;
        }
        Err(e) => panic!("promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics on {what}:\n{}{}\n--- page ---\n{page}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
