//! The file-descriptor budget: how many client and upstream connections fit the process's
//! open-file limit with `limits.descriptor_reserve` left over.
//!
//! Every connection is a descriptor: a client's, and each upstream connection it causes (an
//! HTTP/2 client with 128 streams can cause 128). When the limit runs out, `accept` fails for
//! every client, good or not. So at startup the soft limit is raised to the hard one (as Go's
//! runtime and systemd-aware servers do), and when `max_connections` plus every upstream's
//! cap plus the reserve still do not fit, the caps are lowered to fit — the way HAProxy
//! derives `maxconn` from `ulimit -n` — and a `descriptor_limit_low` finding says what was
//! lowered and what limit would hold the configuration. Pure arithmetic here; reading and
//! raising the limit is [`raise_nofile`].

use crate::findings::{Code, Finding};

/// The upstream cap when `limits.upstream_max_connections` is `auto` and nothing is short:
/// Envoy's circuit-breaker default.
pub const AUTO_UPSTREAM_CAP: usize = 1024;

/// What the budget is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// The open-file limit (soft, after raising).
    pub limit: u64,
    /// Descriptors already open (stdio, log files, the runtime's own).
    pub open: usize,
    /// `limits.descriptor_reserve`.
    pub reserve: usize,
    /// `admin.max_connections`, or 0 without an admin API.
    pub admin: usize,
    /// `limits.max_connections`.
    pub max_connections: usize,
    /// `limits.upstream_max_connections` (`None`: auto).
    pub upstream_cap: Option<usize>,
    /// How many upstreams are configured.
    pub upstreams: usize,
}

/// The caps in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Client connections at once (all listeners).
    pub max_connections: usize,
    /// Connections per upstream (each upstream gets the same).
    pub upstream_cap: usize,
    /// Set when a configured cap was lowered.
    pub lowered: Option<Finding>,
}

/// Fits the demand into the limit.
pub fn plan(d: &Demand) -> Budget {
    let wanted_upstream = d.upstream_cap.unwrap_or(AUTO_UPSTREAM_CAP).max(1);
    let n = d.upstreams.max(1);
    let limit = usize::try_from(d.limit).unwrap_or(usize::MAX);
    let fixed = d.open.saturating_add(d.reserve).saturating_add(d.admin);
    let room = limit.saturating_sub(fixed);
    let needed = d
        .max_connections
        .saturating_add(wanted_upstream.saturating_mul(n));
    if needed <= room {
        return Budget {
            max_connections: d.max_connections,
            upstream_cap: wanted_upstream,
            lowered: None,
        };
    }
    // Short: clients keep at most half of the room (each proxied request needs a descriptor
    // on both sides), the upstreams share the rest, at least one each; nothing drops below one.
    let clients = d
        .max_connections
        .min((room / 2).max(room.saturating_sub(wanted_upstream.saturating_mul(n))))
        .min(room.saturating_sub(n))
        .max(1);
    let upstream_cap = (room.saturating_sub(clients) / n).clamp(1, wanted_upstream);
    let would_fit = fixed.saturating_add(needed);
    let why = format!(
        "the open-file limit is {}: {} already open, limits.descriptor_reserve {}, admin.max_connections {} leave {room} for connections, but limits.max_connections {} and {n} upstream(s) × {} connections{} need {needed}; in effect: max_connections {clients}, {upstream_cap} connections per upstream",
        d.limit,
        d.open,
        d.reserve,
        d.admin,
        d.max_connections,
        wanted_upstream,
        if d.upstream_cap.is_none() {
            " (limits.upstream_max_connections: auto)"
        } else {
            ""
        },
    );
    let fix = format!(
        "raise the open-file limit to at least {would_fit} (systemd `LimitNOFILE={would_fit}`, `docker run --ulimit nofile={would_fit}`, `ulimit -n {would_fit}`), or lower limits.max_connections / limits.upstream_max_connections"
    );
    Budget {
        max_connections: clients,
        upstream_cap,
        lowered: Some(Finding::new(
            Code::DescriptorLimitLow,
            "the open-file limit is too low for the configured connection caps; they were lowered",
            why,
            fix,
        )),
    }
}

/// Raises the soft open-file limit to the hard one and returns the soft limit in effect
/// (`u64::MAX` when unlimited).
pub fn raise_nofile() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        let raised = rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        // Refused (e.g. a hard limit above the kernel's nr_open): keep the soft one.
        if setrlimit(Resource::Nofile, raised).is_ok() {
            lim = getrlimit(Resource::Nofile);
        }
    }
    lim.current.unwrap_or(u64::MAX)
}

/// Descriptors open now (Linux: `/proc/self/fd`; elsewhere an estimate).
pub fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(16)
}

#[cfg(test)]
mod tests;
