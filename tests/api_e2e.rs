//! `tbg-api` against the real stack (simulated node, pool, collector,
//! Redis, PostgreSQL as processes): every endpoint's shape and values
//! while the swarm mines, 400/404, a Server-Sent Events client seeing
//! shares live, slowloris clients not holding up a request, and a
//! restart (clean or killed) counting nothing twice.

#[path = "common/api.rs"]
mod api;
mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/stack.rs"]
mod stack;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use api::{num, pool_best, ApiProcess};
use serde_json::Value;
use simd_json::prelude::*;
use stack::{swarm, swarm_report, wait_until, Stack, ADDRESS};

/// A second valid regtest address, nobody mines to it.
fn stranger() -> String {
    let hrp = bech32::Hrp::parse("bcrt").unwrap();
    bech32::segwit::encode(hrp, bech32::segwit::VERSION_0, &[7u8; 20]).unwrap()
}

/// Accepted shares of the address in Redis (every one the pool sent).
fn accepted_shares(stack: &Stack) -> u64 {
    stack
        .stream("share_submitted")
        .iter()
        .filter(|e| e["user"].as_str() == Some(ADDRESS) && e["accepted"].as_bool() == Some(true))
        .count() as u64
}

/// Every share stored in both sinks (so a restart reads all from PostgreSQL).
fn wait_stored(stack: &Stack) {
    wait_until("every share in PostgreSQL", || {
        stack.rows("event_type = 'share_submitted'") as u64
            == stack.stream("share_submitted").len() as u64
    });
}

/// An SSE client: each line it reads, as it arrives.
fn sse_client(addr: &str, path: &str) -> mpsc::Receiver<String> {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(s).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The first `data:` line of an `event: kind` frame within `limit`.
fn next_event(rx: &mpsc::Receiver<String>, kind: &str, limit: Duration) -> Option<Value> {
    let deadline = Instant::now() + limit;
    let mut in_kind = false;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if let Some(k) = line.strip_prefix("event: ") {
            in_kind = k == kind;
        } else if let (true, Some(d)) = (in_kind, line.strip_prefix("data: ")) {
            return serde_json::from_str(d).ok();
        }
    }
    None
}

#[test]
fn endpoints_sse_and_limits_against_the_real_stack() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let api = ApiProcess::start(&stack, "");
    let (code, body) = api.get(&format!("/api/client/{ADDRESS}"));
    assert_eq!((code, body["error"].is_string()), (404, true), "{body}");
    let feed = sse_client(&api.addr, &format!("/api/events?address={ADDRESS}"));
    let report = stack.dir.path.join("swarm.json");
    let miners = swarm(&stack.pool.addr, &format!("{ADDRESS}.rig1"), 2, 8, &report);

    // Live: a share reaches the browser while the swarm mines.
    let share =
        next_event(&feed, "share_submitted", Duration::from_secs(20)).expect("a live share");
    assert_eq!(share["user"], ADDRESS);
    assert!(
        share["seq"].as_u64().is_some() && share["run"].is_string(),
        "{share}"
    );
    let best = next_event(&feed, "share_best_diff", Duration::from_secs(20)).expect("a live best");
    assert!(num(&best["new_best"]) > 0.0);

    check_client_while_mining(&api);
    check_slowloris(&api);
    let report = swarm_report(miners, &report);
    stack::assert_mined(&report, 2);
    stack.wait_disconnects(2);
    wait_agrees(&stack, &api, "after the swarm");
    check_values(&stack, &api);
    check_errors(&api);
}

fn check_client_while_mining(api: &ApiProcess) {
    wait_until("two workers listed", || {
        api.get(&format!("/api/client/{ADDRESS}")).1["workersCount"] == 2
    });
    let c = api.ok(&format!("/api/client/{ADDRESS}"));
    for w in c["workers"].as_array().unwrap() {
        assert!(w["name"].as_str().unwrap().starts_with("rig1.w"), "{c}");
        assert!(
            w["sessionId"].as_str().unwrap().starts_with("acceptance:"),
            "{c}"
        );
        assert!(
            num(&w["hashRate"]) >= 0.0 && num(&w["bestDifficulty"]) >= 0.0,
            "{c}"
        );
        for t in ["startTime", "lastSeen"] {
            assert!(w[t].as_str().unwrap().ends_with('Z'), "{c}");
        }
    }
    let pool = api.ok("/api/pool");
    assert_eq!(pool["totalMiners"], 2, "{pool}");
    assert!(num(&pool["totalHashRate"]) > 0.0, "{pool}");
    assert!(
        pool["blocksFound"].is_array() && pool["fee"] == 0.0,
        "{pool}"
    );
    let info = api.ok("/api/info");
    assert_eq!(
        info["userAgents"][0]["userAgent"], "cpuminer/2.5.1",
        "{info}"
    );
    assert_eq!(info["userAgents"][0]["count"], 2, "{info}");
}

/// Slow and silent clients, more than there are threads, while a normal
/// request is answered at once.
fn check_slowloris(api: &ApiProcess) {
    let mut hogs = Vec::new();
    for i in 0..40 {
        let mut s = TcpStream::connect(&api.addr).unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /api/pool HTTP/1.1\r\nX-Slow: ").unwrap();
        }
        hogs.push(s);
    }
    let pool = api.ok("/api/pool");
    assert!(pool["blockHeight"].as_u64().is_some());
    // Answered while every hog is still held open (they are closed only
    // after read_timeout_ms): not queued behind them.
    for s in &hogs {
        s.set_nonblocking(true).unwrap();
        let held =
            matches!(s.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        assert!(
            held,
            "a hog was closed before the normal request was answered"
        );
        s.set_nonblocking(false).unwrap();
    }
    // The hogs are closed after read_timeout_ms (1.5 s), unanswered.
    std::thread::sleep(Duration::from_millis(2500));
    for mut s in hogs {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut rest = Vec::new();
        assert_eq!(s.read_to_end(&mut rest).unwrap_or(0), 0);
    }
}

fn check_values(stack: &Stack, api: &ApiProcess) {
    let c = api.ok(&format!("/api/client/{ADDRESS}"));
    let best = pool_best(stack);
    assert!(best > 0.0);
    assert_eq!(num(&c["bestDifficulty"]), best, "{c}");
    let b = api.ok(&format!("/api/client/{ADDRESS}/bests"));
    assert_eq!(num(&b["allTime"]), best, "{b}");
    assert_eq!(num(&b["weekBest"]), best, "{b}");
    assert!(b["week"].as_u64().unwrap() > 202600, "{b}");
    let workers = b["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{b}");
    assert!(workers
        .iter()
        .all(|w| w["worker"].as_str().unwrap().starts_with(ADDRESS)));
    let worker_best = workers
        .iter()
        .map(|w| num(&w["allTime"]))
        .fold(0.0, f64::max);
    assert_eq!(worker_best, best, "{b}");
    let chart = api.ok(&format!("/api/client/{ADDRESS}/chart"));
    let chart = chart.as_array().unwrap();
    assert_eq!(chart.len(), 144);
    assert!(chart
        .iter()
        .all(|p| p["label"].is_string() && p["data"].is_number()));
    assert!(chart.iter().any(|p| num(&p["data"]) > 0.0));
    // No network block in this run: the shape only (see network_blocks_live).
    let net = api.ok("/api/network");
    assert!(
        net["height"].is_u64() && net["difficulty"].is_number(),
        "{net}"
    );
    assert!(api.ok("/api/blocks").is_array());
    let page = common::http_get(&api.addr, "/");
    assert!(
        page.0.contains("200") && page.1.contains("<html"),
        "{}",
        page.0
    );
}

fn check_errors(api: &ApiProcess) {
    let (code, body) = api.get("/api/client/notanaddress");
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not a bitcoin address"),
        "{body}"
    );
    let mainnet = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    let (code, body) = api.get(&format!("/api/client/{mainnet}/bests"));
    assert_eq!(code, 400);
    assert!(
        body["error"].as_str().unwrap().contains("regtest"),
        "{body}"
    );
    let (code, body) = api.get(&format!("/api/client/{}", stranger()));
    assert_eq!(code, 404, "{body}");
    assert_eq!(api.get("/api/nothing").0, 404);
    let (status, _) = common::http_get(&api.addr, "/api/client/%ff%fe/chart");
    assert!(status.contains(" 400 "), "{status}");
}

/// Network blocks (the simulated node's timer) reach `/api/network` and
/// every unfiltered SSE client.
#[test]
fn network_blocks_live() {
    let stack = Stack::start(&["--bits", "1d00ffff", "--block-interval-secs", "1"]);
    let api = ApiProcess::start(&stack, "");
    let feed = sse_client(&api.addr, "/api/events");
    let tip = next_event(&feed, "new_block_network", Duration::from_secs(20)).expect("a live tip");
    wait_until("the tip in /api/network", || {
        api.ok("/api/network")["height"].as_u64() >= tip["height"].as_u64()
    });
    let net = api.ok("/api/network");
    assert_eq!(net["blocks"], net["height"]);
    assert_eq!(num(&net["difficulty"]), 1.0, "{net}");
    assert_eq!(net["hash"].as_str().unwrap().len(), 64, "{net}");
    // Two requests while the node mines every second: agree at some time.
    wait_until("/api/pool's height is /api/network's", || {
        let height = api.ok("/api/network")["height"].as_u64();
        api.ok("/api/pool")["blockHeight"].as_u64() == height
    });
}

/// With `node_url`, `/api/network` shows the node's chain before any
/// network block: height, difficulty, mempool and chain from
/// `getmininginfo`, the tip's hash and parent from its header.
#[test]
fn the_node_tells_the_network_before_any_block() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let node = format!(
        r#","node_url":"{}","node_user":"tbg","node_pass":"tbg","node_poll_secs":1"#,
        stack.node.addr
    );
    let api = ApiProcess::start(&stack, &node);
    wait_until("the node's tip in /api/network", || {
        api.ok("/api/network")["height"].as_u64() == Some(100)
    });
    let net = api.ok("/api/network");
    assert_eq!(net["blocks"].as_u64(), Some(100), "{net}");
    assert_eq!(num(&net["difficulty"]), 1.0, "{net}");
    assert_eq!(net["chain"].as_str(), Some("regtest"), "{net}");
    assert!(net["pooledtx"].as_u64().unwrap() > 0, "{net}");
    assert!(num(&net["networkhashps"]) > 0.0, "{net}");
    assert_eq!(net["hash"].as_str().unwrap().len(), 64, "{net}");
    assert_eq!(net["prevHash"].as_str().unwrap().len(), 64, "{net}");
    assert_eq!(api.ok("/api/pool")["blockHeight"].as_u64(), Some(100));

    // Without it, the network is unknown until a network block.
    drop(api);
    let events_only = ApiProcess::start(&stack, "");
    assert_eq!(events_only.ok("/api/network")["height"].as_u64(), Some(0));
}

#[test]
fn a_restart_counts_nothing_twice() {
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let mut api = ApiProcess::start(&stack, "");
    let mine = |secs: u32, name: &str| {
        let report = stack.dir.path.join(format!("swarm-{name}.json"));
        let child = swarm(&stack.pool.addr, ADDRESS, 2, secs, &report);
        stack::assert_mined(&swarm_report(child, &report), 2);
    };
    mine(3, "a");
    // Every event stored first: the pool sends a share's event after its
    // reply, so the last ones trail the swarm's end by a few ms.
    stack.wait_disconnects(2);
    wait_stored(&stack);
    wait_agrees(&stack, &api, "at first");
    let before = chart_work(&api);
    api.restart();
    // From PostgreSQL alone, then the rewound streams: the same figures.
    wait_agrees(&stack, &api, "after a restart");
    let after = chart_work(&api);
    assert!(
        after.0 <= before.1 * (1.0 + 1e-9) && after.1 >= before.0 * (1.0 - 1e-9),
        "{before:?} → {after:?}"
    );
    // Killed mid-run with entries read but maybe not acknowledged, and
    // shares PostgreSQL may not have yet.
    mine(2, "b");
    api.kill_and_start_again();
    mine(2, "c");
    wait_agrees(&stack, &api, "after a kill");
}

/// Wait until the API's weekly shares and all-time best are Redis's.
fn wait_agrees(stack: &Stack, api: &ApiProcess, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = api.ok(&format!("/api/client/{ADDRESS}/bests"));
        let (shares, best) = (accepted_shares(stack), pool_best(stack));
        if b["weeklyShares"].as_u64() == Some(shares) && num(&b["allTime"]) == best {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{when}: API {b}; Redis: {shares} accepted shares, best {best}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The hashes behind the address's chart, as a (low, high) bracket: a
/// point is a rate over 600 s, but the current one over the seconds of its
/// slot already past when the API answered (at least 60), somewhere
/// between the times before and after the request.
fn chart_work(api: &ApiProcess) -> (f64, f64) {
    let unix = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    loop {
        let t0 = unix();
        let chart = api.ok(&format!("/api/client/{ADDRESS}/chart"));
        let t1 = unix();
        let slot_start = (t1 / 600.0).floor() * 600.0;
        if t0 < slot_start {
            continue; // a slot began during the request: which one is last?
        }
        let points = chart.as_array().unwrap();
        let (last, full) = points.split_last().unwrap();
        let full: f64 = full.iter().map(|p| num(&p["data"]) * 600.0).sum();
        let last = num(&last["data"]);
        let secs = |t: f64| (t - slot_start).clamp(60.0, 600.0);
        return (full + last * secs(t0), full + last * secs(t1));
    }
}
