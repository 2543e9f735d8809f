//! `tbg-simnode`: a simulated bitcoind for tests and local runs where no
//! real node can be installed. It speaks bitcoind's JSON-RPC over HTTP
//! (getblocktemplate, submitblock, chain queries, validateaddress, …)
//! with a fabricated chain, a synthetic mempool, and a simulated network
//! that finds blocks on demand (`simnode_mine`) or on a timer.
//!
//! Run `tbg-simnode --help` for the flags.

mod amend;
mod assemble;
mod auth;
mod chain;
mod cli;
mod coinbase;
mod http;
mod json;
mod mempool;
mod node;
mod params;
mod prng;
mod rpc;
mod rpc_chain;
mod rpc_mining;
mod rpc_misc;
mod rpc_rawtx;
mod template;
mod txbuild;
mod validate;
mod zmq;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

use crate::auth::Auth;
use crate::cli::{Command, Config};
use crate::node::Node;

fn main() {
    let config = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => *config,
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("tbg-simnode: {e}\n\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = run(config) {
        eprintln!("tbg-simnode: {e}");
        std::process::exit(1);
    }
}

/// Build the chain, listen, announce, serve forever.
fn run(config: Config) -> Result<(), String> {
    let auth = Auth::from_config(&config)?;
    let listener = TcpListener::bind(&config.bind)
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let zmq_pub = config.zmq_pub.clone();
    let node = Arc::new(Node::new(config));
    if let Some(bind) = zmq_pub {
        let listener =
            TcpListener::bind(&bind).map_err(|e| format!("cannot listen on {bind} (zmq): {e}"))?;
        zmq::spawn(&node, listener);
    }
    announce(&node, addr)?;
    node::spawn_block_timer(&node);
    http::serve(listener, node, Arc::new(auth));
    Ok(())
}

/// The one stdout line, then the ready file (whose appearance tells a
/// test harness the node answers requests).
fn announce(node: &Node, addr: SocketAddr) -> Result<(), String> {
    let config = &node.config;
    let height = node.lock().chain.height();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "simnode listening on {addr} chain={} height={height} bits={:08x}",
        config.chain, config.bits
    )
    .and_then(|_| out.flush())
    .map_err(|e| format!("cannot write to stdout: {e}"))?;
    if let Some(path) = &config.ready_file {
        write_atomically(path, &addr.to_string())
            .map_err(|e| format!("cannot write ready file {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Write via a temporary file and a rename, so a reader polling for the
/// file never sees it half written.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
