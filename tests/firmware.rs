//! Firmware as it really speaks Stratum, from its public source: each
//! quirk a real miner has, mined against a real pool process. The device
//! replays run twice: first through the pool's `Session` in this process
//! (`tbg_pool::testkit`, no sockets), then over TCP to a pool process.

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

// ---------------------------------------------------------------------
// Device replays: each test writes the exact bytes a firmware's public
// source writes, in the order it writes them, reads replies the way it
// reads them, and asserts every verdict the pool gives.
// ---------------------------------------------------------------------

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::miner::{parse_job, Job};
use simd_json::OwnedValue;
use tbg_pool::bitcoin::address::script_pubkey;
use tbg_pool::bitcoin::target::{difficulty_to_share_target, hash_meets};
use tbg_pool::bitcoin::Network;
use tbg_pool::bitcoin::{hex, sha256d};
use tbg_pool::session::Flow;
use tbg_pool::testkit::Connection;

/// Firmware that suggests an integer difficulty (1000, 4000, ...) meets
/// a pool whose operator caps difficulty low enough to mine in a test.
const MAXDIFF: &str = r#""maxdiff":0.00005"#;

fn start_with(node_flags: &[&str], extra: &str) -> (SimNode, TempDir, PoolProcess) {
    let mut flags = vec!["--bits", "1d00ffff"];
    flags.extend_from_slice(node_flags);
    let node = SimNode::start(&flags);
    let dir = TempDir::new("firmware");
    let pool = PoolProcess::start(&node, &dir.path, extra);
    (node, dir, pool)
}

/// Where a replay runs: the pool's own [`Session`] code driven in this
/// process through its `Context` (no sockets: a failure points at the
/// session, not at timing), then a real pool process over TCP.
///
/// [`Session`]: tbg_pool::session::Session
enum Pool<'a> {
    InProcess {
        connection: Rc<RefCell<Connection>>,
        connected: Cell<bool>,
    },
    Process(&'a PoolProcess),
}

impl Pool<'_> {
    /// A new connection (in process: the previous one closes, as a
    /// device reconnecting does, and the next gets its own extranonce1).
    fn connect(&self) -> Device {
        let wire = match self {
            Pool::InProcess {
                connection,
                connected,
            } => {
                if connected.replace(true) {
                    connection.borrow_mut().reconnect();
                }
                Wire::InProcess(connection.clone())
            }
            Pool::Process(pool) => Wire::Socket(Box::new(Miner::connect(&pool.addr))),
        };
        Device {
            wire,
            seen: Vec::new(),
            diff: 0.0,
            job: None,
        }
    }

    /// The port miners connect to (firmware that names it in a request).
    fn port(&self) -> String {
        match self {
            Pool::InProcess { .. } => "3333".into(),
            Pool::Process(pool) => pool.addr.rsplit(':').next().unwrap().to_string(),
        }
    }
}

/// Run `script` in process, then against a pool process: the same node's
/// template and the same config either way (`extra` added to the test
/// pool's config). In process, every event the session queued must pass
/// the collector's schema, and every block found must be a real block
/// paying the miner.
fn replay(extra: &str, script: impl Fn(&Pool)) {
    let (node, _dir, pool) = start_with(&[], extra);
    let template = node.client().get_block_template().unwrap();
    let sep = if extra.is_empty() { "" } else { "," };
    let mut json =
        format!(r#"{{"mindiff":0.00000001,"startdiff":0.000001{sep}{extra}}}"#).into_bytes();
    let (config, warnings) = tbg_pool::config::Config::parse(&mut json).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let connection = Connection::new(config, &template, Network::Regtest);
    let connection = Rc::new(RefCell::new(connection));
    script(&Pool::InProcess {
        connection: connection.clone(),
        connected: Cell::new(false),
    });
    let address = USER.split('.').next().unwrap();
    let payout = script_pubkey(address, Network::Regtest).unwrap();
    let mut connection = connection.borrow_mut();
    connection.close();
    connection.core.check_outputs(&payout);
    drop(connection);
    script(&Pool::Process(&pool));
}

/// A connection's two ends: a socket to a pool process, or a session in
/// this process.
enum Wire {
    Socket(Box<Miner>),
    InProcess(Rc<RefCell<Connection>>),
}

/// One firmware's connection: it writes the device's exact lines and
/// reads the pool's line by line, keeping the state a device keeps (the
/// newest difficulty and job).
struct Device {
    wire: Wire,
    /// Every line received, in order.
    seen: Vec<OwnedValue>,
    diff: f64,
    job: Option<Job>,
}

impl Device {
    /// Write one line exactly as the firmware formats it (the newline the
    /// firmware ends it with is added here).
    fn send(&mut self, line: &str) {
        match &mut self.wire {
            Wire::Socket(m) => m.send_raw(line),
            Wire::InProcess(c) => {
                let flow = c.borrow_mut().send(line.as_bytes());
                assert_eq!(flow, Flow::Continue, "after {line}");
            }
        }
    }

    /// The next line from the pool, whatever it is.
    fn line(&mut self) -> OwnedValue {
        let msg = match &mut self.wire {
            Wire::Socket(m) => m.read().expect("pool closed the connection"),
            Wire::InProcess(c) => {
                let mut line = c
                    .borrow_mut()
                    .line()
                    .expect("the session wrote nothing more");
                simd_json::to_owned_value(&mut line).expect("the session writes JSON lines")
            }
        };
        match method(&msg).as_deref() {
            Some("mining.set_difficulty") => self.diff = msg["params"][0].cast_f64().unwrap(),
            Some("mining.notify") => self.job = Some(parse_job(&msg["params"], self.diff)),
            _ => {}
        }
        self.seen.push(msg.clone());
        msg
    }

    /// The very next line, which must be the reply to `id` (firmware that
    /// reads exactly one line for a reply).
    fn next_reply(&mut self, id: u64) -> OwnedValue {
        let msg = self.line();
        assert_eq!(
            reply_id(&msg),
            Some(id),
            "expected the reply to {id}, got {msg:?}"
        );
        msg
    }

    /// Lines until the reply to `id` (notifications on the way are kept).
    fn reply(&mut self, id: u64) -> OwnedValue {
        loop {
            let msg = self.line();
            if reply_id(&msg) == Some(id) {
                return msg;
            }
            assert!(
                method(&msg).is_some(),
                "unexpected reply {msg:?} while waiting for {id}"
            );
        }
    }

    fn wait_job(&mut self) -> Job {
        while self.job.is_none() {
            self.line();
        }
        self.job.clone().unwrap()
    }
}

fn method(msg: &OwnedValue) -> Option<String> {
    msg.get("method")?.as_str().map(str::to_string)
}

fn reply_id(msg: &OwnedValue) -> Option<u64> {
    if msg.get("method").is_some() {
        return None;
    }
    msg.get("id")?.as_u64()
}

/// `"result": true, "error": null`: accepted.
fn assert_true(reply: &OwnedValue) {
    assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
    assert!(reply["error"].is_null(), "{reply:?}");
}

/// The subscribe result: `[[[name, id], ...], extranonce1, en2 size]`.
fn subscribe_result(reply: &OwnedValue) -> (Vec<u8>, usize) {
    assert!(reply["error"].is_null(), "{reply:?}");
    let r = &reply["result"];
    let subs = r[0].as_array().expect("subscriptions array");
    assert!(!subs.is_empty());
    for s in subs {
        let s = s.as_array().expect("[method, id] pair");
        assert_eq!(s.len(), 2, "{reply:?}");
        assert!(
            s[0].as_str().is_some() && s[1].as_str().is_some(),
            "{reply:?}"
        );
    }
    let en1 = hex::decode(r[1].as_str().expect("extranonce1 string")).unwrap();
    (en1, r[2].as_usize().expect("extranonce2_size number"))
}

/// The session id cgminer and cpuminer take from the subscribe result:
/// the id paired with "mining.notify" (util.c get_sessionid /
/// get_stratum_session_id).
fn notify_session_id(reply: &OwnedValue) -> String {
    let subs = reply["result"][0].as_array().unwrap();
    let pair = subs
        .iter()
        .find(|s| {
            s[0].as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case("mining.notify"))
        })
        .expect("a mining.notify subscription");
    pair[1].as_str().unwrap().to_string()
}

/// Search nonces from `start` (wrapping) until the header built from
/// `job` with these extranonces and `version` meets `diff`.
fn mine(job: &Job, en1: &[u8], en2: &[u8], version: u32, diff: f64, start: u32) -> u32 {
    let target = difficulty_to_share_target(diff);
    let ntime = u32::from_str_radix(&job.ntime, 16).unwrap();
    let mut header = common::header_from_parts(
        &job.coinb1,
        en1,
        en2,
        &job.coinb2,
        &job.branch,
        &job.prevhash,
        &format!("{version:08x}"),
        &job.nbits,
        ntime,
        0,
    );
    let mut nonce = start;
    for _ in 0..50_000_000u32 {
        header[76..].copy_from_slice(&nonce.to_le_bytes());
        if hash_meets(&sha256d(&header), &target) {
            return nonce;
        }
        nonce = nonce.wrapping_add(1);
    }
    panic!("no share found");
}

fn job_version(job: &Job) -> u32 {
    u32::from_str_radix(&job.version, 16).unwrap()
}

fn ntime_value(job: &Job) -> u32 {
    u32::from_str_radix(&job.ntime, 16).unwrap()
}

/// NerdMiner v2 (BitMaker-hub/NerdMiner_v2 at e3a04b7, src/stratum.cpp and
/// src/mining.cpp `runStratumWorker`):
/// - `tx_mining_subscribe`: `["NerdMinerV2/V1.8.3"]` (CURRENT_VERSION from
///   src/version.h), then `client.readStringUntil('\n')` once: the very
///   next line must be the subscribe result (`parse_mining_subscribe`);
///   `calculateMiningData` (src/utils.cpp) only knows extranonce2 sizes
///   2, 4 and 8, and always sends extranonce2 = 1 (`0000000000000001`);
/// - `tx_mining_auth` with params first in the object, and no read;
/// - `tx_suggest_difficulty`: `%.10g` of DEFAULT_DIFFICULTY 0.00015
///   (src/mining.h), which prints `0.00015`; `checkPoolInactivity` sends
///   the same again as a keep-alive;
/// - replies are told apart only by `"error": null` (`parse_mining_method`),
///   submits by id;
/// - `tx_mining_submit`: `{"id":%u,"method":"mining.submit","params":[...]}`
///   with the job's ntime string verbatim and the nonce as
///   `String(nonce, HEX)`. Arduino-ESP32's `String(unsigned long, HEX)` is
///   `ultoa` (cores/esp32/WString.cpp, stdlib_noniso.c), which writes
///   lowercase digits without padding: `56afb`, not `56AFB` (the older
///   test above covers uppercase too). Nonces start at 0xDA54E700
///   (8 digits); RANDOM_NONCE builds start anywhere, and one nonce in 16
///   is below 0x10000000 and so shorter.
#[test]
fn nerdminer_v2_session_as_its_source_writes_it() {
    replay("", |pool| {
        let mut d = pool.connect();
        d.send(r#"{"id": 1, "method": "mining.subscribe", "params": ["NerdMinerV2/V1.8.3"]}"#);
        let (en1, en2_len) = subscribe_result(&d.next_reply(1));
        assert!(!en1.is_empty());
        assert!(
            [2, 4, 8].contains(&en2_len),
            "NerdMiner knows 2, 4, 8: {en2_len}"
        );
        let en2 = {
            let mut v = vec![0u8; en2_len];
            v[en2_len - 1] = 1;
            v
        };

        d.send(&format!(
            r#"{{"params": ["{USER}", "x"], "id": 2, "method": "mining.authorize"}}"#
        ));
        d.send(r#"{"id":3,"method":"mining.suggest_difficulty","params":[0.00015]}"#);
        assert_true(&d.reply(2));
        assert_true(&d.reply(3));
        // The suggestion is applied at once: set_difficulty 0.00015 follows.
        while d.diff != 0.00015 {
            d.line();
        }
        let job = d.wait_job();

        // Keep-alive: the same suggestion again changes nothing.
        d.send(r#"{"id":4,"method":"mining.suggest_difficulty","params":[0.00015]}"#);
        let before = d.seen.len();
        assert_true(&d.reply(4));
        assert_eq!(
            d.seen.len(),
            before + 1,
            "no new set_difficulty: {:?}",
            &d.seen[before..]
        );

        let version = job_version(&job);
        let submit = |id: u64, nonce: u32| {
            format!(
                r#"{{"id":{id},"method":"mining.submit","params":["{USER}","{}","{}","{}","{nonce:x}"]}}"#,
                job.id,
                hex::encode(&en2),
                job.ntime,
            )
        };
        // From the default start: eight lowercase digits.
        let nonce = mine(&job, &en1, &en2, version, 0.00015, 0xDA54_E700);
        d.send(&submit(5, nonce));
        assert_true(&d.reply(5));
        // A RANDOM_NONCE build's short nonce, unpadded.
        let nonce = mine(&job, &en1, &en2, version, 0.00015, 0);
        assert!(nonce < 0x1000_0000, "{nonce:x}");
        d.send(&submit(6, nonce));
        assert_true(&d.reply(6));
        // The same header again, as the firmware would resend it: a duplicate.
        d.send(&submit(7, nonce));
        let dup = d.reply(7);
        assert_eq!(dup["result"].as_bool(), Some(false), "{dup:?}");
        assert_eq!(error_code(&dup), Some(22), "{dup:?}");
    });
}

/// ESP-Miner's extranonce2 (components/stratum/mining.c
/// `extranonce_2_generate`): the counter's little-endian bytes, padded.
fn esp_miner_extranonce2(counter: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let n = len.min(8);
    v[..n].copy_from_slice(&counter.to_le_bytes()[..n]);
    v
}

/// What ESP-Miner's `parse_configure_result` (components/stratum/
/// stratum_api.c) insists on: `version-rolling` true and a mask string.
fn esp_miner_configure_mask(reply: &OwnedValue) -> u32 {
    assert!(reply["error"].is_null(), "{reply:?}");
    assert_eq!(
        reply["result"]["version-rolling"].as_bool(),
        Some(true),
        "{reply:?}"
    );
    let mask = reply["result"]["version-rolling.mask"]
        .as_str()
        .expect("mask string");
    u32::from_str_radix(mask, 16).unwrap()
}

/// ESP-Miner / AxeOS as it is now (bitaxeorg/ESP-Miner at 5c27713,
/// main/tasks/stratum_v1_task.c `stratum_v1_task` and
/// components/stratum/stratum_api.c):
/// - `STRATUM_V1_configure_version_rolling` (id 1, mask `ffffffff`),
///   `STRATUM_V1_subscribe` (id 2, `bitaxe/<asic>/<version>`) and
///   `STRATUM_V1_authorize` (id 3) are written back to back before
///   anything is read;
/// - only when the reply to the authorize id says success does it send
///   `STRATUM_V1_suggest_difficulty` (`[%u]`, the pool setting, default
///   CONFIG_STRATUM_DIFFICULTY 1000) and, with extranonce_subscribe on,
///   `STRATUM_V1_extranonce_subscribe` (`"params":[]`);
/// - `MINING_PING` is answered by `STRATUM_V1_pong`: a *request*
///   `{"id":<ping id>,"method":"pong","params":[]}` (this pool never pings,
///   so the test sends it unprompted: it must get no reply);
/// - `STRATUM_V1_submit_share`: six params, ntime, nonce and version bits
///   as `%08lx`, the version bits being `rolled_version ^ job version`
///   (main/tasks/asic_result_task.c); a refusal is read from
///   `error[1]` (`parse_result`).
#[test]
fn esp_miner_current_pipelined_handshake() {
    replay(MAXDIFF, |pool| {
        let mut d = pool.connect();
        d.send(r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff"}]}"#);
        d.send(r#"{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.10.0"]}"#);
        d.send(&format!(
            r#"{{"id":3,"method":"mining.authorize","params":["{USER}","x"]}}"#
        ));
        let mask = esp_miner_configure_mask(&d.reply(1));
        assert_eq!(mask, 0x1fff_e000);
        let (en1, en2_len) = subscribe_result(&d.reply(2));
        assert!(en2_len <= 32, "MAX_EXTRANONCE_2_LEN");
        assert_true(&d.reply(3));
        // Authorized: suggest, then extranonce.subscribe.
        d.send(r#"{"id":4,"method":"mining.suggest_difficulty","params":[1000]}"#);
        d.send(r#"{"id":5,"method":"mining.extranonce.subscribe","params":[]}"#);
        assert_true(&d.reply(4));
        assert_true(&d.reply(5));
        // 1000 is clamped to the pool's maxdiff, and applied at once.
        while d.diff != 0.00005 {
            d.line();
        }
        let job = d.wait_job();
        d.send(r#"{"id":77,"method":"pong","params":[]}"#);

        let base = job_version(&job);
        let rolled = base ^ 0x0000_4000;
        let en2 = esp_miner_extranonce2(0, en2_len);
        let nonce = mine(&job, &en1, &en2, rolled, d.diff, 0);
        let submit = |id: u64| {
            format!(
                r#"{{"id":{id},"method":"mining.submit","params":["{USER}","{}","{}","{:08x}","{:08x}","{:08x}"]}}"#,
                job.id,
                hex::encode(&en2),
                ntime_value(&job),
                nonce,
                rolled ^ base
            )
        };
        d.send(&submit(6));
        // The first line after the pong is the submit's reply: nothing for it.
        assert_true(&d.next_reply(6));
        d.send(&submit(7));
        let dup = d.next_reply(7);
        assert_eq!(dup["result"].as_bool(), Some(false), "{dup:?}");
        assert_eq!(error_code(&dup), Some(22), "{dup:?}");
        assert!(
            dup["error"][1].as_str().is_some(),
            "parse_result reads error[1]"
        );
    });
}

/// ESP-Miner's `STRATUM_V1_submit_share` as its early-2024 code and
/// NerdQAxe++'s `submitShare` write it: spaces after the separators, six
/// params, ntime, nonce and version bits as `%08lx`.
fn esp_spaced_submit(id: u64, job: &Job, en2: &[u8], nonce: u32, version_bits: u32) -> String {
    format!(
        r#"{{"id": {id}, "method": "mining.submit", "params": ["{USER}", "{}", "{}", "{:08x}", "{nonce:08x}", "{version_bits:08x}"]}}"#,
        job.id,
        hex::encode(en2),
        ntime_value(job),
    )
}

/// ESP-Miner's order in early 2024 (2.1.x firmware: bitaxeorg/ESP-Miner
/// 174ef21b "Changed order of stratum messages" to 11c1d087, e.g. at
/// f09d01d8, main/tasks/stratum_task.c and components/stratum/
/// stratum_api.c): `STRATUM_V1_subscribe` writes and then reads exactly
/// one line for its result; `STRATUM_V1_configure_version_rolling` does
/// the same (and dereferences `mask->valuestring` unchecked); then
/// `STRATUM_V1_suggest_difficulty` (`[%ld]`, STRATUM_DIFFICULTY) and
/// `STRATUM_V1_authenticate` are written without reading. Messages have
/// spaces after the separators; submit as today (`%08lx` ×3), the
/// extranonce2 the 4-byte little-endian counter zero-filled.
#[test]
fn esp_miner_early_2024_subscribe_configure_suggest_authorize() {
    replay(MAXDIFF, |pool| {
        let mut d = pool.connect();
        d.send(r#"{"id": 1, "method": "mining.subscribe", "params": ["bitaxe/BM1366"]}"#);
        let (en1, en2_len) = subscribe_result(&d.next_reply(1));
        d.send(r#"{"id": 2, "method": "mining.configure", "params": [["version-rolling"], {"version-rolling.mask": "ffffffff"}]}"#);
        assert_eq!(esp_miner_configure_mask(&d.next_reply(2)), 0x1fff_e000);
        d.send(r#"{"id": 3, "method": "mining.suggest_difficulty", "params": [1000]}"#);
        d.send(&format!(
            r#"{{"id": 4, "method": "mining.authorize", "params": ["{USER}", "x"]}}"#
        ));
        assert_true(&d.reply(3));
        assert_true(&d.reply(4));
        // Suggested before authorize: the first job already carries it.
        let job = d.wait_job();
        assert_eq!(job.diff, 0.00005);

        let base = job_version(&job);
        let rolled = base | 0x0000_2000;
        let en2 = esp_miner_extranonce2(0, en2_len);
        let nonce = mine(&job, &en1, &en2, rolled, job.diff, 0);
        d.send(&esp_spaced_submit(5, &job, &en2, nonce, rolled ^ base));
        assert_true(&d.reply(5));
    });
}

/// NerdQAxe++ (shufps/ESP-Miner-NerdQAxePlus at 6a5b5b5,
/// main/stratum/stratum_task.cpp `StratumTaskV1::protocolLoop`,
/// main/stratum/stratum_api.cpp): subscribe (1, `<board>/<asic>/<version>`),
/// configure (2, mask `1fffe000`), authorize (3), suggest_difficulty
/// (4, `[%ld]`, default 1000) and extranonce.subscribe (5) are all
/// written before a single line is read. Replies with id ≤ 5 are
/// matched by id (`parseSetupResponses`): the configure reply must carry
/// `version-rolling.mask`, authorize/suggest/extranonce replies are
/// `parseResult` (success only with `error` null and `result` true).
/// Submit: six params with `%08lx`, the version as `rolled ^ base`
/// (`StratumTaskV1::submitShare`), extranonce2 `%0*lx` of the counter
/// (main/tasks/create_jobs_task.cpp). Note: it reads `set_difficulty`
/// with `as<uint32_t>()`, so below 1 it mines at difficulty 0 (every
/// nonce); the test mines at the pool's difficulty.
#[test]
fn nerdqaxe_plus_plus_five_requests_pipelined() {
    replay(MAXDIFF, |pool| {
        let mut d = pool.connect();
        d.send(
            r#"{"id": 1, "method": "mining.subscribe", "params": ["NerdQAxe++/BM1370/v1.0.36"]}"#,
        );
        d.send(r#"{"id": 2, "method": "mining.configure", "params": [["version-rolling"], {"version-rolling.mask": "1fffe000"}]}"#);
        d.send(&format!(
            r#"{{"id": 3, "method": "mining.authorize", "params": ["{USER}", "x"]}}"#
        ));
        d.send(r#"{"id": 4, "method": "mining.suggest_difficulty", "params": [1000]}"#);
        d.send(r#"{"id": 5, "method": "mining.extranonce.subscribe", "params": []}"#);
        let (en1, en2_len) = subscribe_result(&d.reply(1));
        let configure = d.reply(2);
        assert!(configure["error"].is_null(), "{configure:?}");
        let mask = configure["result"]["version-rolling.mask"]
            .as_str()
            .unwrap();
        assert_eq!(mask, "1fffe000");
        for id in 3..=5 {
            assert_true(&d.reply(id));
        }
        while d.diff != 0.00005 {
            d.line();
        }
        let job = d.wait_job();

        let base = job_version(&job);
        let rolled = base | 0x0001_0000;
        let counter = 7u64;
        let en2 = hex::decode(&format!("{counter:0width$x}", width = en2_len * 2)).unwrap();
        let nonce = mine(&job, &en1, &en2, rolled, d.diff, 0);
        d.send(&esp_spaced_submit(6, &job, &en2, nonce, rolled ^ base));
        assert_true(&d.reply(6));
    });
}

/// What cgminer's `configure_stratum_mining` (util.c) accepts: a result
/// object whose `version-rolling` is true and whose
/// `version-rolling.mask` is a non-zero hex string; any other key is
/// logged at LOG_ERR ("JSON-RPC unexpected mining.configure value"),
/// which btminer (WhatsMiner, a cgminer fork) logs before it drops the
/// connection (stratum-mining/stratum issue #1173), so none may appear.
fn cgminer_configure_mask(reply: &OwnedValue) -> u32 {
    assert!(reply["error"].is_null(), "{reply:?}");
    let result = reply["result"]
        .as_object()
        .expect("configure result object");
    for key in result.keys() {
        assert!(
            key == "version-rolling" || key == "version-rolling.mask",
            "unexpected mining.configure value {key}: {reply:?}"
        );
    }
    assert_eq!(
        result.get("version-rolling").and_then(|v| v.as_bool()),
        Some(true)
    );
    let mask = result["version-rolling.mask"]
        .as_str()
        .expect("mask string");
    let mask = u32::from_str_radix(mask, 16).unwrap();
    assert_ne!(mask, 0, "set_vmask refuses a zero mask");
    mask
}

/// cgminer's version bits for a micro-job: `get_vmask`/`set_vmask`
/// (util.c) split the pool's mask; for 1fffe000 the third string,
/// `vmask_002[2]`, is `0000e000`, and the header carries version | it.
const CGMINER_VMASK_002_2: u32 = 0x0000_e000;

/// cgminer 4.11.1 (ckolivas/cgminer at b8491c6, util.c):
/// - `initiate_stratum` first calls `configure_stratum_mining` (in
///   USE_VMASK builds): `{"id": %d, "method": "mining.configure", "params":
///   [["version-rolling"], {"version-rolling.mask": "ffffffff"}]}`, and
///   waits for and reads one line, which must be its result;
/// - then `mining.subscribe` with `PACKAGE/VERSION` and, on a reconnect,
///   the session id it saved (`get_sessionid`: the id paired with
///   "mining.notify"), reads the result and requires valid hex
///   extranonce1 and `2 <= n2size <= 16` (and `stratum_sthread` in
///   cgminer.c refuses to submit with nonce2 longer than 8);
/// - `auth_stratum`: authorize, then lines through `parse_method` until
///   one is not a method: that one is the authorize result;
/// - cgminer.c `stratum_sthread`: `{"params": [user, job_id, nonce2hex,
///   ntime, noncehex, vmask_002[micro_job]], "id": %d, "method":
///   "mining.submit"}` with nonce2 the little-endian counter. `swork_id`
///   is one global counter, so ids keep rising across reconnects.
#[test]
fn cgminer_configure_then_subscribe_with_session_id_to_resume() {
    replay("", |pool| {
        let configure = |id: u64| {
            format!(
                r#"{{"id": {id}, "method": "mining.configure", "params": [["version-rolling"], {{"version-rolling.mask": "ffffffff"}}]}}"#
            )
        };
        let authorize = |id: u64| {
            format!(r#"{{"id": {id}, "method": "mining.authorize", "params": ["{USER}", "x"]}}"#)
        };
        let submit = |id: u64, job: &Job, en2: &[u8], nonce: u32| {
            format!(
                r#"{{"params": ["{USER}", "{}", "{}", "{}", "{:08x}", "{:08x}"], "id": {id}, "method": "mining.submit"}}"#,
                job.id,
                hex::encode(en2),
                job.ntime,
                nonce,
                CGMINER_VMASK_002_2
            )
        };

        // First connection.
        let mut d = pool.connect();
        d.send(&configure(0));
        let mask = cgminer_configure_mask(&d.next_reply(0));
        assert_eq!(mask & CGMINER_VMASK_002_2, CGMINER_VMASK_002_2);
        d.send(r#"{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.11.1"]}"#);
        let reply = d.next_reply(1);
        let (en1, n2size) = subscribe_result(&reply);
        assert!(
            (2..=8).contains(&n2size),
            "cgminer: 2 <= n2size <= 16, submits only <= 8"
        );
        let session = notify_session_id(&reply);
        d.send(&authorize(2));
        assert_true(&d.next_reply(2));
        let job = d.wait_job();
        let en2 = 1u64.to_le_bytes()[..n2size].to_vec();
        let version = job_version(&job) | CGMINER_VMASK_002_2;
        let nonce = mine(&job, &en1, &en2, version, d.diff, 0);
        d.send(&submit(3, &job, &en2, nonce));
        assert_true(&d.reply(3));
        drop(d);

        // Reconnect, resuming with the saved session id. The pool does not
        // resume sessions: a new extranonce1 comes back, which cgminer takes.
        let mut d = pool.connect();
        d.send(&configure(4));
        cgminer_configure_mask(&d.next_reply(4));
        d.send(&format!(
            r#"{{"id": 5, "method": "mining.subscribe", "params": ["cgminer/4.11.1", "{session}"]}}"#
        ));
        let (en1_again, n2size) = subscribe_result(&d.next_reply(5));
        assert!((2..=8).contains(&n2size));
        assert_ne!(en1_again, en1, "each connection has its own extranonce1");
        d.send(&authorize(6));
        assert_true(&d.next_reply(6));
        let job = d.wait_job();
        let version = job_version(&job) | CGMINER_VMASK_002_2;
        let nonce = mine(&job, &en1_again, &en2, version, d.diff, 0);
        d.send(&submit(7, &job, &en2, nonce));
        assert_true(&d.reply(7));
    });
}

/// Braiins OS (bosminer). Its V1 client is the V2→V1 translation in
/// braiins/braiins at 3c1a16f (2020; newer Braiins OS+ is closed source):
/// open/stratum-proxy/src/translation.rs, serialized by
/// open/protocols/stratum/src/v1 (serde, no spaces, ids from 0):
/// - `visit_setup_connection`: `mining.configure` with
///   `version-rolling.mask` 1fffe000 and `version-rolling.min-bit-count` 16
///   (`MINING_CONFIGURE_REQ_JSON` in test_utils/v1.rs); the channel opens
///   only after `handle_configure_result` sees `version-rolling` true and
///   a mask equal to BIP320_N_VERSION_MASK, 1fffe000, exactly;
/// - `visit_open_standard_mining_channel` then writes subscribe
///   `[fw_ver, null, "host:port", null]` and authorize `[user, ""]`
///   (empty password) back to back; it needs the subscribe result
///   (`SubscribeResult(Vec<(String, String)>, hex, usize)`), a true
///   authorize and a `mining.set_difficulty` before mining;
/// - `visit_submit_shares_standard`: `[user, job, en2, ntime, nonce,
///   version & 1fffe000]`, all `HexU32Be` (8 lowercase digits), en2 the
///   channel id 0 little-endian, zero-padded.
///
/// Real Braiins OS+ 22.08.1 traffic (stratum-mining/stratum issue #856)
/// has the same shapes with agent
/// `2022-09-27-0-26ba61b9-22.08.1-plus;bosminer-plus-am1-s9 0.9.0-26ba61b9`;
/// 24.04 sends a two-param subscribe `[agent, null]` (issue #964): the
/// second connection replays that.
#[test]
fn braiins_os_configure_min_bit_count_and_null_subscribe_params() {
    replay("", |pool| {
        let port = pool.port();
        let subscribes = [
            format!(
                r#"{{"id":1,"method":"mining.subscribe","params":["Braiins OS 2019-06-05",null,"127.0.0.1:{port}",null]}}"#
            ),
            r#"{"id":1,"method":"mining.subscribe","params":["2024-05-06-0-fb624381-24.04-plus;bosminer-plus-tuner 0.9.0-fb624381",null]}"#.to_string(),
        ];
        for subscribe in subscribes {
            let mut d = pool.connect();
            d.send(r#"{"id":0,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":16}]}"#);
            let configure = d.next_reply(0);
            assert!(configure["error"].is_null(), "{configure:?}");
            assert_eq!(configure["result"]["version-rolling"].as_bool(), Some(true));
            assert_eq!(
                configure["result"]["version-rolling.mask"].as_str(),
                Some("1fffe000")
            );
            d.send(&subscribe);
            d.send(&format!(
                r#"{{"id":2,"method":"mining.authorize","params":["{USER}",""]}}"#
            ));
            let (en1, en2_len) = subscribe_result(&d.reply(1));
            assert_true(&d.reply(2));
            let job = d.wait_job();
            assert!(d.diff > 0.0, "a set_difficulty came before the job");

            let en2 = vec![0u8; en2_len]; // channel id 0
            let version = job_version(&job) | 0x0000_6000;
            let nonce = mine(&job, &en1, &en2, version, d.diff, 0);
            d.send(&format!(
                r#"{{"id":3,"method":"mining.submit","params":["{USER}","{}","{}","{:08x}","{:08x}","{:08x}"]}}"#,
                job.id,
                hex::encode(&en2),
                ntime_value(&job),
                nonce,
                version & 0x1fff_e000
            ));
            assert_true(&d.reply(3));
        }
    });
}

/// WhatsMiner (btminer) is closed source. What is public:
/// stratum-mining/stratum PR #505 ("The whatsminer starts out with a
/// mining.suggest_difficulty message"), and a captured M30S+ session in
/// issue #1173: `{"id": 196, "method": "mining.configure", "params":
/// [["version-rolling"], {"version-rolling.mask": "1fffe000"}]}`, then
/// `{"id": 197, "method": "mining.subscribe", "params": ["whatsminer/v1.0",
/// "<session id>"]}`, cgminer-style ids and spacing, and btminer logging
/// cgminer's "JSON-RPC unexpected mining.configure value" for extra keys.
/// The suggest_difficulty params and the authorize/submit lines are not
/// in any public capture: they are written here as cgminer writes them
/// (`[%d]`; util.c `auth_stratum`, cgminer.c `stratum_sthread`). Whether
/// btminer reads the suggest reply before configuring is unknown; the
/// test reads it first.
#[test]
fn whatsminer_suggest_difficulty_before_subscribe() {
    replay(MAXDIFF, |pool| {
        let mut d = pool.connect();
        d.send(r#"{"id": 195, "method": "mining.suggest_difficulty", "params": [1000]}"#);
        assert_true(&d.next_reply(195));
        d.send(r#"{"id": 196, "method": "mining.configure", "params": [["version-rolling"], {"version-rolling.mask": "1fffe000"}]}"#);
        assert_eq!(cgminer_configure_mask(&d.next_reply(196)), 0x1fff_e000);
        d.send(r#"{"id": 197, "method": "mining.subscribe", "params": ["whatsminer/v1.0", "ae6812eb4cd7735a302a8a9dd95cf71f"]}"#);
        let (en1, n2size) = subscribe_result(&d.next_reply(197));
        assert!((2..=8).contains(&n2size));
        d.send(&format!(
            r#"{{"id": 198, "method": "mining.authorize", "params": ["{USER}", "x"]}}"#
        ));
        assert_true(&d.next_reply(198));
        // The suggestion made before subscribing sets the first job's
        // difficulty (1000, clamped to the pool's maxdiff).
        let job = d.wait_job();
        assert_eq!(job.diff, 0.00005);
        let en2 = 1u64.to_le_bytes()[..n2size].to_vec();
        let version = job_version(&job) | CGMINER_VMASK_002_2;
        let nonce = mine(&job, &en1, &en2, version, job.diff, 0);
        d.send(&format!(
            r#"{{"params": ["{USER}", "{}", "{}", "{}", "{:08x}", "{:08x}"], "id": 199, "method": "mining.submit"}}"#,
            job.id,
            hex::encode(&en2),
            job.ntime,
            nonce,
            CGMINER_VMASK_002_2
        ));
        assert_true(&d.reply(199));
    });
}

fn is_hex(s: &str) -> bool {
    s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The checks cpuminer 2.5.1's `stratum_notify` (pooler/cpuminer at
/// 5f02105, util.c) makes before it takes a job: job id, prevhash,
/// coinb1, coinb2, version, nbits and ntime present as strings, prevhash
/// 64 hex digits, version, nbits and ntime 8, the merkle branch an array
/// of 64-digit strings ("Stratum notify: invalid parameters" / "invalid
/// Merkle branch" otherwise); the coinbase halves are hex2bin'd by
/// `strlen / 2`, so they must be whole hex bytes.
fn assert_cpuminer_notify(msg: &OwnedValue) {
    let p = msg["params"].as_array().expect("params array");
    let s = |i: usize| {
        p[i].as_str()
            .unwrap_or_else(|| panic!("param {i}: {msg:?}"))
    };
    assert!(!s(0).is_empty());
    assert_eq!(s(1).len(), 64, "prevhash");
    assert!(is_hex(s(1)));
    assert!(is_hex(s(2)) && !s(2).is_empty(), "coinb1");
    assert!(is_hex(s(3)) && !s(3).is_empty(), "coinb2");
    let branch = p[4].as_array().expect("merkle array");
    assert!(!branch.is_empty(), "the node's mempool gives a branch");
    for b in branch {
        let b = b.as_str().expect("merkle string");
        assert_eq!(b.len(), 64, "merkle branch");
        assert!(is_hex(b));
    }
    for (i, what) in [(5, "version"), (6, "nbits"), (7, "ntime")] {
        assert_eq!(s(i).len(), 8, "{what}");
        assert!(is_hex(s(i)), "{what}");
    }
    assert!(p[8].as_bool().is_some(), "clean_jobs");
}

/// cpuminer 2.5.1 (pooler/cpuminer at 5f02105): util.c
/// `stratum_subscribe` (`{"id": 1, ...}`, one line read, extranonce1 a
/// string and `0 < xn2_size <= 100`, session id paired with
/// mining.notify), `stratum_authorize` (`{"id": 2, ...}`; lines through
/// `stratum_handle_method` until one is not a method: a notify failing
/// the checks above would be taken for the authorize reply),
/// `stratum_set_difficulty` (non-zero, bound to the next notify), and
/// cpu-miner.c `submit_upstream_work`: `{"method": "mining.submit",
/// "params": [...5], "id":4}` — every submit has id 4; extranonce2 starts
/// at zero on a new job and is incremented as a little-endian number
/// (`stratum_gen_work`).
#[test]
fn cpuminer_strict_notify_fields_and_submit_format() {
    replay("", |pool| {
        let mut d = pool.connect();
        d.send(r#"{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}"#);
        let reply = d.next_reply(1);
        let (en1, xn2_size) = subscribe_result(&reply);
        assert!((1..=100).contains(&xn2_size));
        assert!(!notify_session_id(&reply).is_empty());
        d.send(&format!(
            r#"{{"id": 2, "method": "mining.authorize", "params": ["{USER}", "x"]}}"#
        ));
        assert_true(&d.reply(2));
        let job = d.wait_job();
        // set_difficulty (non-zero) came before the notify it binds to.
        let first_diff = d
            .seen
            .iter()
            .position(|m| method(m).as_deref() == Some("mining.set_difficulty"));
        let first_notify = d
            .seen
            .iter()
            .position(|m| method(m).as_deref() == Some("mining.notify"));
        assert!(first_diff.unwrap() < first_notify.unwrap());
        assert!(job.diff > 0.0);
        for msg in d
            .seen
            .iter()
            .filter(|m| method(m).as_deref() == Some("mining.notify"))
        {
            assert_cpuminer_notify(msg);
        }

        let version = job_version(&job);
        let mut en2 = vec![0u8; xn2_size];
        for _ in 0..2 {
            let nonce = mine(&job, &en1, &en2, version, job.diff, 0);
            d.send(&format!(
                r#"{{"method": "mining.submit", "params": ["{USER}", "{}", "{}", "{}", "{:08x}"], "id":4}}"#,
                job.id,
                hex::encode(&en2),
                job.ntime,
                nonce
            ));
            // `stratum_handle_response` needs `result` present.
            let reply = d.reply(4);
            assert!(reply.get("result").is_some());
            assert_true(&reply);
            // The little-endian increment of the next work.
            for b in en2.iter_mut() {
                *b = b.wrapping_add(1);
                if *b != 0 {
                    break;
                }
            }
        }
        for msg in d
            .seen
            .iter()
            .filter(|m| method(m).as_deref() == Some("mining.notify"))
        {
            assert_cpuminer_notify(msg);
        }
    });
}
