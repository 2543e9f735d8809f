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
