//! `tbg-swarm`: a load generator of N Stratum v1 connections that behave
//! like cpuminer 2.5.1 clients (its handshake, real SHA-256d shares on
//! the pool's jobs), for any Stratum v1 pool. It measures submit→reply
//! latency and counts what the pool answered.
//!
//! Run `tbg-swarm --help` for the flags.

mod cli;
mod conn;
mod driver;
mod job;
mod message;
mod miner;
mod pacer;
mod report;
mod request;
mod source;
mod stats;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::cli::{Command, Config};
use crate::driver::{Plan, Snapshot};
use crate::miner::Settings;
use crate::stats::{new_histogram, Counters, Totals};

/// Exit status when no connection to the pool could be made.
const EXIT_NO_CONNECTION: i32 = 1;

/// Exit status on bad usage.
const EXIT_USAGE: i32 = 2;

/// Progress lines are printed this often.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// How long after each whole second the line is printed, so the threads'
/// snapshots for that second (sent on the second) are in.
const PROGRESS_LAG: Duration = Duration::from_millis(100);

fn main() {
    let config = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => *config,
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("tbg-swarm: {e}\n\n{}", cli::USAGE);
            std::process::exit(EXIT_USAGE);
        }
    };
    let pool = match resolve(&config) {
        Ok(pool) => pool,
        Err((code, e)) => {
            eprintln!("tbg-swarm: {e}");
            std::process::exit(code);
        }
    };
    warn_about_file_limit(&config);
    let (totals, series) = run(config.clone(), pool);
    let info = report::RunInfo {
        pool: config.pool.clone(),
        miners: config.miners,
        threads: config.threads.min(config.miners),
        rate_per_miner: config.rate,
        duration_secs: config.duration.as_secs_f64(),
    };
    let summary = report::summarize(info, &totals, series);
    print!("{}", report::render_text(&summary));
    if let Some(path) = &config.report_json {
        if let Err(e) = std::fs::write(path, report::render_json(&summary)) {
            eprintln!("tbg-swarm: cannot write {}: {e}", path.display());
        }
    }
    if totals.counters.connections_opened == 0 {
        eprintln!("tbg-swarm: no connection to {} could be made", config.pool);
        std::process::exit(EXIT_NO_CONNECTION);
    }
}

/// The pool's address (resolved once), checked against `--source-ips`.
fn resolve(config: &Config) -> Result<SocketAddr, (i32, String)> {
    let pool = config
        .pool
        .to_socket_addrs()
        .map_err(|e| {
            (
                EXIT_NO_CONNECTION,
                format!("cannot resolve {}: {e}", config.pool),
            )
        })?
        .next()
        .ok_or((
            EXIT_NO_CONNECTION,
            format!("{} resolves to no address", config.pool),
        ))?;
    if config.source_ips.is_some() && !pool.is_ipv4() {
        return Err((
            EXIT_USAGE,
            "--source-ips needs an IPv4 pool address".to_string(),
        ));
    }
    Ok(pool)
}

/// Say so when the open-files limit cannot hold every connection.
fn warn_about_file_limit(config: &Config) {
    if let Some(limit) = source::open_files_limit() {
        if (config.miners as u64) + 64 > limit {
            eprintln!(
                "tbg-swarm: warning: open files limit {limit} is below {} connections; raise it (ulimit -n)",
                config.miners
            );
        }
    }
}

/// Start the threads, print progress until they end, merge their stats;
/// also the progress ticks.
fn run(config: Config, pool: SocketAddr) -> (Totals, Vec<report::Second>) {
    let threads = config.threads.min(config.miners).max(1);
    let quiet = config.quiet;
    let settings = Arc::new(Settings {
        password: config.password.clone(),
        agent: config.agent.clone(),
        suggest_diff: config.suggest_diff,
        rate: config.rate,
        unchecked: config.unchecked_shares,
    });
    let start = Instant::now();
    let plan = Arc::new(Plan {
        pool,
        deadline: start + config.duration,
        config,
        settings,
        start,
    });
    let (tx, rx) = crossbeam_channel::unbounded();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (plan, tx) = (plan.clone(), tx.clone());
            std::thread::spawn(move || driver::run_thread(t, threads, plan, tx))
        })
        .collect();
    drop(tx);
    let series = show_progress(&rx, threads, start, quiet);
    let mut finals = Vec::with_capacity(threads);
    for handle in handles {
        match handle.join() {
            Ok(Ok(stats)) => finals.push(stats),
            Ok(Err(e)) => eprintln!("tbg-swarm: event loop failed: {e}"),
            Err(_) => eprintln!("tbg-swarm: an event-loop thread panicked"),
        }
    }
    (Totals::merge(&finals), series)
}

/// Print a progress line every second from the threads' snapshots, until
/// every thread has finished (the channel closes); returns every tick.
fn show_progress(
    rx: &Receiver<Snapshot>,
    threads: usize,
    start: Instant,
    quiet: bool,
) -> Vec<report::Second> {
    let mut series = Vec::new();
    let mut latest = vec![Counters::default(); threads];
    let mut recent = new_histogram();
    let mut next_print = start + PROGRESS_INTERVAL + PROGRESS_LAG;
    loop {
        let wait = next_print.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(snap) => {
                if let Some(slot) = latest.get_mut(snap.thread) {
                    *slot = snap.counters;
                }
                let _ = recent.add(&snap.recent);
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                let mut sum = Counters::default();
                latest.iter().for_each(|c| sum.add(c));
                if !quiet {
                    println!("{}", report::progress_line(start.elapsed(), &sum, &recent));
                }
                // Bounded by the run's duration (at most a day of ticks).
                series.push(report::Second::new(start.elapsed(), &sum, &recent));
                recent.reset();
                next_print += PROGRESS_INTERVAL;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return series,
        }
    }
}
