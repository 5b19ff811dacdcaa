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
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// A real ClientHello produced by rustls, with SNI and ALPN.
    pub(crate) fn rustls_hello(sni: &str, alpn: &[&[u8]]) -> Vec<u8> {
        let roots = rustls::RootCertStore::empty();
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        out
    }

    /// A handcrafted hello from a TLS 1.0-only client: no extensions except SNI.
    pub(crate) fn tls10_hello(with_sni: bool) -> Vec<u8> {
        let mut body = vec![0x03, 0x01];
        body.extend([7u8; 32]);
        body.push(0); // session id
        let suites: [u16; 4] = [0x002f, 0x0035, 0x000a, 0x00ff];
        body.extend(((suites.len() * 2) as u16).to_be_bytes());
        for s in suites {
            body.extend(s.to_be_bytes());
        }
        body.extend([1, 0]); // null compression
        if with_sni {
            let name = b"old.example";
            let mut ext = Vec::new();
            ext.extend(((name.len() + 3) as u16).to_be_bytes());
            ext.push(0);
            ext.extend((name.len() as u16).to_be_bytes());
            ext.extend(name);
            let mut exts = Vec::new();
            exts.extend(0u16.to_be_bytes());
            exts.extend((ext.len() as u16).to_be_bytes());
            exts.extend(ext);
            body.extend((exts.len() as u16).to_be_bytes());
            body.extend(exts);
        }
        wrap(&body, 0x0301)
    }

    /// Wraps a ClientHello body in a handshake header and one record.
    fn wrap(body: &[u8], record_version: u16) -> Vec<u8> {
        let mut hs = vec![HANDSHAKE_CLIENT_HELLO];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![CONTENT_HANDSHAKE];
        rec.extend(record_version.to_be_bytes());
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn parses_a_real_rustls_hello() {
        let bytes = rustls_hello("app.example.com", &[b"h2", b"http/1.1"]);
        let h = parse(&bytes).unwrap();
        assert_eq!(h.legacy_version, TLS12);
        assert_eq!(h.sni.as_deref(), Some("app.example.com"));
        assert!(!h.sni_is_ip);
        assert_eq!(h.server_name(), Some("app.example.com"));
        assert_eq!(h.alpn, ["h2", "http/1.1"]);
        assert!(h.supported_versions.contains(&TLS13));
        assert!(h.supported_versions.contains(&TLS12));
        assert_eq!(h.max_version(), TLS13);
        assert!(!h.offers_only_legacy_versions());
        assert_eq!(h.version_names(), ["TLSv1.3", "TLSv1.2"]);
        assert!(h.cipher_suites.contains(&0x1301));
        assert_eq!(h.cipher_count, h.cipher_suites.len());
        assert!(!h.groups.is_empty());
        assert!(!h.signature_schemes.is_empty());
        assert!(h.extension_ids.contains(&EXT_SERVER_NAME));
        assert!(h.extension_ids.contains(&EXT_ALPN));
        assert!(!h.has_grease);
        assert_eq!(h.client_family_hint(), Some(ClientFamily::Rustls));
    }

    #[test]
    fn parses_a_tls10_only_hello() {
        let h = parse(&tls10_hello(true)).unwrap();
        assert_eq!(h.legacy_version, TLS10);
        assert!(h.supported_versions.is_empty());
        assert_eq!(h.max_version(), TLS10);
        assert!(h.offers_only_legacy_versions());
        assert_eq!(h.version_names(), ["TLSv1.0"]);
        assert_eq!(h.cipher_suites, [0x002f, 0x0035, 0x000a, 0x00ff]);
        assert_eq!(h.sni.as_deref(), Some("old.example"));
        assert!(h.signature_schemes.is_empty());

        let h = parse(&tls10_hello(false)).unwrap();
        assert!(h.extension_ids.is_empty());
        assert_eq!(h.sni, None);
    }

    #[test]
    fn ip_literal_sni_is_flagged() {
        // rustls will not send an IP as SNI, so patch the name of a handcrafted hello.
        let mut b = tls10_hello(true);
        let pos = b.windows(11).position(|w| w == b"old.example").unwrap();
        b[pos..pos + 11].copy_from_slice(b"10.11.12.13");
        let h = parse(&b).unwrap();
        assert_eq!(h.sni.as_deref(), Some("10.11.12.13"));
        assert!(h.sni_is_ip);
        assert_eq!(h.server_name(), None);
    }

    #[test]
    fn grease_is_removed_and_flagged() {
        let mut body = vec![0x03, 0x03];
        body.extend([0u8; 32]);
        body.push(0);
        body.extend(6u16.to_be_bytes());
        for s in [0x2a2au16, 0x1301, 0x1302] {
            body.extend(s.to_be_bytes());
        }
        body.extend([1, 0]);
        // extensions: GREASE ext (empty), supported_versions [GREASE, 1.3, 1.2]
        let mut exts = Vec::new();
        exts.extend(0xfafau16.to_be_bytes());
        exts.extend(0u16.to_be_bytes());
        exts.extend(EXT_SUPPORTED_VERSIONS.to_be_bytes());
        exts.extend(7u16.to_be_bytes());
        exts.push(6);
        for v in [0x5a5au16, TLS13, TLS12] {
            exts.extend(v.to_be_bytes());
        }
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let h = parse(&wrap(&body, 0x0301)).unwrap();
        assert_eq!(h.cipher_suites, [0x1301, 0x1302]);
        assert_eq!(h.cipher_count, 3);
        assert_eq!(h.supported_versions, [TLS13, TLS12]);
        assert_eq!(h.extension_ids, [EXT_SUPPORTED_VERSIONS]);
        assert!(h.has_grease);
        assert_eq!(
            h.client_family_hint(),
            Some(ClientFamily::GreasingBrowserOrApple)
        );
    }

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1301));
    }

    #[test]
    fn family_hints_from_cipher_order() {
        let with = |cs: &[u16]| ClientHelloSummary {
            cipher_suites: cs.to_vec(),
            ..Default::default()
        };
        assert_eq!(
            with(&[0x1302, 0x1303, 0x1301, 0xc02f, 0xc02b, 0xc030]).client_family_hint(),
            Some(ClientFamily::NodeJs)
        );
        assert_eq!(
            with(&[0x1302, 0x1303, 0x1301, 0xc02c, 0xc030]).client_family_hint(),
            Some(ClientFamily::OpenSsl)
        );
        assert_eq!(
            with(&[0xc02b, 0xc02f, 0x1301, 0x1302, 0x1303]).client_family_hint(),
            Some(ClientFamily::Go)
        );
        assert_eq!(with(&[0x002f, 0x0035]).client_family_hint(), None);
        assert_eq!(with(&[]).client_family_hint(), None);
    }

    #[test]
    fn hello_split_over_two_records() {
        let single = rustls_hello("split.example", &[b"h2"]);
        let hs = &single[5..];
        let (a, b) = hs.split_at(40);
        let mut two = Vec::new();
        for part in [a, b] {
            two.extend([CONTENT_HANDSHAKE, 0x03, 0x01]);
            two.extend((part.len() as u16).to_be_bytes());
            two.extend(part);
        }
        assert_eq!(parse(&two).unwrap(), parse(&single).unwrap());
        // The first record alone is incomplete.
        assert_eq!(parse(&two[..45]), Err(ParseError::Incomplete));
    }

    #[test]
    fn every_truncation_is_incomplete_never_a_panic() {
        for bytes in [rustls_hello("t.example", &[b"h2"]), tls10_hello(true)] {
            for n in 0..bytes.len() {
                assert_eq!(parse(&bytes[..n]), Err(ParseError::Incomplete), "at {n}");
            }
            assert!(parse(&bytes).is_ok());
        }
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let mut b = rustls_hello("t.example", &[]);
        let expected = parse(&b).unwrap();
        b.extend([0x17, 0x03, 0x03, 0x00, 0x01, 0x00]);
        assert_eq!(parse(&b).unwrap(), expected);
    }

    #[test]
    fn not_a_client_hello() {
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(ParseError::NotClientHello)
        );
        assert_eq!(
            parse(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
            Err(ParseError::NotClientHello)
        );
        // A ServerHello (type 2) in a handshake record.
        assert_eq!(
            parse(&[0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]),
            Err(ParseError::NotClientHello)
        );
        assert_eq!(
            parse(&[0x16, 0x02, 0x00, 0x00, 0x04]),
            Err(ParseError::NotClientHello)
        );
    }

    #[test]
    fn malformed_lengths() {
        assert_eq!(
            parse(&[0x16, 0x03, 0x01, 0x00, 0x00]),
            Err(ParseError::Malformed("empty handshake record"))
        );
        assert!(matches!(
            parse(&[0x16, 0x03, 0x01, 0xff, 0xff]),
            Err(ParseError::Malformed(_))
        ));
        // Handshake length > 64 KiB.
        assert!(matches!(
            parse(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x10, 0x00, 0x00]),
            Err(ParseError::Malformed(_))
        ));
        // A body whose cipher-suite length runs past the message.
        let mut body = vec![0x03, 0x03];
        body.extend([0u8; 32]);
        body.push(0);
        body.extend(200u16.to_be_bytes());
        body.extend([0x13, 0x01]);
        assert!(matches!(
            parse(&wrap(&body, 0x0301)),
            Err(ParseError::Malformed(_))
        ));
        // Session id longer than 32.
        let mut body = vec![0x03, 0x03];
        body.extend([0u8; 32]);
        body.push(33);
        body.extend([0u8; 40]);
        assert!(matches!(
            parse(&wrap(&body, 0x0301)),
            Err(ParseError::Malformed(_))
        ));
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let _ = parse(&bytes);
            }

            #[test]
            fn arbitrary_handshake_records_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
                // Give the fuzz input a valid record and handshake header so it reaches the body parser.
                let _ = parse(&wrap(&body, 0x0301));
            }

            #[test]
            fn mutated_real_hello_never_panics(
                edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8),
                cut in any::<proptest::sample::Index>(),
            ) {
                let mut b = rustls_hello("fuzz.example", &[b"h2", b"http/1.1"]);
                for (i, v) in edits {
                    let i = i.index(b.len());
                    b[i] = v;
                }
                let n = cut.index(b.len() + 1);
                let _ = parse(&b[..n]);
                let _ = parse(&b);
            }
        }
    }
}
