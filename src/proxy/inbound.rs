//! What a client's request must satisfy before anything is forwarded: method, Host/:authority,
//! Upgrade tokens, the size of the head. Pure functions over `http` types; each refusal names
//! the `client_*` code it becomes.

use http::header::{self, HeaderMap};
use http::{Method, Uri, Version};

use crate::findings::Code;

/// The methods tlsgate forwards, for `Allow` on 405 and `OPTIONS *`.
pub const ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// A refused request: the code and the evidence (`why`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub why: String,
}

impl Refusal {
    fn new(code: Code, why: impl Into<String>) -> Self {
        Refusal {
            code,
            why: why.into(),
        }
    }
}

/// The longest piece of a request quoted in a refusal's evidence.
const MAX_QUOTED: usize = 256;

/// A piece of the request quoted in a refusal's evidence (which is logged): escaped with the
/// logs' one helper, so a line or direction control never reaches a log raw.
pub fn peer_text(bytes: &[u8]) -> String {
    crate::wire::sniff::printable_capped(bytes, MAX_QUOTED)
}

/// CONNECT and TRACE are refused: tlsgate is no forward proxy, and TRACE echoes credentials.
pub fn check_method(method: &Method) -> Result<(), Refusal> {
    if method == Method::CONNECT || method == Method::TRACE {
        return Err(Refusal::new(
            Code::ClientMethodRefused,
            format!("method {method} is not forwarded"),
        ));
    }
    Ok(())
}

/// `OPTIONS *` (asterisk-form): a question about the server itself, answered locally.
pub fn is_options_asterisk(method: &Method, uri: &Uri) -> bool {
    method == Method::OPTIONS && uri.path() == "*"
}

/// Host rules: HTTP/1.1 needs exactly one valid Host; a request target's authority
/// (HTTP/2 `:authority`, HTTP/1.1 absolute-form) must agree with Host when both are present.
pub fn check_host(version: Version, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
    let bad = |why: String| Err(Refusal::new(Code::ClientHostInvalid, why));
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return bad("the request has several Host headers".into());
    }
    let host = match host {
        Some(v) => match v.to_str().ok().filter(|h| valid_authority(h)) {
            Some(h) => Some(h),
            None => {
                return bad(format!(
                    "the Host header \"{}\" is not a valid host[:port]",
                    peer_text(v.as_bytes())
                ))
            }
        },
        None => None,
    };
    if let Some(a) = uri.authority() {
        if !valid_authority(a.as_str()) {
            return bad(format!(
                "the request's authority \"{}\" is not a valid host[:port]",
                peer_text(a.as_str().as_bytes())
            ));
        }
        if let Some(h) = host {
            if !h.eq_ignore_ascii_case(a.as_str()) {
                let what = if version == Version::HTTP_2 {
                    ":authority"
                } else {
                    "the absolute-form target's authority"
                };
                return bad(format!(
                    "{what} \"{}\" and Host \"{}\" disagree",
                    peer_text(a.as_str().as_bytes()),
                    peer_text(h.as_bytes())
                ));
            }
        }
        return Ok(());
    }
    if host.is_none() && version == Version::HTTP_11 {
        return bad("an HTTP/1.1 request without a Host header".into());
    }
    Ok(())
}

/// `host[:port]` with a reg-name, IPv4 or bracketed IPv6 host, no userinfo, a numeric port.
pub fn valid_authority(text: &str) -> bool {
    if text.is_empty() || text.contains('@') {
        return false;
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => ("v6", None),
            p => match p.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return false,
            },
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

/// The `Upgrade` tokens of an upgrade request (`Connection: upgrade` and `Upgrade`), each
/// without its `/version`; `None` when the request asks for no upgrade.
pub fn upgrade_tokens(headers: &HeaderMap) -> Option<Vec<String>> {
    if !super::rewrite::is_upgrade_request(headers) {
        return None;
    }
    Some(
        headers
            .get_all(header::UPGRADE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .flat_map(|v| {
                v.split(',')
                    .map(|t| t.split('/').next().unwrap_or("").trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

/// Every token must be allowed (`proxy.allowed_upgrades`, case-insensitive).
pub fn check_upgrade(tokens: &[String], allowed: &[String]) -> Result<(), Refusal> {
    if tokens.is_empty() {
        return Err(Refusal::new(
            Code::ClientUpgradeRefused,
            "the Upgrade header names no protocol",
        ));
    }
    for t in tokens {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(t)) {
            return Err(Refusal::new(
                Code::ClientUpgradeRefused,
                format!(
                    "Upgrade: {} is not in proxy.allowed_upgrades [{}]",
                    peer_text(t.as_bytes()),
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The size of a request head as counted against `limits.max_request_header_bytes`: the
/// request line plus `name: value\r\n` per field.
pub fn head_size(method: &Method, uri: &Uri, headers: &HeaderMap) -> usize {
    let line = method.as_str().len()
        + uri
            .path_and_query()
            .map_or(uri.path().len(), |pq| pq.as_str().len())
        + 12;
    headers
        .iter()
        .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4)
}

#[cfg(test)]
mod tests;
