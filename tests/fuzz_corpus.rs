//! Replays every committed fuzz input through its target's library
//! function (`tbg_pool::fuzz`): `fuzz/corpus/<target>/` (what the fuzzer
//! kept, minimized) and `fuzz/regressions/<target>/` (inputs that once
//! found a bug). So a plain `cargo test` keeps every one of them passing
//! without cargo-fuzz or a nightly toolchain.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(name: &str, target: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = fuzz.join("corpus").join(name);
    let mut inputs = files(&corpus);
    assert!(
        !inputs.is_empty(),
        "no corpus for fuzz target {name} in {}",
        corpus.display()
    );
    inputs.extend(files(&fuzz.join("regressions").join(name)));
    for path in &inputs {
        let data = std::fs::read(path).expect("read a corpus file");
        if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
            panic!("fuzz target {name} panics on {}", path.display());
        }
    }
    eprintln!("{name}: {} inputs replayed", inputs.len());
}

#[test]
fn stratum_framing() {
    replay("stratum_framing", tbg_pool::fuzz::stratum_framing);
}

#[test]
fn stratum_request() {
    replay("stratum_request", tbg_pool::fuzz::stratum_request);
}

#[test]
fn submit_parse() {
    replay("submit_parse", tbg_pool::fuzz::submit_parse);
}

#[test]
fn session_lines() {
    replay("session_lines", tbg_pool::fuzz::session_lines);
}

#[test]
fn node_rpc_reply() {
    replay("node_rpc_reply", tbg_pool::fuzz::node_rpc_reply);
}

#[test]
fn node_zmq() {
    replay("node_zmq", tbg_pool::fuzz::node_zmq);
}

#[test]
fn collector_datagram() {
    replay("collector_datagram", tbg_pool::fuzz::collector_datagram);
}

#[test]
fn config() {
    replay("config", tbg_pool::fuzz::config);
}
