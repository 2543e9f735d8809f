//! `tbg-swarm` against a minimal fake Stratum server: the cpuminer
//! handshake on the wire, and latency accounting (the fake delays every
//! submit reply by a known amount). Real pool runs are tested elsewhere.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simd_json::prelude::*;

/// How long the fake pool waits before answering each submit.
const REPLY_DELAY: Duration = Duration::from_millis(3);

/// The job of the real cpuminer session in tests/vectors.
const NOTIFY: &str = r#"{"id":null,"method":"mining.notify","params":["job1","03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff2003a086012f66616b652f","ffffffff0100f2052a010000001976a914000000000000000000000000000000000000000088ac00000000",["28119e3f33aa8c203c31ef210ad9bb91414a3607342db65be11280ecee354c8a"],"20000000","1d00ffff","6b06107f",true]}"#;

/// Serve one miner: handshake, a job at difficulty 1e-8, then every
/// third submit rejected, each reply after [`REPLY_DELAY`].
fn serve(stream: TcpStream, n: usize, seen: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut submits = 0;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        seen.lock().unwrap().push(line.clone());
        let mut bytes = line.clone().into_bytes();
        let Ok(v) = simd_json::to_owned_value(&mut bytes) else {
            continue;
        };
        let id = v["id"].as_u64().unwrap_or(0);
        let reply = match v["method"].as_str() {
            Some("mining.subscribe") => format!(
                "{{\"id\":{id},\"result\":[[[\"mining.notify\",\"s\"]],\"{n:08x}\",4],\"error\":null}}\n"
            ),
            Some("mining.authorize") => format!(
                "{{\"id\":{id},\"result\":true,\"error\":null}}\n\
                 {{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[1e-8]}}\n\
                 {{\"id\":null,\"method\":\"client.show_message\",\"params\":[\"hi\"]}}\n{NOTIFY}\n"
            ),
            Some("mining.submit") => {
                submits += 1;
                std::thread::sleep(REPLY_DELAY);
                if submits % 3 == 0 {
                    format!("{{\"id\":{id},\"result\":null,\"error\":[23,\"Low difficulty share\",null]}}\n")
                } else {
                    format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n")
                }
            }
            _ => continue,
        };
        out.write_all(reply.as_bytes())?;
    }
    Ok(())
}

/// A fake pool on a free port; every line it receives is recorded.
fn fake_pool() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            let seen = recorder.clone();
            std::thread::spawn(move || serve(stream, n, seen));
        }
    });
    (port, seen)
}

fn swarm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tbg-swarm"))
        .args(args)
        .output()
        .expect("run tbg-swarm")
}

#[test]
fn handshake_shares_and_latency_against_a_fake_pool() {
    let (port, seen) = fake_pool();
    let report = std::env::temp_dir().join(format!("tbg-swarm-{}.json", std::process::id()));
    let pool = format!("127.0.0.1:{port}");
    let out = swarm(&[
        "--pool",
        &pool,
        "--miners",
        "3",
        "--threads",
        "2",
        "--user",
        "tb1qtest",
        "--duration-secs",
        "2",
        "--rate",
        "20",
        "--quiet",
        "--report-json",
        report.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("accepted"), "{stdout}");
    check_wire(&seen.lock().unwrap());
    let mut json = std::fs::read(&report).unwrap();
    let _ = std::fs::remove_file(&report);
    check_report(&simd_json::to_owned_value(&mut json).unwrap());
}

/// What the fake pool received: cpuminer's handshake from 3 workers, submits.
fn check_wire(lines: &[String]) {
    let subscribe = r#"{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}"#;
    assert_eq!(
        lines.iter().filter(|l| *l == subscribe).count(),
        3,
        "{lines:?}"
    );
    for w in 0..3 {
        let auth = format!(
            r#"{{"id": 2, "method": "mining.authorize", "params": ["tb1qtest.w{w}", "x"]}}"#
        );
        assert!(lines.contains(&auth), "{auth} not in {lines:?}");
    }
    assert!(lines
        .iter()
        .any(|l| l.contains(r#""method": "mining.submit", "params": ["tb1qtest.w"#)));
}

/// The JSON report: counts, rejects by reason, latency at least the delay.
fn check_report(v: &simd_json::OwnedValue) {
    let count = |k: &str| v["counts"][k].as_u64().unwrap();
    assert_eq!(
        (
            count("connections_opened"),
            count("subscribed"),
            count("authorized")
        ),
        (3, 3, 3)
    );
    assert_eq!(
        (
            count("notifies"),
            count("clean_jobs"),
            count("set_difficulty"),
            count("show_messages")
        ),
        (3, 3, 3, 3)
    );
    let (accepted, rejected) = (count("accepted"), count("rejected"));
    assert!(
        accepted >= 6 && rejected >= 3,
        "accepted {accepted} rejected {rejected}"
    );
    assert_eq!(
        v["rejects"]["23 Low difficulty share"].as_u64(),
        Some(rejected)
    );
    assert_eq!(
        count("submitted"),
        accepted + rejected + count("unanswered") + count("timed_out")
    );
    let latency = &v["latency_us"];
    assert_eq!(latency["count"].as_u64(), Some(accepted + rejected));
    let p50 = latency["p50"].as_u64().unwrap();
    assert!(
        p50 >= REPLY_DELAY.as_micros() as u64 && p50 < 500_000,
        "p50 {p50}us"
    );
}

#[test]
fn exit_codes() {
    // Nothing listens on a port just freed: no connection at all → 1.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pool = format!("127.0.0.1:{port}");
    let out = swarm(&[
        "--pool",
        &pool,
        "--user",
        "a",
        "--miners",
        "2",
        "--duration-secs",
        "1",
        "--quiet",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Bad usage → 2.
    assert_eq!(swarm(&["--miners", "2"]).status.code(), Some(2));
    assert_eq!(
        swarm(&["--user", "a", "--rate", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(swarm(&["--help"]).status.code(), Some(0));
}
