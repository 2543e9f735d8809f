//! Simulated node + pool + `tbg-swarm`: a swarm of cpuminer-style clients
//! mining real shares gets every one accepted.

mod common;

use common::{PoolProcess, SimNode, TempDir};
use simd_json::prelude::*;

#[test]
fn swarm_shares_are_all_accepted() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("swarm-e2e");
    let pool = PoolProcess::start(&node, &dir.path, "");
    let report = dir.path.join("swarm.json");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tbg-swarm"))
        .args([
            "--pool",
            &pool.addr,
            "--miners",
            "20",
            "--rate",
            "5",
            "--duration-secs",
            "3",
        ])
        .args([
            "--user",
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
            "--password",
            "x,d=0.00000001",
        ])
        .args(["--quiet", "--report-json"])
        .arg(&report)
        .status()
        .expect("run tbg-swarm");
    assert!(status.success());
    let mut bytes = std::fs::read(&report).unwrap();
    let v = simd_json::to_owned_value(&mut bytes).unwrap();
    let count = |k: &str| v["counts"].get(k).and_then(|c| c.as_u64()).unwrap_or(0);
    assert_eq!(count("authorized"), 20, "{v:?}");
    assert!(count("accepted") > 20, "{v:?}");
    assert_eq!(count("rejected"), 0, "{v:?}");
    assert!(v["latency_us"]["p99"].as_u64().unwrap() > 0);
}
