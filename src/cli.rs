//! The command line and start-up every daemon shares (tbg-pool,
//! tbg-collector, tbg-api): `-c CONFIG.json`, `--log-level LEVEL`,
//! `--ready-file PATH`, `-h`.

use std::path::PathBuf;

use crate::log::{self, Level};

/// What a daemon was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub level: Level,
    pub ready_file: Option<PathBuf>,
}

/// A command line read.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Run(Args),
    Help,
}

/// Read `args` (without the program name); errors end with `usage`.
pub fn parse(args: impl IntoIterator<Item = String>, usage: &str) -> Result<Parsed, String> {
    let mut parsed = Args {
        config: None,
        level: Level::Info,
        ready_file: None,
    };
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{usage}"));
        match flag.as_str() {
            "-c" | "--config" => parsed.config = Some(value()?.into()),
            "--log-level" => {
                let v = value()?;
                parsed.level = Level::parse(&v).ok_or(format!("unknown log level {v}\n{usage}"))?;
            }
            "--ready-file" => parsed.ready_file = Some(value()?.into()),
            "-h" | "--help" => return Ok(Parsed::Help),
            other => return Err(format!("unknown flag {other}\n{usage}")),
        }
    }
    Ok(Parsed::Run(parsed))
}

/// The process's own command line, then the start every daemon makes:
/// its log level, a panic ends the process (systemd restarts it), and
/// SIGINT/SIGTERM ask it to stop. `-h` prints `usage` and exits 0; a bad
/// command line prints why and exits 2.
pub fn start(usage: &str) -> Args {
    let args = match parse(std::env::args().skip(1), usage) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            println!("{usage}");
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    log::set_max_level(args.level);
    log::abort_on_panic();
    crate::signals::install();
    args
}

/// A load tool's `--flag value` pairs from `args` (without the program
/// name), each flag one of `known`; `Ok(None)`: `-h` was given.
pub fn tool_flags(
    args: impl IntoIterator<Item = String>,
    known: &[&str],
) -> Result<Option<Vec<(String, String)>>, String> {
    let mut pairs = Vec::new();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown flag {flag}"));
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        pairs.push((flag, value));
    }
    Ok(Some(pairs))
}

/// [`tool_flags`] of the process's own command line: `-h` prints `usage`
/// and exits 0, a bad command line prints why and `usage` and exits 2.
pub fn tool_flags_or_exit(known: &[&str], usage: &str) -> Vec<(String, String)> {
    match tool_flags(std::env::args().skip(1), known) {
        Ok(Some(pairs)) => pairs,
        Ok(None) => {
            println!("{usage}");
            std::process::exit(0);
        }
        Err(e) => exit_usage(&e, usage),
    }
}

/// A flag's value as a number (or anything `FromStr`); a bad one prints
/// why and exits 2 rather than running with a value nobody asked for.
pub fn value_or_exit<T: std::str::FromStr>(flag: &str, value: &str, usage: &str) -> T
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .unwrap_or_else(|e| exit_usage(&format!("{flag} {value}: {e}"), usage))
}

/// Print `why` and `usage` to stderr and exit 2.
pub fn exit_usage(why: &str, usage: &str) -> ! {
    eprintln!("{why}\n{usage}");
    std::process::exit(2);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(|s| s.to_string()), "usage: x")
    }

    #[test]
    fn flags_and_defaults() {
        let defaults = Args {
            config: None,
            level: Level::Info,
            ready_file: None,
        };
        assert_eq!(run(&[]), Ok(Parsed::Run(defaults.clone())));
        let all = run(&["-c", "a.json", "--log-level", "debug", "--ready-file", "r"]);
        let want = Args {
            config: Some("a.json".into()),
            level: Level::Debug,
            ready_file: Some("r".into()),
        };
        assert_eq!(all, Ok(Parsed::Run(want)));
        let long = run(&["--config", "b.json"]).unwrap();
        assert_eq!(
            long,
            Parsed::Run(Args {
                config: Some("b.json".into()),
                ..defaults
            })
        );
        assert_eq!(run(&["-c", "x", "--help"]), Ok(Parsed::Help));
        assert_eq!(run(&["-h"]), Ok(Parsed::Help));
    }

    #[test]
    fn bad_command_lines_say_why_with_the_usage() {
        for (args, why) in [
            (&["-c"][..], "-c needs a value"),
            (&["--log-level", "loud"], "unknown log level loud"),
            (&["--verbose"], "unknown flag --verbose"),
        ] {
            let e = run(args).unwrap_err();
            assert!(e.starts_with(why) && e.ends_with("usage: x"), "{e}");
        }
    }

    #[test]
    fn tool_flags_pairs() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let known = ["--api", "--secs"];
        let pairs = tool_flags(args(&["--api", "h:1", "--secs", "5"]), &known).unwrap();
        let want = vec![
            ("--api".into(), "h:1".into()),
            ("--secs".into(), "5".into()),
        ];
        assert_eq!(pairs, Some(want));
        assert_eq!(tool_flags(args(&["--secs", "1", "-h"]), &known), Ok(None));
        assert_eq!(
            tool_flags(args(&["--secs"]), &known),
            Err("--secs needs a value".into())
        );
        assert_eq!(
            tool_flags(args(&["--sec", "1"]), &known),
            Err("unknown flag --sec".into())
        );
    }
}
