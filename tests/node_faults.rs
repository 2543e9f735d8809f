//! Node faults against a real pool process: a found block is never lost
//! (persisted before the miner's reply, kept through `kill -9`, submitted
//! when a node is back), a block on the previous tip's job is still
//! submitted, and a template that fails once after a new block is retried
//! at the next `blockpoll`, not at `update_interval`.

mod common;
#[path = "common/nodeproxy.rs"]
mod nodeproxy;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::miner::{error_code, Miner};
use common::{PoolProcess, SimNode, TempDir};
use nodeproxy::NodeProxy;
use simd_json::prelude::*;
use tbg_pool::node::submitter;

const USER: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.rig";

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The block file of the block with display hash `hash`, if written.
fn block_file(logdir: &Path, hash: &str, ext: &str) -> Option<PathBuf> {
    let dir = submitter::blocks_dir(logdir);
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.ends_with(&format!("-{hash}.{ext}"))
        })
}

#[test]
fn block_found_while_every_node_is_down_survives_kill_9() {
    let sim = SimNode::start(&[]);
    let proxy = NodeProxy::start(&sim.addr);
    let dir = TempDir::new("node-faults");
    let mut pool = PoolProcess::start_with_node(&proxy.addr, "127.0.0.1:0", &dir.path, "");
    let logdir = dir.path.join("logs");
    let mut m = Miner::ready(&pool.addr, USER);

    proxy.set_down(true);
    let share = m.find_share(|_, is_block, _| is_block);
    let reply = m.submit(USER, &share);
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    // On disk before the miner heard back: nothing was left in memory.
    let hex_file = block_file(&logdir, &share.hash, "hex").expect("written before the reply");
    assert!(block_file(&logdir, &share.hash, "json").is_some());
    assert!(block_file(&logdir, &share.hash, "result").is_none());

    pool.kill_and_start_again_when(|| proxy.set_down(false));
    let mut rpc = sim.client();
    wait_until("the node has the block", || {
        rpc.best_block_hash()
            .is_ok_and(|h| tbg_pool::bitcoin::hex::encode_display(&h) == share.hash)
    });
    wait_until("a verdict", || {
        block_file(&logdir, &share.hash, "result").is_some()
    });
    let verdict =
        std::fs::read_to_string(block_file(&logdir, &share.hash, "result").unwrap()).unwrap();
    assert!(verdict.starts_with("accepted by "), "{verdict}");
    wait_until("the resubmission in the log", || {
        pool.log()
            .contains("resubmitting block left pending on disk")
    });
    assert!(hex_file.exists());
}

#[test]
fn a_block_on_the_previous_templates_job_is_submitted() {
    let sim = SimNode::start(&[]);
    let dir = TempDir::new("node-faults");
    let pool = PoolProcess::start(&sim, &dir.path, "");
    let logdir = dir.path.join("logs");
    let mut m = Miner::ready(&pool.addr, USER);
    let old = m.job.clone().unwrap();

    let _: Vec<String> = sim.client().call("simnode_mine", "[1]").unwrap();
    let new = m.wait_job(|j| j.clean && j.prevhash != old.prevhash);

    // Back to the job the block made stale, as a miner still hashing it.
    m.job = Some(old.clone());
    // Not a block: stale, whatever its difficulty.
    let share = m.find_share(|_, is_block, _| !is_block);
    assert_eq!(error_code(&m.submit(USER, &share)), Some(21), "stale");
    let block = m.find_share(|_, is_block, _| is_block);
    let reply = m.submit(USER, &block);
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    assert!(block_file(&logdir, &block.hash, "hex").is_some());
    wait_until("submitted to the node", || {
        pool.log()
            .lines()
            .any(|l| l.contains("submitblock") && l.contains(&block.hash) && l.contains(" to "))
    });
    // The node keeps it aside (it is not on the best chain): Core's
    // "inconclusive".
    assert!(
        pool.log().contains("rejected: inconclusive"),
        "{}",
        pool.log()
    );
    m.job = Some(new);
}

#[test]
fn a_template_failing_once_after_a_new_block_is_retried_at_blockpoll() {
    let sim = SimNode::start(&[]);
    let proxy = NodeProxy::start(&sim.addr);
    let dir = TempDir::new("node-faults");
    // update_interval far beyond the miner's 20 s wait for a job.
    let pool = PoolProcess::start_with_node(
        &proxy.addr,
        "127.0.0.1:0",
        &dir.path,
        r#""update_interval":120"#,
    );
    let mut m = Miner::ready(&pool.addr, USER);
    let old = m.job.clone().unwrap();

    proxy.fail_templates(1);
    let _: Vec<String> = sim.client().call("simnode_mine", "[1]").unwrap();
    let job = m.wait_job(|j| j.prevhash != old.prevhash);
    assert!(job.clean);
    assert_eq!(proxy.failed_templates(), 1, "the first try failed");
}

/// When a node takes a block the pool found, its miners get work on it
/// at once, not at the next `blockpoll` (a minute here): until then they
/// would hash on the old tip and race the pool's own block (seen on a
/// private signet with a real bitcoind: 5 of 42 blocks lost that race).
#[test]
fn a_block_the_node_takes_brings_new_work_before_the_next_poll() {
    let sim = SimNode::start(&[]);
    let dir = TempDir::new("node-faults");
    let pool = PoolProcess::start(&sim, &dir.path, r#""blockpoll":60000"#);
    let mut m = Miner::ready(&pool.addr, USER);
    let old = m.job.clone().unwrap();
    let block = m.find_share(|_, is_block, _| is_block);
    let reply = m.submit(USER, &block);
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    let job = m.wait_job(|j| j.prevhash != old.prevhash);
    assert!(job.clean);
    // The log reaches its file through the test's own copying thread.
    wait_until("the verdict in the log", || {
        pool.log().contains("accepted by")
    });
}
