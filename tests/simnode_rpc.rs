//! `tbg-simnode` end to end: start the binary, speak raw HTTP/JSON-RPC to
//! it, and check it answers in bitcoind's shapes: templates, block
//! submission verdicts, chain queries, errors, authentication.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use simd_json::prelude::*;
use simd_json::OwnedValue;
use tbg_pool::bitcoin::block::{witness_commitment_script, witness_root, Block, Header, Tx};
use tbg_pool::bitcoin::encode::{script_push_data, script_push_number, write_compact_size};
use tbg_pool::bitcoin::merkle::merkle_root;
use tbg_pool::bitcoin::target::{compact_to_target, hash_meets};
use tbg_pool::bitcoin::{hex, sha256d, Hash32};
use tbg_pool::node::rpc::base64;

/// Socket timeout for every exchange with the node.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Synthetic mempool size the tests run with.
const MEMPOOL_TXS: usize = 20;
/// The keys of a real bitcoind GBT result (shared/vectors).
const GBT_KEYS: [&str; 21] = [
    "capabilities",
    "version",
    "rules",
    "vbavailable",
    "vbrequired",
    "previousblockhash",
    "transactions",
    "coinbaseaux",
    "coinbasevalue",
    "longpollid",
    "target",
    "mintime",
    "mutable",
    "noncerange",
    "sigoplimit",
    "sizelimit",
    "weightlimit",
    "curtime",
    "bits",
    "height",
    "default_witness_commitment",
];

// ---------------------------------------------------------------- harness

/// A running `tbg-simnode` (killed when dropped) with raw HTTP helpers.
struct SimNode(common::SimNode);

impl SimNode {
    fn start(extra: &[&str]) -> SimNode {
        let mempool = MEMPOOL_TXS.to_string();
        let mut args = vec!["--seed", "7", "--mempool-txs", &mempool];
        args.extend_from_slice(extra);
        SimNode(common::SimNode::start(&args))
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.0.addr).expect("connect to simnode");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
    }

    /// POST `body` on a fresh connection; (status, body).
    fn post(&self, authorization: Option<&str>, body: &str) -> (u16, String) {
        let mut stream = self.connect();
        let auth = authorization
            .map(|a| format!("Authorization: Basic {a}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.0.addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        read_response(&mut reader)
    }

    /// A JSON-RPC 1.0 call as tbg:tbg; (HTTP status, parsed reply).
    fn call(&self, method: &str, params: &str) -> (u16, OwnedValue) {
        let body = format!(r#"{{"jsonrpc":"1.0","id":"t","method":"{method}","params":{params}}}"#);
        let (status, text) = self.post(Some(&base64(b"tbg:tbg")), &body);
        (status, parse(&text))
    }

    /// The result of a call that must succeed.
    fn result(&self, method: &str, params: &str) -> OwnedValue {
        let (status, reply) = self.call(method, params);
        assert_eq!(status, 200, "{method}: {reply:?}");
        assert!(
            reply.get("error").is_some_and(|e| e.is_null()),
            "{method}: {reply:?}"
        );
        reply.get("result").cloned().expect("result member")
    }

    /// The (code, message) of a call that must fail.
    fn error(&self, method: &str, params: &str) -> (i64, String) {
        let (_, reply) = self.call(method, params);
        let error = reply.get("error").expect("error member");
        assert!(reply.get("result").is_some_and(|r| r.is_null()));
        let code = error.get_i64("code").expect("error code");
        (
            code,
            error.get_str("message").unwrap_or_default().to_string(),
        )
    }

    fn best(&self) -> String {
        self.result("getbestblockhash", "[]")
            .as_str()
            .unwrap()
            .to_string()
    }

    /// submitblock's result: None for null (accepted), else the reason.
    fn submit(&self, block: &[u8]) -> Option<String> {
        let result = self.result("submitblock", &format!(r#"["{}"]"#, hex::encode(block)));
        result.as_str().map(str::to_string)
    }
}

/// Read one HTTP response (status line, headers, Content-Length body).
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .expect("status")
        .parse()
        .unwrap();
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn parse(text: &str) -> OwnedValue {
    let mut bytes = text.as_bytes().to_vec();
    simd_json::to_owned_value(&mut bytes).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}"))
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

// ------------------------------------------------- blocks from templates

/// What a miner takes from a template.
struct Template {
    prev: Hash32,
    height: u32,
    bits: u32,
    curtime: u32,
    mintime: u32,
    value: u64,
    txs: Vec<Vec<u8>>,
    has_witness_txs: bool,
}

fn template(node: &SimNode) -> Template {
    let gbt = node.result("getblocktemplate", r#"[{"rules":["segwit"]}]"#);
    let txs: Vec<Vec<u8>> = gbt
        .get_array("transactions")
        .unwrap()
        .iter()
        .map(|t| hex::decode(t.get_str("data").unwrap()).unwrap())
        .collect();
    let has_witness_txs = txs.iter().any(|t| Tx::parse_exact(t).unwrap().has_witness);
    Template {
        prev: hex::decode_display(gbt.get_str("previousblockhash").unwrap()).unwrap(),
        height: gbt.get_u64("height").unwrap() as u32,
        bits: u32::from_str_radix(gbt.get_str("bits").unwrap(), 16).unwrap(),
        curtime: gbt.get_u64("curtime").unwrap() as u32,
        mintime: gbt.get_u64("mintime").unwrap() as u32,
        value: gbt.get_u64("coinbasevalue").unwrap(),
        txs,
        has_witness_txs,
    }
}

/// One way to spoil a block built from a template (or none).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spoil {
    None,
    Prev(Hash32),
    Bits(u32),
    Time(u32),
    HighHash,
    BadMerkle,
    Height(u32),
    ScriptSigLen(usize),
    ExtraSats(u64),
    NoCommitment,
    BadCommitment,
    ReservedLen(usize),
    /// A commitment but no coinbase witness at all (as ckpool sends).
    NoWitness,
    ForeignTx,
}

/// A coinbase paying OP_TRUE: (serialization, txid).
fn coinbase(t: &Template, spoil: Spoil) -> (Vec<u8>, Hash32) {
    let height = match spoil {
        Spoil::Height(h) => h,
        _ => t.height,
    };
    let mut script_sig = Vec::new();
    script_push_number(&mut script_sig, i64::from(height));
    script_push_data(&mut script_sig, b"simnode-test");
    if let Spoil::ScriptSigLen(len) = spoil {
        script_sig.resize(len, 0x51);
    }
    let wtxids: Vec<Hash32> = block_txs(t, spoil)
        .iter()
        .map(|d| Tx::parse_exact(d).unwrap().wtxid)
        .collect();
    let mut commitment = witness_commitment_script(&witness_root(&wtxids));
    if spoil == Spoil::BadCommitment {
        commitment[10] ^= 1;
    }
    let extra = match spoil {
        Spoil::ExtraSats(n) => n,
        _ => 0,
    };
    let mut outputs: Vec<(u64, Vec<u8>)> = vec![(t.value + extra, vec![0x51])];
    let mut reserved = None;
    if spoil != Spoil::NoCommitment {
        outputs.push((0, commitment));
        reserved = match spoil {
            Spoil::NoWitness => None,
            Spoil::ReservedLen(n) => Some(vec![0u8; n]),
            _ => Some(vec![0u8; 32]),
        };
    }
    let txid = sha256d(&serialize_coinbase(&script_sig, &outputs, None));
    (
        serialize_coinbase(&script_sig, &outputs, reserved.as_deref()),
        txid,
    )
}

/// A coinbase serialization; with a witness (BIP144) when `reserved`.
fn serialize_coinbase(
    script_sig: &[u8],
    outputs: &[(u64, Vec<u8>)],
    reserved: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = 2u32.to_le_bytes().to_vec();
    if reserved.is_some() {
        out.extend_from_slice(&[0, 1]);
    }
    out.push(1);
    out.extend_from_slice(&[0u8; 32]);
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    write_compact_size(&mut out, script_sig.len() as u64);
    out.extend_from_slice(script_sig);
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    write_compact_size(&mut out, outputs.len() as u64);
    for (value, script) in outputs {
        out.extend_from_slice(&value.to_le_bytes());
        write_compact_size(&mut out, script.len() as u64);
        out.extend_from_slice(script);
    }
    if let Some(item) = reserved {
        out.push(1);
        write_compact_size(&mut out, item.len() as u64);
        out.extend_from_slice(item);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

fn block_txs(t: &Template, spoil: Spoil) -> Vec<Vec<u8>> {
    let mut txs = t.txs.clone();
    if spoil == Spoil::ForeignTx {
        // A changed lock time makes a transaction the mempool never saw.
        let first = txs.first_mut().expect("template has transactions");
        let last = first.len() - 1;
        first[last] ^= 1;
    }
    txs
}

/// A block on the template's parent; PoW met unless `Spoil::HighHash`.
fn build_block(t: &Template, spoil: Spoil) -> (Vec<u8>, Hash32) {
    let (cb, cb_txid) = coinbase(t, spoil);
    let txs = block_txs(t, spoil);
    let mut txids = vec![cb_txid];
    txids.extend(txs.iter().map(|d| Tx::parse_exact(d).unwrap().txid));
    let mut header = Header {
        version: 0x2000_0000,
        prev_hash: t.prev,
        merkle_root: merkle_root(&txids),
        time: t.curtime,
        bits: t.bits,
        nonce: 0,
    };
    match spoil {
        Spoil::Prev(hash) => header.prev_hash = hash,
        Spoil::Bits(bits) => header.bits = bits,
        Spoil::Time(time) => header.time = time,
        Spoil::BadMerkle => header.merkle_root[0] ^= 1,
        _ => {}
    }
    let target = compact_to_target(t.bits).unwrap();
    while hash_meets(&header.hash(), &target) == (spoil == Spoil::HighHash) {
        header.nonce += 1;
    }
    let mut raw = header.serialize().to_vec();
    write_compact_size(&mut raw, txids.len() as u64);
    raw.extend_from_slice(&cb);
    for tx in &txs {
        raw.extend_from_slice(tx);
    }
    (raw, header.hash())
}

// ------------------------------------------------------------------ tests

#[test]
fn template_has_bitcoind_shape() {
    let node = SimNode::start(&[]);
    let gbt = node.result("getblocktemplate", r#"[{"rules":["segwit"]}]"#);
    let object = gbt.as_object().unwrap();
    for key in GBT_KEYS {
        assert!(object.contains_key(key), "missing {key}");
    }
    assert_eq!(object.len(), GBT_KEYS.len());
    if let Some(bytes) = common::vector("bitcoind-regtest-getblocktemplate.json") {
        let real = parse(std::str::from_utf8(&bytes).unwrap());
        let real_keys: std::collections::BTreeSet<&str> = real
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(real_keys, GBT_KEYS.iter().copied().collect());
        for same in [
            "capabilities",
            "version",
            "rules",
            "mutable",
            "noncerange",
            "target",
            "bits",
        ] {
            assert_eq!(gbt.get(same), real.get(same), "{same}");
        }
    }
    assert_eq!(gbt.get_u64("height"), Some(101));
    assert!(gbt.get_u64("mintime").unwrap() <= gbt.get_u64("curtime").unwrap());
    let txs = gbt.get_array("transactions").unwrap();
    assert_eq!(txs.len(), MEMPOOL_TXS);
    let mut fees = 0;
    for tx in txs {
        for key in ["data", "txid", "hash", "depends", "fee", "sigops", "weight"] {
            assert!(tx.get(key).is_some(), "tx lacks {key}");
        }
        let data = hex::decode(tx.get_str("data").unwrap()).unwrap();
        let parsed = Tx::parse_exact(&data).unwrap();
        assert_eq!(
            tx.get_str("txid").unwrap(),
            hex::encode_display(&parsed.txid)
        );
        assert_eq!(
            tx.get_str("hash").unwrap(),
            hex::encode_display(&parsed.wtxid)
        );
        fees += tx.get_u64("fee").unwrap();
    }
    assert!(
        txs.iter().any(|t| t.get_str("txid") != t.get_str("hash")),
        "no segwit tx"
    );
    assert_eq!(gbt.get_u64("coinbasevalue"), Some(5_000_000_000 + fees));
    // ckpool's request shape works too.
    let ck = r#"[{"capabilities":["coinbasetxn","workid","coinbase/append"],"rules":["segwit"]}]"#;
    assert_eq!(
        node.result("getblocktemplate", ck).get_u64("height"),
        Some(101)
    );
}

#[test]
fn signet_template_requires_the_signet_rule_as_core_words_it() {
    let node = SimNode::start(&["--chain", "signet"]);
    assert_eq!(
        node.error("getblocktemplate", r#"[{"rules":["segwit"]}]"#),
        (
            -8,
            r#"getblocktemplate must be called with the signet rule set (call with {"rules": ["segwit", "signet"]})"#
                .to_string()
        )
    );
    let ok = node.result("getblocktemplate", r#"[{"rules":["segwit","signet"]}]"#);
    assert!(ok.get_u64("height").is_some());
}

#[test]
fn template_requires_the_segwit_rule() {
    let node = SimNode::start(&[]);
    let want = (
        -8,
        r#"getblocktemplate must be called with the segwit rule set (call with {"rules": ["segwit"]})"#
            .to_string(),
    );
    assert_eq!(node.error("getblocktemplate", "[]"), want);
    assert_eq!(
        node.error("getblocktemplate", r#"[{"rules":["csv"]}]"#),
        want
    );
    let (status, _) = node.call("getblocktemplate", "[{}]");
    assert_eq!(status, 500);
}

#[test]
fn default_witness_commitment_is_recomputable() {
    let node = SimNode::start(&[]);
    let gbt = node.result("getblocktemplate", r#"[{"rules":["segwit"]}]"#);
    let wtxids: Vec<Hash32> = gbt
        .get_array("transactions")
        .unwrap()
        .iter()
        .map(|t| hex::decode_display(t.get_str("hash").unwrap()).unwrap())
        .collect();
    let want = hex::encode(&witness_commitment_script(&witness_root(&wtxids)));
    assert_eq!(
        gbt.get_str("default_witness_commitment"),
        Some(want.as_str())
    );
}

#[test]
fn authentication_is_required() {
    let dir = std::env::temp_dir().join(format!("tbg-simnode-cookie-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cookie_path = dir.join("cookie");
    let node = SimNode::start(&["--cookie-file", cookie_path.to_str().unwrap()]);
    let body = r#"{"id":1,"method":"getblockcount","params":[]}"#;
    assert_eq!(node.post(None, body).0, 401);
    assert_eq!(node.post(Some(&base64(b"tbg:wrong")), body).0, 401);
    assert_eq!(node.post(Some(&base64(b"tbg:tbg")), body).0, 200);
    let cookie = std::fs::read_to_string(&cookie_path).unwrap();
    assert!(cookie.starts_with("__cookie__:"));
    let (status, reply) = node.post(Some(&base64(cookie.trim().as_bytes())), body);
    assert_eq!((status, parse(&reply).get_u64("result")), (200, Some(100)));
    drop(node);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn errors_have_bitcoind_shape() {
    let node = SimNode::start(&[]);
    let (status, body) = node.post(
        Some(&base64(b"tbg:tbg")),
        r#"{"jsonrpc":"1.0","id":"t","method":"nosuchmethod","params":[]}"#,
    );
    assert_eq!(status, 404);
    assert_eq!(
        body.trim_end(),
        r#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":"t"}"#
    );
    let decode_failed = (-22, "Block decode failed".to_string());
    assert_eq!(node.error("submitblock", r#"["zz"]"#), decode_failed);
    assert_eq!(node.error("submitblock", r#"["00112233"]"#), decode_failed);
    assert_eq!(node.error("getblockhash", "[100000]").0, -8);
    assert_eq!(node.error("getblockheader", r#"["00"]"#).0, -8);
    assert_eq!(node.error("getblockhash", r#"["x"]"#).0, -3);
    let (status, body) = node.post(Some(&base64(b"tbg:tbg")), "{not json");
    assert_eq!(status, 500);
    assert_eq!(
        parse(&body).get("error").and_then(|e| e.get_i64("code")),
        Some(-32700)
    );
}

#[test]
fn simnode_mine_advances_the_tip() {
    let node = SimNode::start(&[]);
    let before = template(&node);
    assert_eq!(node.result("getblockcount", "[]").as_u64(), Some(100));
    let mined = node.result("simnode_mine", "[3]");
    let hashes: Vec<String> = mined
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert_eq!(hashes.len(), 3);
    assert_eq!(node.result("getblockcount", "[]").as_u64(), Some(103));
    assert_eq!(node.best(), hashes[2]);
    assert_eq!(
        node.result("getblockhash", "[103]").as_str(),
        Some(hashes[2].as_str())
    );
    let header = node.result("getblockheader", &format!(r#"["{}"]"#, hashes[2]));
    assert_eq!(
        header.get_str("previousblockhash"),
        Some(hashes[1].as_str())
    );
    assert_eq!(header.get_u64("height"), Some(103));
    let after = template(&node);
    assert_eq!(hex::encode_display(&after.prev), hashes[2]);
    assert_eq!(after.height, 104);
    assert_eq!(after.txs.len(), MEMPOOL_TXS, "mempool refilled");
    assert_ne!(
        after.txs, before.txs,
        "confirmed transactions left the template"
    );
    let info = node.result("getblockchaininfo", "[]");
    assert_eq!(info.get_str("chain"), Some("regtest"));
    assert_eq!(info.get_u64("blocks"), Some(103));
}

#[test]
fn network_block_resubmitted_is_duplicate() {
    let node = SimNode::start(&[]);
    let mined = node.result("simnode_mine", "[1]");
    let hash = mined.as_array().unwrap()[0].as_str().unwrap().to_string();
    let raw = node.result("getblock", &format!(r#"["{hash}", 0]"#));
    let raw = hex::decode(raw.as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode_display(&Block::parse(&raw).unwrap().header.hash()),
        hash
    );
    assert_eq!(node.submit(&raw).as_deref(), Some("duplicate"));
}

#[test]
fn block_from_template_is_accepted() {
    let node = SimNode::start(&[]);
    let t = template(&node);
    assert!(t.has_witness_txs);
    let (block, hash) = build_block(&t, Spoil::None);
    assert_eq!(node.submit(&block), None);
    assert_eq!(node.best(), hex::encode_display(&hash));
    assert_eq!(node.result("getblockcount", "[]").as_u64(), Some(101));
    assert_eq!(node.submit(&block).as_deref(), Some("duplicate"));
    let next = template(&node);
    assert_eq!(next.height, 102);
    assert!(
        next.txs.iter().all(|tx| !t.txs.contains(tx)),
        "confirmed txs are gone"
    );
}

#[test]
fn stale_block_is_inconclusive() {
    let node = SimNode::start(&[]);
    let t = template(&node);
    let (block, _) = build_block(&t, Spoil::None);
    let mined = node.result("simnode_mine", "[1]");
    let tip = mined.as_array().unwrap()[0].as_str().unwrap().to_string();
    assert_eq!(node.submit(&block).as_deref(), Some("inconclusive"));
    // As Bitcoin Core v31 answered (seen with tools/real-node on signet).
    assert_eq!(node.submit(&block).as_deref(), Some("duplicate"));
    assert_eq!(node.best(), tip, "no reorg");
}

#[test]
fn bad_blocks_get_bitcoind_reasons() {
    let node = SimNode::start(&[]);
    let t = template(&node);
    let cases = [
        ("prev-blk-not-found", Spoil::Prev([7; 32])),
        ("bad-diffbits", Spoil::Bits(0x1d00_ffff)),
        ("high-hash", Spoil::HighHash),
        ("bad-txnmrklroot", Spoil::BadMerkle),
        ("time-too-old", Spoil::Time(t.mintime - 1)),
        ("time-too-new", Spoil::Time(now() + 3 * 3600)),
        ("bad-cb-length", Spoil::ScriptSigLen(101)),
        ("bad-cb-height", Spoil::Height(t.height + 1)),
        ("bad-txns-inputs-missingorspent", Spoil::ForeignTx),
        ("bad-cb-amount", Spoil::ExtraSats(1)),
        ("bad-witness-nonce-size", Spoil::ReservedLen(31)),
        ("bad-witness-merkle-match", Spoil::BadCommitment),
        ("unexpected-witness", Spoil::NoCommitment),
    ];
    let tip = node.best();
    for (want, spoil) in cases {
        let (block, _) = build_block(&t, spoil);
        assert_eq!(node.submit(&block).as_deref(), Some(want), "{spoil:?}");
    }
    assert_eq!(node.best(), tip);
    // The unspoilt block is still good after all that.
    assert_eq!(node.submit(&build_block(&t, Spoil::None).0), None);
}

#[test]
fn commitment_without_coinbase_witness_gets_default_reserved_value() {
    let node = SimNode::start(&[]);
    let t = template(&node);
    assert!(t.has_witness_txs);
    // A witness of the wrong shape is kept, and refused.
    for len in [0, 31, 33] {
        let (block, _) = build_block(&t, Spoil::ReservedLen(len));
        let reason = node.submit(&block);
        assert_eq!(reason.as_deref(), Some("bad-witness-nonce-size"), "{len}");
    }
    // No witness at all: bitcoind adds the default reserved value.
    let (block, hash) = build_block(&t, Spoil::NoWitness);
    assert!(Block::parse(&block).unwrap().txs[0].inputs[0]
        .witness
        .is_empty());
    assert_eq!(node.submit(&block), None);
    assert_eq!(node.best(), hex::encode_display(&hash));
    // The block kept is the one with the reserved value in the coinbase.
    let (completed, same_hash) = build_block(&t, Spoil::None);
    assert_eq!(same_hash, hash);
    let shown = hex::encode_display(&hash);
    let stored = node.result("getblock", &format!(r#"["{shown}", 0]"#));
    assert_eq!(stored.as_str(), Some(hex::encode(&completed).as_str()));
    let summary = node.result("getblock", &format!(r#"["{shown}", 1]"#));
    assert_eq!(summary.get_u64("size"), Some(completed.len() as u64));
    assert_eq!(node.submit(&block).as_deref(), Some("duplicate"));
}

/// `decoderawtransaction` of `tx`, checked against the crate's parse for
/// the members every transaction has; returns the result.
fn decode_and_check(node: &SimNode, tx: &[u8]) -> OwnedValue {
    let parsed = Tx::parse_exact(tx).unwrap();
    let decoded = node.result(
        "decoderawtransaction",
        &format!(r#"["{}"]"#, hex::encode(tx)),
    );
    let txid = hex::encode_display(&parsed.txid);
    assert_eq!(decoded.get_str("txid"), Some(txid.as_str()));
    let wtxid = hex::encode_display(&parsed.wtxid);
    assert_eq!(decoded.get_str("hash"), Some(wtxid.as_str()));
    assert_eq!(decoded.get_u64("version"), Some(u64::from(parsed.version)));
    assert_eq!(decoded.get_u64("size"), Some(tx.len() as u64));
    let base = parsed.without_witness().len() as u64;
    let weight = base * 3 + tx.len() as u64;
    assert_eq!(decoded.get_u64("weight"), Some(weight));
    assert_eq!(decoded.get_u64("vsize"), Some(weight.div_ceil(4)));
    assert_eq!(
        decoded.get_u64("locktime"),
        Some(u64::from(parsed.lock_time))
    );
    let vin = decoded.get_array("vin").unwrap();
    assert_eq!(vin.len(), parsed.inputs.len());
    for (entry, input) in vin.iter().zip(&parsed.inputs) {
        assert_eq!(entry.get_u64("sequence"), Some(u64::from(input.sequence)));
        let witness: Option<Vec<String>> = entry.get_array("txinwitness").map(|items| {
            items
                .iter()
                .map(|i| i.as_str().unwrap().to_string())
                .collect()
        });
        let want: Vec<String> = input.witness.iter().map(|w| hex::encode(w)).collect();
        assert_eq!(witness.unwrap_or_default(), want);
    }
    let vout = decoded.get_array("vout").unwrap();
    assert_eq!(vout.len(), parsed.outputs.len());
    for (n, (entry, output)) in vout.iter().zip(&parsed.outputs).enumerate() {
        assert_eq!(entry.get_u64("n"), Some(n as u64));
        let value = entry.get("value").and_then(|v| v.as_f64()).unwrap();
        assert!((value * 1e8 - output.value_sats as f64).abs() < 0.5);
        let script = entry.get("scriptPubKey").unwrap();
        let hex_script = hex::encode(output.script_pubkey);
        assert_eq!(script.get_str("hex"), Some(hex_script.as_str()));
    }
    decoded
}

#[test]
fn decoderawtransaction_has_bitcoind_shape() {
    let node = SimNode::start(&[]);
    let t = template(&node);
    // A mempool transaction with witness data.
    let spend = t
        .txs
        .iter()
        .find(|tx| Tx::parse_exact(tx).unwrap().has_witness)
        .expect("a witness transaction");
    let decoded = decode_and_check(&node, spend);
    let input = &decoded.get_array("vin").unwrap()[0];
    assert!(input.get("coinbase").is_none());
    let parsed = Tx::parse_exact(spend).unwrap();
    let prev = hex::encode_display(&parsed.inputs[0].prev_txid);
    assert_eq!(input.get_str("txid"), Some(prev.as_str()));
    assert_eq!(
        input.get_u64("vout"),
        Some(u64::from(parsed.inputs[0].prev_vout))
    );
    let script_sig = input.get("scriptSig").and_then(|s| s.get_str("hex"));
    assert_eq!(
        script_sig,
        Some(hex::encode(parsed.inputs[0].script_sig).as_str())
    );
    // Coinbases as ckpool checks them: with and without the witness.
    for spoil in [Spoil::None, Spoil::NoWitness] {
        let (cb, _) = coinbase(&t, spoil);
        let decoded = decode_and_check(&node, &cb);
        let input = &decoded.get_array("vin").unwrap()[0];
        let script_sig = hex::encode(Tx::parse_exact(&cb).unwrap().inputs[0].script_sig);
        assert_eq!(input.get_str("coinbase"), Some(script_sig.as_str()));
        assert!(input.get("txid").is_none() && input.get("scriptSig").is_none());
        let types: Vec<&str> = decoded
            .get_array("vout")
            .unwrap()
            .iter()
            .map(|o| {
                o.get("scriptPubKey")
                    .and_then(|s| s.get_str("type"))
                    .unwrap()
            })
            .collect();
        assert_eq!(types, ["nonstandard", "nulldata"]);
    }
    // Amounts are printed with eight decimals, as bitcoind does.
    let (cb, _) = coinbase(&t, Spoil::NoWitness);
    let body = format!(
        r#"{{"jsonrpc":"1.0","id":"t","method":"decoderawtransaction","params":["{}"]}}"#,
        hex::encode(&cb)
    );
    let (_, text) = node.post(Some(&base64(b"tbg:tbg")), &body);
    assert!(text.contains(r#""value":0.00000000,"n":1"#), "{text}");
    let decode_failed = (-22, "TX decode failed".to_string());
    for bad in ["zz", "00", "", &hex::encode(&cb[..cb.len() - 1])] {
        let params = format!(r#"["{bad}"]"#);
        assert_eq!(node.error("decoderawtransaction", &params), decode_failed);
    }
    let witness_params = format!(r#"["{}", false]"#, hex::encode(spend));
    assert_eq!(
        node.error("decoderawtransaction", &witness_params),
        decode_failed
    );
}

#[test]
fn keep_alive_batches_and_bare_lf_clients() {
    let node = SimNode::start(&[]);
    let mut stream = node.connect();
    let auth = base64(b"tbg:tbg");
    let body = r#"{"method": "getblockcount", "params": [], "id": 1}"#;
    // ckpool's style: bare LF line ends, several requests on one socket.
    let request = format!(
        "POST / HTTP/1.1\nAuthorization: Basic {auth}\nHost: x\nContent-type: application/json\nContent-Length: {}\n\n{body}",
        body.len()
    );
    let batch = r#"[{"id":1,"method":"getblockcount"},{"jsonrpc":"2.0","id":2,"method":"getbestblockhash"}]"#;
    let batch_request = format!(
        "POST / HTTP/1.1\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\n\r\n{batch}",
        batch.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(batch_request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    for _ in 0..2 {
        let (status, reply) = read_response(&mut reader);
        assert_eq!(status, 200);
        assert!(reply.ends_with('\n'), "one JSON line, as bitcoind");
        assert_eq!(parse(&reply).get_u64("result"), Some(100));
    }
    let (status, reply) = read_response(&mut reader);
    assert_eq!(status, 200);
    let replies = parse(&reply);
    let replies = replies.as_array().unwrap();
    assert_eq!(replies[0].get_u64("result"), Some(100));
    assert_eq!(replies[1].get_str("jsonrpc"), Some("2.0"));
    assert_eq!(replies[1].get_str("result").map(str::len), Some(64));
}

#[test]
fn validateaddress_uses_the_node_network() {
    let node = SimNode::start(&[]);
    let ok = node.result(
        "validateaddress",
        r#"["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"]"#,
    );
    assert_eq!(ok.get_bool("isvalid"), Some(true));
    assert_eq!(
        ok.get_str("scriptPubKey"),
        Some("0014751e76e8199196d454941c45d1b3a323f1433bd6")
    );
    assert_eq!(
        (ok.get_bool("isscript"), ok.get_bool("iswitness")),
        (Some(false), Some(true))
    );
    let mainnet = node.result(
        "validateaddress",
        r#"["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]"#,
    );
    assert_eq!(mainnet.get_bool("isvalid"), Some(false));
    let mined = node.result(
        "generatetoaddress",
        r#"[1, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"]"#,
    );
    let hash = mined.as_array().unwrap()[0].as_str().unwrap().to_string();
    let raw = node.result("getblock", &format!(r#"["{hash}", 0]"#));
    let raw = hex::decode(raw.as_str().unwrap()).unwrap();
    let block = Block::parse(&raw).unwrap();
    assert_eq!(
        hex::encode(block.txs[0].outputs[0].script_pubkey),
        "0014751e76e8199196d454941c45d1b3a323f1433bd6"
    );
}

#[test]
fn longpoll_returns_when_the_tip_moves() {
    let node = SimNode::start(&[]);
    let gbt = node.result("getblocktemplate", r#"[{"rules":["segwit"]}]"#);
    let longpollid = gbt.get_str("longpollid").unwrap().to_string();
    let params = format!(r#"[{{"rules":["segwit"],"longpollid":"{longpollid}"}}]"#);
    let started = Instant::now();
    let next = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| node.result("getblocktemplate", &params));
        std::thread::sleep(Duration::from_millis(300));
        node.result("simnode_mine", "[1]");
        waiter.join().unwrap()
    });
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "long-poll waited"
    );
    assert_eq!(
        next.get_str("previousblockhash"),
        Some(node.best().as_str())
    );
    assert_eq!(next.get_u64("height"), Some(102));
}
