//! The work engine end to end against the simulated node: a template
//! becomes a job, the pool's own share code mines it at regtest
//! difficulty, `submitblock` accepts it and the tip advances; broken
//! blocks are refused with bitcoind's reasons; node failover and
//! failures give errors, not panics.

mod common;

use std::sync::Arc;

use common::SimNode;
use tbg_pool::bitcoin::address::{script_pubkey, Network};
use tbg_pool::bitcoin::target::hash_meets;
use tbg_pool::bitcoin::{hex, sha256d};
use tbg_pool::node::{Auth, Endpoint, NodeClient, NodeError, SubmitOutcome, Timeouts};
use tbg_pool::share::{MinerJob, SeenShares, Submit, Verdict};
use tbg_pool::work::{build_coinbase, coinbase_sig, JobTemplate, WorkConfig};

const PAYOUT: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// A miner's job on the node's current template.
fn job_from_node(node: &mut NodeClient, id: u64) -> MinerJob {
    let template = node.get_block_template().expect("template");
    let job = Arc::new(JobTemplate::new(id, &template));
    let cfg = WorkConfig::default();
    let payout = script_pubkey(PAYOUT, Network::Regtest).unwrap();
    let (sig, _) = coinbase_sig(&cfg, PAYOUT);
    let cb = build_coinbase(&job, &cfg, &payout, &sig);
    MinerJob::new(job, &cb, &[0xde, 0xad, 0xbe, 0xef], 8, 1e-9)
}

/// Roll nonces until `want(verdict)`; return the submit and verdict.
fn mine(job: &mut MinerJob, want: impl Fn(&Verdict) -> bool) -> (Submit, Verdict) {
    let ntime = format!("{:08x}", job.template.cur_time);
    let mut seen = SeenShares::new(1024);
    for nonce in 0u32..100_000 {
        let submit =
            Submit::parse("0000000000000001", &ntime, &format!("{nonce:08x}"), None, 8).unwrap();
        let verdict = job.check(&submit, 0, &mut seen);
        if want(&verdict) {
            return (submit, verdict);
        }
    }
    panic!("no nonce found");
}

#[test]
fn pool_code_mines_a_block_the_node_accepts() {
    let sim = SimNode::start(&["--mempool-txs", "300"]);
    let mut node = sim.client();
    let info = node.blockchain_info().unwrap();
    assert_eq!(info.chain, "regtest");
    let before = node.best_block_hash().unwrap();

    let mut job = job_from_node(&mut node, 1);
    assert!(
        job.template.tx_count > 0,
        "mempool transactions in the template"
    );
    assert!(job.template.witness_commitment_script.is_some());
    let (submit, verdict) = mine(&mut job, |v| v.is_block);
    assert!(verdict.accepted());
    let block = job.block(&submit, &verdict.header);
    let outcome = node.submit_block(&hex::encode(&block)).unwrap();
    assert_eq!(outcome, SubmitOutcome::Accepted);

    let after = node.best_block_hash().unwrap();
    assert_ne!(after, before);
    assert_eq!(after, verdict.hash, "the node's tip is our block");
    assert_eq!(node.blockchain_info().unwrap().blocks, info.blocks + 1);
    let next = node.get_block_template().unwrap();
    assert_eq!(next.prev_hash, verdict.hash);
    assert_eq!(next.height as u64, info.blocks + 2);

    // The same block again.
    let again = node.submit_block(&hex::encode(&block)).unwrap();
    assert_eq!(again, SubmitOutcome::Rejected("duplicate".into()));
}

#[test]
fn insufficient_work_is_refused_as_high_hash() {
    let sim = SimNode::start(&[]);
    let mut node = sim.client();
    let mut job = job_from_node(&mut node, 1);
    let (submit, verdict) = mine(&mut job, |v| !v.is_block);
    let block = job.block(&submit, &verdict.header);
    let outcome = node.submit_block(&hex::encode(&block)).unwrap();
    assert_eq!(outcome, SubmitOutcome::Rejected("high-hash".into()));
}

#[test]
fn wrong_merkle_root_is_refused() {
    let sim = SimNode::start(&["--mempool-txs", "20"]);
    let mut node = sim.client();
    let mut job = job_from_node(&mut node, 1);
    let (submit, verdict) = mine(&mut job, |v| v.is_block);
    let mut block = job.block(&submit, &verdict.header);
    // Corrupt the merkle root, then re-grind the nonce so the header
    // still meets the target: only the root is wrong.
    block[36] ^= 0xff;
    let target = job.template.network_target;
    let nonce = (0u32..).find(|n| {
        block[76..80].copy_from_slice(&n.to_le_bytes());
        hash_meets(&sha256d(&block[..80]), &target)
    });
    assert!(nonce.is_some());
    let outcome = node.submit_block(&hex::encode(&block)).unwrap();
    assert_eq!(outcome, SubmitOutcome::Rejected("bad-txnmrklroot".into()));
}

#[test]
fn failover_to_the_next_node() {
    let sim = SimNode::start(&[]);
    let dead = Endpoint::new(&common::dead_port_addr(), Auth::None);
    let mut node = NodeClient::new(vec![dead, sim.endpoint()], Timeouts::default());
    let t = node.get_block_template().expect("second node answers");
    assert!(t.height > 0);
    assert_eq!(node.current_node(), sim.addr);
}

#[test]
fn unreachable_node_is_an_error_not_a_panic() {
    let dead = common::dead_port_addr();
    let mut node = NodeClient::new(vec![Endpoint::new(&dead, Auth::None)], Timeouts::default());
    match node.get_block_template() {
        Err(NodeError::Unavailable(failures)) => {
            assert_eq!(failures.len(), 1);
            assert!(failures[0].1.contains("connect failed"), "{failures:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_password_is_reported() {
    let sim = SimNode::start(&[]);
    let auth = Auth::Basic {
        user: "tbg".into(),
        pass: "wrong".into(),
    };
    let mut node = NodeClient::new(vec![Endpoint::new(&sim.addr, auth)], Timeouts::default());
    let e = node.best_block_hash().unwrap_err().to_string();
    assert!(e.contains("401"), "{e}");
}

#[test]
fn node_errors_are_returned_not_retried() {
    let sim = SimNode::start(&[]);
    let mut node = sim.client();
    assert!(node.validate_address(PAYOUT).unwrap());
    assert!(!node
        .validate_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
        .unwrap());
    assert!(!node.validate_address("not\"json").unwrap());
    match node.submit_block("zz") {
        Err(NodeError::Rpc { code, .. }) => assert_eq!(code, -22),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tip_watcher_sees_network_blocks_once() {
    let sim = SimNode::start(&[]);
    let mut node = sim.client();
    let mut tip = tbg_pool::node::TipWatcher::new();
    assert!(
        tip.poll(&mut node).unwrap().is_some(),
        "first poll learns the tip"
    );
    assert!(tip.poll(&mut node).unwrap().is_none());
    let mined: Vec<String> = node.call("simnode_mine", "[1]").unwrap();
    let new_tip = tip.poll(&mut node).unwrap().expect("a new block");
    assert_eq!(hex::encode_display(&new_tip), mined[0]);
    assert!(tip.poll(&mut node).unwrap().is_none(), "reported once");
}

#[test]
fn silent_node_times_out_with_a_clear_error() {
    // Accepts the connection and never answers: a hung bitcoind.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let timeouts = Timeouts {
        connect: std::time::Duration::from_secs(1),
        io: std::time::Duration::from_millis(200),
    };
    let mut node = NodeClient::new(vec![Endpoint::new(&addr, Auth::None)], timeouts);
    let e = node.get_block_template().unwrap_err().to_string();
    assert!(e.contains(&addr) && e.contains("i/o error"), "{e}");
    drop(listener);
}
