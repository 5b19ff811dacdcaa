//! The PROXY protocol header an L4 load balancer (HAProxy, an AWS NLB, a cloud LB) writes before
//! the client's own bytes: which version it is, how long it is, and what it says (the client's
//! address, and in v2 the TLVs naming the authority and ALPN the client used).
//!
//! The parsing itself is the `ppp` crate's; this module bounds it (a v1 line is at most 107
//! bytes, a v2 payload at most [`V2_MAX_PAYLOAD`]) and reduces a header to [`ProxyHeader`]. It
//! reads nothing: the accept path (`server::proxied`) reads exactly the header's bytes, so the
//! TLS or HTTP bytes after it stay in the socket for sniffing.
//!
//! Specification: haproxy's `proxy-protocol.txt`.

use std::net::SocketAddr;

/// The longest v1 line, CRLF included ("PROXY TCP6" with two full IPv6 addresses and ports).
pub const V1_MAX: usize = 107;
/// The fixed part of a v2 header: signature (12), version/command, family/protocol, length (2).
pub const V2_FIXED: usize = 16;
/// The largest v2 payload (addresses and TLVs) accepted. The format allows 65535 bytes; load
/// balancers send addresses plus a few short TLVs (cloud endpoint ids, SSL details), well under
/// 1 KiB. A larger length is refused rather than buffered.
pub const V2_MAX_PAYLOAD: usize = 4096;
/// Bytes read before the version is known: the v2 signature, and no more than the shortest
/// possible v1 header ("PROXY UNKNOWN\r\n", 15 bytes) so nothing after a header is consumed.
pub const PREFIX_LEN: usize = 12;
/// Longest TLV text kept as evidence (an authority is a host name: 253 bytes at most).
const MAX_TLV_TEXT: usize = 255;

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";

/// PROXY protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text header, `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`.
    V1,
    /// The binary header with its 12-byte signature.
    V2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// What a complete header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    pub version: Version,
    /// The client's address as the load balancer saw it. `None` when the header carries none
    /// (v1 `UNKNOWN`, v2 `LOCAL`, an unspecified or UNIX family): the connection's own peer
    /// address is then the one to use.
    pub source: Option<SocketAddr>,
    /// The address the client connected to (the load balancer's frontend).
    pub destination: Option<SocketAddr>,
    /// v2 `LOCAL`: the load balancer speaking for itself (a health check), not relaying.
    pub local: bool,
    /// v2 `PP2_TYPE_AUTHORITY`: the host name the client asked for (its SNI, where the load
    /// balancer saw one).
    pub authority: Option<String>,
    /// v2 `PP2_TYPE_ALPN`: the application protocol the client negotiated with the load balancer.
    pub alpn: Option<String>,
}

/// Which version the first [`PREFIX_LEN`] bytes announce; `None`: not a PROXY header.
pub fn version_of(prefix: &[u8]) -> Option<Version> {
    if prefix.starts_with(V2_SIGNATURE) {
        Some(Version::V2)
    } else if prefix.starts_with(V1_PREFIX) {
        Some(Version::V1)
    } else {
        None
    }
}

/// The whole length of a v2 header from its first [`V2_FIXED`] bytes, or why it is refused.
pub fn v2_len(fixed: &[u8]) -> Result<usize, String> {
    if fixed.len() < V2_FIXED || !fixed.starts_with(V2_SIGNATURE) {
        return Err("not a PROXY v2 header".into());
    }
    let payload = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if payload > V2_MAX_PAYLOAD {
        return Err(format!(
            "the v2 header announces {payload} bytes of addresses and TLVs; at most {V2_MAX_PAYLOAD} are accepted"
        ));
    }
    Ok(V2_FIXED + payload)
}

/// Where a v1 line ends in `buf` (the index after its `\n`), if it does.
pub fn v1_line_end(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n').map(|i| i + 1)
}

/// Parses exactly one complete header: a v1 line through its `\n`, or a v2 header of the
/// length [`v2_len`] gave. Errors say what is wrong in plain words.
pub fn parse(header: &[u8]) -> Result<ProxyHeader, String> {
    match version_of(header) {
        Some(Version::V1) => parse_v1(header),
        Some(Version::V2) => parse_v2(header),
        None => Err("the bytes do not begin with a PROXY protocol signature".into()),
    }
}

fn parse_v1(line: &[u8]) -> Result<ProxyHeader, String> {
    if line.len() > V1_MAX {
        return Err(format!(
            "the v1 header is longer than {V1_MAX} bytes without ending"
        ));
    }
    let h = ppp::v1::Header::try_from(line).map_err(|e| format!("malformed v1 header: {e}"))?;
    // ppp stops at the first CR; a line whose CR is not right before its LF is malformed.
    if h.header.len() != line.len() {
        return Err("malformed v1 header: it does not end in CRLF".into());
    }
    let (source, destination) = match h.addresses {
        ppp::v1::Addresses::Tcp4(a) => endpoints(
            a.source_address.into(),
            a.source_port,
            a.destination_address.into(),
            a.destination_port,
        ),
        ppp::v1::Addresses::Tcp6(a) => endpoints(
            a.source_address.into(),
            a.source_port,
            a.destination_address.into(),
            a.destination_port,
        ),
        ppp::v1::Addresses::Unknown => (None, None),
    };
    Ok(ProxyHeader {
        version: Version::V1,
        source,
        destination,
        local: false,
        authority: None,
        alpn: None,
    })
}

fn parse_v2(bytes: &[u8]) -> Result<ProxyHeader, String> {
    let total = v2_len(bytes)?;
    if bytes.len() != total {
        return Err(format!(
            "the v2 header announces {total} bytes, {} were given",
            bytes.len()
        ));
    }
    let h = ppp::v2::Header::try_from(bytes).map_err(|e| format!("malformed v2 header: {e}"))?;
    let local = h.command == ppp::v2::Command::Local;
    if !local && h.protocol == ppp::v2::Protocol::Datagram {
        return Err("the v2 header describes a UDP (datagram) connection on a TCP listener".into());
    }
    let (source, destination) = match h.addresses {
        _ if local => (None, None),
        ppp::v2::Addresses::IPv4(a) => endpoints(
            a.source_address.into(),
            a.source_port,
            a.destination_address.into(),
            a.destination_port,
        ),
        ppp::v2::Addresses::IPv6(a) => endpoints(
            a.source_address.into(),
            a.source_port,
            a.destination_address.into(),
            a.destination_port,
        ),
        ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => (None, None),
    };
    let mut authority = None;
    let mut alpn = None;
    for tlv in h.tlvs() {
        let tlv = tlv.map_err(|e| format!("malformed v2 TLV: {e}"))?;
        if tlv.kind == ppp::v2::Type::Authority as u8 {
            authority = Some(tlv_text(&tlv.value));
        } else if tlv.kind == ppp::v2::Type::ALPN as u8 {
            alpn = Some(tlv_text(&tlv.value));
        }
    }
    Ok(ProxyHeader {
        version: Version::V2,
        source,
        destination,
        local,
        authority,
        alpn,
    })
}

/// An IPv4 client seen through an IPv6 header (`::ffff:a.b.c.d`) is shown and matched as IPv4.
/// The source and destination of a header, IPv4-mapped IPv6 addresses made plain IPv4.
fn endpoints(
    src: std::net::IpAddr,
    src_port: u16,
    dst: std::net::IpAddr,
    dst_port: u16,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    (
        Some(canonical(SocketAddr::new(src, src_port))),
        Some(canonical(SocketAddr::new(dst, dst_port))),
    )
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// TLV bytes as bounded, printable evidence: escaped like every peer string in the logs
/// (a line or direction control such as U+2028 or U+202E included).
fn tlv_text(value: &[u8]) -> String {
    super::sniff::printable_capped(value, MAX_TLV_TEXT)
}

/// The address to treat as the client's: the header's source, else the connection's peer.
pub fn client_address(header: &ProxyHeader, peer: SocketAddr) -> SocketAddr {
    header.source.unwrap_or(peer)
}

#[cfg(test)]
mod tests;
