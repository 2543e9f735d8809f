//! A session driven through its [`Context`](super::Context) in process
//! ([`crate::testkit`]): how vardiff counts a miner's shares.

use simd_json::prelude::*;

use crate::bitcoin::target::compact_to_target;
use crate::bitcoin::Network;
use crate::config::Config;
use crate::fuzz::{REGTEST_ADDRESS, REGTEST_TEMPLATE};
use crate::node::Template;
use crate::testkit::Connection;

/// A regtest connection whose network difficulty is 1, so the tiny
/// shares of a test are never blocks.
fn connection() -> Connection {
    let mut t = Template::from_json(&mut REGTEST_TEMPLATE.to_vec()).expect("the regtest template");
    t.bits = 0x1d00_ffff;
    t.target = compact_to_target(t.bits).unwrap();
    let config = Config {
        mindiff: 1e-9,
        startdiff: 1e-8,
        ..Config::default()
    };
    Connection::new(config, &t, Network::Regtest)
}

/// Every line waiting, parsed.
fn lines(c: &mut Connection) -> Vec<simd_json::OwnedValue> {
    std::iter::from_fn(|| c.line())
        .map(|mut l| simd_json::to_owned_value(&mut l).expect("JSON"))
        .collect()
}

/// The difficulties set and the job ids sent among `msgs`.
fn diffs_and_jobs(msgs: &[simd_json::OwnedValue]) -> (Vec<f64>, Vec<String>) {
    let of = |m: &'static str| {
        msgs.iter()
            .filter(move |v| v.get("method").and_then(|x| x.as_str()) == Some(m))
    };
    let diffs = of("mining.set_difficulty").map(|v| v["params"][0].cast_f64().unwrap());
    let jobs = of("mining.notify").map(|v| v["params"][0].as_str().unwrap().to_string());
    (diffs.collect(), jobs.collect())
}

/// `n` shares on `job` at `diff`, all accepted.
fn submit(
    c: &mut Connection,
    user: &str,
    job: &str,
    diff: f64,
    n: u32,
) -> Vec<simd_json::OwnedValue> {
    let mut msgs = Vec::new();
    for i in 0..n {
        let line = c.share(100 + u64::from(i), user, job, diff);
        c.send(line.as_bytes());
        let got = lines(c);
        let reply = got
            .iter()
            .find(|v| v.get("method").is_none())
            .expect("a reply");
        assert_eq!(reply["result"].as_bool(), Some(true), "{reply:?}");
        msgs.extend(got);
    }
    msgs
}

/// cpuminer binds a new difficulty only with its next job: its shares on
/// the older job still come at the old difficulty and rate. They are
/// accepted but not counted, so they cannot raise the difficulty again;
/// shares on a job at the new difficulty are counted.
#[test]
fn vardiff_counts_only_shares_on_jobs_at_the_current_difficulty() {
    let mut c = connection();
    let user = format!("{REGTEST_ADDRESS}.cpu");
    c.send(br#"{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}"#);
    c.send(format!(r#"{{"id":2,"method":"mining.authorize","params":["{user}","x"]}}"#).as_bytes());
    let (diffs, jobs) = diffs_and_jobs(&lines(&mut c));
    assert_eq!(diffs, [1e-8]);
    let first = jobs[0].clone();

    // Twelve shares in no time: the largest step up, once.
    let (diffs, _) = diffs_and_jobs(&submit(&mut c, &user, &first, 1e-8, 12));
    assert_eq!(diffs, [64e-8]);
    // Many more on the old job, as fast: accepted, not counted.
    let (diffs, _) = diffs_and_jobs(&submit(&mut c, &user, &first, 1e-8, 40));
    assert!(
        diffs.is_empty(),
        "raised again by uncounted shares: {diffs:?}"
    );
    assert_eq!(c.session.shares_accepted, 52);

    // The next job carries the new difficulty; its shares count.
    c.send_work(false);
    let (diffs, jobs) = diffs_and_jobs(&lines(&mut c));
    assert!(diffs.is_empty(), "{diffs:?}");
    let second = jobs[0].clone();
    assert_ne!(second, first);
    let (diffs, _) = diffs_and_jobs(&submit(&mut c, &user, &second, 64e-8, 12));
    assert_eq!(diffs, [64.0 * 64e-8]);
}
