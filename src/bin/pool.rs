//! `tbg-pool`: the mining pool.
//!
//! This first cut runs the work engine against a node: it checks the
//! chain and payout address, polls the tip every `--blockpoll` ms, and on
//! every new block (or every `--update-interval` seconds) builds the job
//! template and a solo coinbase, logging what miners would be sent. The
//! Stratum server arrives on top of this loop.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tbg_pool::bitcoin::address::{script_pubkey, Network};
use tbg_pool::bitcoin::hex;
use tbg_pool::node::{Auth, Endpoint, NodeClient, Timeouts, TipWatcher};
use tbg_pool::work::{build_coinbase, coinbase_sig, JobTemplate, WorkConfig};
use tbg_pool::{log_error, log_info, log_warn};

struct Args {
    node: String,
    auth: Auth,
    address: String,
    blockpoll: Duration,
    update_interval: Duration,
}

const USAGE: &str =
    "usage: tbg-pool [--node HOST:PORT] [--rpcuser U --rpcpassword P | --rpccookie FILE]
                [--address PAYOUT_ADDRESS] [--blockpoll MS] [--update-interval SECS]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        node: "127.0.0.1:18443".into(),
        auth: Auth::Basic {
            user: "tbg".into(),
            pass: "tbg".into(),
        },
        address: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
        blockpoll: Duration::from_millis(100),
        update_interval: Duration::from_secs(30),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--node" => args.node = value()?,
            "--rpcuser" | "--rpcpassword" => {
                let v = value()?;
                let (mut user, mut pass) = match &args.auth {
                    Auth::Basic { user, pass } => (user.clone(), pass.clone()),
                    _ => (String::new(), String::new()),
                };
                if flag == "--rpcuser" {
                    user = v
                } else {
                    pass = v
                }
                args.auth = Auth::Basic { user, pass };
            }
            "--rpccookie" => args.auth = Auth::Cookie(value()?.into()),
            "--address" => args.address = value()?,
            "--blockpoll" => {
                args.blockpoll = Duration::from_millis(number(&value()?, "--blockpoll")?)
            }
            "--update-interval" => {
                args.update_interval = Duration::from_secs(number(&value()?, "--update-interval")?)
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn number(s: &str, flag: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("{flag}: not a number: {s}"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut node = NodeClient::new(
        vec![Endpoint::new(&args.node, args.auth.clone())],
        Timeouts::default(),
    );
    let (network, payout) = loop {
        match start_up(&mut node, &args.address) {
            Ok(v) => break v,
            Err(StartError::Fatal(e)) => {
                log_error!("{e}");
                return ExitCode::FAILURE;
            }
            Err(StartError::Retry(e)) => {
                log_warn!("{e}; retrying in 5 s");
                std::thread::sleep(Duration::from_secs(5));
            }
        }
    };
    log_info!(
        "mining on {} paying {} (script {})",
        network.name(),
        args.address,
        hex::encode(&payout)
    );
    run(&mut node, &args, &payout);
}

enum StartError {
    Fatal(String),
    Retry(String),
}

fn start_up(node: &mut NodeClient, address: &str) -> Result<(Network, Vec<u8>), StartError> {
    let info = node
        .blockchain_info()
        .map_err(|e| StartError::Retry(e.to_string()))?;
    let network = Network::from_chain(&info.chain)
        .ok_or_else(|| StartError::Fatal(format!("node reports unknown chain {:?}", info.chain)))?;
    let payout = script_pubkey(address, network)
        .map_err(|e| StartError::Fatal(format!("payout address {address}: {e}")))?;
    // The node is the authority on its own chain's addresses.
    match node.validate_address(address) {
        Ok(true) => {}
        Ok(false) => {
            return Err(StartError::Fatal(format!(
                "node says payout address {address} is invalid"
            )))
        }
        Err(e) => return Err(StartError::Retry(e.to_string())),
    }
    log_info!(
        "node {} chain={} height={}",
        node.current_node(),
        info.chain,
        info.blocks
    );
    Ok((network, payout))
}

fn run(node: &mut NodeClient, args: &Args, payout: &[u8]) -> ! {
    let cfg = WorkConfig::default();
    let mut tip = TipWatcher::new();
    let mut next_id = 1u64;
    let mut last_template = Instant::now() - args.update_interval;
    loop {
        let new_block = match tip.poll(node) {
            Ok(changed) => changed.is_some(),
            Err(e) => {
                log_warn!("tip poll: {e}");
                false
            }
        };
        if new_block || last_template.elapsed() >= args.update_interval {
            match node.get_block_template() {
                Ok(t) => {
                    let job = Arc::new(JobTemplate::new(next_id, &t));
                    next_id += 1;
                    let (sig, _) = coinbase_sig(&cfg, "");
                    let cb = build_coinbase(&job, &cfg, payout, &sig);
                    let notify = job.notify_fields(&cb, new_block);
                    log_info!(
                        "job {} height={} txs={} branch={} reward={} sats clean={}",
                        notify.job_id,
                        job.height,
                        job.tx_count,
                        job.merkle_branch.len(),
                        job.coinbase_value_sats,
                        new_block
                    );
                    last_template = Instant::now();
                }
                Err(e) => log_warn!("getblocktemplate: {e}"),
            }
        }
        std::thread::sleep(args.blockpoll);
    }
}
