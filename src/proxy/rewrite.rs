//! Request and response header rewriting: what a reverse proxy must change on the way through.
//!
//! Pure functions over `http::HeaderMap` so they can be tested (and benchmarked) without sockets.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus the legacy ones
/// clients still send.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers, including those named in `Connection`. `Upgrade` is removed
/// too unless `keep_upgrade` (a WebSocket handshake must carry `Connection: upgrade` and
/// `Upgrade` to the next hop).
///
/// One pass over the names present decides what to remove, so the usual message (no
/// hop-by-hop header at all) costs no lookup and no removal.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let (mut connection, mut upgrade, mut hop) = (false, false, false);
    for name in headers.keys() {
        if *name == header::CONNECTION {
            connection = true;
        } else if *name == header::UPGRADE {
            upgrade = true;
        } else if HOP_BY_HOP[1..].contains(name) {
            hop = true;
        }
    }
    if connection {
        // Names listed in Connection are hop-by-hop for this message only. The values are
        // taken out first (a reference count each) so the map can be changed meanwhile.
        let mut values = headers.get_all(header::CONNECTION).iter();
        let first = values.next().cloned();
        let rest: Vec<HeaderValue> = values.cloned().collect();
        headers.remove(header::CONNECTION);
        for value in first.iter().chain(&rest) {
            let Ok(text) = value.to_str() else { continue };
            for token in text.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("upgrade") {
                    continue; // decided below
                }
                // A name that is not a valid header name is simply not found.
                headers.remove(token);
            }
        }
    }
    if hop {
        for name in &HOP_BY_HOP[1..] {
            headers.remove(name);
        }
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else if upgrade {
        headers.remove(header::UPGRADE);
    }
}

/// Is this request a protocol upgrade (WebSocket) that must be tunnelled?
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// What the proxy knows about the client side of a request.
#[derive(Debug, Clone, Copy)]
pub struct ClientSide<'a> {
    pub peer_ip: IpAddr,
    /// `https` on a TLS listener, `http` otherwise.
    pub proto: &'static str,
    /// The :authority (HTTP/2) the client asked for, used when the request has no `Host`
    /// header (an HTTP/1 `Host` header is taken from the headers themselves).
    pub host: Option<&'a str>,
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Rewrites a client's request headers for the upstream: hop-by-hop headers out, `Host`
/// removed (the upstream client sets it from the upstream URL), `X-Forwarded-*` added, and
/// the configured `set_headers` replacing whatever the client sent under those names.
pub fn rewrite_request_headers(
    headers: &mut HeaderMap,
    client: &ClientSide<'_>,
    set_headers: &[(HeaderName, HeaderValue)],
    upgrade: bool,
) {
    strip_hop_by_hop(headers, upgrade);
    // The client's Host moves to X-Forwarded-Host as is (no copy); the upstream client sets
    // Host from the upstream URL.
    let host = headers.remove(header::HOST);

    // Append to an existing chain: an earlier proxy may have added its client.
    let prev = headers
        .get(&X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .filter(|p| !p.trim().is_empty())
        .map(str::as_bytes);
    if let Some(v) = forwarded_for(prev, client.peer_ip) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(client.proto),
    );
    match host.or_else(|| client.host.and_then(|h| HeaderValue::from_str(h).ok())) {
        Some(v) => {
            headers.insert(X_FORWARDED_HOST.clone(), v);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
    for (name, value) in set_headers {
        headers.insert(name.clone(), value.clone());
    }
}

/// The `X-Forwarded-For` value: `prev, ip` (or `ip`), assembled on the stack and copied once
/// into the header value.
fn forwarded_for(prev: Option<&[u8]>, ip: IpAddr) -> Option<HeaderValue> {
    // "ffff:…" IPv6 text is at most 45 bytes; a previous chain of up to 200 bytes fits too.
    let mut buf = [0u8; 256];
    let mut len = 0;
    if let Some(prev) = prev {
        if prev.len() + 2 + 45 > buf.len() {
            // A long chain: the rare case, built on the heap.
            let mut v = Vec::with_capacity(prev.len() + 2 + 45);
            v.extend_from_slice(prev);
            v.extend_from_slice(b", ");
            v.extend_from_slice(ip.to_string().as_bytes());
            return HeaderValue::from_bytes(&v).ok();
        }
        buf[..prev.len()].copy_from_slice(prev);
        buf[prev.len()..prev.len() + 2].copy_from_slice(b", ");
        len = prev.len() + 2;
    }
    len += write_ip(&mut buf[len..], ip);
    HeaderValue::from_bytes(&buf[..len]).ok()
}

/// Writes `ip` as text into `out` (at least 45 bytes long) and returns the length written.
fn write_ip(out: &mut [u8], ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(v4) => {
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    out[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    out[n] = b'0' + octet / 10 % 10;
                    n += 1;
                }
                out[n] = b'0' + octet % 10;
                n += 1;
            }
            n
        }
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let total = out.len();
            let mut cursor = &mut out[..];
            let _ = write!(cursor, "{v6}");
            total - cursor.len()
        }
    }
}

/// Rewrites an upstream response's headers for the client: only hop-by-hop headers go.
/// Everything else (`x-request-id`, `openai-processing-ms`, `x-ratelimit-*`, `retry-after`,
/// `content-encoding`) is the upstream's word and passes untouched.
pub fn rewrite_response_headers(headers: &mut HeaderMap, upgrade: bool) {
    strip_hop_by_hop(headers, upgrade);
}

#[cfg(test)]
mod tests;
