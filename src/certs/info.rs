//! What a certificate says about itself: the x509 fields the diagnosis and the reports need,
//! parsed once into plain owned values (`CertInfo`).

use rustls::pki_types::CertificateDer;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// The parts of one X.509 certificate that tlsgate reasons about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// RFC 4514 style, e.g. `CN=localhost, O=tlsgate dev`.
    pub subject: String,
    pub issuer: String,
    pub subject_cn: Option<String>,
    pub issuer_cn: Option<String>,
    /// Hex, colon-separated as openssl prints it.
    pub serial: String,
    /// DNS names and IP addresses from subjectAltName, in certificate order.
    pub sans: Vec<String>,
    /// Whether the subjectAltName extension is present at all.
    pub has_san_extension: bool,
    #[serde(serialize_with = "rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(serialize_with = "rfc3339")]
    pub not_after: OffsetDateTime,
    pub key: KeyInfo,
    /// The signature algorithm's common name, e.g. `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// SHA-1 or MD5 signature.
    pub signature_weak: bool,
    /// basicConstraints: `Some(true)` for CA:TRUE, `Some(false)` for CA:FALSE, `None` if absent.
    pub basic_constraints_ca: Option<bool>,
    pub key_usage: Vec<String>,
    /// extendedKeyUsage purposes; `None` when the extension is absent (any use allowed).
    pub extended_key_usage: Option<Vec<String>>,
    pub subject_key_id: Option<String>,
    pub authority_key_id: Option<String>,
    /// AIA caIssuers URLs: where the issuer certificate can be downloaded.
    pub aia_ca_issuers: Vec<String>,
    pub aia_ocsp: Vec<String>,
    /// SHA-256 of the DER, lowercase hex without separators.
    pub fingerprint_sha256: String,
    /// Subject equals issuer (a root, or a self-signed leaf).
    pub self_issued: bool,
    #[serde(skip)]
    pub subject_raw: Vec<u8>,
    #[serde(skip)]
    pub issuer_raw: Vec<u8>,
    /// The DER SubjectPublicKeyInfo, to match keys and issuers.
    #[serde(skip)]
    pub spki_der: Vec<u8>,
    #[serde(skip)]
    pub der: CertificateDer<'static>,
}

/// The public key of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// `RSA`, `EC`, `Ed25519`, `Ed448`, `DSA` or `unknown`.
    pub algorithm: String,
    pub bits: usize,
    /// For EC keys, the curve (`P-256`, `P-384`, `P-521`).
    pub curve: Option<String>,
}

impl std::fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.curve {
            Some(curve) => write!(f, "{} {}", self.algorithm, curve),
            None if self.bits > 0 => write!(f, "{} {}", self.algorithm, self.bits),
            None => f.write_str(&self.algorithm),
        }
    }
}

fn rfc3339<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// RFC 3339 in UTC, second precision: the form used in every report and `/status`.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// Why a certificate could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl CertInfo {
    /// Parses a DER certificate.
    pub fn parse(der: &CertificateDer<'_>) -> Result<CertInfo, ParseError> {
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| ParseError(format!("not a valid X.509 certificate: {e}")))?;
        Ok(Self::from_parsed(&cert, der))
    }

    fn from_parsed(cert: &X509Certificate<'_>, der: &CertificateDer<'_>) -> CertInfo {
        let mut sans = Vec::new();
        let mut has_san_extension = false;
        let mut basic_constraints_ca = None;
        let mut key_usage = Vec::new();
        let mut extended_key_usage = None;
        let mut subject_key_id = None;
        let mut authority_key_id = None;
        let mut aia_ca_issuers = Vec::new();
        let mut aia_ocsp = Vec::new();

        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    has_san_extension = true;
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => sans.push(name_text(d)),
                            GeneralName::IPAddress(ip) => {
                                if let Some(ip) = ip_from_bytes(ip) {
                                    sans.push(ip.to_string());
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) => basic_constraints_ca = Some(bc.ca),
                ParsedExtension::KeyUsage(ku) => {
                    key_usage = ku.to_string().split(", ").map(str::to_string).collect();
                    key_usage.retain(|s| !s.is_empty());
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let mut v = Vec::new();
                    if eku.any {
                        v.push("any".to_string());
                    }
                    if eku.server_auth {
                        v.push("serverAuth".to_string());
                    }
                    if eku.client_auth {
                        v.push("clientAuth".to_string());
                    }
                    if eku.code_signing {
                        v.push("codeSigning".to_string());
                    }
                    if eku.email_protection {
                        v.push("emailProtection".to_string());
                    }
                    if eku.time_stamping {
                        v.push("timeStamping".to_string());
                    }
                    if eku.ocsp_signing {
                        v.push("OCSPSigning".to_string());
                    }
                    for oid in &eku.other {
                        v.push(oid.to_id_string());
                    }
                    extended_key_usage = Some(v);
                }
                ParsedExtension::SubjectKeyIdentifier(ski) => {
                    subject_key_id = Some(colon_hex(ski.0));
                }
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    authority_key_id = aki.key_identifier.as_ref().map(|k| colon_hex(k.0));
                }
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    for desc in &aia.accessdescs {
                        if let GeneralName::URI(uri) = &desc.access_location {
                            let method = desc.access_method.to_id_string();
                            if method == "1.3.6.1.5.5.7.48.2" {
                                aia_ca_issuers.push(name_text(uri));
                            } else if method == "1.3.6.1.5.5.7.48.1" {
                                aia_ocsp.push(name_text(uri));
                            }
                        }
                    }
                }
                _ => {}
            }
        }

        let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
        let (signature_algorithm, signature_weak) = signature_name(&sig_oid);
        let subject_raw = cert.subject().as_raw().to_vec();
        let issuer_raw = cert.issuer().as_raw().to_vec();

        CertInfo {
            subject: name_text(&cert.subject().to_string()),
            issuer: name_text(&cert.issuer().to_string()),
            subject_cn: first_cn(cert.subject()).map(|n| name_text(&n)),
            issuer_cn: first_cn(cert.issuer()).map(|n| name_text(&n)),
            serial: cert.raw_serial_as_string(),
            sans,
            has_san_extension,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            key: key_info(cert),
            signature_algorithm,
            signature_weak,
            basic_constraints_ca,
            key_usage,
            extended_key_usage,
            subject_key_id,
            authority_key_id,
            aia_ca_issuers,
            aia_ocsp,
            fingerprint_sha256: sha256_hex(der.as_ref()),
            self_issued: subject_raw == issuer_raw,
            subject_raw,
            issuer_raw,
            spki_der: cert.public_key().raw.to_vec(),
            der: der.clone().into_owned(),
        }
    }

    /// A short name for people: the CN if any, else the whole subject.
    pub fn display_name(&self) -> &str {
        self.subject_cn.as_deref().unwrap_or(&self.subject)
    }

    /// Same for the issuer.
    pub fn issuer_display_name(&self) -> &str {
        self.issuer_cn.as_deref().unwrap_or(&self.issuer)
    }

    /// Whether `other` names this certificate as its issuer (by name, and by key identifier when
    /// both carry one).
    pub fn issued(&self, other: &CertInfo) -> bool {
        if other.issuer_raw != self.subject_raw {
            return false;
        }
        match (&other.authority_key_id, &self.subject_key_id) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        }
    }

    /// Its own issuer, by name and (when both are present) key identifier.
    pub fn is_self_signed(&self) -> bool {
        self.issued(self)
    }

    /// Whole days from `now` until `not_after` (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }
}

fn first_cn(name: &x509_parser::x509::X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

fn ip_from_bytes(b: &[u8]) -> Option<std::net::IpAddr> {
    match b.len() {
        4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Maps a signature algorithm OID to its common name and whether it is weak (SHA-1, MD5).
/// The longest name or URI kept from a certificate (escaped).
const MAX_NAME_TEXT: usize = 1024;

/// Text from a certificate — names, URIs — as it is shown and logged: a certificate may come
/// from a peer (an upstream's chain, a client certificate), so it is escaped with the logs'
/// one helper (printable ASCII kept, `\\` doubled, anything else `\xNN`). A valid DNS name is
/// unchanged.
fn name_text(text: &str) -> String {
    crate::wire::sniff::printable_text(text, MAX_NAME_TEXT).into_owned()
}

fn signature_name(oid: &str) -> (String, bool) {
    let (name, weak) = match oid {
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", true),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", true),
        "1.3.14.3.2.29" => ("sha1WithRSASignature", true),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", true),
        "1.2.840.10040.4.3" => ("dsa-with-sha1", true),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", false),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", false),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", false),
        "1.2.840.113549.1.1.10" => ("rsassaPss", false),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", false),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", false),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", false),
        "1.3.101.112" => ("Ed25519", false),
        "1.3.101.113" => ("Ed448", false),
        other => return (other.to_string(), false),
    };
    (name.to_string(), weak)
}

fn key_info(cert: &X509Certificate<'_>) -> KeyInfo {
    let spki = cert.public_key();
    let alg_oid = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string())
        .and_then(|o| match o.as_str() {
            "1.2.840.10045.3.1.7" => Some("P-256".to_string()),
            "1.3.132.0.34" => Some("P-384".to_string()),
            "1.3.132.0.35" => Some("P-521".to_string()),
            _ => None,
        });
    let (algorithm, bits) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA", rsa.key_size()),
        Ok(PublicKey::EC(ec)) => ("EC", ec.key_size()),
        Ok(PublicKey::DSA(_)) => ("DSA", 0),
        _ => match alg_oid.as_str() {
            "1.3.101.112" => ("Ed25519", 256),
            "1.3.101.113" => ("Ed448", 456),
            _ => ("unknown", 0),
        },
    };
    KeyInfo {
        algorithm: algorithm.to_string(),
        bits,
        curve: if algorithm == "EC" { curve } else { None },
    }
}

#[cfg(test)]
mod tests;
