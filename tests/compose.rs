//! The Docker Compose stack (compose.yaml, tools/compose) end to end: a
//! private dockerd, `tools/compose up` with this build's binaries, a swarm
//! mining through the published Stratum port, events counted in Redis and
//! rows in PostgreSQL *inside* the containers, the API answering — then
//! everything torn down, and the host's firewall rules, links and
//! forwarding left exactly as they were.
//!
//! The daemon is this test's own (`--iptables=false --ip-forward=false
//! --bridge=none`, its own socket, exec root and containerd namespace),
//! so it neither needs nor disturbs a dockerd the machine already runs;
//! its data root is kept in `~/.cache/tbg-pool/docker/root` so the base
//! image (tools/docker-base) is made once per machine.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{http_get, TempDir};

const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const SERVICES_UP: Duration = Duration::from_secs(120);

#[test]
fn compose_stack_mines_into_redis_and_postgres_and_leaves_the_host_as_it_was() {
    let Some(reason) = missing_tools() else {
        run();
        return;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{reason} under CI (tools/test installs docker.io, docker-compose and debootstrap and runs as root)"
    );
    eprintln!("skipping: {reason}");
}

fn run() {
    let before = HostNet::read();
    let stack = ComposeStack::start();
    let stratum = format!("127.0.0.1:{}", stack.port("TBG_STRATUM_PORT"));

    let report = stack.dir.path.join("swarm.json");
    let status = Command::new(env!("CARGO_BIN_EXE_tbg-swarm"))
        .args(["--pool", &stratum, "--user", &format!("{ADDRESS}.rig1")])
        .args([
            "--password",
            "x,d=0.00000001",
            "--miners",
            "2",
            "--rate",
            "5",
        ])
        .args(["--duration-secs", "5", "--quiet", "--report-json"])
        .arg(&report)
        .status()
        .expect("run tbg-swarm");
    assert!(status.success(), "tbg-swarm failed");
    let text = std::fs::read_to_string(&report).expect("swarm report");
    let accepted = count(&text, "accepted");
    assert_eq!(count(&text, "authorized"), 2, "{text}");
    assert_eq!(count(&text, "rejected"), 0, "{text}");
    assert!(accepted > 0, "{text}");

    // Every accepted share is one share_submitted in each sink; both
    // miners' connections too (the swarm has closed them by now).
    let want = accepted.to_string();
    stack.wait_for("shares in Redis", &want, || {
        stack.exec(&["redis", "redis-cli", "XLEN", "events:share_submitted"])
    });
    let sql =
        |kind: &str| format!("select count(*) from mining_events where event_type = '{kind}'");
    stack.wait_for("shares in PostgreSQL", &want, || {
        stack.psql(&sql("share_submitted"))
    });
    stack.wait_for("connections in PostgreSQL", "2", || {
        stack.psql(&sql("miner_connected"))
    });
    stack.wait_for("connections in Redis", "2", || {
        stack.exec(&["redis", "redis-cli", "XLEN", "events:miner_connected"])
    });

    // tbg-api, fed by the streams, knows the address.
    let api = format!("127.0.0.1:{}", stack.port("TBG_API_PORT"));
    let (line, body) = http_get(&api, &format!("/api/client/{ADDRESS}/bests"));
    assert!(line.contains("200"), "{line} {body}");

    drop(stack);
    assert_eq!(HostNet::read(), before, "the host's network as before");
}

/// Why this test cannot run here, or None when it can.
fn missing_tools() -> Option<String> {
    for tool in [
        "dockerd",
        "docker",
        "docker-compose",
        "debootstrap",
        "strip",
    ] {
        if !which(tool) {
            return Some(format!("{tool} not installed"));
        }
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("dockerd needs root".into());
    }
    None
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// A swarm report's count (`"counts":{"accepted":N,…}`).
fn count(report: &str, key: &str) -> u64 {
    let mut bytes = report.as_bytes().to_vec();
    let v = simd_json::to_owned_value(&mut bytes).expect("report JSON");
    use simd_json::prelude::*;
    v["counts"].get(key).and_then(|c| c.as_u64()).unwrap_or(0)
}

/// What dockerd could change on the host: firewall rules, links, IPv4
/// forwarding.
#[derive(Debug, PartialEq)]
struct HostNet {
    rules: String,
    links: Vec<String>,
    forwarding: String,
}

impl HostNet {
    fn read() -> HostNet {
        let rules = Command::new("iptables-save")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with('#'))
            // Packet counters move with any traffic.
            .map(|l| l.split(" [").next().unwrap_or(l).to_string())
            .collect::<Vec<_>>()
            .join("\n");
        let links = std::fs::read_dir("/sys/class/net")
            .map(|d| {
                let mut v: Vec<String> = d
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v
            })
            .unwrap_or_default();
        let forwarding =
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
        HostNet {
            rules,
            links,
            forwarding,
        }
    }
}

/// The compose project on a private dockerd; `down -v` and the daemon
/// stopped when dropped.
struct ComposeStack {
    dir: TempDir,
    daemon: Child,
    env: Vec<(String, String)>,
    bin: PathBuf,
}

impl ComposeStack {
    fn start() -> ComposeStack {
        let dir = TempDir::new("compose");
        let daemon = start_dockerd(&dir.path);
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bin_rel = format!("docker/.bin-{}", std::process::id());
        let bin = repo.join(&bin_rel);
        stage_binaries(&bin);
        let mut env = vec![
            (
                "DOCKER_HOST".to_string(),
                format!("unix://{}", dir.path.join("docker.sock").display()),
            ),
            (
                "COMPOSE_PROJECT_NAME".to_string(),
                format!("tbgtest{}", std::process::id()),
            ),
            ("TBG_BIN".to_string(), bin_rel),
        ];
        for key in [
            "TBG_STRATUM_PORT",
            "TBG_API_PORT",
            "TBG_RPC_PORT",
            "TBG_REDIS_PORT",
            "TBG_PG_PORT",
            "TBG_POOL_METRICS_PORT",
            "TBG_COLLECTOR_METRICS_PORT",
        ] {
            env.push((key.to_string(), free_port().to_string()));
        }
        let stack = ComposeStack {
            dir,
            daemon,
            env,
            bin,
        };
        let log = stack.dir.path.join("compose-up.log");
        let ok = stack
            .compose(&["up"])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::create(log.with_extension("err")).unwrap(),
            ))
            .status()
            .expect("run tools/compose")
            .success();
        assert!(
            ok,
            "tools/compose up failed:\n{}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
        );
        stack.wait_healthy();
        stack
    }

    fn port(&self, key: &str) -> &str {
        &self.env.iter().find(|(k, _)| k == key).unwrap().1
    }

    fn compose(&self, args: &[&str]) -> Command {
        let mut c = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/compose"));
        c.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// `docker-compose exec -T SERVICE CMD…`'s trimmed stdout.
    fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["exec", "-T"];
        full.extend_from_slice(args);
        let out = self.compose(&full).stderr(Stdio::null()).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn psql(&self, sql: &str) -> String {
        self.exec(&["postgres", "psql", "-U", "postgres", "tbg", "-tAc", sql])
    }

    fn wait_for(&self, what: &str, want: &str, mut read: impl FnMut() -> String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut got = read();
        while got != want {
            assert!(Instant::now() < deadline, "{what}: {got:?}, want {want}");
            std::thread::sleep(Duration::from_millis(500));
            got = read();
        }
    }

    /// Every service's health check passes (`docker-compose ps`).
    fn wait_healthy(&self) {
        let deadline = Instant::now() + SERVICES_UP;
        loop {
            let out = self
                .compose(&["ps"])
                .stderr(Stdio::null())
                .output()
                .unwrap();
            let table = String::from_utf8_lossy(&out.stdout).into_owned();
            let services: Vec<&str> = table.lines().filter(|l| l.contains("_1 ")).collect();
            if services.len() == 6 && services.iter().all(|l| l.contains("(healthy)")) {
                return;
            }
            assert!(Instant::now() < deadline, "services not healthy:\n{table}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        let _ = self
            .compose(&["down", "-v", "--remove-orphans"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("kill")
            .arg(self.daemon.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.daemon.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.bin);
    }
}

/// A dockerd of this test's own that changes no firewall rule, creates
/// no docker0 and leaves forwarding alone: containers reach each other
/// on the project's bridge, and published ports through docker-proxy.
// The daemon is returned running; ComposeStack's Drop stops and waits for it.
#[allow(clippy::zombie_processes)]
fn start_dockerd(dir: &Path) -> Child {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let root = PathBuf::from(home).join(".cache/tbg-pool/docker/root");
    std::fs::create_dir_all(&root).unwrap();
    let sock = dir.join("docker.sock");
    let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
    let ns = format!("tbgtest{}", std::process::id());
    let mut child = Command::new("dockerd")
        .args(["--iptables=false", "--ip-forward=false", "--ip-masq=false"])
        .args(["--bridge=none", "--containerd-namespace", &ns])
        .args(["--containerd-plugins-namespace", &format!("{ns}p")])
        .arg("--data-root")
        .arg(&root)
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start dockerd");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = Command::new("docker")
            .arg("info")
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if up {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "dockerd did not start:\n{}",
                std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// This build's binaries, stripped (the image's layer stays small), in
/// `dir` for compose.yaml's `BIN` build argument.
fn stage_binaries(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, path) in [
        ("tbg-simnode", env!("CARGO_BIN_EXE_tbg-simnode")),
        ("tbg-pool", env!("CARGO_BIN_EXE_tbg-pool")),
        ("tbg-collector", env!("CARGO_BIN_EXE_tbg-collector")),
        ("tbg-api", env!("CARGO_BIN_EXE_tbg-api")),
    ] {
        let ok = Command::new("strip")
            .arg("-o")
            .arg(dir.join(name))
            .arg(path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "strip {path}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
