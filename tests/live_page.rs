//! The live page in a real browser (headless Chromium through
//! chromedriver) against the real stack: while the swarm mines, a share
//! and a personal best appear in the feed without a reload, and the
//! address view shows the all-time best the pool announced. A screenshot
//! goes to the test's output (`CARGO_TARGET_TMPDIR/live-page.png`); with
//! `TBG_UPDATE_SCREENSHOT=1` also to `docs/live-page.png`.

#[path = "common/api.rs"]
mod api;
mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/stack.rs"]
mod stack;
#[path = "common/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use api::{pool_best, ApiProcess};
use stack::{swarm, swarm_report, Stack, ADDRESS};
use webdriver::Browser;

const LIVE: Duration = Duration::from_secs(30);

#[test]
fn shares_and_personal_bests_appear_live_in_a_browser() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let stack = Stack::start(&["--bits", "1d00ffff"]);
    let node = format!(
        r#","node_url":"{}","node_user":"tbg","node_pass":"tbg","node_poll_secs":1"#,
        stack.node.addr
    );
    let api = ApiProcess::start(&stack, &node);
    browser.goto(&format!("http://{}/#{ADDRESS}", api.addr));
    browser.wait_for(
        "the event stream",
        LIVE,
        "return document.getElementById('status').classList.contains('on')",
    );

    let report = stack.dir.path.join("swarm.json");
    let miners = swarm(&stack.pool.addr, &format!("{ADDRESS}.rig1"), 2, 8, &report);
    browser.wait_for_each(
        LIVE,
        &[
            ("a live share", "return !!document.querySelector('#feed li.share.mine')"),
            (
                "a live personal best",
                "const b = document.querySelector('#feed li.best.mine'); return !!b && b.textContent.includes('Personal best!')",
            ),
        ],
    );
    stack::assert_mined(&swarm_report(miners, &report), 2);

    // The address view: the all-time tier shows the pool's best, as the
    // page itself formats it.
    stack.wait_disconnects(2);
    let best = pool_best(&stack);
    let js = format!(
        "return document.getElementById('best-alltime').textContent === human({best:e}) && !document.getElementById('me').hidden"
    );
    browser.wait_for("the all-time best on the address view", LIVE, &js);
    let chart = browser.script("return document.querySelectorAll('#chart svg path').length");
    assert_eq!(chart, 2, "the chart is drawn");

    // The screenshot while miners are connected: workers listed, the
    // pool's miners counted, the network known from the node.
    let report = stack.dir.path.join("swarm-shot.json");
    let miners = swarm(&stack.pool.addr, &format!("{ADDRESS}.rig2"), 2, 20, &report);
    browser.wait_for_each(
        LIVE,
        &[
            (
                "workers listed",
                "return document.querySelectorAll('#workers tbody tr td').length >= 10",
            ),
            (
                "the pool's miners",
                "return document.getElementById('pool-miners').textContent === '2'",
            ),
            (
                "the network height",
                "return document.getElementById('net-height').textContent === '100'",
            ),
        ],
    );
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-page.png");
    browser.screenshot(&shot);
    stack::assert_mined(&swarm_report(miners, &report), 2);
    eprintln!("screenshot: {}", shot.display());
    if std::env::var_os("TBG_UPDATE_SCREENSHOT").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/live-page.png");
        std::fs::copy(&shot, docs).unwrap();
    }
}
