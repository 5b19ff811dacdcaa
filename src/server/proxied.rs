//! The PROXY protocol on the accept path. On a listener with `proxy_protocol`, every connection
//! must begin with a header from a load balancer in `trusted_proxies`: it is read first (exactly
//! its bytes, so sniffing and TLS see what follows untouched), within the handshake deadline,
//! and the client address it carries becomes the connection's peer for everything after —
//! logs, handshake diagnosis, `X-Forwarded-For`, limits. Anything else — no header, a malformed
//! one, the wrong version, a source not trusted — closes the connection with
//! `proxy_protocol_invalid`, logged as a rate-limited `client_error` event and counted in
//! `tlsgate_connections_closed_total`.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::context::{ListenerContext, ProxyProtocolSide};
use crate::config::ProxyProtocol;
use crate::findings::{Code, Finding, Severity};
use crate::telemetry::ratelimit::Admit;
use crate::telemetry::Event;
use crate::wire::proxy_header::{self, ProxyHeader, Version};
use crate::wire::sniff;

/// Who is at the other end of a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client: the PROXY header's source address, else the TCP peer.
    pub addr: SocketAddr,
    /// The load balancer the connection came through, with what its header said.
    pub via: Option<Proxied>,
}

impl Peer {
    /// A client connected directly.
    pub fn direct(addr: SocketAddr) -> Peer {
        Peer { addr, via: None }
    }

    /// The port the client connected to: the load balancer's frontend port when there is one.
    pub fn reached_port(&self, own: u16) -> u16 {
        self.via
            .as_ref()
            .and_then(|v| v.header.destination)
            .map_or(own, |d| d.port())
    }
}

/// A connection taken through a load balancer.
#[derive(Debug, Clone)]
pub struct Proxied {
    /// The address that connected to tlsgate: the load balancer.
    pub balancer: SocketAddr,
    pub header: ProxyHeader,
}

/// What was wrong with the start of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    /// Closed before sending a byte: a port probe or a TCP health check. Not reported.
    ClosedSilently,
    /// Closed after `received` bytes, before a header was complete.
    Closed { received: usize },
    /// No complete header before the handshake deadline.
    TooSlow { received: usize },
    /// The connection does not begin with a PROXY header; what it looks like instead.
    NotProxy(String),
    /// A header of the other version than `proxy_protocol` allows.
    WrongVersion(Version),
    /// A malformed header (the parser's words).
    Malformed(String),
}

/// Reads and judges the header of a new connection. `Some`: take the connection, with the
/// client's address. `None`: it was refused (and reported); the caller drops it.
pub async fn accept(
    stream: &mut TcpStream,
    peer: SocketAddr,
    side: &ProxyProtocolSide,
    ctx: &ListenerContext,
    deadline: tokio::time::Instant,
) -> Option<Peer> {
    let mut received = 0;
    let read = match tokio::time::timeout_at(
        deadline,
        read_header(stream, side.mode, &mut received),
    )
    .await
    {
        Ok(read) => read,
        Err(_) => Err(Problem::TooSlow { received }),
    };
    let trusted = side.trusted.iter().any(|net| net.contains(peer.ip()));
    match (read, trusted) {
        (Ok(header), true) => {
            let addr = proxy_header::client_address(&header, peer);
            Some(Peer {
                addr,
                via: Some(Proxied {
                    balancer: peer,
                    header,
                }),
            })
        }
        (Err(Problem::ClosedSilently), _) => None,
        (read, trusted) => {
            let finding = refusal(&read, trusted, peer, side, ctx.handshake_timeout);
            report(ctx, side, peer, &finding);
            None
        }
    }
}

/// Reads exactly one header: never a byte past its end. `received` counts the bytes taken, for
/// the report of a header that never completes.
async fn read_header(
    stream: &mut TcpStream,
    mode: ProxyProtocol,
    received: &mut usize,
) -> Result<ProxyHeader, Problem> {
    // Up to the shortest header's length, whatever the version: safe to read outright.
    let mut prefix = [0u8; proxy_header::PREFIX_LEN];
    read_fully(stream, &mut prefix, received).await?;
    let version = proxy_header::version_of(&prefix)
        .ok_or_else(|| Problem::NotProxy(sniff::sniff_final(&prefix).describe()))?;
    match (mode, version) {
        (ProxyProtocol::V1, Version::V2) | (ProxyProtocol::V2, Version::V1) => {
            return Err(Problem::WrongVersion(version))
        }
        _ => {}
    }
    match version {
        Version::V2 => {
            let mut fixed = [0u8; proxy_header::V2_FIXED];
            fixed[..prefix.len()].copy_from_slice(&prefix);
            read_fully(stream, &mut fixed[prefix.len()..], received).await?;
            let total = proxy_header::v2_len(&fixed).map_err(Problem::Malformed)?;
            let mut header = vec![0u8; total];
            header[..fixed.len()].copy_from_slice(&fixed);
            read_fully(stream, &mut header[fixed.len()..], received).await?;
            proxy_header::parse(&header).map_err(Problem::Malformed)
        }
        Version::V1 => {
            let mut line = [0u8; proxy_header::V1_MAX];
            line[..prefix.len()].copy_from_slice(&prefix);
            let mut have = prefix.len();
            loop {
                if let Some(end) = proxy_header::v1_line_end(&line[..have]) {
                    return proxy_header::parse(&line[..end]).map_err(Problem::Malformed);
                }
                if have == line.len() {
                    return Err(Problem::Malformed(format!(
                        "the v1 header does not end within {} bytes",
                        proxy_header::V1_MAX
                    )));
                }
                // Look at what has arrived, then take it up to the end of the line (or all of
                // it, when the line goes on): the bytes after the header stay in the socket.
                let seen = stream
                    .peek(&mut line[have..])
                    .await
                    .map_err(|_| Problem::Closed { received: have })?;
                if seen == 0 {
                    return Err(Problem::Closed { received: have });
                }
                let take = proxy_header::v1_line_end(&line[have..have + seen]).unwrap_or(seen);
                read_fully(stream, &mut line[have..have + take], received).await?;
                have += take;
            }
        }
    }
}

/// Fills `buf` from the stream, counting into `received`.
async fn read_fully(
    stream: &mut TcpStream,
    buf: &mut [u8],
    received: &mut usize,
) -> Result<(), Problem> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = stream.read(&mut buf[filled..]).await.unwrap_or(0);
        if n == 0 {
            return Err(if *received == 0 {
                Problem::ClosedSilently
            } else {
                Problem::Closed {
                    received: *received,
                }
            });
        }
        filled += n;
        *received += n;
    }
    Ok(())
}

/// The finding for a refused connection: what arrived, from whom, and what to change.
fn refusal(
    read: &Result<ProxyHeader, Problem>,
    trusted: bool,
    peer: SocketAddr,
    side: &ProxyProtocolSide,
    timeout: std::time::Duration,
) -> Finding {
    let expected = match side.mode {
        ProxyProtocol::V1 => "a PROXY v1 header",
        ProxyProtocol::V2 => "a PROXY v2 header",
        _ => "a PROXY v1 or v2 header",
    };
    let trusted_list = side
        .trusted
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let what = match read {
        Ok(h) => format!(
            "sent a PROXY {} header{}",
            h.version.as_str(),
            h.source
                .map(|s| format!(" naming the client {s}"))
                .unwrap_or_default()
        ),
        Err(Problem::ClosedSilently) => "closed without sending anything".to_string(),
        Err(Problem::Closed { received }) => format!(
            "closed after {received} bytes, before {expected} was complete"
        ),
        Err(Problem::TooSlow { received }) => format!(
            "sent no complete header within limits.handshake_timeout ({} ms; {received} bytes received)",
            timeout.as_millis()
        ),
        Err(Problem::NotProxy(looks_like)) => {
            format!("began with {looks_like}, not {expected}")
        }
        Err(Problem::WrongVersion(v)) => format!(
            "sent a PROXY {} header, but this listener takes {expected} (proxy_protocol: {})",
            v.as_str(),
            mode_name(side.mode)
        ),
        Err(Problem::Malformed(why)) => format!("sent a malformed header: {why}"),
    };
    if !trusted {
        let (summary, fix) = match read {
            Ok(_) => (
                "a PROXY header came from a source not in trusted_proxies",
                format!(
                    "if {} is one of your load balancers, add it to trusted_proxies; otherwise someone is trying to choose the client address tlsgate logs and forwards",
                    peer.ip()
                ),
            ),
            Err(_) => (
                "a connection came from a source not in trusted_proxies",
                format!(
                    "clients must come through the load balancer; if {} is one, add it to trusted_proxies",
                    peer.ip()
                ),
            ),
        };
        return Finding::new(
            Code::ProxyProtocolInvalid,
            summary,
            format!(
                "{peer} {what}; {} is not in trusted_proxies [{trusted_list}], so the connection was closed",
                peer.ip()
            ),
            fix,
        );
    }
    let (summary, fix) = match read {
        Err(Problem::NotProxy(_)) => (
            "the load balancer sent no PROXY header".to_string(),
            "enable the PROXY protocol on the load balancer (HAProxy: `send-proxy` or `send-proxy-v2` on the server line; AWS NLB: the proxy_protocol_v2 target group attribute), or set proxy_protocol: off".to_string(),
        ),
        Err(Problem::WrongVersion(v)) => (
            "the PROXY header is of another version than configured".to_string(),
            format!(
                "set proxy_protocol: {} (or any), or make the load balancer send {expected}",
                v.as_str()
            ),
        ),
        _ => (
            "the PROXY header is malformed or incomplete".to_string(),
            format!(
                "check the load balancer's PROXY protocol setting; this listener takes {expected}"
            ),
        ),
    };
    Finding::new(
        Code::ProxyProtocolInvalid,
        summary,
        format!("{peer} {what}; the connection was closed"),
        fix,
    )
}

fn mode_name(mode: ProxyProtocol) -> &'static str {
    match mode {
        ProxyProtocol::Off => "off",
        ProxyProtocol::V1 => "v1",
        ProxyProtocol::V2 => "v2",
        ProxyProtocol::Any => "any",
    }
}

/// Counts and (rate-limited, with the listener's other `client_error` events) logs a refused
/// connection.
fn report(ctx: &ListenerContext, side: &ProxyProtocolSide, peer: SocketAddr, f: &Finding) {
    ctx.closer.count(f.code);
    let peer_text = crate::telemetry::redact::peer(peer);
    if ctx
        .closer
        .limiter
        .admit(&ctx.name, f.code, &peer_text, Instant::now())
        == Admit::Suppress
    {
        return;
    }
    macro_rules! emit {
        ($lvl:ident) => {
            tracing::$lvl!(
                event = Event::ClientError.as_str(),
                listener = %ctx.name,
                peer = %peer_text,
                proxy_protocol = mode_name(side.mode),
                code = f.code.as_str(),
                severity = f.severity.as_str(),
                summary = %f.summary,
                why = %f.why,
                fix = %f.fix,
            )
        };
    }
    if f.code.default_severity() >= Severity::Warning {
        emit!(warn)
    } else {
        emit!(info)
    }
}

#[cfg(test)]
mod tests;
