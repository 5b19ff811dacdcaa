//! First-byte sniffing: what a new connection on a TLS port is speaking.
//!
//! rustls answers anything that is not a TLS record with a 7-byte `decode_error` alert, which an
//! HTTP client shows as "Received HTTP/0.9 when not allowed" and an SSH client as garbage. Looking
//! at the first bytes *before* rustls sees them lets us name the mistake (plain HTTP, h2c, SSH, a
//! load balancer's PROXY header, an SSLv2-format hello) and, for plain HTTP, answer with a
//! readable 400 instead. Everything here is pure: the caller peeks or reads the bytes.

use crate::findings::Code;

/// Longest string taken from the peer that we keep (after escaping): evidence, not a transcript.
const MAX_PEER_STRING: usize = 64;

/// Bytes shown in `Unknown { hex_prefix }`.
const HEX_PREFIX_BYTES: usize = 16;

/// Longest method token we wait for. Real methods are short; waiting longer for a run of capital
/// letters would only delay the verdict on garbage.
const MAX_METHOD_LEN: usize = 20;

/// The PROXY protocol v2 binary signature (haproxy proxy-protocol.txt, section 2.2).
const PROXY_V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const PROXY_V1_PREFIX: &[u8] = b"PROXY ";
const H2C_PREFACE_PREFIX: &[u8] = b"PRI * HTTP/2.0";
const SSH_PREFIX: &[u8] = b"SSH-";

/// What the first bytes of a connection on a TLS port look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// A TLS handshake record (`16 03 0x`): hand the connection to rustls.
    Tls,
    /// Too few bytes to tell; read more (or call [`sniff_final`] when no more will come).
    NeedMore,
    /// A plain HTTP/1 request line. `host` is the Host header if it was within the bytes seen.
    PlainHttp {
        method: String,
        host: Option<String>,
        path: Option<String>,
    },
    /// The HTTP/2 prior-knowledge (h2c) preface `PRI * HTTP/2.0`.
    H2cPreface,
    /// An SSH identification line.
    Ssh { banner: String },
    /// A PROXY protocol header (version 1 text or version 2 binary).
    ProxyProtocol { version: u8 },
    /// An SSLv2-format ClientHello (very old clients and some scanners).
    SslV2Hello,
    /// A TLS record that is not a handshake (an alert, application data, ...) as the first record.
    TlsOtherRecord { content_type: u8 },
    /// Anything else.
    Unknown { hex_prefix: String },
}

impl Sniffed {
    /// Plain-words description of what arrived, usable as log evidence.
    pub fn describe(&self) -> String {
        match self {
            Sniffed::Tls => "a TLS handshake record".to_string(),
            Sniffed::NeedMore => {
                "too few bytes to tell what protocol the client speaks".to_string()
            }
            Sniffed::PlainHttp { method, host, path } => {
                let mut s = format!("a plain HTTP request '{method}");
                if let Some(p) = path {
                    s.push(' ');
                    s.push_str(p);
                }
                s.push('\'');
                match host {
                    Some(h) => s.push_str(&format!(" for host '{h}'")),
                    None => s.push_str(" (no Host header seen)"),
                }
                s
            }
            Sniffed::H2cPreface => {
                "an HTTP/2 cleartext (h2c prior-knowledge) preface 'PRI * HTTP/2.0'".to_string()
            }
            Sniffed::Ssh { banner } => format!("an SSH client banner '{banner}'"),
            Sniffed::ProxyProtocol { version } => {
                format!("a PROXY protocol v{version} header (sent by a load balancer)")
            }
            Sniffed::SslV2Hello => {
                "an SSLv2-format ClientHello (a very old client or a scanner)".to_string()
            }
            Sniffed::TlsOtherRecord { content_type } => format!(
                "a TLS {} record (content type {content_type}) before any handshake",
                content_type_name(*content_type)
            ),
            Sniffed::Unknown { hex_prefix } => {
                format!("unrecognised bytes (first bytes in hex: {hex_prefix})")
            }
        }
    }

    /// The finding code for a non-TLS first flight; `None` for `Tls` and `NeedMore`.
    pub fn code(&self) -> Option<Code> {
        match self {
            Sniffed::Tls | Sniffed::NeedMore => None,
            Sniffed::PlainHttp { .. } => Some(Code::PlainHttpOnTlsPort),
            Sniffed::ProxyProtocol { .. } => Some(Code::ProxyProtocolUnexpected),
            Sniffed::H2cPreface
            | Sniffed::Ssh { .. }
            | Sniffed::SslV2Hello
            | Sniffed::TlsOtherRecord { .. }
            | Sniffed::Unknown { .. } => Some(Code::NotTls),
        }
    }
}

fn content_type_name(ct: u8) -> &'static str {
    match ct {
        20 => "change_cipher_spec",
        21 => "alert",
        23 => "application_data",
        24 => "heartbeat",
        _ => "non-handshake",
    }
}

/// Classifies the first bytes of a connection. Returns `NeedMore` while the bytes are a prefix of
/// something recognisable.
pub fn sniff(first_bytes: &[u8]) -> Sniffed {
    let b = first_bytes;
    let Some(&first) = b.first() else {
        return Sniffed::NeedMore;
    };

    // TLS records: content type, then major version 3, then a minor version 0..=4 (SSL 3.0 up to
    // the 0x0304 some stacks put in the record layer).
    if (20..=24).contains(&first) {
        match (b.get(1), b.get(2)) {
            (None, _) => return Sniffed::NeedMore,
            (Some(3), None) => return Sniffed::NeedMore,
            (Some(3), Some(&minor)) if minor <= 4 => {
                return if first == 22 {
                    Sniffed::Tls
                } else {
                    Sniffed::TlsOtherRecord {
                        content_type: first,
                    }
                };
            }
            _ => return unknown(b),
        }
    }

    // SSLv2 record header with the high bit set: 2-byte length, then msg_type 1 (CLIENT-HELLO)
    // and the client's version (0x0002 for SSLv2, 0x03xx for an SSLv3/TLS client using the
    // backwards-compatible format).
    if first & 0x80 != 0 {
        return match (b.get(2), b.get(3), b.get(4)) {
            (None, _, _) => Sniffed::NeedMore,
            (Some(1), None, _) => Sniffed::NeedMore,
            (Some(1), Some(0), None) => Sniffed::NeedMore,
            (Some(1), Some(3), _) | (Some(1), Some(0), Some(2)) => Sniffed::SslV2Hello,
            _ => unknown(b),
        };
    }

    if let Some(r) = match_prefix(b, PROXY_V2_SIGNATURE, Sniffed::ProxyProtocol { version: 2 }) {
        return r;
    }
    if let Some(r) = match_prefix(b, PROXY_V1_PREFIX, Sniffed::ProxyProtocol { version: 1 }) {
        return r;
    }
    if let Some(r) = match_prefix(b, H2C_PREFACE_PREFIX, Sniffed::H2cPreface) {
        return r;
    }
    if b.starts_with(SSH_PREFIX) {
        let line_end = b
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .unwrap_or(b.len());
        return Sniffed::Ssh {
            banner: printable(b.get(..line_end).unwrap_or(b)),
        };
    }
    if SSH_PREFIX.starts_with(b) {
        return Sniffed::NeedMore;
    }

    sniff_http(b)
}

/// Like [`sniff`], for when no more bytes will come (EOF or the sniff deadline passed): never
/// returns `NeedMore`, whatever was seen is reported as `Unknown`.
pub fn sniff_final(first_bytes: &[u8]) -> Sniffed {
    match sniff(first_bytes) {
        Sniffed::NeedMore => unknown(first_bytes),
        other => other,
    }
}

/// True once the bytes contain the end of an HTTP/1 header block, so a caller that wants the Host
/// header knows when to stop reading.
pub fn http_head_complete(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"\r\n\r\n") || bytes.windows(2).any(|w| w == b"\n\n")
}

/// `Some(found)` if `b` starts with `prefix`, `Some(NeedMore)` if `b` is a strict prefix of it,
/// `None` otherwise.
fn match_prefix(b: &[u8], prefix: &[u8], found: Sniffed) -> Option<Sniffed> {
    if b.starts_with(prefix) {
        Some(found)
    } else if prefix.starts_with(b) {
        Some(Sniffed::NeedMore)
    } else {
        None
    }
}

/// Method characters we accept. RFC 9110 allows any token, but real methods are upper-case
/// letters (and the odd `-`/`_` in WebDAV-style extensions); accepting every token character would
/// turn random ASCII into "HTTP".
fn is_method_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c == b'-' || c == b'_'
}

fn sniff_http(b: &[u8]) -> Sniffed {
    let method_len = b.iter().take_while(|&&c| is_method_char(c)).count();
    match b.get(method_len) {
        None if method_len <= MAX_METHOD_LEN => return Sniffed::NeedMore,
        Some(b' ') if (1..=MAX_METHOD_LEN).contains(&method_len) => {}
        _ => return unknown(b),
    }
    let method = String::from_utf8_lossy(b.get(..method_len).unwrap_or_default()).into_owned();
    let rest = b.get(method_len + 1..).unwrap_or_default();
    let target_len = rest
        .iter()
        .position(|&c| c == b' ' || c == b'\r' || c == b'\n')
        .unwrap_or(rest.len());
    let path = if target_len == 0 {
        None
    } else {
        Some(printable(rest.get(..target_len).unwrap_or_default()))
    };
    Sniffed::PlainHttp {
        method,
        host: find_host_header(rest),
        path,
    }
}

/// The Host header's value, if a complete `Host:` line is within the bytes. A header line cut by
/// the end of the buffer is still used: the name is what matters and the value is sanitised later.
fn find_host_header(after_method: &[u8]) -> Option<String> {
    // Skip the request line; headers start after the first line break.
    let mut lines = after_method.split(|&c| c == b'\n').skip(1);
    lines.find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (name, value) = line.split_at(line.iter().position(|&c| c == b':')?);
        if !name.eq_ignore_ascii_case(b"host") {
            return None;
        }
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        if value.is_empty() {
            None
        } else {
            Some(printable(value))
        }
    })
}

fn unknown(b: &[u8]) -> Sniffed {
    Sniffed::Unknown {
        hex_prefix: hex::encode(b.get(..HEX_PREFIX_BYTES).unwrap_or(b)),
    }
}

/// Makes peer bytes safe for logs: printable ASCII kept, everything else as `\xNN`, and at most
/// [`MAX_PEER_STRING`] characters (ending in `...` when cut).
pub(crate) fn printable(bytes: &[u8]) -> String {
    printable_capped(bytes, MAX_PEER_STRING)
}

/// [`printable`] with another length cap: the one escaping of peer-controlled text in logs
/// (handshake events and the access log alike), so a line or direction control (U+2028,
/// U+202E, NEL, C0/C1 controls) never reaches a log raw.
pub(crate) fn printable_capped(bytes: &[u8], max: usize) -> String {
    let max = max.max(4);
    let mut out = String::new();
    for &c in bytes {
        if c.is_ascii_graphic() || c == b' ' {
            if c == b'\\' {
                out.push_str("\\\\");
            } else {
                out.push(c as char);
            }
        } else {
            out.push_str(&format!("\\x{c:02x}"));
        }
        if out.len() > max {
            break;
        }
    }
    if out.len() > max {
        // Only ASCII was pushed, so byte and char positions agree.
        out.truncate(max - 3);
        out.push_str("...");
    }
    out
}

/// [`printable_capped`] of text that is usually printable already: borrowed as it is when
/// every byte is printable ASCII other than `\\` (and within `max`), so the common case
/// allocates nothing.
pub(crate) fn printable_text(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    if b.len() <= max.max(4)
        && b.iter()
            .all(|&c| (c.is_ascii_graphic() || c == b' ') && c != b'\\')
    {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(printable_capped(b, max))
    }
}

/// A complete `HTTP/1.1 400` response telling a plain-HTTP client to use `https://`.
///
/// The host comes from the client's Host header, keeping only host-name and IP-literal characters
/// (a header with anything else falls back to `localhost`, so nothing the client sent can inject
/// markup or headers). A port in the Host header is replaced by the listener's; port 443 is left
/// out of the URL.
pub fn plain_http_response(host_header: Option<&str>, listener_port: u16) -> Vec<u8> {
    let host = host_header
        .and_then(sanitise_host)
        .unwrap_or_else(|| "localhost".to_string());
    let url = if listener_port == 443 {
        format!("https://{host}/")
    } else {
        format!("https://{host}:{listener_port}/")
    };
    let body = format!("This port speaks HTTPS. Use {url} instead of http://\n");
    let mut out = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The host part of a Host header, or `None` if it has characters a host cannot have.
fn sanitise_host(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty()
        || raw.len() > 255
        || !raw
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return None;
    }
    if let Some(rest) = raw.strip_prefix('[') {
        // [v6]:port or [v6]
        let end = rest.find(']')?;
        let inner = rest.get(..end)?;
        if inner.is_empty() || inner.contains('[') {
            return None;
        }
        return Some(format!("[{inner}]"));
    }
    if raw.contains('[') || raw.contains(']') {
        return None;
    }
    match raw.matches(':').count() {
        0 => Some(raw.to_string()),
        // host:port
        1 => {
            let host = raw.split(':').next().unwrap_or_default();
            (!host.is_empty()).then(|| host.to_string())
        }
        // A bare IPv6 literal (not valid in a Host header, but unambiguous to fix up).
        _ => Some(format!("[{raw}]")),
    }
}

#[cfg(test)]
mod tests;
