//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// Read a test vector: the repo's own `tests/vectors/` first, then the
/// team's `../shared/vectors/`. `None` when neither has it, which is a
/// failure under CI (where `../shared` is always present).
pub fn vector(name: &str) -> Option<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for dir in [root.join("tests/vectors"), root.join("../shared/vectors")] {
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
        let dir = TempDir::new("simnode");
        let ready = dir.path.join("ready");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tbg-simnode"))
            .args(["--bind", "127.0.0.1:0", "--ready-file"])
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_file(path: &std::path::Path, child: &mut std::process::Child) -> String {
    for _ in 0..600 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.trim().is_empty() {
                return s.trim().to_string();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("process exited early: {status}");
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

/// A local port nothing listens on (bound, then released).
pub fn dead_port_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}
