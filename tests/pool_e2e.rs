//! The pool end to end: simulated node + `tbg-pool` + test miners over
//! TCP. Real miners' handshakes (cpuminer, Bitaxe, NerdMiner), shares
//! accepted and refused with the codes miners know, blocks reaching the
//! node, clean jobs on new blocks, limits and bad input, restarts.

mod common;

use common::miner::{error_code, error_text, Miner};
use common::{PoolProcess, SimNode, TempDir};
use simd_json::prelude::*;
use tbg_pool::bitcoin::target::{difficulty_to_share_target, hash_meets};

const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const USER: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.rig1";

/// A miner through cpuminer's handshake, with its first job.
fn ready_miner(pool: &PoolProcess) -> Miner {
    Miner::ready(&pool.addr, USER)
}

#[test]
fn cpuminer_handshake_and_share_verdicts() {
    // A hard network target so shares are shares, not blocks.
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("pool-e2e");
    let pool = PoolProcess::start(&node, &dir.path, "");
    let mut m = Miner::connect(&pool.addr);
    let sub = m.subscribe();
    assert_eq!(
        sub["result"][0][0][0].as_str(),
        Some("mining.set_difficulty")
    );
    assert_eq!(m.extranonce1.len(), 4);
    assert_eq!(m.extranonce2_len, 8);
    assert_eq!(m.authorize(USER)["result"].as_bool(), Some(true));
    let job = m.wait_job(|_| true);
    // set_difficulty came before the notify it applies to.
    let methods: Vec<&str> = m
        .notifications
        .iter()
        .filter_map(|n| n.get("method")?.as_str())
        .collect();
    assert_eq!(&methods[..2], ["mining.set_difficulty", "mining.notify"]);
    assert_eq!(job.diff, 0.000001);
    assert!(job.clean);

    for _ in 0..5 {
        let share = m.valid_share();
        let reply = m.submit(USER, &share);
        assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
        assert!(reply["error"].is_null());
    }
    let share = m.valid_share();
    assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
    let dup = m.submit(USER, &share);
    assert_eq!(
        (dup["result"].as_bool(), error_code(&dup)),
        (Some(false), Some(22))
    );

    let stale = common::miner::Share {
        job_id: "ffff".into(),
        ..share.clone()
    };
    assert_eq!(error_code(&m.submit(USER, &stale)), Some(21));

    let low = m.find_share(|h, _, j| !hash_meets(h, &difficulty_to_share_target(j.diff)));
    let reply = m.submit(USER, &low);
    assert_eq!(
        (reply["result"].as_bool(), error_code(&reply)),
        (Some(false), Some(23))
    );

    let short = common::miner::Share {
        extranonce2: "00".into(),
        ..share.clone()
    };
    assert_eq!(error_code(&m.submit(USER, &short)), Some(20));
    let future = common::miner::Share {
        ntime: "ffffffff".into(),
        ..share.clone()
    };
    assert_eq!(error_code(&m.submit(USER, &future)), Some(20));
    let other = "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7.x";
    assert_eq!(error_code(&m.submit(other, &share)), Some(24));
}

#[test]
fn bitaxe_handshake_with_version_rolling() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("pool-e2e");
    let pool = PoolProcess::start(&node, &dir.path, "");
    let mut m = Miner::connect(&pool.addr);
    let conf = m.request(
        "mining.configure",
        r#"[["version-rolling"], {"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": 16}]"#,
    );
    assert_eq!(conf["result"]["version-rolling"].as_bool(), Some(true));
    assert_eq!(
        conf["result"]["version-rolling.mask"].as_str(),
        Some("1fffe000")
    );
    m.subscribe();
    assert_eq!(
        m.request("mining.suggest_difficulty", "[0.0001]")["result"].as_bool(),
        Some(true)
    );
    assert_eq!(m.authorize(USER)["result"].as_bool(), Some(true));
    assert_eq!(
        m.request("mining.extranonce.subscribe", "[]")["result"].as_bool(),
        Some(true)
    );
    let job = m.wait_job(|_| true);
    assert_eq!(job.diff, 0.0001, "suggested difficulty used from the start");

    // Rolled version bits inside the mask are accepted; outside, refused.
    let share = m.valid_share();
    let with_bits = |bits: &str| {
        format!(
            r#"["{USER}", "{}", "{}", "{}", "{}", "{bits}"]"#,
            share.job_id, share.extranonce2, share.ntime, share.nonce
        )
    };
    let reply = m.request("mining.submit", &with_bits("00000000"));
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    let reply = m.request("mining.submit", &with_bits("e0000000"));
    assert_eq!(
        (reply["result"].as_bool(), error_code(&reply)),
        (Some(false), Some(20))
    );
}

#[test]
fn nerdminer_repeats_fractional_suggestions() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("pool-e2e");
    let pool = PoolProcess::start(&node, &dir.path, r#""update_interval":1"#);
    let mut m = ready_miner(&pool);
    let before = m.notifications.len();
    assert_eq!(
        m.request("mining.suggest_difficulty", "[0.0005]")["result"].as_bool(),
        Some(true)
    );
    let job = m.wait_job(|j| j.diff == 0.0005);
    assert!(!job.clean, "a difficulty change is not a new block");
    // A periodic job (update_interval 1 s) may come first, at the old
    // difficulty.
    let sent: Vec<_> = m.notifications[before..]
        .iter()
        .filter_map(|n| n.get("method")?.as_str())
        .skip_while(|m| *m == "mining.notify")
        .collect();
    assert_eq!(
        sent[0], "mining.set_difficulty",
        "sent at once, bound at the next notify"
    );
    assert_eq!(
        sent.iter()
            .filter(|m| **m == "mining.set_difficulty")
            .count(),
        1
    );
    // The same suggestion again (NerdMiners send it every 30 s): no churn.
    let count = m
        .notifications
        .iter()
        .filter(|n| n.get("method").and_then(|x| x.as_str()) == Some("mining.set_difficulty"))
        .count();
    assert_eq!(
        m.request("mining.suggest_difficulty", "[0.0005]")["result"].as_bool(),
        Some(true)
    );
    assert_eq!(
        m.request("mining.ping", "[]")["result"].as_str(),
        Some("pong")
    );
    let after = m
        .notifications
        .iter()
        .filter(|n| n.get("method").and_then(|x| x.as_str()) == Some("mining.set_difficulty"))
        .count();
    assert_eq!(after, count);
    // Shares at the new difficulty count; a suggestion below mindiff is
    // clamped. With a job a second, a share that takes a loaded machine
    // long to find may name a job gone by then (21): find another.
    let mut reply = simd_json::OwnedValue::null();
    for _ in 0..5 {
        let share = m.valid_share();
        reply = m.submit(USER, &share);
        if error_code(&reply) != Some(21) {
            break;
        }
    }
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    m.request("mining.suggest_difficulty", "[1e-12]");
    assert_eq!(m.wait_job(|j| j.diff != 0.0005).diff, 0.00000001);
}

#[test]
fn order_and_identity_errors() {
    let node = SimNode::start(&[]);
    let dir = TempDir::new("pool-e2e");
    let pool = PoolProcess::start(&node, &dir.path, "");
    let mut m = Miner::connect(&pool.addr);
    let submit = r#"["x.y", "1", "0000000000000000", "00000000", "00000000"]"#;
    assert_eq!(error_code(&m.request("mining.submit", submit)), Some(25));
    assert_eq!(error_code(&m.authorize(USER)), Some(25));
    m.subscribe();
    assert_eq!(error_code(&m.request("mining.submit", submit)), Some(24));
    let bad = m.authorize("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa.w");
    assert_eq!(bad["result"].as_bool(), Some(false));
    assert!(
        error_text(&bad).contains("mainnet address on a regtest pool"),
        "{bad:?}"
    );
    let bad = m.authorize("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt08q");
    assert!(error_text(&bad).contains("checksum"), "{bad:?}");
    let unknown = m.request("mining.frobnicate", "[]");
    assert_eq!(error_code(&unknown), Some(20));
    assert_eq!(
        m.request("mining.ping", "[]")["result"].as_str(),
        Some("pong")
    );
}

#[test]
fn garbage_oversize_lines_and_idle_connections() {
    let node = SimNode::start(&[]);
    let dir = TempDir::new("pool-e2e");
    let pool = PoolProcess::start(
        &node,
        &dir.path,
        r#""max_invalid_requests":3,"idle_timeout_secs":1,"max_line_bytes":1024"#,
    );

    let mut m = Miner::connect(&pool.addr);
    m.send_raw("this is not json");
    let reply = m.read().unwrap();
    assert_eq!(error_text(&reply), "Invalid JSON");
    assert!(reply["id"].is_null());
    m.send_raw("{\"id\":1,\"method\":\"\u{1}\"");
    assert!(m.read().is_some());
    for _ in 0..3 {
        m.send_raw("[[[");
    }
    assert!(m.closed_by_pool(), "repeated garbage disconnects");

    let mut m = Miner::connect(&pool.addr);
    m.subscribe();
    m.send_raw(&format!(
        r#"{{"id":9,"method":"mining.subscribe","params":["{}"]}}"#,
        "x".repeat(2000)
    ));
    assert!(m.closed_by_pool(), "an oversize line disconnects");

    let mut m = Miner::connect(&pool.addr);
    m.subscribe();
    assert!(
        m.closed_by_pool(),
        "never authorized: dropped after idle_timeout_secs"
    );
}

#[test]
fn connection_limits() {
    let node = SimNode::start(&[]);
    let dir = TempDir::new("pool-e2e");
    let pool = PoolProcess::start(&node, &dir.path, r#""max_clients_per_ip":2"#);
    let mut a = Miner::connect(&pool.addr);
    let mut b = Miner::connect(&pool.addr);
    a.subscribe();
    b.subscribe();
    let mut c = Miner::connect(&pool.addr);
    assert!(
        c.closed_by_pool(),
        "third connection from one address refused"
    );
    drop(a);
    // The slot is free once the pool has seen `a` close: until then a new
    // connection is refused at once.
    assert!(
        wait_until(|| subscribed(&pool.addr)),
        "a freed slot is taken again"
    );
}

/// Whether a new connection's `mining.subscribe` is answered.
fn subscribed(addr: &str) -> bool {
    let mut m = Miner::connect(addr);
    let subscribe = br#"{"id":1,"method":"mining.subscribe","params":[]}"#;
    m.write_all_raw(&[&subscribe[..], b"\n"].concat()).is_ok()
        && m.read().is_some_and(|reply| reply["error"].is_null())
}

#[test]
fn invalid_share_floods_and_deaf_miners_are_dropped() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("pool-e2e");
    let pool = PoolProcess::start(
        &node,
        &dir.path,
        r#""max_invalid_shares":5,"max_send_buffer_bytes":4096"#,
    );
    let mut m = ready_miner(&pool);
    let share = m.valid_share();
    for _ in 0..10 {
        m.send_raw(&format!(
            r#"{{"id":5,"method":"mining.submit","params":["{USER}","{}","00","{}","{}"]}}"#,
            share.job_id, share.ntime, share.nonce
        ));
    }
    assert!(m.closed_by_pool(), "a flood of invalid shares disconnects");

    // A miner that sends but never reads: its replies pile up in the
    // kernel, then in the pool's buffer, and past the bound it is dropped.
    let mut deaf = ready_miner(&pool);
    let burst =
        (r#"{"id":1,"method":"mining.ping","params":[]}"#.to_string() + "\n").repeat(20_000);
    let dropped = (0..500).any(|_| deaf.write_all_raw(burst.as_bytes()).is_err());
    assert!(dropped, "the pool kept a miner that never reads");
}

#[test]
fn blocks_reach_the_node_and_new_blocks_clean_every_miner() {
    // Network difficulty 1/65536: about one share in 150 is a block.
    let node = SimNode::start(&["--bits", "1f00ffff", "--mempool-txs", "100"]);
    let dir = TempDir::new("pool-e2e");
    let pool = PoolProcess::start(&node, &dir.path, "");
    let mut rpc = node.client();
    let mut miners: Vec<Miner> = (0..3).map(|_| ready_miner(&pool)).collect();

    let block = miners[0].find_share(|_, is_block, _| is_block);
    let reply = miners[0].submit(USER, &block);
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    let accepted = wait_until(|| {
        tbg_pool::bitcoin::hex::encode_display(&rpc.best_block_hash().unwrap()) == block.hash
    });
    assert!(accepted, "the node's tip became the pool's block");
    // Persisted before submission, with the node's verdict beside it.
    let blocks = dir.path.join("logs/blocks");
    assert!(wait_until(|| std::fs::read_dir(&blocks)
        .map(|d| d.count() >= 3)
        .unwrap_or(false)));
    let prev_before = miners[1].job.clone().unwrap().prevhash;
    for m in miners.iter_mut() {
        let job = m.wait_job(|j| j.clean && j.prevhash != prev_before);
        assert!(job.clean);
    }

    // A block from the rest of the network: clean jobs for everyone.
    let mined: Vec<String> = rpc.call("simnode_mine", "[1]").unwrap();
    assert_eq!(mined.len(), 1);
    let prev = miners[0].job.clone().unwrap().prevhash;
    for m in miners.iter_mut() {
        let job = m.wait_job(|j| j.prevhash != prev);
        assert!(job.clean, "new network block → clean_jobs");
    }
    // Old jobs are stale now.
    let share = miners[0].valid_share();
    let stale = common::miner::Share {
        job_id: block.job_id.clone(),
        ..share
    };
    assert_eq!(error_code(&miners[0].submit(USER, &stale)), Some(21));
}

#[test]
fn restart_keeps_user_stats() {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("pool-e2e");
    let mut pool = PoolProcess::start(&node, &dir.path, r#""stats_interval_secs":1"#);
    let mut m = ready_miner(&pool);
    for _ in 0..3 {
        let share = m.valid_share();
        assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
    }
    drop(m);
    let user_file = dir.path.join("logs/users").join(ADDRESS);
    pool.restart();
    let saved = read_json(&user_file);
    let best = saved["bestever"].cast_f64().unwrap();
    assert!(best > 0.0, "{saved:?}");
    assert!(saved["shares"].cast_f64().unwrap() > 0.0);
    // After the restart the pool writes what it reloaded.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut m = ready_miner(&pool);
    m.request("mining.ping", "[]");
    assert!(wait_until(
        || read_json(&user_file)["bestever"].cast_f64() >= Some(best)
    ));
    assert!(wait_until(|| dir
        .path
        .join("logs/pool/pool.status")
        .exists()));
}

#[test]
fn pool_status_reports_the_round_and_restarts_it_at_a_block() {
    // Network difficulty 1/65536, shares at 1e-6: blocks are easy to find.
    let node = SimNode::start(&["--bits", "1f00ffff"]);
    let dir = TempDir::new("pool-e2e");
    let pool = PoolProcess::start(&node, &dir.path, r#""stats_interval_secs":1"#);
    let mut rpc = node.client();
    let mut m = ready_miner(&pool);
    let status = dir.path.join("logs/pool/pool.status");
    // pool.status's third line: `diff` (the round's work in percent of
    // the network difficulty) and `accepted` (all work since start).
    let third = || {
        let shares = tbg_pool::users::PoolStatus::read(&status)
            .unwrap_or_default()
            .shares;
        (shares.diff, shares.accepted)
    };
    let diff = m.diff;
    let shares = 4.0;
    for _ in 0..4 {
        let share = m.find_share(|h, is_block, job| {
            !is_block && hash_meets(h, &difficulty_to_share_target(job.diff))
        });
        assert_eq!(m.submit(USER, &share)["result"].as_bool(), Some(true));
    }
    assert!(
        wait_until(|| third().1 >= shares * diff),
        "accepted: {:?}",
        third()
    );
    let (before, _) = third();
    let network_diff = 1.0 / 65536.0;
    let expected = shares * diff / network_diff * 100.0;
    assert!(
        (before - expected).abs() < expected * 1e-3,
        "diff {before}, expected {expected}% (network difficulty known)"
    );
    // A block the node takes ends the round: only work after it counts.
    let block = m.find_share(|_, is_block, _| is_block);
    assert_eq!(m.submit(USER, &block)["result"].as_bool(), Some(true));
    assert!(wait_until(|| {
        tbg_pool::bitcoin::hex::encode_display(&rpc.best_block_hash().unwrap()) == block.hash
    }));
    assert!(
        wait_until(|| {
            let (diff_now, accepted) = third();
            accepted >= (shares + 1.0) * diff && diff_now < before / 2.0
        }),
        "round not restarted: {:?} (before the block: {before})",
        third()
    );
}

fn read_json(path: &std::path::Path) -> simd_json::OwnedValue {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    simd_json::to_owned_value(&mut bytes).unwrap()
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}
