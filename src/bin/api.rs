//! `tbg-api`: the stats API, Server-Sent Events and the live page, fed
//! by the event streams (docs/api.md).
//!
//! `tbg-api [-c CONFIG.json] [--log-level LEVEL] [--ready-file PATH]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tbg_pool::api::{Api, ApiConfig};
use tbg_pool::{cli, signals};
use tbg_pool::{log_error, log_info, log_warn};

const USAGE: &str = "\
usage: tbg-api [-c CONFIG.json] [--log-level error|warn|info|debug] [--ready-file PATH]

  -c, --config FILE     JSON config (every key in docs/api.md). Without it: listen on
                        127.0.0.1:8080, Redis at redis://127.0.0.1:6379, PostgreSQL at
                        host=127.0.0.1 user=postgres dbname=tbg
  --log-level LEVEL     error | warn | info (default) | debug; logs go to stderr
  --ready-file PATH     write the address served once listening
  -h, --help            print this text

The live page is at http://<listen>/, the JSON under /api/.";

fn load(path: &Option<PathBuf>) -> Result<ApiConfig, String> {
    let Some(path) = path else {
        return Ok(ApiConfig::default());
    };
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    ApiConfig::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    let args = cli::start(USAGE);
    let cfg = match load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            log_error!("config: {e}");
            return ExitCode::from(2);
        }
    };
    let api = match Api::start(&cfg) {
        Ok(a) => a,
        Err(e) => {
            log_error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = args.ready_file {
        if let Err(e) = std::fs::write(&path, api.addr.to_string()) {
            log_warn!("cannot write {}: {e}", path.display());
        }
    }
    while !signals::stop_requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    log_info!("stopping");
    api.stop();
    ExitCode::SUCCESS
}
