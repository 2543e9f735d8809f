//! The processes under test: the simulated node, this pool, ckpool and
//! the collector, each started with throwaway state and killed when
//! dropped; and what /proc says about a process (memory, CPU time).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The payout address every swarm miner uses (regtest P2WPKH).
pub const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// A child process killed (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub name: &'static str,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pin every thread of process `pid` to `cpus` (taskset's list syntax).
pub fn pin(pid: u32, cpus: &str) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-a", "-pc", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if !status.success() {
        return Err(format!("taskset -a -pc {cpus} {pid} failed"));
    }
    Ok(())
}

/// A binary next to this one (all of the project's are built together).
pub fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent().expect("bin dir").join(name)
}

/// A ready file's path, with any left from an earlier run removed.
fn fresh_ready(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Wait for `path` to hold text (a ready file); its first line.
fn wait_ready(path: &Path, proc: &mut Proc) -> Result<String, String> {
    for _ in 0..600 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Some(line) = s.lines().next().filter(|l| !l.is_empty()) {
                return Ok(line.to_string());
            }
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            return Err(format!("{} exited: {status}", proc.name));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{} did not become ready", proc.name))
}

/// `tbg-simnode` at difficulty 1 with a 2,000-transaction mempool; its address.
pub fn start_node(dir: &Path, zmq: Option<&str>) -> Result<(Proc, String), String> {
    let ready = fresh_ready(dir, "node.ready");
    let mut cmd = Command::new(sibling("tbg-simnode"));
    cmd.args(["--bind", "127.0.0.1:0", "--bits", "1d00ffff"])
        .args(["--mempool-txs", "2000", "--ready-file"])
        .arg(&ready);
    if let Some(addr) = zmq {
        cmd.args(["--zmq-pub", addr]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log_file(dir, "node.log")?)
        .spawn()
        .map_err(|e| format!("start tbg-simnode: {e}"))?;
    let mut proc = Proc {
        child,
        name: "tbg-simnode",
    };
    let addr = wait_ready(&ready, &mut proc)?;
    Ok((proc, addr))
}

/// A free loopback address (for the node's ZMQ publisher).
pub fn free_addr() -> Result<String, String> {
    Ok(format!("127.0.0.1:{}", free_port()?))
}

fn log_file(dir: &Path, name: &str) -> Result<std::fs::File, String> {
    std::fs::File::create(dir.join(name)).map_err(|e| format!("{name}: {e}"))
}

/// This pool against `node`, events to `socket`; `diff` is its minimum
/// and starting difficulty. Returns the process and its Stratum address.
/// Start this pool; `extra` is more JSON members for its config (e.g.
/// `,"threads":1`).
pub fn start_pool(
    dir: &Path,
    node: &str,
    diff: f64,
    socket: &Path,
    extra: &str,
) -> Result<(Proc, String), String> {
    let config = dir.join("pool.json");
    let text = format!(
        r#"{{"btcd":[{{"url":"{node}","auth":"tbg","pass":"tbg"}}],"serverurl":["127.0.0.1:0"],
"logdir":"{}","mindiff":{diff},"startdiff":{diff},"maxclients":1000000,"max_clients_per_ip":1000000,
"max_invalid_shares":1000000000,"stats_interval_secs":1,"event_socket_path":"{}","pool_name":"perf"{extra}}}"#,
        dir.join("logs").display(),
        socket.display()
    );
    std::fs::write(&config, text).map_err(|e| format!("pool config: {e}"))?;
    spawn_with_config("tbg-pool", dir, &config)
}

/// Start one of this project's binaries with `-c config` and a ready
/// file in `dir`, its stderr in `dir/<name>.log`; the process and the
/// first line of its ready file.
fn spawn_with_config(
    name: &'static str,
    dir: &Path,
    config: &Path,
) -> Result<(Proc, String), String> {
    let ready = fresh_ready(dir, &format!("{name}.ready"));
    let child = Command::new(sibling(name))
        .arg("-c")
        .arg(config)
        .arg("--ready-file")
        .arg(&ready)
        .stderr(log_file(dir, &format!("{name}.log"))?)
        .spawn()
        .map_err(|e| format!("start {name}: {e}"))?;
    let mut proc = Proc { child, name };
    let line = wait_ready(&ready, &mut proc)?;
    Ok((proc, line))
}

/// ckpool (solo mode, `-B`) against `node` on a free port, its sockets
/// in `dir`. Its minimum and starting difficulty are 1 (the lowest it
/// takes). Returns the process and its Stratum address.
pub fn start_ckpool(
    binary: &Path,
    dir: &Path,
    node: &str,
    extra: &str,
) -> Result<(Proc, String), String> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let config = dir.join("ckpool.conf");
    let text = format!(
        r#"{{"btcd":[{{"url":"{node}","auth":"tbg","pass":"tbg","notify":false}}],
"serverurl":["{addr}"],"mindiff":1,"startdiff":1,
"logdir":"{}","blockpoll":100{extra}}}"#,
        dir.join("logs").display()
    );
    std::fs::write(&config, text).map_err(|e| format!("ckpool config: {e}"))?;
    // Its socket paths must stay under 108 bytes: a short directory.
    let sockdir = std::env::temp_dir().join(format!("tbg-perf-ck-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&sockdir).map_err(|e| format!("{}: {e}", sockdir.display()))?;
    let child = Command::new(binary)
        .arg("-B")
        .arg("-q")
        .arg("-c")
        .arg(&config)
        .arg("-s")
        .arg(&sockdir)
        .stdin(Stdio::null())
        .stdout(log_file(dir, "ckpool.out")?)
        .stderr(log_file(dir, "ckpool.err")?)
        .spawn()
        .map_err(|e| format!("start {}: {e}", binary.display()))?;
    let mut proc = Proc {
        child,
        name: "ckpool",
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return Ok((proc, addr));
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            return Err(format!("ckpool exited: {status} (see {})", dir.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("ckpool never listened".into())
}

/// `tbg-collector` with no sinks on `socket` (counts and drops), metrics
/// on a free port; returns the process and its metrics address.
pub fn start_collector(dir: &Path, socket: &Path) -> Result<(Proc, String), String> {
    let config = dir.join("collector.json");
    let text = format!(
        r#"{{"socket_path":"{}","redis_url":"","postgres_url":"","spool_dir":"{}","metrics_addr":"127.0.0.1:0"}}"#,
        socket.display(),
        dir.join("spool").display()
    );
    std::fs::write(&config, text).map_err(|e| format!("collector config: {e}"))?;
    spawn_with_config("tbg-collector", dir, &config)
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Resident memory of `pid` in KiB (0 if unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) `pid` has used, in seconds (0 if unknown).
/// Assumes the usual 100 clock ticks per second.
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised name; utime and stime are the 14th
    // and 15th of the whole line.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A JSON-RPC call over HTTP with the simulated node's credentials.
pub fn rpc(node: &str, method: &str, params: &str) -> Result<String, String> {
    let body = format!(r#"{{"jsonrpc":"1.0","id":1,"method":"{method}","params":{params}}}"#);
    let mut s = std::net::TcpStream::connect(node).map_err(|e| format!("{node}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    // "tbg:tbg" in base64.
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {node}\r\nAuthorization: Basic dGJnOnRiZw==\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    Ok(reply)
}

/// GET a metrics page; its body.
pub fn http_get(addr: &str, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// The soft open-files limit of this process.
pub fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(1024)
}
