//! Command-line flags, hand-parsed (no argument-parsing dependency).

use std::path::PathBuf;
use std::time::Duration;

use crate::source::SourceIps;

/// Most connections one run may ask for (each costs a socket and ~1 KiB).
pub const MAX_MINERS: u64 = 4_000_000;

/// Most event-loop threads.
pub const MAX_THREADS: u64 = 256;

/// Longest run: one day.
pub const MAX_DURATION_SECS: u64 = 86_400;

/// Highest `--rate` (shares per second per miner).
pub const MAX_RATE: f64 = 100_000.0;

/// Highest `--connect-rate` (new connections per second, all threads).
pub const MAX_CONNECT_RATE: u64 = 10_000_000;

/// Longest user, worker prefix, password or agent text.
pub const MAX_TEXT_LEN: usize = 512;

/// The text `--help` prints.
pub const USAGE: &str = "\
tbg-swarm: N Stratum v1 connections that mine like cpuminer 2.5.1 (real
SHA-256d on the pool's jobs), to measure submit->reply latency and count
results against any Stratum v1 pool.

Usage: tbg-swarm --user ADDRESS [FLAGS]

  --pool HOST:PORT          the pool (default 127.0.0.1:3333); the only address ever connected to
  --miners N                connections (default 10)
  --user ADDRESS            payout address / username (required); workers are ADDRESS.<prefix><i>
  --worker-prefix P         worker name prefix (default w)
  --users N                 spread the miners over N payout addresses (default 1): ADDRESS, then
                            N-1 more of its network derived from it (pools cap workers per address)
  --password X              mining.authorize password (default x; may carry d=<diff>)
  --suggest-diff D          send mining.suggest_difficulty [D] after subscribe (as NerdMiner does)
  --rate R                  target shares per second per miner (default 0.2; 0 = as fast as hashing allows)
  --duration-secs S         how long to mine (default 30)
  --threads T               event-loop threads, each with its own mio Poll (default 2)
  --connect-rate N          new connections per second, all threads together (default 2000)
  --source-ips A-B          bind each socket to one of the IPv4 addresses A..=B, e.g. 127.0.0.2-127.0.10.254
  --agent TEXT              mining.subscribe user agent (default cpuminer/2.5.1)
  --report-json FILE        also write the summary as JSON to FILE
  --unchecked-shares        submit the next nonce without hashing it (the pool rejects nearly all as
                            low difficulty): loads the pool's validation with no client CPU, and
                            compares pools whose minimum difficulty is too high to hash for
  --quiet                   no progress line every second
  --help                    print this text

Examples:
  tbg-swarm --user bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080 --miners 1000 --rate 1 --password x,d=0.00000001
  tbg-swarm --pool 10.0.0.5:3333 --user bc1q... --miners 50000 --source-ips 127.0.0.2-127.0.0.254 --rate 0.01

Exit status: 0 when it ran (even with rejects), 1 when no connection could be
made, 2 on bad usage. Many connections need `ulimit -n` above --miners.
";

/// Every flag that takes a value.
const VALUE_FLAGS: [&str; 14] = [
    "--pool",
    "--miners",
    "--user",
    "--users",
    "--worker-prefix",
    "--password",
    "--suggest-diff",
    "--rate",
    "--duration-secs",
    "--threads",
    "--connect-rate",
    "--source-ips",
    "--agent",
    "--report-json",
];

/// Everything the flags configure.
#[derive(Debug, Clone)]
pub struct Config {
    pub pool: String,
    pub miners: usize,
    pub user: String,
    /// The payout addresses miners are spread over (`--users`; the
    /// first is `user`).
    pub users: Vec<String>,
    pub worker_prefix: String,
    pub password: String,
    pub suggest_diff: Option<f64>,
    /// Shares per second per miner; 0 = unpaced.
    pub rate: f64,
    pub duration: Duration,
    pub threads: usize,
    pub connect_rate: u64,
    pub source_ips: Option<SourceIps>,
    pub agent: String,
    pub report_json: Option<PathBuf>,
    pub quiet: bool,
    /// Submit nonces without hashing them.
    pub unchecked_shares: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            pool: "127.0.0.1:3333".to_string(),
            miners: 10,
            user: String::new(),
            users: Vec::new(),
            worker_prefix: "w".to_string(),
            password: "x".to_string(),
            suggest_diff: None,
            rate: 0.2,
            duration: Duration::from_secs(30),
            threads: 2,
            connect_rate: 2000,
            source_ips: None,
            agent: "cpuminer/2.5.1".to_string(),
            report_json: None,
            quiet: false,
            unchecked_shares: false,
        }
    }
}

impl Config {
    /// Worker name of miner `i`: `ADDRESS.<prefix><i>`, miners taking
    /// the `--users` addresses in turn.
    pub fn worker_name(&self, i: usize) -> String {
        let user = match self.users.len() {
            0 => &self.user,
            n => &self.users[i % n],
        };
        format!("{user}.{}{}", self.worker_prefix, i)
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Config>),
    Help,
}

/// Parse the arguments after the program name. Accepts `--flag value`
/// and `--flag=value`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--quiet" | "-q" => {
                config.quiet = true;
                continue;
            }
            "--unchecked-shares" => {
                config.unchecked_shares = true;
                continue;
            }
            _ => {}
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if !VALUE_FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown argument {arg:?}"));
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            return Err(format!("{flag} needs a value"));
        };
        apply(&mut config, &flag, &value)?;
    }
    if config.user.is_empty() {
        return Err("--user ADDRESS is required".to_string());
    }
    if !config.users.is_empty() {
        config.users = derived_addresses(&config.user, config.users.len())?;
    }
    Ok(Command::Run(Box::new(config)))
}

/// Set the field `flag` names.
fn apply(config: &mut Config, flag: &str, value: &str) -> Result<(), String> {
    match flag {
        "--pool" => config.pool = parse_host_port(value)?,
        "--miners" => config.miners = parse_number(flag, value, 1, MAX_MINERS)? as usize,
        "--user" => config.user = parse_text(flag, value)?,
        "--users" => {
            let n = parse_number(flag, value, 1, MAX_MINERS)? as usize;
            config.users = vec![String::new(); n];
        }
        "--worker-prefix" => config.worker_prefix = parse_text(flag, value)?,
        "--password" => config.password = parse_text(flag, value)?,
        "--suggest-diff" => config.suggest_diff = Some(parse_float(flag, value, f64::MAX)?),
        "--rate" => config.rate = parse_float(flag, value, MAX_RATE)?,
        "--duration-secs" => {
            let secs = parse_number(flag, value, 1, MAX_DURATION_SECS)?;
            config.duration = Duration::from_secs(secs);
        }
        "--threads" => config.threads = parse_number(flag, value, 1, MAX_THREADS)? as usize,
        "--connect-rate" => config.connect_rate = parse_number(flag, value, 1, MAX_CONNECT_RATE)?,
        "--source-ips" => config.source_ips = Some(SourceIps::parse(value)?),
        "--agent" => config.agent = parse_text(flag, value)?,
        "--report-json" => config.report_json = Some(PathBuf::from(value)),
        _ => return Err(format!("unknown flag {flag}")),
    }
    if flag == "--suggest-diff" && config.suggest_diff == Some(0.0) {
        return Err("--suggest-diff must be above 0".to_string());
    }
    Ok(())
}

/// `user` and `n - 1` more P2WPKH addresses of its network, each from
/// SHA-256 of `user` and its index.
fn derived_addresses(user: &str, n: usize) -> Result<Vec<String>, String> {
    use bech32::{segwit, Fe32};
    let (hrp, _, _) =
        segwit::decode(user).map_err(|_| "--users needs a segwit --user address".to_string())?;
    let mut all = vec![user.to_string()];
    for i in 1..n {
        let seed = format!("{user}/{i}");
        let program = &tbg_pool::bitcoin::sha256d(seed.as_bytes())[..20];
        all.push(segwit::encode(hrp, Fe32::Q, program).map_err(|e| e.to_string())?);
    }
    Ok(all)
}

/// `HOST:PORT` with a numeric port (resolved later, once).
fn parse_host_port(value: &str) -> Result<String, String> {
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(value.to_string())
        }
        _ => Err(format!("--pool wants HOST:PORT, got {value:?}")),
    }
}

/// Non-empty text of bounded length.
fn parse_text(flag: &str, value: &str) -> Result<String, String> {
    if value.is_empty() || value.len() > MAX_TEXT_LEN {
        return Err(format!("{flag} wants 1 to {MAX_TEXT_LEN} bytes of text"));
    }
    Ok(value.to_string())
}

/// A decimal number in `min..=max`.
fn parse_number(flag: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = value
        .parse()
        .map_err(|_| format!("{flag} wants a number, got {value:?}"))?;
    if n < min || n > max {
        return Err(format!("{flag} {n} is outside {min}..={max}"));
    }
    Ok(n)
}

/// A finite, non-negative float no larger than `max`.
fn parse_float(flag: &str, value: &str, max: f64) -> Result<f64, String> {
    let x: f64 = value
        .parse()
        .map_err(|_| format!("{flag} wants a number, got {value:?}"))?;
    if !x.is_finite() || !(0.0..=max).contains(&x) {
        return Err(format!("{flag} {value} is outside 0..={max}"));
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(c) => Ok(*c),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let c = run(&["--user", "bc1qx"]).unwrap();
        assert_eq!(c.pool, "127.0.0.1:3333");
        assert_eq!((c.miners, c.threads, c.rate), (10, 2, 0.2));
        assert_eq!(c.worker_name(3), "bc1qx.w3");
        let c = run(&[
            "--user=a",
            "--pool",
            "pool.example:3334",
            "--miners",
            "5000",
            "--suggest-diff",
            "1e-8",
            "--rate",
            "0",
            "--worker-prefix",
            "rig",
            "--quiet",
            "--source-ips",
            "127.0.0.2-127.0.0.9",
        ])
        .unwrap();
        assert_eq!(c.pool, "pool.example:3334");
        assert_eq!(c.suggest_diff, Some(1e-8));
        assert_eq!(c.rate, 0.0);
        assert!(c.quiet);
        assert_eq!(c.worker_name(0), "a.rig0");
        assert_eq!(c.source_ips.unwrap().len(), 8);
    }

    #[test]
    fn bad_usage() {
        assert!(run(&[]).is_err(), "--user is required");
        let bcrt = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
        let c = run(&["--user", bcrt, "--users", "3"]).unwrap();
        assert_eq!(c.users.len(), 3);
        assert_eq!(c.worker_name(0), format!("{bcrt}.w0"));
        assert_eq!(c.worker_name(3), format!("{bcrt}.w3"));
        let other = c.worker_name(4);
        let address = other.split('.').next().unwrap();
        assert_ne!(address, bcrt);
        assert!(address.starts_with("bcrt1q"));
        let payout =
            tbg_pool::bitcoin::address::script_pubkey(address, tbg_pool::bitcoin::Network::Regtest);
        assert!(payout.is_ok(), "{address}");
        assert!(run(&["--user", "a", "--users", "2"]).is_err(), "not segwit");
        assert!(run(&["--user", "a", "--miners", "0"]).is_err());
        assert!(run(&["--user", "a", "--rate", "-1"]).is_err());
        assert!(run(&["--user", "a", "--rate", "nan"]).is_err());
        assert!(run(&["--user", "a", "--pool", "nohost"]).is_err());
        assert!(run(&["--user", "a", "--threads"]).is_err());
        assert!(run(&["--user", "a", "--bogus", "1"]).is_err());
        assert!(run(&["--user", "a", "--suggest-diff", "0"]).is_err());
        assert!(matches!(parse(["--help".to_string()]), Ok(Command::Help)));
    }
}
