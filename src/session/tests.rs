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

/// The difficulties set and the jobs sent (id, ntime) among `msgs`.
fn diffs_and_jobs(msgs: &[simd_json::OwnedValue]) -> (Vec<f64>, Vec<(String, String)>) {
    let of = |m: &'static str| {
        msgs.iter()
            .filter(move |v| v.get("method").and_then(|x| x.as_str()) == Some(m))
    };
    let diffs = of("mining.set_difficulty").map(|v| v["params"][0].cast_f64().unwrap());
    let text = |v: &simd_json::OwnedValue, i: usize| v["params"][i].as_str().unwrap().to_string();
    let jobs = of("mining.notify").map(|v| (text(v, 0), text(v, 7)));
    (diffs.collect(), jobs.collect())
}

/// `n` shares on `job` (id, ntime) at `diff`, all accepted.
fn submit(
    c: &mut Connection,
    user: &str,
    (job, ntime): &(String, String),
    diff: f64,
    n: u32,
) -> Vec<simd_json::OwnedValue> {
    let mut msgs = Vec::new();
    for i in 0..n {
        let line = c.share(100 + u64::from(i), user, job, ntime, diff);
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

/// cpuminer binds a new difficulty only with its next job: a raise comes
/// with a fresh job at the new difficulty, so it takes effect at once.
/// Its shares on the older job still come at the old difficulty and
/// rate: they are accepted but not counted, so they cannot raise the
/// difficulty again; shares on the new job are counted.
#[test]
fn a_raise_comes_with_a_fresh_job_and_only_its_shares_count() {
    let mut c = connection();
    let user = format!("{REGTEST_ADDRESS}.cpu");
    c.send(br#"{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}"#);
    c.send(format!(r#"{{"id":2,"method":"mining.authorize","params":["{user}","x"]}}"#).as_bytes());
    let (diffs, jobs) = diffs_and_jobs(&lines(&mut c));
    assert_eq!(diffs, [1e-8]);
    let first = jobs[0].clone();

    // Shares in no time: the largest step up, once, after four, and
    // right after it (and the fourth's reply) a job carrying it.
    let msgs = submit(&mut c, &user, &first, 1e-8, 4);
    let methods: Vec<_> = msgs
        .iter()
        .map(|v| v.get("method").and_then(|m| m.as_str()).unwrap_or("reply"))
        .collect();
    assert_eq!(
        methods[methods.len() - 3..],
        ["reply", "mining.set_difficulty", "mining.notify"]
    );
    let (diffs, jobs) = diffs_and_jobs(&msgs);
    assert_eq!(diffs, [64e-8]);
    let second = jobs[0].clone();
    assert_ne!(second.0, first.0, "a new job id");
    // Its ntime is past the first's, so its headers are not the first's.
    let ntime = |job: &(String, String)| u32::from_str_radix(&job.1, 16).unwrap();
    assert!(ntime(&second) > ntime(&first), "{second:?} after {first:?}");
    let notify = msgs.last().unwrap();
    assert_eq!(notify["params"][8].as_bool(), Some(false), "not clean");

    // Many more on the old job, as fast: accepted, not counted.
    let (diffs, jobs) = diffs_and_jobs(&submit(&mut c, &user, &first, 1e-8, 40));
    assert!(
        diffs.is_empty(),
        "raised again by uncounted shares: {diffs:?}"
    );
    assert!(jobs.is_empty());
    assert_eq!(c.session.shares_accepted, 44);

    // The fresh job's shares count.
    let (diffs, jobs) = diffs_and_jobs(&submit(&mut c, &user, &second, 64e-8, 4));
    assert_eq!(diffs, [64.0 * 64e-8]);
    assert_eq!(jobs.len(), 1);
}
