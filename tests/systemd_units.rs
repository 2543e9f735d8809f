//! The systemd units pass `systemd-analyze verify` (when it is installed),
//! with their `ExecStart` pointed at the binaries this build made.

mod common;

use common::TempDir;

#[test]
fn units_verify() {
    let Ok(version) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("skipping: systemd-analyze not installed");
        return;
    };
    assert!(version.status.success());
    let dir = TempDir::new("units");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd");
    let mut units = Vec::new();
    for name in ["tbg-collector.service", "tbg-pool.service", "tbg.target"] {
        let text = std::fs::read_to_string(format!("{root}/{name}")).unwrap();
        let text = text
            .replace("/usr/local/bin/tbg-pool", env!("CARGO_BIN_EXE_tbg-pool"))
            .replace(
                "/usr/local/bin/tbg-collector",
                env!("CARGO_BIN_EXE_tbg-collector"),
            );
        let path = dir.path.join(name);
        std::fs::write(&path, text).unwrap();
        units.push(path);
    }
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Units that refer to services this machine lacks (bitcoind, redis,
    // postgresql) only in After= are fine; anything else is a finding.
    let findings: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !l.contains("bitcoind.service")
                && !l.contains("redis-server.service")
                && !l.contains("postgresql.service")
        })
        .collect();
    assert!(
        out.status.success() && findings.is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}

/// The configs systemd/README.md installs next to the units load without
/// a warning, point where the units' directories are, and serve metrics.
#[test]
fn configs_match_the_units() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd");
    let unit = |name: &str| std::fs::read_to_string(format!("{root}/{name}")).unwrap();
    let (pool_unit, collector_unit) = (unit("tbg-pool.service"), unit("tbg-collector.service"));
    assert!(
        pool_unit.contains("-c /etc/tbg/pool.json")
            && pool_unit.contains("StateDirectory=tbg-pool")
    );
    assert!(collector_unit.contains("-c /etc/tbg/collector.json"));
    assert!(collector_unit.contains("RuntimeDirectory=tbg-pool"));
    assert!(collector_unit.contains("StateDirectory=tbg-collector"));

    let path = std::path::PathBuf::from(format!("{root}/pool.json"));
    let (pool, warnings) = tbg_pool::config::Config::load(&path).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(pool.logdir, std::path::Path::new("/var/lib/tbg-pool"));
    let socket = std::path::Path::new("/run/tbg-pool/events.sock");
    assert_eq!(pool.event_socket_path, socket);
    assert_eq!(pool.metrics_addr, "127.0.0.1:9109");

    let mut text = std::fs::read(format!("{root}/collector.json")).unwrap();
    let (collector, warnings) = tbg_pool::collector::CollectorConfig::parse(&mut text).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(collector.socket_path, socket);
    assert!(collector.spool_dir.starts_with("/var/lib/tbg-collector"));
    assert_eq!(collector.metrics_addr, "127.0.0.1:9108");
}
