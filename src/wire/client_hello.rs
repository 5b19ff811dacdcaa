//! Parsing of a raw TLS ClientHello from peeked bytes.
//!
//! rustls' `ClientHello` does not expose the legacy version, `supported_versions`, raw extension
//! ids or an IP literal in SNI, and it is only available when the hello is good enough for rustls
//! to accept. Diagnosing "client offers only TLS 1.0" or "no shared cipher" needs exactly those, so
//! we read them ourselves from the bytes we peeked before rustls ran.
//!
//! The parser is bounded (it never allocates more than the input justifies, and refuses a hello
//! above [`MAX_HELLO_LEN`]) and never panics: all reads go through [`Cursor`], which checks bounds.

use std::borrow::Cow;
use std::net::IpAddr;

use super::sniff::printable;

/// Largest handshake message we accept. Real hellos are a few hundred bytes, up to ~2 KiB with
/// post-quantum key shares; 64 KiB leaves room for odd clients without letting a peer make us
/// buffer megabytes.
pub const MAX_HELLO_LEN: usize = 64 * 1024;

/// Largest TLSPlaintext fragment (RFC 8446 section 5.1).
const MAX_RECORD_LEN: usize = 1 << 14;

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SESSION_TICKET: u16 = 0x0023;
const EXT_PRE_SHARED_KEY: u16 = 0x0029;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

pub const TLS10: u16 = 0x0301;
pub const TLS11: u16 = 0x0302;
pub const TLS12: u16 = 0x0303;
pub const TLS13: u16 = 0x0304;

/// Why the bytes could not be read as a ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes so far are a valid beginning; more are needed.
    Incomplete,
    /// The bytes are a TLS handshake but not a well-formed ClientHello.
    Malformed(&'static str),
    /// The first record is not a handshake record, or the handshake message is not a ClientHello.
    NotClientHello,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Incomplete => f.write_str("incomplete ClientHello"),
            ParseError::Malformed(why) => write!(f, "malformed ClientHello: {why}"),
            ParseError::NotClientHello => f.write_str("not a ClientHello"),
        }
    }
}

impl std::error::Error for ParseError {}

/// What a ClientHello offers, with GREASE values (RFC 8701) removed from every list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHelloSummary {
    /// `ClientHello.legacy_version` (the maximum version for clients without supported_versions).
    pub legacy_version: u16,
    /// From the supported_versions extension, in the client's order; empty if absent.
    pub supported_versions: Vec<u16>,
    pub cipher_suites: Vec<u16>,
    pub groups: Vec<u16>,
    pub signature_schemes: Vec<u16>,
    /// The first host_name entry of server_name, as sent (escaped if not printable).
    pub sni: Option<String>,
    /// The SNI is an IP literal (not allowed by RFC 6066; rustls treats it as no SNI).
    pub sni_is_ip: bool,
    pub alpn: Vec<String>,
    pub has_session_ticket_ext: bool,
    pub has_psk: bool,
    /// Extension ids in the order sent.
    pub extension_ids: Vec<u16>,
    /// Number of cipher suite values as sent, GREASE and signalling values included.
    pub cipher_count: usize,
    /// Whether any GREASE value appeared (cipher suites, extensions, groups, versions, ...).
    pub has_grease: bool,
}

/// A guess at the client's TLS stack from the shape of its hello. Only shapes with a clear,
/// documented origin are recognised; anything else gives `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFamily {
    /// GREASE values: BoringSSL-based clients (Chrome, Edge and other Chromium browsers, Android
    /// apps using Cronet/Conscrypt) and Apple's stack (Safari, URLSession). Trust comes from the
    /// OS or browser store.
    GreasingBrowserOrApple,
    /// OpenSSL's default TLS 1.3 order (AES-256, ChaCha20, AES-128) followed by Node.js' default
    /// TLS 1.2 list, which starts with ECDHE-RSA-AES128-GCM-SHA256 (Node's `tls.DEFAULT_CIPHERS`).
    NodeJs,
    /// OpenSSL's default TLS 1.3 order not followed by Node's list: curl, Python, Ruby, PHP, wget
    /// and others linked against OpenSSL. Which one cannot be told from the hello.
    OpenSsl,
    /// Go `crypto/tls`: the TLS 1.3 suites come last (Go appends them after its TLS 1.2 list).
    Go,
    /// rustls (reqwest/hyper-rustls, ...): TLS 1.3 suites in the order AES-256, AES-128, ChaCha20
    /// at the start.
    Rustls,
}

impl ClientFamily {
    pub fn describe(self) -> &'static str {
        match self {
            ClientFamily::GreasingBrowserOrApple => {
                "a browser or Apple/BoringSSL-based client (it sends GREASE values)"
            }
            ClientFamily::NodeJs => "a Node.js client (its default cipher order)",
            ClientFamily::OpenSsl => {
                "an OpenSSL-based client such as curl, Python, Ruby or PHP (OpenSSL's default cipher order)"
            }
            ClientFamily::Go => "a Go client (TLS 1.3 suites listed last)",
            ClientFamily::Rustls => "a rustls-based client (its default cipher order)",
        }
    }
}

impl ClientHelloSummary {
    /// The highest version offered: from supported_versions if present, else `legacy_version`.
    pub fn max_version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .max()
            .unwrap_or(self.legacy_version)
    }

    /// True when nothing at or above TLS 1.2 is offered.
    pub fn offers_only_legacy_versions(&self) -> bool {
        self.max_version() < TLS12
    }

    /// Names of the versions offered, highest first. Without supported_versions a hello only
    /// states its maximum, so that one is reported.
    pub fn version_names(&self) -> Vec<&'static str> {
        let mut versions: Vec<u16> = if self.supported_versions.is_empty() {
            vec![self.legacy_version]
        } else {
            self.supported_versions.clone()
        };
        versions.sort_unstable_by(|a, b| b.cmp(a));
        versions.dedup();
        versions.into_iter().filter_map(version_name).collect()
    }

    /// The SNI if it is a host name rustls would use (not an IP literal).
    pub fn server_name(&self) -> Option<&str> {
        if self.sni_is_ip {
            None
        } else {
            self.sni.as_deref()
        }
    }

    /// A heuristic on the hello's shape; see [`ClientFamily`]. `None` when unsure, which is
    /// common: custom cipher lists, other libraries and new versions all change the shape.
    pub fn client_family_hint(&self) -> Option<ClientFamily> {
        if self.has_grease {
            return Some(ClientFamily::GreasingBrowserOrApple);
        }
        let cs = self.cipher_suites.as_slice();
        let tls13 = |c: u16| (0x1301..=0x1305).contains(&c);
        match cs {
            [0x1302, 0x1303, 0x1301, 0xc02f, 0xc02b, ..] => Some(ClientFamily::NodeJs),
            [0x1302, 0x1303, 0x1301, ..] => Some(ClientFamily::OpenSsl),
            [0x1302, 0x1301, 0x1303, ..] => Some(ClientFamily::Rustls),
            [first, .., last] if !tls13(*first) && tls13(*last) => Some(ClientFamily::Go),
            _ => None,
        }
    }
}

/// "TLSv1.2" and friends for a protocol version number.
pub fn version_name(v: u16) -> Option<&'static str> {
    match v {
        0x0300 => Some("SSLv3"),
        TLS10 => Some("TLSv1.0"),
        TLS11 => Some("TLSv1.1"),
        TLS12 => Some("TLSv1.2"),
        TLS13 => Some("TLSv1.3"),
        _ => None,
    }
}

/// RFC 8701 GREASE values: 0x?A?A with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Parses the ClientHello at the start of `buf` (raw bytes from the wire, record headers
/// included). A hello split over several handshake records is reassembled; bytes after it are
/// ignored.
pub fn parse(buf: &[u8]) -> Result<ClientHelloSummary, ParseError> {
    let msg = handshake_message(buf)?;
    let mut c = Cursor::new(&msg);
    // The header was checked by `handshake_message`.
    c.skip(4)?;
    parse_body(&mut c)
}

/// Reassembles the first handshake message from one or more handshake records.
fn handshake_message(buf: &[u8]) -> Result<Cow<'_, [u8]>, ParseError> {
    let mut records = Cursor::new(buf);
    let mut joined: Option<Vec<u8>> = None;
    loop {
        let first = records.pos == 0;
        let content_type = records.u8().map_err(|_| ParseError::Incomplete)?;
        if content_type != CONTENT_HANDSHAKE {
            return Err(if first {
                ParseError::NotClientHello
            } else {
                ParseError::Malformed("a non-handshake record interrupts the ClientHello")
            });
        }
        let version = records.u16().map_err(|_| ParseError::Incomplete)?;
        if version >> 8 != 3 {
            return Err(if first {
                ParseError::NotClientHello
            } else {
                ParseError::Malformed("bad record version")
            });
        }
        let len = usize::from(records.u16().map_err(|_| ParseError::Incomplete)?);
        if len == 0 {
            return Err(ParseError::Malformed("empty handshake record"));
        }
        if len > MAX_RECORD_LEN {
            return Err(ParseError::Malformed("record longer than 2^14 bytes"));
        }
        let fragment = records.take(len).map_err(|_| ParseError::Incomplete)?;

        let msg: &[u8] = match joined.as_mut() {
            None => fragment,
            Some(v) => {
                v.extend_from_slice(fragment);
                v
            }
        };
        if let Some(&t) = msg.first() {
            if t != HANDSHAKE_CLIENT_HELLO {
                return Err(ParseError::NotClientHello);
            }
        }
        if msg.len() >= 4 {
            let mut h = Cursor::new(msg);
            h.skip(1)?;
            let body_len = h.u24()?;
            if body_len > MAX_HELLO_LEN {
                return Err(ParseError::Malformed("ClientHello longer than 64 KiB"));
            }
            let total = body_len + 4;
            if msg.len() >= total {
                return Ok(match joined {
                    None => Cow::Borrowed(fragment.get(..total).unwrap_or(fragment)),
                    Some(mut v) => {
                        v.truncate(total);
                        Cow::Owned(v)
                    }
                });
            }
        }
        if joined.is_none() {
            joined = Some(fragment.to_vec());
        }
    }
}

fn parse_body(c: &mut Cursor<'_>) -> Result<ClientHelloSummary, ParseError> {
    let mut s = ClientHelloSummary {
        legacy_version: c.u16()?,
        ..Default::default()
    };
    c.skip(32)?; // random
    let session_id_len = usize::from(c.u8()?);
    if session_id_len > 32 {
        return Err(ParseError::Malformed("session id longer than 32 bytes"));
    }
    c.skip(session_id_len)?;

    let mut suites = c.sub_u16("cipher suites")?;
    if suites.remaining() == 0 || suites.remaining() % 2 != 0 {
        return Err(ParseError::Malformed(
            "cipher suite list empty or of odd length",
        ));
    }
    while suites.remaining() > 0 {
        let v = suites.u16()?;
        s.cipher_count += 1;
        s.push_filtered(v, |s| &mut s.cipher_suites);
    }

    let compression_len = usize::from(c.u8()?);
    if compression_len == 0 {
        return Err(ParseError::Malformed("no compression methods"));
    }
    c.skip(compression_len)?;

    // Hellos from SSLv3/TLS 1.0-era clients may end here: no extensions at all.
    if c.remaining() == 0 {
        return Ok(s);
    }
    let mut exts = c.sub_u16("extensions")?;
    while exts.remaining() > 0 {
        let id = exts.u16()?;
        let mut data = exts.sub_u16("extension")?;
        if is_grease(id) {
            s.has_grease = true;
            continue;
        }
        s.extension_ids.push(id);
        match id {
            EXT_SERVER_NAME => parse_sni(&mut data, &mut s)?,
            EXT_SUPPORTED_GROUPS => {
                let mut l = data.sub_u16("supported_groups")?;
                while l.remaining() > 0 {
                    let v = l.u16()?;
                    s.push_filtered(v, |s| &mut s.groups);
                }
            }
            EXT_SIGNATURE_ALGORITHMS => {
                let mut l = data.sub_u16("signature_algorithms")?;
                while l.remaining() > 0 {
                    let v = l.u16()?;
                    s.push_filtered(v, |s| &mut s.signature_schemes);
                }
            }
            EXT_ALPN => {
                let mut l = data.sub_u16("alpn")?;
                while l.remaining() > 0 {
                    let len = usize::from(l.u8()?);
                    if len == 0 {
                        return Err(ParseError::Malformed("empty ALPN protocol name"));
                    }
                    s.alpn.push(printable(l.take(len)?));
                }
            }
            EXT_SUPPORTED_VERSIONS => {
                let len = usize::from(data.u8()?);
                let mut l = Cursor::new(data.take(len)?);
                while l.remaining() > 0 {
                    let v = l.u16()?;
                    s.push_filtered(v, |s| &mut s.supported_versions);
                }
            }
            EXT_SESSION_TICKET => s.has_session_ticket_ext = true,
            EXT_PRE_SHARED_KEY => s.has_psk = true,
            _ => {}
        }
    }
    Ok(s)
}

fn parse_sni(data: &mut Cursor<'_>, s: &mut ClientHelloSummary) -> Result<(), ParseError> {
    // A ClientHello echoing an empty server_name is only valid from servers; treat as none.
    if data.remaining() == 0 {
        return Ok(());
    }
    let mut list = data.sub_u16("server_name")?;
    while list.remaining() > 0 {
        let name_type = list.u8()?;
        let len = usize::from(list.u16()?);
        let name = list.take(len)?;
        if name_type == 0 && s.sni.is_none() {
            let text = printable_host(name);
            s.sni_is_ip = text.parse::<IpAddr>().is_ok();
            s.sni = Some(text);
        }
    }
    Ok(())
}

/// Host names may be up to 253 characters, longer than the 64 of [`printable`], and must stay
/// comparable with certificate names, so valid names are kept whole.
fn printable_host(name: &[u8]) -> String {
    if name.len() <= 255 && name.iter().all(|c| c.is_ascii_graphic()) && !name.contains(&b'\\') {
        String::from_utf8_lossy(name).into_owned()
    } else {
        printable(name)
    }
}

impl ClientHelloSummary {
    fn push_filtered(&mut self, v: u16, list: impl FnOnce(&mut Self) -> &mut Vec<u16>) {
        if is_grease(v) {
            self.has_grease = true;
        } else {
            list(self).push(v);
        }
    }
}

/// A read position over a byte slice whose every read is bounds-checked.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Inside a complete handshake message, running out of bytes means a length field lied;
    /// `handshake_message` maps record-level shortness to `Incomplete` itself.
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(ParseError::Malformed("length overflow"))?;
        let s = self.buf.get(self.pos..end).ok_or(ParseError::Malformed(
            "a length field runs past the end of its container",
        ))?;
        self.pos = end;
        Ok(s)
    }

    fn skip(&mut self, n: usize) -> Result<(), ParseError> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self) -> Result<u16, ParseError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or_default(),
            b.get(1).copied().unwrap_or_default(),
        ]))
    }

    fn u24(&mut self) -> Result<usize, ParseError> {
        let b = self.take(3)?;
        Ok(b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x)))
    }

    /// A sub-cursor over a vector with a 2-byte length prefix.
    fn sub_u16(&mut self, what: &'static str) -> Result<Cursor<'a>, ParseError> {
        let len = usize::from(self.u16()?);
        let body = self.take(len).map_err(|_| ParseError::Malformed(what))?;
        Ok(Cursor::new(body))
    }
}

#[cfg(test)]
pub(crate) mod tests;
