//! Routes and handlers: each request is answered from the in-memory
//! state under its lock (no I/O while holding it, except reading a
//! block's verdict file after). Shapes in src/api/model.rs.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use super::http::{Handler, Reply, Request};
use super::model::*;
use super::sse::Hub;
use super::state::{session_id, State};
use crate::bitcoin::address::{script_pubkey, Network};

/// The live page, built in (`web_dir` serves another copy from disk).
const PAGE: [(&str, &str, &str); 3] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../web/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/app.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../../web/style.css"),
    ),
];

pub struct Api {
    pub state: Arc<Mutex<State>>,
    pub hub: Hub,
    pub network: Option<Network>,
    pub fee: f64,
    pub blocks_dir: Option<PathBuf>,
    pub web_dir: Option<PathBuf>,
}

impl Handler for Api {
    fn handle(&self, req: &Request) -> Reply {
        let path = req.path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        match parts.as_slice() {
            [] | ["app.js"] | ["style.css"] | ["index.html"] => self.page(path),
            ["api", "info"] => self.info(),
            ["api", "pool"] => self.pool(),
            ["api", "network"] => json("200 OK", &self.state.lock().network()),
            ["api", "blocks"] => self.blocks(),
            ["api", "events"] => self.events(req),
            ["api", "client", address] => self.client(address, Client::Info),
            ["api", "client", address, "chart"] => self.client(address, Client::Chart),
            ["api", "client", address, "bests"] => self.client(address, Client::Bests),
            _ => error("404 Not Found", "no such endpoint"),
        }
    }

    fn adopt(&self, stream: TcpStream, address: Option<String>) -> bool {
        self.hub.add(stream, address)
    }

    fn sse_has_room(&self) -> bool {
        self.hub.has_room()
    }
}

#[derive(Clone, Copy)]
enum Client {
    Info,
    Chart,
    Bests,
}

fn json<T: Serialize>(status: &'static str, value: &T) -> Reply {
    Reply::Full {
        status,
        content_type: "application/json",
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

fn error(status: &'static str, why: &str) -> Reply {
    json(
        status,
        &ApiError {
            error: why.to_string(),
        },
    )
}

impl Api {
    fn page(&self, path: &str) -> Reply {
        let path = match path {
            "" | "/index.html" => "/",
            p => p,
        };
        let Some((name, content_type, built_in)) = PAGE.iter().find(|(p, _, _)| *p == path) else {
            return error("404 Not Found", "no such page");
        };
        let body = match &self.web_dir {
            Some(dir) => {
                let file = if *name == "/" {
                    "index.html"
                } else {
                    &name[1..]
                };
                std::fs::read(dir.join(file)).unwrap_or_else(|_| built_in.as_bytes().to_vec())
            }
            None => built_in.as_bytes().to_vec(),
        };
        Reply::Full {
            status: "200 OK",
            content_type,
            body,
        }
    }

    /// A valid address of the pool's chain (any chain when not configured).
    fn check_address(&self, address: &str) -> Result<(), String> {
        let networks = match self.network {
            Some(n) => vec![n],
            None => vec![Network::Mainnet, Network::Testnet, Network::Regtest],
        };
        let mut last = String::new();
        for n in networks {
            match script_pubkey(address, n) {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    fn client(&self, address: &str, what: Client) -> Reply {
        if let Err(why) = self.check_address(address) {
            return error("400 Bad Request", &format!("invalid address: {why}"));
        }
        let now = super::now();
        let state = self.state.lock();
        if !state.users.contains_key(address) {
            return error("404 Not Found", "unknown address: no share from it yet");
        }
        match what {
            Client::Info => json("200 OK", &client_info(&state, address, now)),
            Client::Chart => json("200 OK", &state.users[address].chart.chart(now)),
            Client::Bests => json("200 OK", &bests(&state, address, now)),
        }
    }

    fn pool(&self) -> Reply {
        let now = super::now();
        let state = self.state.lock();
        let (mut rate, mut miners) = (0.0, 0);
        for (_, s) in state.active(None, now) {
            rate += s.hashrate(now);
            miners += 1;
        }
        json(
            "200 OK",
            &PoolInfo {
                total_hash_rate: rate,
                block_height: state.height(),
                total_miners: miners,
                blocks_found: state.found_blocks(),
                fee: self.fee,
            },
        )
    }

    fn info(&self) -> Reply {
        let now = super::now();
        let state = self.state.lock();
        json(
            "200 OK",
            &SiteInfo {
                block_data: state.found_blocks(),
                user_agents: user_agents(&state, now),
                high_scores: high_scores(&state),
                uptime: iso_time(state.started),
            },
        )
    }

    fn blocks(&self) -> Reply {
        let mut blocks: Vec<BlockInfo> = self.state.lock().blocks.iter().rev().cloned().collect();
        if let Some(dir) = &self.blocks_dir {
            for b in &mut blocks {
                b.verdict = verdict(dir, b);
            }
        }
        json("200 OK", &blocks)
    }

    fn events(&self, req: &Request) -> Reply {
        match req.param("address") {
            None | Some("") => Reply::Events { address: None },
            Some(a) => match self.check_address(a) {
                Ok(()) => Reply::Events {
                    address: Some(a.to_string()),
                },
                Err(why) => error("400 Bad Request", &format!("invalid address: {why}")),
            },
        }
    }
}

/// The node's verdict the pool wrote beside the block (`<height>-<hash>.result`).
fn verdict(dir: &std::path::Path, b: &BlockInfo) -> Option<String> {
    // The hash is 64 hex digits from the pool: no path can come of it.
    if !b.hash.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let path = dir.join(format!("{}-{}.result", b.height, b.hash));
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim().chars().take(512).collect())
}

fn client_info(state: &State, address: &str, now: f64) -> ClientInfo {
    let user = &state.users[address];
    let mut workers: Vec<WorkerInfo> = state
        .active(Some(address), now)
        .map(|(key, s)| WorkerInfo {
            session_id: session_id(key),
            name: super::event::worker_name(&s.worker).to_string(),
            best_difficulty: s.best,
            hash_rate: s.hashrate(now),
            start_time: iso_time(s.start),
            last_seen: iso_time(s.last_seen),
        })
        .collect();
    workers.sort_by(|a, b| (&a.name, &a.session_id).cmp(&(&b.name, &b.session_id)));
    ClientInfo {
        best_difficulty: user.all_time,
        workers_count: workers.len(),
        workers,
    }
}

fn bests(state: &State, address: &str, now: f64) -> Bests {
    let user = &state.users[address];
    let week = super::state::week_of(now);
    let this_week = |w: u32, v: f64| if w == week { v } else { 0.0 };
    let session_best = |worker: Option<&str>| {
        state
            .active(Some(address), now)
            .filter(|(_, s)| worker.is_none_or(|w| w == s.worker))
            .map(|(_, s)| s.best)
            .fold(0.0, f64::max)
    };
    let mut workers: Vec<WorkerBests> = user
        .workers
        .iter()
        .map(|(worker, b)| WorkerBests {
            name: super::event::worker_name(worker).to_string(),
            worker: worker.clone(),
            session: session_best(Some(worker)),
            week_best: this_week(b.week, b.week_best),
            all_time: b.all_time,
        })
        .collect();
    workers.sort_by(|a, b| a.worker.cmp(&b.worker));
    Bests {
        address: address.to_string(),
        week,
        session: session_best(None),
        week_best: this_week(user.week, user.week_best),
        all_time: user.all_time,
        weekly_shares: if user.week == week {
            user.weekly_shares
        } else {
            0
        },
        workers,
    }
}

fn user_agents(state: &State, now: f64) -> Vec<UserAgentRow> {
    let mut rows: Vec<UserAgentRow> = Vec::new();
    for (_, s) in state.active(None, now) {
        let ua = if s.useragent.is_empty() {
            "Other"
        } else {
            &s.useragent
        };
        let i = match rows.iter().position(|r| r.user_agent == ua) {
            Some(i) => i,
            None => {
                rows.push(UserAgentRow {
                    user_agent: ua.to_string(),
                    count: 0,
                    best_difficulty: 0.0,
                    total_hash_rate: 0.0,
                });
                rows.len() - 1
            }
        };
        let r = &mut rows[i];
        r.count += 1;
        r.best_difficulty = r.best_difficulty.max(s.best);
        r.total_hash_rate += s.hashrate(now);
    }
    rows.sort_by(|a, b| b.total_hash_rate.total_cmp(&a.total_hash_rate));
    rows
}

/// The ten best all-time difficulties (public-pool shows no addresses).
fn high_scores(state: &State) -> Vec<HighScore> {
    let mut users: Vec<_> = state.users.values().filter(|u| u.all_time > 0.0).collect();
    users.sort_by(|a, b| b.all_time.total_cmp(&a.all_time));
    users
        .into_iter()
        .take(10)
        .map(|u| HighScore {
            updated_at: iso_time(u.best_at),
            best_difficulty: u.all_time,
            best_difficulty_user_agent: u.useragent.clone(),
        })
        .collect()
}
