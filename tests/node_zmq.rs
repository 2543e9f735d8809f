//! New blocks announced over ZMQ (`zmqblock`): the pool hears the node's
//! `hashblock` and sends clean jobs at once, long before `blockpoll`.
//! Checked against the simulated node's publisher, and the subscriber
//! against a real libzmq publisher (Debian's python3-zmq).

mod common;

use std::io::BufRead;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::miner::Miner;
use common::{PoolProcess, SimNode, TempDir};
use tbg_pool::node::zmq::{hashblock, Subscriber, HASHBLOCK};

const USER: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.zmq";

/// With `blockpoll` at ten minutes (and no template refresh), a network
/// block still reaches miners as a clean job: the node's `hashblock`
/// wakes the node thread. Without the subscription the job would come
/// only at the next poll, after the miner's read has given up.
#[test]
fn hashblock_brings_clean_jobs_before_blockpoll() {
    let zmq = common::dead_port_addr();
    let node = SimNode::start(&["--bits", "1d00ffff", "--zmq-pub", &zmq]);
    let dir = TempDir::new("zmq");
    let extra = format!(r#""blockpoll":600000,"update_interval":3600,"zmqblock":"tcp://{zmq}""#);
    let pool = PoolProcess::start(&node, &dir.path, &extra);
    // The subscription is made before the blocks below.
    wait_for_log(&pool, "subscribed to hashblock");
    let mut m = Miner::ready(&pool.addr, USER);
    let mut rpc = node.client();
    for _ in 0..3 {
        let prev = m.job.clone().unwrap().prevhash;
        let mined: Vec<String> = rpc.call("simnode_mine", "[1]").unwrap();
        assert_eq!(mined.len(), 1);
        let job = m.wait_job(|j| j.prevhash != prev);
        assert!(job.clean, "a new block's job is clean");
    }
}

/// A publisher that goes away and comes back: the pool subscribes again
/// (and polls meanwhile), so later blocks are announced again.
#[test]
fn the_subscription_survives_a_publisher_restart() {
    let zmq = common::dead_port_addr();
    let dir = TempDir::new("zmq-restart");
    let mut node = SimNode::start_on(
        &common::dead_port_addr(),
        &["--bits", "1d00ffff", "--zmq-pub", &zmq],
    );
    let node_addr = node.addr.clone();
    let extra = format!(r#""blockpoll":600000,"update_interval":3600,"zmqblock":"tcp://{zmq}""#);
    let pool = PoolProcess::start(&node, &dir.path, &extra);
    wait_for_log(&pool, "subscribed to hashblock");
    node.stop();
    let node = SimNode::start_on(&node_addr, &["--bits", "1d00ffff", "--zmq-pub", &zmq]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.log().matches("subscribed to hashblock").count() < 2 {
        assert!(
            Instant::now() < deadline,
            "not subscribed again:\n{}",
            pool.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut m = Miner::ready(&pool.addr, USER);
    let prev = m.job.clone().unwrap().prevhash;
    let _: Vec<String> = node.client().call("simnode_mine", "[1]").unwrap();
    assert!(m.wait_job(|j| j.prevhash != prev).clean);
}

fn wait_for_log(pool: &PoolProcess, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pool.log().contains(text) {
        assert!(Instant::now() < deadline, "no {text:?} in:\n{}", pool.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// libzmq's own PUB socket (pyzmq), publishing hashblock as bitcoind does
/// (`CZMQAbstractPublishNotifier::SendZmqMessage`: topic, 32-byte hash,
/// 4-byte little-endian sequence, one multipart message).
const PUBLISHER: &str = r#"
import sys, time, zmq
ctx = zmq.Context()
pub = ctx.socket(zmq.PUB)
port = pub.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
for seq in range(400):
    pub.send_multipart([b"hashblock", bytes([seq % 256]) * 32, seq.to_bytes(4, "little")])
    time.sleep(0.05)
"#;

#[test]
fn subscriber_reads_a_real_libzmq_publisher() {
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", PUBLISHER])
        .stdout(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    let mut port = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let port = port.trim();
    assert!(
        !port.is_empty(),
        "python3-zmq is needed (tools/test installs it)"
    );
    let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut s = Subscriber::handshake(stream, HASHBLOCK).expect("handshake with libzmq");
    let mut got = Vec::new();
    while got.len() < 3 {
        if let Some(parts) = s.next_message().expect("libzmq's messages") {
            let (hash, seq) = hashblock(&parts).expect("a hashblock message");
            assert_eq!(hash, [(seq % 256) as u8; 32]);
            got.push(seq);
        }
    }
    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
    let _ = child.kill();
    let _ = child.wait();
}
