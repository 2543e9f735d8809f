//! `tbg-perf`: named load scenarios (steady, burst, max, connections,
//! events, flood) against this pool, any Stratum v1 pool, or this pool and
//! ckpool side by side; Markdown reports with hdrhistogram percentiles
//! and plots under `perf/results/<date>-<scenario>/`. `--help` says more.

mod cli;
mod flood;
mod load;
mod plot;
mod procs;
mod report;
mod scenarios;

use std::time::Instant;

use cli::{Command, Config};

fn main() {
    let cfg = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(cfg)) => cfg,
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("tbg-perf: {e}\n\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    let mut failed = false;
    for name in &cfg.scenarios {
        let suffix = match (&cfg.ckpool, cfg.unchecked) {
            (Some(_), _) => "-vs-ckpool",
            (None, true) => "-unchecked",
            (None, false) => "",
        };
        let packed = if cfg.event_pack_bytes > 0 {
            "-packed"
        } else {
            ""
        };
        let dir = cfg.out.join(format!("{}-{name}{packed}{suffix}", today()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("tbg-perf: {}: {e}", dir.display());
            std::process::exit(1);
        }
        println!("==> {name} (results in {})", dir.display());
        // These two always send unchecked shares, whatever the flags say.
        let unchecked = cfg.unchecked || matches!(name.as_str(), "delivery" | "capacity");
        let header = header(&Config {
            unchecked,
            ..cfg.clone()
        });
        let started = Instant::now();
        match scenarios::run(name, &cfg, &dir).and_then(|s| report::write(&dir, &cfg, &header, &s))
        {
            Ok(text) => {
                println!("{text}");
                println!("==> {name} done in {} s", started.elapsed().as_secs());
            }
            Err(e) => {
                eprintln!("tbg-perf: {name}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}

/// What ran where: machine, versions, settings.
fn header(cfg: &Config) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    // A busy machine skews every figure: say how quiet it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let pack = match cfg.event_pack_bytes {
        0 => String::new(),
        n => format!(", event_pack_bytes {n}"),
    };
    let mut h = format!(
        "- date: {}\n- machine: {cores} cores, {cpu}; pool, swarm and node share it (loopback); load average before the run: {load}\n- tbg-pool {} (commit {commit}), 2 core threads unless the scenario says otherwise, blockpoll 100 ms{pack}\n",
        today(),
        env!("CARGO_PKG_VERSION")
    );
    if let Some(path) = &cfg.ckpool {
        h.push_str(&format!(
            "- ckpool: `{}` in solo mode (-B), mindiff/startdiff 1, blockpoll 100 ms\n",
            path.display()
        ));
    }
    if let Some(pool) = &cfg.pool {
        h.push_str(&format!("- pool under test: {pool} (started elsewhere)\n"));
    }
    h.push_str(&format!(
        "- shares: {}\n",
        if cfg.unchecked {
            "unchecked (unhashed nonces; the pool hashes and rejects them)"
        } else {
            "real (hashed by the swarm)"
        }
    ));
    h
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = tbg_pool::time::civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}
