//! Known answers from real Bitcoin data: real blocks split into Stratum
//! parts and rebuilt by the pool's own code, witness commitments, BIP34
//! heights, and a real cpuminer session's shares through the validator.

mod common;

use std::sync::Arc;

use tbg_pool::bitcoin::block::{witness_commitment, witness_root, Block, Header};
use tbg_pool::bitcoin::encode::script_push_number;
use tbg_pool::bitcoin::hex;
use tbg_pool::bitcoin::merkle::{coinbase_branch, fold_branch};
use tbg_pool::bitcoin::target::{compact_to_target, hash_meets, U256};
use tbg_pool::bitcoin::Hash32;
use tbg_pool::node::{Template, TemplateTx};
use tbg_pool::share::{MinerJob, RejectReason, SeenShares, Submit};
use tbg_pool::stratum::encode;
use tbg_pool::work::{Coinbase, JobTemplate, Work};

const SEGWIT_BLOCK: &str = "000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae";
const BLOCK_413567: &str = "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069";
const TESTNET_BLOCK: &str = "000000000000045e0b1660b6445b5e5c5ab63c9a4f956be7e1e69be04fa4497b";

fn load(prefix: &str, hash: &str) -> Option<Vec<u8>> {
    common::vector(&format!("{prefix}_block_{hash}.raw"))
}

/// A template equivalent to the one the block was mined from.
fn template_of(block: &Block<'_>) -> Template {
    let h = &block.header;
    Template {
        version: h.version,
        prev_hash: h.prev_hash,
        transactions: block.txs[1..]
            .iter()
            .map(|tx| TemplateTx {
                data: tx.raw.to_vec(),
                txid: tx.txid,
                wtxid: tx.wtxid,
                fee_sats: 0,
            })
            .collect(),
        coinbase_value_sats: block.txs[0].output_value_sats(),
        bits: h.bits,
        target: compact_to_target(h.bits).unwrap(),
        height: 0,
        cur_time: h.time,
        min_time: h.time,
        witness_commitment_script: None,
        rules: vec![],
    }
}

/// Split the real coinbase at `offset` into coinb1 / en1 (4) / en2 (8) /
/// coinb2, build the job with the pool's code, submit the real header's
/// fields, and expect the real block hash — as a block.
fn rebuild_through_stratum(raw: &[u8], display_hash: &str, offset: usize) {
    let block = Block::parse(raw).unwrap();
    let real_header = block.header.serialize();
    assert_eq!(hex::encode_display(&block.header.hash()), display_hash);

    let coinbase = block.txs[0].without_witness();
    let (coinb1, rest) = coinbase.split_at(offset);
    let (en1, rest) = rest.split_at(4);
    let (en2, coinb2) = rest.split_at(8);
    let job_template = Arc::new(JobTemplate::new(1, &template_of(&block)));
    let parts = Coinbase {
        coinb1: coinb1.to_vec(),
        coinb2: coinb2.to_vec(),
        sig_truncated: false,
    };

    // The pool's side: the share validator must see the real block.
    let mut job = MinerJob::new(job_template.clone(), &parts, en1, 8, 1.0);
    let h = &block.header;
    let submit = Submit::parse(
        &hex::encode(en2),
        &format!("{:08x}", h.time),
        &format!("{:08x}", h.nonce),
        None,
        8,
    )
    .unwrap();
    let verdict = job.check(&submit, 0, &mut SeenShares::new(16));
    assert_eq!(verdict.header, real_header);
    assert_eq!(hex::encode_display(&verdict.hash), display_hash);
    assert!(verdict.is_block && verdict.accepted(), "{verdict:?}");

    // The miner's side: only the `mining.notify` line production sends
    // (`Work::new` + `encode::notify`, as `Session::send_work` calls
    // them), parsed as a miner parses it.
    let work = Work::new(job_template.clone(), true);
    let mut line = Vec::new();
    encode::notify(
        &mut line,
        "1",
        &work.prevhash,
        &parts.coinb1,
        &parts.coinb2,
        &work.notify_tail,
        true,
    );
    assert_eq!(
        header_from_notify(line, en1, en2, h.time, h.nonce),
        real_header
    );

    // Block assembly reproduces the real block byte for byte when the
    // template carries the same witness commitment.
    if let Some(wc) = block.txs[0].witness_commitment() {
        let mut t = template_of(&block);
        let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
        script.extend_from_slice(&wc);
        t.witness_commitment_script = Some(script);
        let jt = Arc::new(JobTemplate::new(2, &t));
        let mut job = MinerJob::new(jt, &parts, en1, 8, 1.0);
        let rebuilt = job.block(&submit, &real_header);
        let witness = &block.txs[0].inputs[0].witness;
        if witness.len() == 1 && witness[0] == [0u8; 32] {
            assert_eq!(rebuilt, raw, "assembled block differs from the real one");
        }
        let reparsed = Block::parse(&rebuilt).unwrap();
        assert_eq!(reparsed.computed_merkle_root(), block.header.merkle_root);
    } else {
        let rebuilt = job.block(&submit, &real_header);
        assert_eq!(rebuilt, raw, "assembled block differs from the real one");
    }
}

/// The miner's side of a `mining.notify` line (see
/// `common::header_from_parts`): its JSON parsed, the header rebuilt
/// from the text fields alone.
fn header_from_notify(
    mut line: Vec<u8>,
    en1: &[u8],
    en2: &[u8],
    ntime: u32,
    nonce: u32,
) -> [u8; 80] {
    use simd_json::prelude::*;
    assert_eq!(line.pop(), Some(b'\n'), "one line");
    let v = simd_json::to_owned_value(&mut line).expect("notify is JSON");
    assert_eq!(v["method"].as_str(), Some("mining.notify"));
    let p = v["params"].as_array().expect("params");
    assert_eq!(p.len(), 9, "nine params");
    let text = |i: usize| p[i].as_str().expect("a string param").to_string();
    let branch: Vec<String> = p[4]
        .as_array()
        .expect("merkle branch")
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(p[8].as_bool(), Some(true), "clean_jobs");
    common::header_from_parts(
        &text(2),
        en1,
        en2,
        &text(3),
        &branch,
        &text(1),
        &text(5),
        &text(6),
        ntime,
        nonce,
    )
}

#[test]
fn mainnet_segwit_block_rebuilt_from_stratum_parts() {
    let Some(raw) = load("mainnet", SEGWIT_BLOCK) else {
        return;
    };
    for offset in [42, 50, 60] {
        rebuild_through_stratum(&raw, SEGWIT_BLOCK, offset);
    }
}

#[test]
fn mainnet_block_413567_rebuilt_from_stratum_parts() {
    let Some(raw) = load("mainnet", BLOCK_413567) else {
        return;
    };
    for offset in [42, 47, 55] {
        rebuild_through_stratum(&raw, BLOCK_413567, offset);
    }
}

#[test]
fn testnet_block_rebuilt_from_stratum_parts() {
    let Some(raw) = load("testnet", TESTNET_BLOCK) else {
        return;
    };
    rebuild_through_stratum(&raw, TESTNET_BLOCK, 45);
}

#[test]
fn merkle_branch_and_root_match_real_blocks() {
    for (net, hash) in [
        ("mainnet", SEGWIT_BLOCK),
        ("mainnet", BLOCK_413567),
        ("testnet", TESTNET_BLOCK),
    ] {
        let Some(raw) = load(net, hash) else { continue };
        let block = Block::parse(&raw).unwrap();
        assert_eq!(
            block.computed_merkle_root(),
            block.header.merkle_root,
            "{hash}"
        );
        let others: Vec<Hash32> = block.txs[1..].iter().map(|t| t.txid).collect();
        let root = fold_branch(block.txs[0].txid, &coinbase_branch(&others));
        assert_eq!(root, block.header.merkle_root, "{hash}");
        // Proof of work against the header's own nbits.
        let target = compact_to_target(block.header.bits).unwrap();
        assert!(hash_meets(&block.header.hash(), &target));
        assert!(U256::from_le_bytes(&block.header.hash()) > U256::ZERO);
    }
}

#[test]
fn witness_commitments_reproduced() {
    for (net, hash) in [("mainnet", SEGWIT_BLOCK), ("testnet", TESTNET_BLOCK)] {
        let Some(raw) = load(net, hash) else { continue };
        let block = Block::parse(&raw).unwrap();
        let coinbase = &block.txs[0];
        let committed = coinbase
            .witness_commitment()
            .expect("segwit block has a commitment");
        let reserved: Hash32 = coinbase.inputs[0].witness[0].try_into().unwrap();
        let wtxids: Vec<Hash32> = block.txs[1..].iter().map(|t| t.wtxid).collect();
        assert_eq!(
            witness_commitment(&witness_root(&wtxids), &reserved),
            committed,
            "{hash}"
        );
    }
}

#[test]
fn bip34_height_of_block_413567() {
    let Some(raw) = load("mainnet", BLOCK_413567) else {
        return;
    };
    let block = Block::parse(&raw).unwrap();
    assert_eq!(block.txs.len(), 1557);
    let mut push = Vec::new();
    script_push_number(&mut push, 413_567);
    assert!(block.txs[0].inputs[0].script_sig.starts_with(&push));
    assert!(block.txs.iter().all(|t| !t.has_witness), "pre-segwit block");
}

#[test]
fn segwit_block_shape() {
    let Some(raw) = load("mainnet", SEGWIT_BLOCK) else {
        return;
    };
    let block = Block::parse(&raw).unwrap();
    assert_eq!(block.txs.len(), 2500);
    assert!(block.txs[0].is_coinbase());
    assert!(block.txs[1..].iter().all(|t| !t.is_coinbase()));
    let header = Header::parse(raw[..80].try_into().unwrap());
    assert_eq!(header.serialize()[..], raw[..80]);
}

/// The real cpuminer session: every share accepted at the job's
/// difficulty, with the header and hash cpuminer implied; each rejected
/// as low difficulty just above its own share difficulty.
#[test]
fn cpuminer_shares_validate() {
    let Some(mut json) = common::vector("cpuminer-shares.json") else {
        return;
    };
    let v = simd_json::to_owned_value(&mut json).unwrap();
    use simd_json::prelude::*;
    let en1 = hex::decode(v["extranonce1"].as_str().unwrap()).unwrap();
    let en2_len = v["extranonce2_size"].as_usize().unwrap();
    let job = &v["jobs"]["job1"];
    let p = job["params"].as_array().unwrap();
    let s = |i: usize| p[i].as_str().unwrap();
    let diff = job["difficulty"].as_f64().unwrap();
    let prevhash = hex::decode(s(1)).unwrap();
    let prev: Vec<u8> = prevhash
        .chunks(4)
        .flat_map(|w| w.iter().rev().copied())
        .collect();
    let branch: Vec<Hash32> = p[4]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode32(h.as_str().unwrap()).unwrap())
        .collect();
    let bits = u32::from_str_radix(s(6), 16).unwrap();
    let ntime = u32::from_str_radix(s(7), 16).unwrap();
    let template = Template {
        version: u32::from_str_radix(s(5), 16).unwrap(),
        prev_hash: prev.try_into().unwrap(),
        transactions: vec![],
        coinbase_value_sats: 50_0000_0000,
        bits,
        target: compact_to_target(bits).unwrap(),
        height: 100_000,
        cur_time: ntime,
        min_time: ntime,
        witness_commitment_script: None,
        rules: vec![],
    };
    let mut jt = JobTemplate::new(1, &template);
    jt.merkle_branch = branch;
    let parts = Coinbase {
        coinb1: hex::decode(s(2)).unwrap(),
        coinb2: hex::decode(s(3)).unwrap(),
        sig_truncated: false,
    };
    let jt = Arc::new(jt);
    let mut job = MinerJob::new(jt.clone(), &parts, &en1, en2_len, diff);
    let mut seen = SeenShares::new(64);
    let shares = v["shares"].as_array().unwrap();
    assert_eq!(shares.len(), 40);
    for share in shares {
        let sub = share["submit"].as_array().unwrap();
        let f = |i: usize| sub[i].as_str().unwrap();
        let submit = Submit::parse(f(2), f(3), f(4), None, en2_len).unwrap();
        let verdict = job.check(&submit, 0, &mut seen);
        assert!(verdict.accepted(), "{verdict:?}");
        assert!(!verdict.is_block);
        assert_eq!(
            hex::encode(&verdict.header),
            share["header_hex"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode_display(&verdict.hash),
            share["hash"].as_str().unwrap()
        );
        let sdiff = share["share_difficulty"].as_f64().unwrap();
        assert!((verdict.share_diff / sdiff - 1.0).abs() < 1e-9);

        // Resubmitted: a duplicate.
        let again = job.check(&submit, 0, &mut seen);
        assert_eq!(again.reject, Some(RejectReason::Duplicate));
        // At a difficulty just above what it achieved: too low.
        let mut harder = MinerJob::new(jt.clone(), &parts, &en1, en2_len, sdiff * 1.000_001);
        let low = harder.check(&submit, 0, &mut SeenShares::new(4));
        assert_eq!(low.reject, Some(RejectReason::LowDifficulty));
        // Exactly at what it achieved: accepted (no rounding loss).
        let mut exact = MinerJob::new(jt.clone(), &parts, &en1, en2_len, sdiff);
        assert!(exact.check(&submit, 0, &mut SeenShares::new(4)).accepted());
    }
}
