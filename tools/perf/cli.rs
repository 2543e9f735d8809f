//! Command-line flags, hand-parsed (no argument-parsing dependency).

use std::path::PathBuf;

/// The scenarios, in the order `all` runs them.
pub const SCENARIOS: [&str; 8] = [
    "steady",
    "burst",
    "max",
    "connections",
    "events",
    "delivery",
    "capacity",
    "flood",
];

/// Most connections a scenario may ask for.
pub const MAX_MINERS: u64 = 1_000_000;

/// The text `--help` prints.
pub const USAGE: &str = "\
tbg-perf: named load scenarios against a Stratum v1 pool, with tbg-swarm
(cpuminer-style clients) and tbg-simnode (the simulated node). Writes a
Markdown report with hdrhistogram percentiles (and PNG plots when built with
--features plots) under perf/results/<date>-<scenario>/, printing progress.

Usage: tbg-perf [FLAGS] SCENARIO...

Scenarios:
  steady        MINERS miners at a realistic share rate for SECS seconds
  burst         MINERS miners connected; the network finds 3 blocks: time until every miner has the clean job
  max           raise the share rate step by step until p99 submit latency passes 1 ms
  connections   ramp to CONNECTIONS connections: RSS, memory per connection, accept rate
  events        share rate vs events lost end to end (this pool + tbg-collector only)
  delivery      one pinned pool core: CPU per judged share with no collector and with one
                reading, side by side (this pool only)
  capacity      each pool on one pinned core, the swarm on the other: judged shares/s,
                latency and CPU per share from 2,000 to 160,000 offered shares/s
                (this pool with a collector reading its events)
  flood         on one pool core: an honest swarm's submit latency with 0, 10 and 50
                flooding connections (ping, unknown-method and pre-authorize submit
                bursts), then the pool's memory after 100,000 hostile connections
  all           every scenario above

Flags:
  --pool HOST:PORT      measure an already running pool instead of starting this one
  --pool-pid PID        that pool's process, for its memory and CPU figures
  --node HOST:PORT      that pool's node RPC (regtest; user/password tbg/tbg) for burst's blocks
  --ckpool PATH         also start the ckpool binary at PATH (solo mode, built outside this
                        repository) and run the same scenarios against it: side-by-side report
  --miners N            miners for steady and burst (default 10000)
  --connections N       target of the connections ramp (default 100000, capped by ulimit -n)
  --secs S              length of steady, and of each max/events step (default 60 / 10)
  --unchecked           submit unhashed nonces (judged, nearly all rejected as low difficulty)
                        instead of real shares; implied by --ckpool, whose minimum difficulty
                        of 1 is too high for a swarm to hash for
  --zmq                 the node publishes hashblock over ZMQ and each pool subscribes
                        (this pool's and ckpool's `zmqblock`), blockpoll staying as the fallback
  --event-pack-bytes N  this pool's event_pack_bytes: events share datagrams of up to N bytes
                        (4096..=16384), as the shipped configs set; default one per datagram
  --out DIR             where results go (default perf/results)
  --help                print this text

Examples:
  perf/run steady                       # this pool, 10k miners, 60 s
  perf/run --miners 1000 burst max      # smaller burst, then the max ramp
  perf/run --ckpool ~/src/ckpool/src/ckpool all
  tbg-perf --pool 10.0.0.5:3333 --pool-pid 4242 steady
";

/// Everything the flags configure.
#[derive(Debug, Clone)]
pub struct Config {
    pub scenarios: Vec<String>,
    pub pool: Option<String>,
    pub pool_pid: Option<u32>,
    pub node: Option<String>,
    pub ckpool: Option<PathBuf>,
    pub miners: u64,
    pub connections: u64,
    pub secs: Option<u64>,
    pub unchecked: bool,
    /// `--zmq`: new blocks announced over ZMQ as well as polled.
    pub zmq: bool,
    /// `--event-pack-bytes`: this pool's `event_pack_bytes` (0: its default).
    pub event_pack_bytes: u64,
    pub out: PathBuf,
}

/// What the command line asks for.
pub enum Command {
    Run(Config),
    Help,
}

/// Parse the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut c = Config {
        scenarios: Vec::new(),
        pool: None,
        pool_pid: None,
        node: None,
        ckpool: None,
        miners: 10_000,
        connections: 100_000,
        secs: None,
        unchecked: false,
        zmq: false,
        event_pack_bytes: 0,
        out: PathBuf::from("perf/results"),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--unchecked" => c.unchecked = true,
            "--zmq" => c.zmq = true,
            "--pool" => c.pool = Some(value("--pool")?),
            "--pool-pid" => {
                c.pool_pid = Some(number(&value("--pool-pid")?, u32::MAX as u64)? as u32)
            }
            "--node" => c.node = Some(value("--node")?),
            "--ckpool" => c.ckpool = Some(PathBuf::from(value("--ckpool")?)),
            "--miners" => c.miners = number(&value("--miners")?, MAX_MINERS)?,
            "--connections" => c.connections = number(&value("--connections")?, MAX_MINERS)?,
            "--secs" => c.secs = Some(number(&value("--secs")?, 86_400)?),
            "--out" => c.out = PathBuf::from(value("--out")?),
            "--event-pack-bytes" => {
                c.event_pack_bytes = number(&value("--event-pack-bytes")?, 16_384)?
            }
            "all" => c.scenarios.extend(SCENARIOS.iter().map(|s| s.to_string())),
            s if SCENARIOS.contains(&s) => c.scenarios.push(s.to_string()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if c.scenarios.is_empty() {
        return Err("name at least one scenario".into());
    }
    if c.ckpool.is_some() {
        c.unchecked = true;
    }
    if c.ckpool.is_some() && c.pool.is_some() {
        return Err("--ckpool compares with this pool started here: drop --pool".into());
    }
    Ok(Command::Run(c))
}

fn number(text: &str, max: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        _ => Err(format!("{text:?} is not a number in 1..={max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_and_scenarios() {
        let Ok(Command::Run(c)) = parse(args("--miners 500 --ckpool /x/ckpool steady max")) else {
            panic!("parse");
        };
        assert_eq!(c.miners, 500);
        assert_eq!(c.scenarios, ["steady", "max"]);
        assert!(c.unchecked, "--ckpool implies --unchecked");
        let Ok(Command::Run(c)) = parse(args("all")) else {
            panic!("parse");
        };
        assert_eq!(c.scenarios.len(), SCENARIOS.len());
        assert!(parse(args("")).is_err());
        assert!(parse(args("steady --miners 0")).is_err());
        assert!(parse(args("nonsense")).is_err());
        assert!(matches!(parse(args("--help")), Ok(Command::Help)));
    }
}
