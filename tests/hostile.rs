//! The pool on the open internet: each attack that once crashed, froze
//! or bloated it, replayed against a real pool process, while an honest
//! miner keeps mining (issue 11's reproductions).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::miner::{error_code, error_text, Miner};
use common::{PoolProcess, SimNode, TempDir};
use simd_json::prelude::*;

const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const USER: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.rig1";

/// A miner through cpuminer's handshake, with its first job.
fn ready_miner(pool: &PoolProcess) -> Miner {
    Miner::ready(&pool.addr, USER)
}

/// An honest miner's share, accepted.
fn mine_one(m: &mut Miner) {
    let share = m.valid_share();
    let reply = m.submit(USER, &share);
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The limit counters line of `pool.status` (its fourth).
fn limit_counter(logdir: &Path, name: &str) -> u64 {
    tbg_pool::users::PoolStatus::read(&logdir.join("pool/pool.status"))
        .and_then(|s| s.limits?.get(name).copied())
        .unwrap_or(0)
}

/// A random-looking but valid regtest P2WPKH address.
fn generated_address(i: u32) -> String {
    let mut program = [0u8; 20];
    program[..4].copy_from_slice(&i.to_be_bytes());
    program[4..8].copy_from_slice(&0x9e37_79b9u32.wrapping_mul(i + 1).to_be_bytes());
    let hrp = bech32::Hrp::parse("bcrt").unwrap();
    bech32::segwit::encode_v0(hrp, &program).unwrap()
}

#[test]
fn a_multibyte_name_cut_at_the_limit_does_not_kill_a_core() {
    let node = SimNode::start(&[]);
    let dir = TempDir::new("hostile");
    let mut pool = PoolProcess::start(&node, &dir.path, "");
    let line = format!(
        r#"{{"id":1,"method":"mining.submit","params":["{}é"]}}"#,
        "a".repeat(127)
    );
    // Enough connections to land on every core (SO_REUSEPORT spreads them).
    for _ in 0..8 {
        let mut m = Miner::connect(&pool.addr);
        m.send_raw(&line);
        let reply = m.read().expect("a reply, not a dead core");
        assert_eq!(error_code(&reply), Some(25), "{reply:?}");
    }
    let mut m = ready_miner(&pool);
    mine_one(&mut m);
    assert!(pool.is_running());
}

#[test]
fn a_ping_flood_is_throttled_then_dropped_while_an_honest_miner_mines() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("hostile");
    // One core: the flooder and the honest miner share it.
    let pool = PoolProcess::start(&node, &dir.path, r#""threads":1,"stats_interval_secs":1"#);
    let mut honest = ready_miner(&pool);
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let addr = pool.addr.clone();
            std::thread::spawn(move || flood(&addr, "mining.ping"))
        })
        .collect();
    for _ in 0..5 {
        mine_one(&mut honest);
        std::thread::sleep(Duration::from_millis(300));
    }
    for f in flooders {
        let (replies, closed) = f.join().unwrap();
        assert!(closed, "the flooder is disconnected");
        assert!(replies < 1_000, "{replies} of 20,000 pings answered");
    }
    mine_one(&mut honest);
    let logdir = dir.path.join("logs");
    assert!(wait_until(|| limit_counter(&logdir, "closed_flood") >= 2));
    assert!(limit_counter(&logdir, "throttled") >= 2);
}

/// Send 20,000 `method` requests in one write and drain the replies:
/// how many came back, and whether the pool closed the connection.
fn flood(addr: &str, method: &str) -> (usize, bool) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let burst: String = (0..20_000)
        .map(|i| format!("{{\"id\":{i},\"method\":\"{method}\",\"params\":[]}}\n"))
        .collect();
    let reader = stream.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let (mut replies, mut line) = (0, String::new());
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return (replies, true),
                Ok(_) => replies += 1,
                // Closed with our requests unread: a reset.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return (replies, true)
                }
                Err(_) => return (replies, false),
            }
        }
    });
    let _ = stream.write_all(burst.as_bytes()); // may fail once closed
    drain.join().unwrap()
}

#[test]
fn submits_for_workers_never_authorized_create_nothing() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("hostile");
    let pool = PoolProcess::start(&node, &dir.path, r#""stats_interval_secs":1"#);
    let mut m = ready_miner(&pool);
    let share = m.valid_share();
    for i in 0..40 {
        let name = format!(
            "{ADDRESS}.{i}{}",
            "w".repeat(if i % 2 == 0 { 2_000 } else { 3 })
        );
        let reply = m.submit(&name, &share);
        assert_eq!(error_code(&reply), Some(24), "{reply:?}");
        assert!(error_text(&reply).contains("Worker mismatch"), "{reply:?}");
    }
    // Another address entirely: refused the same way.
    let other = generated_address(7);
    assert_eq!(error_code(&m.submit(&other, &share)), Some(24));
    assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
    let file = dir.path.join("logs/users").join(ADDRESS);
    assert!(wait_until(|| std::fs::read_to_string(&file).is_ok_and(
        |t| t.contains("\"shares\":") && !t.contains("\"shares\":0,")
    )));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.len() < 2_000, "{} bytes", text.len());
    assert!(text.contains("\"workers\":1,"), "{text}");
    // pool.status is written by the stats pass apart from the user file.
    assert!(wait_until(|| limit_counter(
        &dir.path.join("logs"),
        "refused_worker"
    ) >= 41));
}

#[test]
fn several_workers_per_connection_up_to_the_limit() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("hostile");
    let pool = PoolProcess::start(&node, &dir.path, r#""max_workers_per_connection":3"#);
    let mut m = ready_miner(&pool);
    for w in ["rig2", "rig3"] {
        let reply = m.authorize(&format!("{ADDRESS}.{w}"));
        assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    }
    let reply = m.authorize(&format!("{ADDRESS}.rig4"));
    assert_eq!(error_code(&reply), Some(24), "{reply:?}");
    assert!(error_text(&reply).contains("Too many workers"), "{reply:?}");
    let long = format!("{ADDRESS}.{}", "x".repeat(129));
    assert_eq!(error_code(&m.authorize(&long)), Some(24));
    // A worker it authorized may submit.
    let share = m.valid_share();
    let reply = m.submit(&format!("{ADDRESS}.rig3"), &share);
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
}

#[test]
fn authorizing_made_up_addresses_leaves_no_files() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("hostile");
    let pool = PoolProcess::start(&node, &dir.path, r#""stats_interval_secs":1"#);
    for i in 0..60 {
        let mut m = Miner::connect(&pool.addr);
        m.subscribe();
        let address = generated_address(i);
        assert_eq!(m.authorize(&address)["result"].as_bool(), Some(true));
    }
    let mut honest = ready_miner(&pool);
    mine_one(&mut honest);
    let users = dir.path.join("logs/users");
    assert!(wait_until(|| users.join(ADDRESS).exists()));
    std::thread::sleep(Duration::from_millis(1_500)); // another stats pass
    let files: Vec<String> = std::fs::read_dir(&users)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // A file being replaced has a `.tmp` beside it for a moment.
        .filter(|name| !name.ends_with(".tmp"))
        .collect();
    assert_eq!(files, vec![ADDRESS.to_string()]);
}

#[test]
fn an_oversize_user_file_is_kept_aside_not_overwritten() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("hostile");
    let users = dir.path.join("logs/users");
    std::fs::create_dir_all(&users).unwrap();
    let mut big = String::from("{\"bestever\":12345,\"worker\":[");
    let entry = format!("{{\"workername\":\"{ADDRESS}.{}\"}},", "w".repeat(1_000));
    while big.len() < 18 << 20 {
        big.push_str(&entry);
    }
    big.push_str("{}]}\n");
    std::fs::write(users.join(ADDRESS), &big).unwrap();
    let pool = PoolProcess::start(&node, &dir.path, r#""stats_interval_secs":1"#);
    let aside = users.join(format!("{ADDRESS}.bad"));
    assert_eq!(
        std::fs::read(&aside).unwrap().len(),
        big.len(),
        "kept as is"
    );
    assert!(
        wait_until(|| pool.log().contains("kept aside")),
        "{}",
        pool.log()
    );
    let mut m = ready_miner(&pool);
    mine_one(&mut m);
    assert!(wait_until(|| users.join(ADDRESS).exists()));
    assert_eq!(std::fs::read(&aside).unwrap().len(), big.len());
}
