//! Leveled logging to stderr through the `log` facade: this crate's
//! `log_*!` macros and every dependency that logs (postgres, redis, mio)
//! end in one sink, one line per message —
//! `2026-12-03 14:27:29.737 INFO  [thread] message`, with `crate: ` before
//! a dependency's message. Every binary prints the same format. Off the
//! hot path only.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Severity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static SINK: Sink = Sink;
static INSTALL: Once = Once::new();

impl Level {
    /// Parse `error|warn|info|debug`.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    fn facade(self) -> ::log::Level {
        match self {
            Level::Error => ::log::Level::Error,
            Level::Warn => ::log::Level::Warn,
            Level::Info => ::log::Level::Info,
            Level::Debug => ::log::Level::Debug,
        }
    }

    /// A dependency's level; `trace` (a poll loop's every step) is never
    /// printed.
    fn of(level: ::log::Level) -> Option<Level> {
        match level {
            ::log::Level::Error => Some(Level::Error),
            ::log::Level::Warn => Some(Level::Warn),
            ::log::Level::Info => Some(Level::Info),
            ::log::Level::Debug => Some(Level::Debug),
            ::log::Level::Trace => None,
        }
    }
}

/// Set the most verbose level that is printed (this crate's and every
/// dependency's).
pub fn set_max_level(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
    install();
    ::log::set_max_level(level.facade().to_level_filter());
}

/// The sink becomes the facade's logger, once per process (at the first
/// message or `set_max_level`, so a binary that never sets a level still
/// logs).
fn install() {
    INSTALL.call_once(|| {
        if ::log::set_logger(&SINK).is_ok() {
            ::log::set_max_level(::log::LevelFilter::Info);
        }
    });
}

/// Whether messages at `level` are printed.
#[inline]
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Log one message of this crate (use the `log_*!` macros).
pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    install();
    ::log::logger().log(
        &::log::Record::builder()
            .level(level.facade())
            .target(OWN)
            .args(args)
            .build(),
    );
}

/// The target of this crate's own records (not printed).
const OWN: &str = "tbg";

struct Sink;

impl ::log::Log for Sink {
    fn enabled(&self, metadata: &::log::Metadata<'_>) -> bool {
        Level::of(metadata.level()).is_some_and(enabled)
    }

    fn log(&self, record: &::log::Record<'_>) {
        let Some(level) = Level::of(record.level()).filter(|l| enabled(*l)) else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let thread = std::thread::current();
        let origin = match record.target() {
            OWN => None,
            t => Some(t.split("::").next().unwrap_or(t)),
        };
        let line = format_line(
            now,
            level,
            thread.name().unwrap_or("-"),
            origin,
            record.args(),
        );
        // One write per line: lines of different threads never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// `YYYY-MM-DD HH:MM:SS.mmm LEVEL [thread] (crate: )message\n`, UTC.
fn format_line(
    unix: Duration,
    level: Level,
    thread: &str,
    origin: Option<&str>,
    args: &std::fmt::Arguments<'_>,
) -> String {
    let secs = unix.as_secs();
    let (y, mo, d) = crate::time::civil_from_days((secs / 86_400) as i64);
    let (h, mi, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let origin = origin.map(|o| format!("{o}: ")).unwrap_or_default();
    format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{:03} {:5} [{thread}] {origin}{args}\n",
        unix.subsec_millis(),
        level.name()
    )
}

#[macro_export]
macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, format_args!($($arg)*));
        }
    };
}

#[macro_export]
macro_rules! log_error { ($($arg:tt)*) => { $crate::log_at!($crate::log::Level::Error, $($arg)*) }; }
#[macro_export]
macro_rules! log_warn { ($($arg:tt)*) => { $crate::log_at!($crate::log::Level::Warn, $($arg)*) }; }
#[macro_export]
macro_rules! log_info { ($($arg:tt)*) => { $crate::log_at!($crate::log::Level::Info, $($arg)*) }; }
#[macro_export]
macro_rules! log_debug { ($($arg:tt)*) => { $crate::log_at!($crate::log::Level::Debug, $($arg)*) }; }

/// Make any panic, on any thread, end the process (after the usual
/// message and a log line): a core, node, emitter, submitter or stats
/// thread that died quietly would leave a process that looks alive —
/// refusing miners or no longer submitting blocks — which systemd's
/// `Restart=on-failure` never restarts. Aborting lets it. (The release
/// profile also sets `panic = "abort"`; this covers every build.)
pub fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        let thread = std::thread::current();
        write(
            Level::Error,
            format_args!(
                "thread {} panicked: stopping the process so it is restarted",
                thread.name().unwrap_or("?")
            ),
        );
        std::process::abort();
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_date_time_level_thread_and_origin() {
        let at = Duration::from_millis(1_771_502_400_123);
        let own = format_line(at, Level::Warn, "core-0", None, &format_args!("x {}", 1));
        assert_eq!(own, "2026-02-19 12:00:00.123 WARN  [core-0] x 1\n");
        let dep = format_line(
            at,
            Level::Info,
            "-",
            Some("tokio_postgres"),
            &format_args!("y"),
        );
        assert_eq!(dep, "2026-02-19 12:00:00.123 INFO  [-] tokio_postgres: y\n");
    }

    #[test]
    fn dependencies_trace_is_never_printed() {
        assert_eq!(Level::of(::log::Level::Trace), None);
        assert_eq!(Level::of(::log::Level::Debug), Some(Level::Debug));
        assert_eq!(Level::of(::log::Level::Error), Some(Level::Error));
    }
}
