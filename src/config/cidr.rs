//! Networks written as CIDR (`10.0.0.0/8`, `2001:db8::/32`) or single addresses (`10.1.2.3`):
//! the `trusted_proxies` of a listener.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer};

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR/LEN` or a bare address (one host). Host bits set below the prefix are an
    /// error: `10.1.2.3/8` is almost always a typo for `10.0.0.0/8` or `10.1.2.3/32`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let t = text.trim();
        let (addr_text, prefix_text) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| {
            format!("{text:?} is not an IP address or network (expected e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("{text:?}: the prefix length must be a number from 0 to {max}")
            })?,
        };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(format!(
                "{text:?} has bits set after the /{prefix} prefix: write {}/{prefix} for the network, or {addr_text}/{max} for one host",
                cidr.network()
            ));
        }
        Ok(cidr)
    }

    /// Whether `ip` is in this network. An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, how a
    /// dual-stack socket shows an IPv4 client) is compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (ip.to_canonical(), self.addr) {
            (IpAddr::V4(a), IpAddr::V4(n)) => {
                let mask = mask32(self.prefix);
                u32::from(a) & mask == u32::from(n) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(n)) => {
                let mask = mask128(self.prefix);
                u128::from(a) & mask == u128::from(n) & mask
            }
            _ => false,
        }
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::from((u32::from(a) & mask32(self.prefix)).to_be_bytes()),
            IpAddr::V6(a) => IpAddr::from((u128::from(a) & mask128(self.prefix)).to_be_bytes()),
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Cidr::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
