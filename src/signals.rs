//! SIGINT/SIGTERM → a flag the binaries' main loops poll (the pool, the
//! collector and the API), so each stops cleanly: the pool saves its
//! statistics before it exits. The handlers come from the `signal-hook` crate:
//! each only stores to an atomic, which is async-signal-safe. Other
//! signals keep their defaults (SIGPIPE is ignored by Rust's own start-up
//! code, so a closed socket is an `EPIPE` error, never a death).

use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

static STOP: AtomicBool = AtomicBool::new(false);

/// Route SIGINT and SIGTERM to [`stop_requested`]. Every later signal of
/// either kind only sets the flag again (the handler stays installed).
pub fn install() {
    for signal in [SIGINT, SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, &STOP) {
            log_warn!("cannot handle signal {signal}: {e}");
        }
    }
}

/// Whether a stop signal has arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
