//! `tbg-pool`: the mining pool.
//!
//! `tbg-pool [-c CONFIG.json] [--log-level error|warn|info|debug] [--ready-file PATH]`
//!
//! Without `-c` it runs the embedded default: a regtest node at
//! 127.0.0.1:18443 (tbg/tbg, as `tbg-simnode` serves), miners on port 3333.
//! See docs/config.md for every key.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tbg_pool::config::Config;
use tbg_pool::server::Pool;
use tbg_pool::users::Registry;
use tbg_pool::{cli, signals};
use tbg_pool::{log_error, log_info, log_warn};

const USAGE: &str = "\
usage: tbg-pool [-c CONFIG.json] [--log-level error|warn|info|debug] [--ready-file PATH]

  -c, --config FILE     JSON config (ckpool's keys; every key in docs/config.md). Without it:
                        the embedded default, a regtest node at 127.0.0.1:18443 (tbg/tbg, as
                        tbg-simnode serves) and miners on 0.0.0.0:3333
  --log-level LEVEL     error | warn | info (default) | debug; logs go to stderr
  --ready-file PATH     write the listening addresses there once miners can connect
  -h, --help            print this text

Examples:
  tbg-pool                                   # against tbg-simnode's defaults
  tbg-pool -c /etc/tbg-pool/pool.json        # a real bitcoind (README: \"Against a real bitcoind\")
  tools/run                                  # node, Redis, PostgreSQL, collector and pool together

SIGTERM or SIGINT saves the statistics and stops; found blocks are on disk before submission.";

fn load_config(path: &Option<PathBuf>) -> Result<Config, String> {
    let Some(path) = path else {
        log_info!("no -c given: using the embedded default (tbg-simnode on 127.0.0.1:18443)");
        return Ok(Config::default());
    };
    let (config, warnings) = Config::load(path).map_err(|e| e.to_string())?;
    for w in warnings {
        log_warn!("{}: {w}", path.display());
    }
    Ok(config)
}

fn main() -> ExitCode {
    let args = cli::start(USAGE);
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            log_error!("{e}");
            return ExitCode::from(2);
        }
    };
    let registry = Registry::load(&config.logdir);
    let pool = match Pool::start(config, registry) {
        Ok(p) => p,
        Err(e) => {
            log_error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.ready_file {
        let addrs: Vec<String> = pool.addresses.iter().map(|a| a.to_string()).collect();
        if let Err(e) = std::fs::write(path, addrs.join("\n")) {
            log_warn!("cannot write {}: {e}", path.display());
        }
    }
    while !signals::stop_requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    log_info!("stopping: saving statistics");
    pool.stop();
    ExitCode::SUCCESS
}
