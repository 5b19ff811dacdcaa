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

/// A client's TLS stack, guessed from the shape of its hello (see
/// [`ClientHelloSummary::client_family`]). The families are those whose trust settings differ:
/// the fix for "the client does not trust our CA" is named in the family's own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientFamily {
    /// OpenSSL with its default cipher list: curl, `openssl s_client`, wget and other programs
    /// that keep OpenSSL's defaults.
    OpenSsl,
    /// CPython's `ssl` module with its own cipher string: requests (urllib3), httpx, aiohttp, the
    /// OpenAI SDK.
    Python,
    /// Node.js (its `tls.DEFAULT_CIPHERS`).
    NodeJs,
    /// Go `crypto/tls`.
    Go,
    /// Java's JSSE: `java.net.http.HttpClient`, `HttpsURLConnection`, OkHttp and Netty on the JVM.
    Java,
    /// BoringSSL: Chromium-based browsers (Chrome, Edge), Electron, Android's Cronet.
    Chromium,
    /// NSS: Firefox, Thunderbird.
    Firefox,
    /// rustls (reqwest with rustls, hyper-rustls, ...).
    Rustls,
}

impl ClientFamily {
    /// Every family, in the order a list of candidates names them.
    pub const ALL: [ClientFamily; 8] = [
        ClientFamily::OpenSsl,
        ClientFamily::Python,
        ClientFamily::NodeJs,
        ClientFamily::Java,
        ClientFamily::Chromium,
        ClientFamily::Firefox,
        ClientFamily::Go,
        ClientFamily::Rustls,
    ];

    /// A short name: "Java (JSSE)".
    pub fn name(self) -> &'static str {
        match self {
            ClientFamily::OpenSsl => "OpenSSL (curl, openssl s_client)",
            ClientFamily::Python => "Python (requests, httpx)",
            ClientFamily::NodeJs => "Node.js",
            ClientFamily::Go => "Go",
            ClientFamily::Java => "Java (JSSE)",
            ClientFamily::Chromium => "Chromium/BoringSSL",
            ClientFamily::Firefox => "Firefox/NSS",
            ClientFamily::Rustls => "rustls",
        }
    }
}

/// How sure a [`FamilyGuess`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confidence {
    /// One shape fits, but others share it (another library, a customised cipher list):
    /// name the guess first and the other candidates after it.
    Low,
    /// The shape is the family's default and no other family here sends it.
    Medium,
    /// An extension or list only this family sends.
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// A narrower guess inside a family, when the hello shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientTool {
    /// curl: ALPN, no session ticket.
    Curl,
    /// `openssl s_client` and OpenSSL's other command-line tools: no ALPN, a session ticket.
    OpenSslCli,
    /// requests/urllib3: no session ticket (urllib3 sets OP_NO_TICKET).
    Requests,
    /// The plain `ssl` module: httpx, the OpenAI SDK, aiohttp (a session ticket).
    PythonSsl,
}

/// The client family a hello suggests, how sure that is, and the signals it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyGuess {
    pub family: ClientFamily,
    pub confidence: Confidence,
    pub tool: Option<ClientTool>,
    /// What in the hello points there, for the evidence text.
    pub signals: &'static str,
}

impl FamilyGuess {
    fn new(family: ClientFamily, confidence: Confidence, signals: &'static str) -> Self {
        FamilyGuess {
            family,
            confidence,
            tool: None,
            signals,
        }
    }

    fn with_tool(mut self, tool: Option<ClientTool>) -> Self {
        self.tool = tool;
        self
    }

    /// "Java (JSSE) (high confidence: ...)", for evidence texts.
    pub fn describe(&self) -> String {
        let tool = match self.tool {
            Some(ClientTool::Curl) => ", probably curl",
            Some(ClientTool::OpenSslCli) => ", probably openssl s_client or another OpenSSL tool",
            Some(ClientTool::Requests) => ", probably requests/urllib3",
            Some(ClientTool::PythonSsl) => {
                ", probably httpx, the OpenAI SDK or another ssl-module client"
            }
            None => "",
        };
        format!(
            "{}{tool} ({} confidence: {})",
            self.family.name(),
            self.confidence.as_str(),
            self.signals
        )
    }
}

/// TLS 1.3 suites (RFC 8446 and the CCM ones).
fn is_tls13_suite(c: u16) -> bool {
    (0x1301..=0x1305).contains(&c)
}

/// Signalling values that are not suites: the renegotiation SCSV and the fallback SCSV.
fn is_scsv(c: u16) -> bool {
    c == 0x00ff || c == 0x5600
}

/// CBC suites with SHA-1 MACs, which OpenSSL's default list has and Python's excludes.
const SHA1_SUITES: [u16; 9] = [
    0xc009, 0xc00a, 0xc013, 0xc014, 0x002f, 0x0035, 0x0033, 0x0039, 0x000a,
];

/// The suites rustls' default providers offer (TLS 1.3 and 1.2).
const RUSTLS_SUITES: [u16; 9] = [
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02c, 0xc02f, 0xc030, 0xcca8, 0xcca9,
];

const EXT_STATUS_REQUEST_V2: u16 = 17;
const EXT_COMPRESS_CERTIFICATE: u16 = 27;
const EXT_RECORD_SIZE_LIMIT: u16 = 28;
const EXT_DELEGATED_CREDENTIALS: u16 = 34;
const EXT_SIGNATURE_ALGORITHMS_CERT: u16 = 50;
const EXT_ALPS_OLD: u16 = 17513;
const EXT_ALPS: u16 = 17613;
const EXT_ECH: u16 = 0xfe0d;

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

    /// The client family the hello's shape suggests, with its confidence; `None` when no
    /// known shape fits (custom cipher lists, other libraries, new versions all change it).
    ///
    /// Signals, checked in order: GREASE (BoringSSL; with compress_certificate, ALPS or ECH it
    /// is Chromium's); status_request_v2 with signature_algorithms_cert (only JSSE sends both);
    /// record_size_limit (NSS); then the cipher list: OpenSSL's TLS 1.3 order (AES-256,
    /// ChaCha20, AES-128) followed by Node's default TLS 1.2 list, by CPython's (no SHA-1 CBC
    /// suites) or by OpenSSL's own default; rustls' short list with AES-256, AES-128, ChaCha20;
    /// Go's TLS 1.3 suites listed last. A client capped at TLS 1.2 drops the TLS 1.3 suites, so
    /// the TLS 1.2 part is matched on its own.
    pub fn client_family(&self) -> Option<FamilyGuess> {
        use ClientFamily as F;
        use Confidence::{High, Low, Medium};
        let ext = |id: u16| self.extension_ids.contains(&id);
        if self.has_grease {
            if ext(EXT_COMPRESS_CERTIFICATE) || ext(EXT_ALPS) || ext(EXT_ALPS_OLD) || ext(EXT_ECH) {
                return Some(FamilyGuess::new(
                    F::Chromium,
                    High,
                    "GREASE values with compress_certificate/ALPS/ECH, as BoringSSL in Chromium sends",
                ));
            }
            return Some(FamilyGuess::new(
                F::Chromium,
                Low,
                "GREASE values: BoringSSL, but Apple's TLS stack sends them too",
            ));
        }
        if ext(EXT_STATUS_REQUEST_V2) && ext(EXT_SIGNATURE_ALGORITHMS_CERT) {
            return Some(FamilyGuess::new(
                F::Java,
                High,
                "status_request_v2 with signature_algorithms_cert, which only JSSE sends",
            ));
        }
        if ext(EXT_RECORD_SIZE_LIMIT) {
            let confidence = if ext(EXT_DELEGATED_CREDENTIALS) {
                High
            } else {
                Medium
            };
            return Some(FamilyGuess::new(
                F::Firefox,
                confidence,
                "record_size_limit (and delegated_credentials), as NSS sends",
            ));
        }
        let cs = self.cipher_suites.as_slice();
        let tls13: Vec<u16> = cs.iter().copied().filter(|c| is_tls13_suite(*c)).collect();
        let tls12: Vec<u16> = cs
            .iter()
            .copied()
            .filter(|c| !is_tls13_suite(*c) && !is_scsv(*c))
            .collect();
        let openssl_tls13 = tls13.is_empty() || tls13 == [0x1302, 0x1303, 0x1301];
        if openssl_tls13 && !tls12.is_empty() {
            if tls12.starts_with(&[0xc02f, 0xc02b, 0xc030, 0xc02c, 0x009e]) {
                return Some(FamilyGuess::new(
                    F::NodeJs,
                    High,
                    "Node.js' default cipher list (ECDHE-RSA-AES128-GCM first)",
                ));
            }
            if tls12.starts_with(&[0xc02c, 0xc030, 0xc02b, 0xc02f, 0xcca9, 0xcca8])
                && !tls12.iter().any(|c| SHA1_SUITES.contains(c))
            {
                // urllib3 turns session tickets off (OP_NO_TICKET); the ssl module keeps them.
                let tool = if ext(EXT_SESSION_TICKET) {
                    ClientTool::PythonSsl
                } else {
                    ClientTool::Requests
                };
                return Some(
                    FamilyGuess::new(
                        F::Python,
                        High,
                        "CPython's default cipher string (no SHA-1 CBC suites)",
                    )
                    .with_tool(Some(tool)),
                );
            }
            let tool = if !self.alpn.is_empty() && !ext(EXT_SESSION_TICKET) {
                Some(ClientTool::Curl)
            } else if self.alpn.is_empty() && ext(EXT_SESSION_TICKET) {
                Some(ClientTool::OpenSslCli)
            } else {
                None
            };
            if tls12.starts_with(&[0xc02c, 0xc030, 0x009f]) {
                return Some(
                    FamilyGuess::new(
                        F::OpenSsl,
                        Medium,
                        "OpenSSL's default cipher list, which many OpenSSL-linked programs keep",
                    )
                    .with_tool(tool),
                );
            }
            if !tls13.is_empty() {
                return Some(
                    FamilyGuess::new(
                        F::OpenSsl,
                        Low,
                        "OpenSSL's TLS 1.3 order with a customised TLS 1.2 list",
                    )
                    .with_tool(tool),
                );
            }
        }
        if tls13 == [0x1302, 0x1301, 0x1303]
            && cs.iter().all(|c| RUSTLS_SUITES.contains(c) || is_scsv(*c))
        {
            return Some(FamilyGuess::new(
                F::Rustls,
                Medium,
                "rustls' short default list (AES-256, AES-128, ChaCha20 for TLS 1.3)",
            ));
        }
        match cs {
            [first, .., last] if !is_tls13_suite(*first) && is_tls13_suite(*last) => {
                Some(FamilyGuess::new(
                    F::Go,
                    Medium,
                    "TLS 1.3 suites listed after the TLS 1.2 ones, as Go does",
                ))
            }
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
