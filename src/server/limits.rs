//! Connection limits shared by every core: total (`maxclients`) and per
//! source address (`max_clients_per_ip`, an IPv6 /64 counting as one
//! address), and the counters of every limit that refused or dropped a
//! client. Touched on accept, close and refusals only.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

    /// Reserve a slot for a new connection from `ip`; the limit that
    /// refused it otherwise.
    pub fn admit(&self, ip: IpAddr) -> Result<(), Limit> {
        let ip = source_key(ip);
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Limit::MaxClients);
        }
        if self.max_per_ip > 0 {
            let mut per_ip = self.per_ip.lock();
            let n = per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                drop(per_ip);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(Limit::PerIp);
            }
            *n += 1;
        }
        Ok(())
    }

    /// Give back the slot of a closed connection.
    pub fn release(&self, ip: IpAddr) {
        let ip = source_key(ip);
        let before = self.total.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "a connection released twice");
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

/// The address a per-source limit counts: an IPv4 address (also when
/// mapped into IPv6), or an IPv6 address's /64 — one subscriber usually
/// holds a whole /64 and can pick any address in it.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// A limit that refused or dropped a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `maxclients` reached: refused at accept.
    MaxClients,
    /// `max_clients_per_ip` reached: refused at accept.
    PerIp,
    /// Never authorized within `idle_timeout_secs`: closed.
    Idle,
    /// A line over `max_line_bytes`: closed.
    LineTooLong,
    /// Over `max_send_buffer_bytes` unsent: closed.
    SendBuffer,
    /// `max_invalid_requests` garbage lines or `max_invalid_shares` bad
    /// shares in a row: closed.
    Invalid,
    /// Out of `request_budget`: its requests wait for the budget.
    Throttled,
    /// Throttled more than `max_throttles` times: closed.
    Flood,
    /// An authorize or submit over `max_workers_per_connection` or
    /// `max_workers_per_user`, or naming a worker it did not authorize.
    Worker,
}

impl Limit {
    pub const ALL: [Limit; 9] = [
        Limit::MaxClients,
        Limit::PerIp,
        Limit::Idle,
        Limit::LineTooLong,
        Limit::SendBuffer,
        Limit::Invalid,
        Limit::Throttled,
        Limit::Flood,
        Limit::Worker,
    ];

    /// Its name in `pool.status` and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Limit::MaxClients => "refused_maxclients",
            Limit::PerIp => "refused_per_ip",
            Limit::Idle => "closed_idle",
            Limit::LineTooLong => "closed_line_too_long",
            Limit::SendBuffer => "closed_send_buffer",
            Limit::Invalid => "closed_invalid",
            Limit::Throttled => "throttled",
            Limit::Flood => "closed_flood",
            Limit::Worker => "refused_worker",
        }
    }
}

/// How often each limit struck, since the pool started.
#[derive(Debug, Default)]
pub struct LimitCounters([AtomicU64; Limit::ALL.len()]);

impl LimitCounters {
    pub fn count(&self, limit: Limit) {
        self.0[limit as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, limit: Limit) -> u64 {
        self.0[limit as usize].load(Ordering::Relaxed)
    }

    /// Each limit's count by its name, `pool.status`'s fourth line.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        Limit::ALL
            .iter()
            .map(|l| (l.name().to_string(), self.get(*l)))
            .collect()
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
        assert_eq!(l.admit(a), Ok(()));
        assert_eq!(l.admit(a), Ok(()));
        assert_eq!(l.admit(a), Err(Limit::PerIp));
        assert_eq!(l.admit(b), Ok(()));
        assert_eq!(l.admit(b), Err(Limit::MaxClients));
        l.release(a);
        assert_eq!(l.admit(b), Ok(()));
        assert_eq!(l.connections(), 3);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let l = Limits::new(100, 2);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(l.admit(ip("2001:db8:1:2::1")), Ok(()));
        assert_eq!(l.admit(ip("2001:db8:1:2:ffff::9")), Ok(()));
        assert_eq!(l.admit(ip("2001:db8:1:2:abcd::1")), Err(Limit::PerIp));
        assert_eq!(l.admit(ip("2001:db8:1:3::1")), Ok(()), "another /64");
        assert_eq!(l.admit(ip("::ffff:10.0.0.1")), Ok(()));
        assert_eq!(l.admit(ip("10.0.0.1")), Ok(()));
        assert_eq!(l.admit(ip("10.0.0.1")), Err(Limit::PerIp));
        l.release(ip("2001:db8:1:2::77"));
        assert_eq!(l.admit(ip("2001:db8:1:2::5")), Ok(()));
    }

    #[test]
    fn counters_by_name() {
        let c = LimitCounters::default();
        c.count(Limit::Flood);
        c.count(Limit::Flood);
        let counts = c.counts();
        assert_eq!(counts.len(), Limit::ALL.len());
        assert_eq!(
            (counts["closed_flood"], counts["refused_maxclients"]),
            (2, 0)
        );
    }
}
