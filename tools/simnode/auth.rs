//! HTTP basic authentication as bitcoind does it: `rpcuser:rpcpassword`,
//! and `__cookie__:<secret>` from a cookie file the node writes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use tbg_pool::bitcoin::{hex, sha256d};

use crate::cli::Config;

/// The user name bitcoind's cookie authentication uses.
const COOKIE_USER: &str = "__cookie__";
/// Random bytes in a cookie secret.
const COOKIE_SECRET_BYTES: usize = 32;

/// The credentials a request may present.
#[derive(Debug)]
pub struct Auth {
    /// Accepted `user:password` strings; none = authentication is off.
    credentials: Vec<Vec<u8>>,
}

impl Auth {
    /// From the flags; writes the cookie file when one is configured.
    pub fn from_config(config: &Config) -> Result<Auth, String> {
        let mut credentials = Vec::new();
        if !config.rpcuser.is_empty() || !config.rpcpassword.is_empty() {
            credentials.push(format!("{}:{}", config.rpcuser, config.rpcpassword).into_bytes());
        }
        if let Some(path) = &config.cookie_file {
            let cookie = format!("{COOKIE_USER}:{}", random_secret());
            write_cookie(path, &cookie)
                .map_err(|e| format!("cannot write cookie file {}: {e}", path.display()))?;
            credentials.push(cookie.into_bytes());
        }
        Ok(Auth { credentials })
    }

    /// Whether an `Authorization` header value grants access.
    pub fn allows(&self, header: Option<&str>) -> bool {
        if self.credentials.is_empty() {
            return true;
        }
        let Some(value) = header.map(str::trim) else {
            return false;
        };
        let Some((scheme, encoded)) = value.split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        match base64_decode(encoded.trim()) {
            Some(decoded) => self.credentials.contains(&decoded),
            None => false,
        }
    }
}

/// Write the cookie readable by its owner only, as bitcoind does.
fn write_cookie(path: &Path, cookie: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(cookie.as_bytes())?;
    // An existing file keeps its old mode through open(); tighten it.
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
}

/// A hex secret from the OS's random source; if that is unreadable, a
/// hash of the clock and pid (good enough for a test node's cookie).
fn random_secret() -> String {
    let mut bytes = [0u8; COOKIE_SECRET_BYTES];
    let from_os = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_os.is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = format!("{nanos}:{}", std::process::id());
        bytes = sha256d(seed.as_bytes());
    }
    hex::encode(&bytes)
}

/// Standard base64 (padding optional); `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foobar", "Zm9vYmFy"),
            ("tbg:tbg", "dGJnOnRiZw=="),
        ] {
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert!(base64_decode("Zm9v!").is_none());
    }

    #[test]
    fn basic_auth() {
        let auth = Auth::from_config(&Config::default()).unwrap();
        assert!(auth.allows(Some("Basic dGJnOnRiZw==")));
        assert!(auth.allows(Some("basic  dGJnOnRiZw== ")));
        assert!(!auth.allows(Some("Basic dGJnOnRiZg==")));
        assert!(!auth.allows(Some("Bearer dGJnOnRiZw==")));
        assert!(!auth.allows(None));
        let open = Config {
            rpcuser: String::new(),
            rpcpassword: String::new(),
            ..Config::default()
        };
        assert!(Auth::from_config(&open).unwrap().allows(None));
    }
}
