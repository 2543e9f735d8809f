//! Firmware as it really speaks Stratum, from its public source: each
//! quirk a real miner has, mined against a real pool process.

mod common;

use common::miner::{error_code, Miner};
use common::{PoolProcess, SimNode, TempDir};
use simd_json::prelude::*;

const USER: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.nerd";

fn start() -> (SimNode, TempDir, PoolProcess) {
    let node = SimNode::start(&["--bits", "1d00ffff"]);
    let dir = TempDir::new("firmware");
    let pool = PoolProcess::start(&node, &dir.path, "");
    (node, dir, pool)
}

#[test]
fn nerdminer_unpadded_uppercase_nonce_is_accepted() {
    let (_node, _dir, pool) = start();
    let mut m = Miner::connect(&pool.addr);
    let reply = m.request("mining.subscribe", r#"["NerdMinerV2"]"#);
    m.extranonce1 = tbg_pool::bitcoin::hex::decode(reply["result"][1].as_str().unwrap()).unwrap();
    m.extranonce2_len = reply["result"][2].as_usize().unwrap();
    assert_eq!(m.authorize(USER)["result"].as_bool(), Some(true));
    m.wait_job(|_| true);
    // Nonces are searched from 0, so this one is far below 0x10000000:
    // NerdMiner v2 writes it as String(nonce, HEX), e.g. "56AFB".
    let share = m.valid_share();
    let nonce = u32::from_str_radix(&share.nonce, 16).unwrap();
    assert!(nonce < 0x1000_0000);
    let nerd = common::miner::Share {
        nonce: format!("{nonce:X}"),
        ntime: share.ntime.to_uppercase(),
        ..share.clone()
    };
    let reply = m.submit(USER, &nerd);
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    // The same share padded and lowercase is the same header: a duplicate.
    assert_eq!(error_code(&m.submit(USER, &share)), Some(22));
}

#[test]
fn esp_miner_pong_request_gets_no_reply() {
    let (_node, _dir, pool) = start();
    let mut m = Miner::connect(&pool.addr);
    m.send_raw(r#"{"id":5,"method":"pong","params":[]}"#);
    let reply = m.request("mining.ping", "[]");
    assert_eq!(reply["result"].as_str(), Some("pong"));
    assert!(m.notifications.is_empty(), "{:?}", m.notifications);
}

#[test]
fn version_bits_without_configure_within_the_pool_mask() {
    let (_node, _dir, pool) = start();
    let mut m = Miner::connect(&pool.addr);
    m.subscribe();
    assert_eq!(m.authorize(USER)["result"].as_bool(), Some(true));
    let mut job = m.wait_job(|_| true);
    let version = u32::from_str_radix(&job.version, 16).unwrap();
    job.version = format!("{:08x}", version | 0x0000_2000);
    m.job = Some(job);
    let share = m.valid_share();
    let reply = m.request(
        "mining.submit",
        &format!(
            r#"["{USER}", "{}", "{}", "{}", "{}", "00002000"]"#,
            share.job_id, share.extranonce2, share.ntime, share.nonce
        ),
    );
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    // Outside the pool's mask (1fffe000): refused.
    let reply = m.request(
        "mining.submit",
        &format!(
            r#"["{USER}", "{}", "{}", "{}", "{}", "00000001"]"#,
            share.job_id, share.extranonce2, share.ntime, share.nonce
        ),
    );
    assert_eq!(error_code(&reply), Some(20), "{reply:?}");
}
