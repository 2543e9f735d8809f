//! Connection limits shared by every core: total (`maxclients`) and per
//! source address (`max_clients_per_ip`). Touched on accept and close only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Counts of open connections.
#[derive(Debug)]
pub struct Limits {
    max_total: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Limits {
    pub fn new(max_total: usize, max_per_ip: usize) -> Limits {
        Limits {
            max_total,
            max_per_ip,
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        }
    }

    /// Reserve a slot for a new connection from `ip`; `false` when full.
    pub fn admit(&self, ip: IpAddr) -> bool {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        if self.max_per_ip > 0 {
            let mut per_ip = self.per_ip.lock();
            let n = per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                drop(per_ip);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
            *n += 1;
        }
        true
    }

    /// Give back the slot of a closed connection.
    pub fn release(&self, ip: IpAddr) {
        self.total.fetch_sub(1, Ordering::AcqRel);
        if self.max_per_ip > 0 {
            let mut per_ip = self.per_ip.lock();
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }

    /// Open connections across all cores.
    pub fn connections(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_and_per_ip() {
        let l = Limits::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(l.admit(a));
        assert!(l.admit(a));
        assert!(!l.admit(a), "per-ip");
        assert!(l.admit(b));
        assert!(!l.admit(b), "total");
        l.release(a);
        assert!(l.admit(b));
        assert_eq!(l.connections(), 3);
    }
}
