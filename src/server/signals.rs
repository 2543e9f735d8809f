//! SIGINT/SIGTERM → a flag the main thread polls, so the pool saves its
//! statistics before it exits. (std has no signal API; this is the one
//! place the pool declares a libc function itself.)

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

extern "C" fn on_signal(_: i32) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Route SIGINT and SIGTERM to [`stop_requested`].
pub fn install() {
    // SAFETY: `on_signal` only stores to an atomic, which is
    // async-signal-safe; `signal` is the C library's.
    unsafe {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
}

/// Whether a stop signal has arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
