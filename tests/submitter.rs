//! Found blocks are never lost: written to disk before the first
//! `submitblock`, retried while every node is down, submitted when one
//! returns, and resubmitted after a restart if they were left pending.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{SimNode, TempDir};
use tbg_pool::bitcoin::address::{script_pubkey, Network};
use tbg_pool::bitcoin::hex;
use tbg_pool::node::{submitter, Auth, Endpoint, FoundBlock, NodeClient, NodeMetrics};
use tbg_pool::share::{MinerJob, SeenShares, Submit};
use tbg_pool::work::{build_coinbase, JobTemplate, WorkConfig};

/// The submitter on its own thread; the counters it keeps.
fn spawn_submitter(
    rx: crossbeam_channel::Receiver<FoundBlock>,
    nodes: Vec<Endpoint>,
    logdir: std::path::PathBuf,
) -> Arc<NodeMetrics> {
    let metrics = Arc::new(NodeMetrics::new(&nodes));
    let m = metrics.clone();
    std::thread::spawn(move || submitter::run(rx, nodes, logdir, None, m));
    metrics
}

const PAYOUT: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// A block on the node's current tip, mined with the pool's own code.
fn mine_block(node: &mut NodeClient) -> FoundBlock {
    let t = node.get_block_template().unwrap();
    let jt = Arc::new(JobTemplate::new(1, &t));
    let payout = script_pubkey(PAYOUT, Network::Regtest).unwrap();
    let cb = build_coinbase(&jt, &WorkConfig::default(), &payout, b"/test/");
    let mut job = MinerJob::new(jt.clone(), &cb, &[9, 9, 9, 9], 8, 1e-9);
    let ntime = format!("{:08x}", jt.cur_time);
    let mut seen = SeenShares::new(64);
    for nonce in 0u32.. {
        let submit =
            Submit::parse("0000000000000000", &ntime, &format!("{nonce:08x}"), None, 8).unwrap();
        let v = job.check(&submit, 0, &mut seen);
        if v.is_block {
            return FoundBlock {
                height: jt.height,
                hash: v.hash,
                block: job.block(&submit, &v.header),
                username: PAYOUT.into(),
                worker: format!("{PAYOUT}.w").into(),
                share_diff: v.share_diff,
                network_diff: jt.network_diff,
                reward_sats: jt.coinbase_value_sats,
                found_at_unix: 0,
            };
        }
    }
    unreachable!()
}

/// Forward every connection on `listener` to `upstream` (a node coming back).
fn proxy(listener: TcpListener, upstream: String) {
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c, mut s) = (client, server);
            std::thread::spawn(move || std::io::copy(&mut c2, &mut s2));
            std::thread::spawn(move || std::io::copy(&mut s, &mut c));
        }
    });
}

fn files_with(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default()
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    (0..300).any(|_| {
        let done = f();
        if !done {
            std::thread::sleep(Duration::from_millis(50));
        }
        done
    })
}

fn auth() -> Auth {
    Auth::Basic {
        user: "tbg".into(),
        pass: "tbg".into(),
    }
}

#[test]
fn block_found_while_the_node_is_down_is_kept_and_submitted_on_return() {
    let sim = SimNode::start(&[]);
    let mut rpc = sim.client();
    let found = mine_block(&mut rpc);
    let hash = found.hash;

    let dead = common::dead_port_addr();
    let dir = TempDir::new("submitter");
    let logdir = dir.path.clone();
    let (tx, rx) = crossbeam_channel::unbounded();
    let nodes = vec![Endpoint::new(&dead, auth())];
    spawn_submitter(rx, nodes, logdir);
    let found_copy = found.clone();
    tx.send(found).unwrap();

    let blocks = submitter::blocks_dir(&dir.path);
    assert!(
        wait_until(|| files_with(&blocks, "hex").len() == 1),
        "block written to disk"
    );
    assert!(
        wait_until(|| files_with(&blocks, "json").len() == 1),
        "with its metadata"
    );
    let meta = submitter::BlockMeta::read(&files_with(&blocks, "json")[0]).expect("metadata");
    assert_eq!(meta, submitter::BlockMeta::of(&found_copy));
    assert_eq!(meta.worker, format!("{PAYOUT}.w"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        files_with(&blocks, "result").is_empty(),
        "no verdict while the node is down"
    );
    assert_ne!(rpc.best_block_hash().unwrap(), hash);

    // The node comes back on the same address.
    proxy(TcpListener::bind(&dead).unwrap(), sim.addr.clone());
    assert!(
        wait_until(|| rpc.best_block_hash().unwrap() == hash),
        "submitted when the node returned"
    );
    assert!(wait_until(|| files_with(&blocks, "result").len() == 1));
    let verdict = std::fs::read_to_string(&files_with(&blocks, "result")[0]).unwrap();
    assert!(verdict.starts_with("accepted by "), "{verdict}");
}

#[test]
fn pending_blocks_on_disk_are_resubmitted_at_start() {
    let sim = SimNode::start(&[]);
    let mut rpc = sim.client();
    let found = mine_block(&mut rpc);
    let dir = TempDir::new("submitter");
    let blocks = submitter::blocks_dir(&dir.path);
    std::fs::create_dir_all(&blocks).unwrap();
    let name = format!("{}-{}", found.height, hex::encode_display(&found.hash));
    std::fs::write(
        blocks.join(format!("{name}.hex")),
        hex::encode(&found.block),
    )
    .unwrap();

    let (_tx, rx) = crossbeam_channel::unbounded::<FoundBlock>();
    let (nodes, logdir) = (vec![sim.endpoint()], dir.path.clone());
    spawn_submitter(rx, nodes, logdir);
    assert!(wait_until(|| rpc.best_block_hash().unwrap() == found.hash));
    assert!(wait_until(|| blocks
        .join(format!("{name}.result"))
        .exists()));
}

/// A node that answers every request with `status` and `body` (bitcoind
/// warming up answers HTTP 500 with a JSON-RPC error `-28`).
fn failing_node(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || answer_every_request(client, status, body));
        }
    });
    addr
}

fn answer_every_request(client: TcpStream, status: &str, body: &str) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut writer = client;
    loop {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut request = vec![0u8; length];
        if reader.read_exact(&mut request).is_err() {
            return;
        }
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

const WARMING_UP: &str =
    r#"{"result":null,"error":{"code":-28,"message":"Loading block index…"},"id":1}"#;
const NOT_CONNECTED: &str =
    r#"{"result":null,"error":{"code":-9,"message":"Bitcoin Core is not connected!"},"id":1}"#;

#[test]
fn a_block_goes_to_every_node_when_the_first_is_warming_up() {
    let sim = SimNode::start(&[]);
    let mut rpc = sim.client();
    let found = mine_block(&mut rpc);
    let hash = found.hash;
    let warming = failing_node("500 Internal Server Error", WARMING_UP);
    let dir = TempDir::new("submitter");
    let (tx, rx) = crossbeam_channel::unbounded();
    let nodes = vec![Endpoint::new(&warming, auth()), sim.endpoint()];
    let logdir = dir.path.clone();
    let metrics = spawn_submitter(rx, nodes, logdir);
    tx.send(found).unwrap();
    assert!(
        wait_until(|| rpc.best_block_hash().unwrap() == hash),
        "node 2 got the block"
    );
    let blocks = submitter::blocks_dir(&dir.path);
    assert!(wait_until(|| files_with(&blocks, "result").len() == 1));
    let verdict = std::fs::read_to_string(&files_with(&blocks, "result")[0]).unwrap();
    assert_eq!(verdict.trim(), format!("accepted by {}", sim.addr));
    // Counted: one block sent and taken, and the warming node's refusal.
    let mut page = tbg_pool::metrics::Exposition::new();
    metrics.render(&mut page);
    let text = page.into_text();
    for line in [
        "tbg_pool_blocks_submitted_total 1".to_string(),
        "tbg_pool_blocks_accepted_total 1".to_string(),
        format!(
            r#"tbg_pool_node_rpc_errors_total{{node="{warming}",method="submitblock",kind="rpc"}} 1"#
        ),
        format!(
            r#"tbg_pool_node_rpc_calls_total{{node="{}",method="submitblock"}} 1"#,
            sim.addr
        ),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
}

#[test]
fn no_final_verdict_while_every_node_errs() {
    let sim = SimNode::start(&[]);
    let found = mine_block(&mut sim.client());
    let warming = failing_node("500 Internal Server Error", WARMING_UP);
    let dir = TempDir::new("submitter");
    let (tx, rx) = crossbeam_channel::unbounded();
    let nodes = vec![Endpoint::new(&warming, auth())];
    let logdir = dir.path.clone();
    spawn_submitter(rx, nodes, logdir);
    tx.send(found).unwrap();
    let blocks = submitter::blocks_dir(&dir.path);
    assert!(wait_until(|| files_with(&blocks, "hex").len() == 1));
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        files_with(&blocks, "result").is_empty(),
        "an RPC error is not a verdict: the block is kept for a retry and the next start"
    );
}

#[test]
fn templates_fail_over_past_nodes_that_cannot_serve() {
    let sim = SimNode::start(&[]);
    for (status, body) in [
        ("500 Internal Server Error", NOT_CONNECTED),
        ("500 Internal Server Error", WARMING_UP),
        ("500 Internal Server Error", "<html>oops</html>"),
        ("200 OK", r#"{"result":{"height":"x"},"error":null,"id":1}"#),
    ] {
        let bad = failing_node(status, body);
        let mut node = NodeClient::new(
            vec![Endpoint::new(&bad, auth()), sim.endpoint()],
            Default::default(),
        );
        let t = node.get_block_template();
        assert!(t.is_ok(), "{body}: {:?}", t.err());
        assert_eq!(node.current_node(), sim.addr, "{body}");
    }
}
