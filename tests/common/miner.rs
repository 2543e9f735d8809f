//! A small, honest Stratum v1 client for end-to-end tests: cpuminer's
//! handshake, real SHA-256d hashing of the jobs it is sent.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use simd_json::prelude::*;
use simd_json::OwnedValue;
use tbg_pool::bitcoin::target::{compact_to_target, difficulty_to_share_target, hash_meets};
use tbg_pool::bitcoin::{hex, sha256d};

/// A `mining.notify` as received, with the difficulty bound to it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub prevhash: String,
    pub coinb1: String,
    pub coinb2: String,
    pub branch: Vec<String>,
    pub version: String,
    pub nbits: String,
    pub ntime: String,
    pub clean: bool,
    pub diff: f64,
}

/// A share found for a job.
#[derive(Debug, Clone)]
pub struct Share {
    pub job_id: String,
    pub extranonce2: String,
    pub ntime: String,
    pub nonce: String,
    /// Display-order hash.
    pub hash: String,
    pub is_block: bool,
}

pub struct Miner {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
    pub extranonce1: Vec<u8>,
    pub extranonce2_len: usize,
    /// Difficulty from the last set_difficulty (bound at the next notify).
    pub diff: f64,
    pub job: Option<Job>,
    /// Every server → miner notification seen, in order.
    pub notifications: Vec<OwnedValue>,
    en2_counter: u64,
}

const TIMEOUT: Duration = Duration::from_secs(20);

impl Miner {
    pub fn connect(addr: &str) -> Miner {
        let stream = TcpStream::connect(addr).expect("connect to pool");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        Miner {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            next_id: 1,
            extranonce1: Vec::new(),
            extranonce2_len: 0,
            diff: 0.0,
            job: None,
            notifications: Vec::new(),
            en2_counter: 0,
        }
    }

    /// Send a raw line (a newline is added).
    pub fn send_raw(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
    }

    /// Write bytes as they are (no framing).
    pub fn write_all_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Read one line as JSON; `None` on EOF.
    pub fn read(&mut self) -> Option<OwnedValue> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let mut bytes = line.trim_end().as_bytes().to_vec();
                Some(
                    simd_json::to_owned_value(&mut bytes)
                        .unwrap_or_else(|e| panic!("pool sent invalid JSON {line:?}: {e}")),
                )
            }
        }
    }

    /// Send a request; return its reply (notifications on the way are kept).
    pub fn request(&mut self, method: &str, params: &str) -> OwnedValue {
        let id = self.next_id;
        self.next_id += 1;
        self.send_raw(&format!(
            r#"{{"id": {id}, "method": "{method}", "params": {params}}}"#
        ));
        self.reply_to(id)
    }

    /// Read until the reply with `id` arrives.
    pub fn reply_to(&mut self, id: u64) -> OwnedValue {
        loop {
            let msg = self
                .read()
                .expect("connection closed while waiting for a reply");
            if msg.get("id").and_then(|i| i.as_u64()) == Some(id) {
                return msg;
            }
            self.note(msg);
        }
    }

    fn note(&mut self, msg: OwnedValue) {
        match msg.get("method").and_then(|m| m.as_str()) {
            Some("mining.set_difficulty") => self.diff = msg["params"][0].cast_f64().unwrap(),
            Some("mining.notify") => self.job = Some(parse_job(&msg["params"], self.diff)),
            _ => {}
        }
        self.notifications.push(msg);
    }

    /// cpuminer's subscribe; returns the reply.
    pub fn subscribe(&mut self) -> OwnedValue {
        let reply = self.request("mining.subscribe", r#"["cpuminer/2.5.1"]"#);
        let result = &reply["result"];
        self.extranonce1 = hex::decode(result[1].as_str().unwrap()).unwrap();
        self.extranonce2_len = result[2].as_usize().unwrap();
        reply
    }

    pub fn authorize(&mut self, user: &str) -> OwnedValue {
        self.request("mining.authorize", &format!(r#"["{user}", "x"]"#))
    }

    /// Read notifications until a job satisfying `pred` arrives.
    pub fn wait_job(&mut self, pred: impl Fn(&Job) -> bool) -> Job {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(j) = self.job.clone().filter(|j| pred(j)) {
                return j;
            }
            assert!(Instant::now() < deadline, "no matching job");
            let msg = self
                .read()
                .expect("connection closed while waiting for a job");
            self.note(msg);
        }
    }

    /// Hash the current job until the result meets `accept(hash, is_block)`.
    pub fn find_share(&mut self, want: impl Fn(&[u8; 32], bool, &Job) -> bool) -> Share {
        let job = self.job.clone().expect("a job");
        self.en2_counter += 1;
        let en2 = self.en2_counter.to_be_bytes()[8 - self.extranonce2_len.min(8)..].to_vec();
        let mut en2_full = vec![0u8; self.extranonce2_len.saturating_sub(8)];
        en2_full.extend_from_slice(&en2);
        let ntime = u32::from_str_radix(&job.ntime, 16).unwrap();
        let network = compact_to_target(u32::from_str_radix(&job.nbits, 16).unwrap()).unwrap();
        let mut header = super::header_from_parts(
            &job.coinb1,
            &self.extranonce1,
            &en2_full,
            &job.coinb2,
            &job.branch,
            &job.prevhash,
            &job.version,
            &job.nbits,
            ntime,
            0,
        );
        for nonce in 0u32..50_000_000 {
            header[76..].copy_from_slice(&nonce.to_le_bytes());
            let hash = sha256d(&header);
            let is_block = hash_meets(&hash, &network);
            if want(&hash, is_block, &job) {
                return Share {
                    job_id: job.id.clone(),
                    extranonce2: hex::encode(&en2_full),
                    ntime: job.ntime.clone(),
                    nonce: format!("{nonce:08x}"),
                    hash: hex::encode_display(&hash),
                    is_block,
                };
            }
        }
        panic!("no share found");
    }

    /// A share meeting the job's difficulty.
    pub fn valid_share(&mut self) -> Share {
        self.find_share(|h, _, job| hash_meets(h, &difficulty_to_share_target(job.diff)))
    }

    /// Submit a share as `user`; returns the reply.
    pub fn submit(&mut self, user: &str, s: &Share) -> OwnedValue {
        self.request(
            "mining.submit",
            &format!(
                r#"["{user}", "{}", "{}", "{}", "{}"]"#,
                s.job_id, s.extranonce2, s.ntime, s.nonce
            ),
        )
    }

    /// Whether the pool closed the connection (reads until EOF, bounded).
    pub fn closed_by_pool(&mut self) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            match self.read() {
                None => return true,
                Some(m) => self.note(m),
            }
        }
        false
    }
}

/// The code of a Stratum error reply (`"error": [code, message, null]`).
pub fn error_code(reply: &OwnedValue) -> Option<i64> {
    reply.get("error")?.as_array()?.first()?.as_i64()
}

/// The message of a Stratum error reply ("" if none).
pub fn error_text(reply: &OwnedValue) -> String {
    let text = reply
        .get("error")
        .and_then(|e| e.as_array())
        .and_then(|a| a.get(1))
        .and_then(|m| m.as_str());
    text.unwrap_or_default().to_string()
}

impl Miner {
    /// A miner through cpuminer's handshake as `user`, with its first job.
    pub fn ready(addr: &str, user: &str) -> Miner {
        let mut m = Miner::connect(addr);
        m.subscribe();
        assert_eq!(m.authorize(user)["result"].as_bool(), Some(true));
        m.wait_job(|_| true);
        m
    }
}

/// A `mining.notify`'s params as a job bound to difficulty `diff`.
pub fn parse_job(p: &OwnedValue, diff: f64) -> Job {
    let s = |i: usize| p[i].as_str().unwrap().to_string();
    Job {
        id: s(0),
        prevhash: s(1),
        coinb1: s(2),
        coinb2: s(3),
        branch: p[4]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap().to_string())
            .collect(),
        version: s(5),
        nbits: s(6),
        ntime: s(7),
        clean: p[8].as_bool().unwrap(),
        diff,
    }
}
