//! `tbg-api` as a process beside a test [`Stack`], and its JSON.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use simd_json::prelude::*;

use crate::stack::{Stack, ADDRESS};

/// A running `tbg-api`, killed when dropped.
pub struct ApiProcess {
    child: std::process::Child,
    pub addr: String,
    config: PathBuf,
    dir: PathBuf,
}

impl ApiProcess {
    pub fn start(stack: &Stack, extra: &str) -> ApiProcess {
        let dir = stack.dir.path.join("api");
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("api.json");
        let text = format!(
            r#"{{"listen":"127.0.0.1:0","redis_url":"{}","postgres_url":"{}","threads":2,"read_timeout_ms":1500,"network":"regtest","blocks_dir":"{}"{extra}}}"#,
            stack.redis.url(),
            stack.pg.url(),
            stack.pool.dir.join("logs/blocks").display()
        );
        std::fs::write(&config, text).unwrap();
        Self::spawn(config, dir)
    }

    fn spawn(config: PathBuf, dir: PathBuf) -> ApiProcess {
        let ready = dir.join("api.ready");
        let _ = std::fs::remove_file(&ready);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tbg-api"))
            .arg("-c")
            .arg(&config)
            .arg("--ready-file")
            .arg(&ready)
            .spawn()
            .expect("start tbg-api");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(addr) = std::fs::read_to_string(&ready) {
                if !addr.is_empty() {
                    return ApiProcess {
                        child,
                        addr,
                        config,
                        dir,
                    };
                }
            }
            assert!(child.try_wait().unwrap().is_none(), "tbg-api exited early");
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("tbg-api never became ready");
    }

    /// SIGKILL (nothing acknowledged after the last batch) and start again.
    pub fn kill_and_start_again(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Self::spawn(self.config.clone(), self.dir.clone());
    }

    /// SIGTERM, wait, start again.
    pub fn restart(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        *self = Self::spawn(self.config.clone(), self.dir.clone());
    }

    /// `GET path`: status code and JSON body (`Null` when not JSON).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = crate::common::http_get(&self.addr, path);
        let code = status
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    pub fn ok(&self, path: &str) -> Value {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "{path}: {body}");
        body
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON number, or a failed test.
pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The pool's word on the best: the largest `new_best` of its
/// all-time `share_best_diff` events for the stack's address.
pub fn pool_best(stack: &Stack) -> f64 {
    stack
        .stream("share_best_diff")
        .iter()
        .filter(|e| {
            e["user"].as_str() == Some(ADDRESS) && e["timeframe"].as_str() == Some("alltime")
        })
        .filter_map(|e| e["new_best"].as_f64())
        .fold(0.0, f64::max)
}
