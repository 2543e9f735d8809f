//! Command-line flags, hand-parsed (no argument-parsing dependency).

use std::path::PathBuf;

use tbg_pool::bitcoin::target::compact_to_target;
use tbg_pool::bitcoin::Network;

/// Highest `--start-height`: the fabricated chain lives in memory
/// (about 200 bytes a block), so a million blocks is already ~200 MB.
pub const MAX_START_HEIGHT: u32 = 1_000_000;

/// Largest synthetic mempool: more than a full block's worth of the
/// small synthetic transactions (~5,000 fit in 4 MWU).
pub const MAX_MEMPOOL_TXS: usize = 50_000;

/// The text `--help` prints.
pub const USAGE: &str = "\
tbg-simnode: a simulated bitcoind (JSON-RPC over HTTP) for tests

Usage: tbg-simnode [FLAGS]

  --bind ADDR                 listen address (default 127.0.0.1:18443; port 0 = any free port)
  --chain NAME                main | test | testnet4 | signet | regtest (default regtest)
  --bits HEX                  network nbits, compact hex (default 207fffff)
  --start-height N            height of the fabricated initial tip (default 100)
  --mempool-txs N             synthetic mempool size, refilled after every block (default 50)
  --segwit-percent P          share of synthetic transactions with witness data (default 70)
  --block-interval-secs S     the network finds a block every S seconds; 0 = never (default 0)
  --rpcuser USER              basic-auth user (default tbg; empty user and password = no auth)
  --rpcpassword PASS          basic-auth password (default tbg)
  --cookie-file PATH          also write __cookie__:<random> there and accept it
  --seed N                    seed of the synthetic transactions (default 1)
  --ready-file PATH           write the bound address there once listening
  --zmq-pub ADDR              publish ZMQ hashblock on tcp ADDR at every new tip, as bitcoind's
                              -zmqpubhashblock=tcp://ADDR (ZMTP 3.0, NULL; one message per tip)
  --help                      print this text

Examples:
  tbg-simnode                                          # regtest on 127.0.0.1:18443, user/password tbg/tbg
  tbg-simnode --bits 1d00ffff --mempool-txs 2000 --block-interval-secs 60   # difficulty 1, a block a minute
  tbg-simnode --chain main --start-height 870000 --bind 127.0.0.1:0 --ready-file /tmp/node.addr
";

/// Every flag that takes a value.
const FLAGS: [&str; 13] = [
    "--bind",
    "--chain",
    "--bits",
    "--start-height",
    "--mempool-txs",
    "--segwit-percent",
    "--block-interval-secs",
    "--rpcuser",
    "--rpcpassword",
    "--cookie-file",
    "--seed",
    "--ready-file",
    "--zmq-pub",
];

/// Everything the flags configure.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    /// As `getblockchaininfo` reports it: main, test, testnet4, signet, regtest.
    pub chain: String,
    pub network: Network,
    pub bits: u32,
    pub start_height: u32,
    pub mempool_txs: usize,
    pub segwit_percent: u8,
    pub block_interval_secs: u64,
    pub rpcuser: String,
    pub rpcpassword: String,
    pub cookie_file: Option<PathBuf>,
    pub seed: u64,
    pub ready_file: Option<PathBuf>,
    /// `--zmq-pub`: where to publish `hashblock`.
    pub zmq_pub: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bind: "127.0.0.1:18443".to_string(),
            chain: "regtest".to_string(),
            network: Network::Regtest,
            bits: 0x207f_ffff,
            start_height: 100,
            mempool_txs: 50,
            segwit_percent: 70,
            block_interval_secs: 0,
            rpcuser: "tbg".to_string(),
            rpcpassword: "tbg".to_string(),
            cookie_file: None,
            seed: 1,
            ready_file: None,
            zmq_pub: None,
        }
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
        if arg == "--help" || arg == "-h" {
            return Ok(Command::Help);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if !FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown argument {arg:?}"));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{flag} needs a value")),
        };
        apply(&mut config, &flag, &value)?;
    }
    Ok(Command::Run(Box::new(config)))
}

/// Set the field `flag` names.
fn apply(config: &mut Config, flag: &str, value: &str) -> Result<(), String> {
    match flag {
        "--bind" => config.bind = value.to_string(),
        "--chain" => {
            let (name, network) = parse_chain(value)?;
            config.chain = name.to_string();
            config.network = network;
        }
        "--bits" => config.bits = parse_bits(value)?,
        "--start-height" => {
            config.start_height = parse_number(flag, value, u64::from(MAX_START_HEIGHT))? as u32
        }
        "--mempool-txs" => {
            config.mempool_txs = parse_number(flag, value, MAX_MEMPOOL_TXS as u64)? as usize
        }
        "--segwit-percent" => config.segwit_percent = parse_number(flag, value, 100)? as u8,
        "--block-interval-secs" => {
            config.block_interval_secs = parse_number(flag, value, u64::MAX)?
        }
        "--rpcuser" => config.rpcuser = value.to_string(),
        "--rpcpassword" => config.rpcpassword = value.to_string(),
        "--cookie-file" => config.cookie_file = Some(PathBuf::from(value)),
        "--seed" => config.seed = parse_number(flag, value, u64::MAX)?,
        "--ready-file" => config.ready_file = Some(PathBuf::from(value)),
        "--zmq-pub" => config.zmq_pub = Some(value.to_string()),
        _ => return Err(format!("unknown flag {flag}")),
    }
    Ok(())
}

/// The chain name bitcoind would report, and its address network.
fn parse_chain(value: &str) -> Result<(&'static str, Network), String> {
    let name = match value {
        "main" | "mainnet" | "bitcoin" => "main",
        "test" | "testnet" | "testnet3" => "test",
        "testnet4" => "testnet4",
        "signet" => "signet",
        "regtest" => "regtest",
        _ => return Err(format!("unknown chain {value:?}")),
    };
    let network = Network::from_chain(name).ok_or_else(|| format!("unknown chain {value:?}"))?;
    Ok((name, network))
}

/// Compact hex (`207fffff`, `0x1d00ffff`) that expands to a non-zero target.
fn parse_bits(value: &str) -> Result<u32, String> {
    let digits = value.trim_start_matches("0x");
    let bits = u32::from_str_radix(digits, 16).map_err(|_| format!("bad --bits {value:?}"))?;
    match compact_to_target(bits) {
        Ok(target) if !target.is_zero() => Ok(bits),
        _ => Err(format!("--bits {value} is not a usable compact target")),
    }
}

/// A decimal number no larger than `max`.
fn parse_number(flag: &str, value: &str, max: u64) -> Result<u64, String> {
    let n: u64 = value
        .parse()
        .map_err(|_| format!("{flag} wants a number, got {value:?}"))?;
    if n > max {
        return Err(format!("{flag} {n} is above the limit {max}"));
    }
    Ok(n)
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
    fn flags_parse() {
        let c = run(&[
            "--bind=127.0.0.1:0",
            "--chain",
            "testnet4",
            "--bits",
            "1d00ffff",
        ])
        .unwrap();
        assert_eq!(c.bind, "127.0.0.1:0");
        assert_eq!(c.chain, "testnet4");
        assert_eq!(c.network, Network::Testnet);
        assert_eq!(c.bits, 0x1d00ffff);
        assert!(run(&["--bits", "00000000"]).is_err());
        assert!(run(&["--nope", "1"]).is_err());
        assert!(run(&["--seed"]).is_err());
        assert!(run(&["--segwit-percent", "101"]).is_err());
    }
}
