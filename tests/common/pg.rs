//! A throwaway PostgreSQL server for tests: a fresh cluster in a temp
//! directory, reachable only over a Unix socket in that directory, stopped
//! and removed when dropped.
//!
//! `initdb` refuses to run as root; as root the cluster is made and run as
//! the `postgres` user (`runuser -u postgres --`), which owns the
//! directory. Binaries: `initdb`/`pg_ctl` on `PATH`, else the newest
//! `/usr/lib/postgresql/*/bin/`.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running (or stopped, see [`PgServer::stop`]) test cluster.
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    running: bool,
}

impl PgServer {
    /// Like [`PgServer::start`], but `None` (test skipped) when PostgreSQL
    /// is not installed, unless under CI (`CI` set), where it must be.
    pub fn try_start() -> Option<PgServer> {
        if find_bin_dir().is_none() && std::env::var_os("CI").is_none() {
            eprintln!("skipping: PostgreSQL binaries (initdb, pg_ctl) not found");
            return None;
        }
        Some(PgServer::start())
    }

    /// Create, start, and add database `tbg`. Panics if PostgreSQL is
    /// missing or will not start (the log is in the message).
    pub fn start() -> PgServer {
        let bin = find_bin_dir().expect("PostgreSQL binaries (initdb, pg_ctl) not found");
        let dir = make_dir();
        let as_postgres = std::fs::metadata(&dir)
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let mut server = PgServer {
            port: free_port(),
            dir,
            bin,
            as_postgres,
            running: false,
        };
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:"])
                .arg(&server.dir)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown postgres {:?}", server.dir);
        }
        let data = server.data_dir();
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
                "--no-instructions".as_ref(),
            ],
        );
        server.start_again();
        server.create_database("tbg");
        server
    }

    /// Connection string for database `tbg`.
    pub fn url(&self) -> String {
        self.url_for("tbg")
    }

    /// Connection string for any database of this server.
    pub fn url_for(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={dbname}",
            self.dir.display(),
            self.port
        )
    }

    /// A plain client on database `tbg`, for checking what tests stored.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).expect("connect to test server")
    }

    /// Stop the server at once (as a crash would), keeping its data.
    pub fn stop(&mut self) {
        if self.running {
            let data = self.data_dir();
            self.pg_ctl(&[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "stop".as_ref(),
            ]);
            self.running = false;
        }
    }

    /// Start the stopped server again (same port, same data).
    pub fn start_again(&mut self) {
        if self.running {
            return;
        }
        let data = self.data_dir();
        let log = self.dir.join("server.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses='' -c fsync=off -c shared_buffers=16MB \
             -c max_connections=20",
            self.port,
            self.dir.display()
        );
        let output = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .output()
            .expect("run pg_ctl start");
        if !output.status.success() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("pg_ctl start failed: {}\n{log}", describe(&output));
        }
        self.running = true;
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn create_database(&self, name: &str) {
        let mut client = postgres::Client::connect(&self.url_for("postgres"), postgres::NoTls)
            .expect("connect to the new cluster");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
    }

    /// `tool` (`initdb`, `pg_ctl`) from the binary directory, as the
    /// `postgres` user when we are root.
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        // The postgres user may not be allowed into the test's directory.
        command.current_dir(&self.dir);
        command
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) {
        let output = self
            .command(tool)
            .args(args)
            .output()
            .expect("run PostgreSQL tool");
        assert!(
            output.status.success(),
            "{tool} failed: {}",
            describe(&output)
        );
    }

    fn pg_ctl(&self, args: &[&std::ffi::OsStr]) {
        self.run("pg_ctl", args);
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            // No panic in drop: the directory goes either way.
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The directory holding `initdb` and `pg_ctl`.
fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_tools(&dir) {
                // Follow symlinks (Debian's /usr/bin wrappers or links into
                // /usr/lib/postgresql/N/bin) to the real directory.
                let real = std::fs::canonicalize(dir.join("initdb")).ok()?;
                let real_dir = real.parent()?.to_path_buf();
                return Some(if has_tools(&real_dir) { real_dir } else { dir });
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// A new empty directory under the temp dir; short, as the socket path
/// in it must fit `sun_path`.
fn make_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = PathBuf::from("/tmp").join(format!(
        "tbg-pg-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&path).expect("create temp dir for PostgreSQL");
    path
}

/// A port no one listens on now (it only names the socket file here).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}
