//! Reading PEM files: what a file holds (certificates, keys, other sections) and, when it cannot
//! be used, the finding that says why.
//!
//! Parsing goes through `rustls::pki_types::pem::PemObject` (the maintained successor of
//! rustls-pemfile); the labels are scanned separately because the parser skips sections it does
//! not know, and an `ENCRYPTED PRIVATE KEY` or a CSR is exactly what a user needs to hear about.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::findings::{Code, Finding};

/// At most this many certificates in one PEM file (a leaf and its chain need a handful; a
/// file with thousands is a mistake, or an attack on memory and logs).
pub const MAX_CERTS_PER_FILE: usize = 100;

/// `limits.max_cert_file_bytes` (default 1 MiB): larger files are refused unread.
static MAX_FILE_BYTES: AtomicU64 = AtomicU64::new(1024 * 1024);

/// Sets the size limit from the configuration (once, at startup, before anything is read).
pub fn set_max_file_bytes(bytes: u64) {
    MAX_FILE_BYTES.store(bytes, Ordering::Relaxed);
}

/// The size limit in force.
pub fn max_file_bytes() -> u64 {
    MAX_FILE_BYTES.load(Ordering::Relaxed)
}

/// The `cert_file_too_large` finding when `bytes` (the file's content, or its first
/// `max + 1` bytes) break a limit: larger than `max`, or more than [`MAX_CERTS_PER_FILE`]
/// certificates.
pub fn check_limits(path: &Path, bytes: &[u8], max: u64) -> Result<(), Finding> {
    if bytes.len() as u64 > max {
        return Err(too_large(path, max));
    }
    let p = path.display();
    let count = count_cert_blocks(bytes);
    if count > MAX_CERTS_PER_FILE {
        return Err(Finding::new(
            Code::CertFileTooLarge,
            format!("{p} holds more than {MAX_CERTS_PER_FILE} certificates"),
            format!("{p} holds {count} certificate blocks; a served chain is a leaf and a few intermediates"),
            "keep only the leaf and its intermediates in the file (trust bundles belong in ca:/ca_bundle)",
        ));
    }
    Ok(())
}

fn count_cert_blocks(bytes: &[u8]) -> usize {
    const MARK: &[u8] = b"-----BEGIN CERTIFICATE-----";
    bytes.windows(MARK.len()).filter(|w| *w == MARK).count()
}

/// The decoded content of one file.
#[derive(Debug)]
pub struct PemFile {
    pub path: PathBuf,
    pub certs: Vec<CertificateDer<'static>>,
    pub keys: Vec<PrivateKeyDer<'static>>,
    /// Every `-----BEGIN <label>-----` in file order (evidence for "what is in this file").
    pub labels: Vec<String>,
    /// A passphrase-protected key (PKCS#8 `ENCRYPTED PRIVATE KEY` or legacy `Proc-Type: 4,ENCRYPTED`).
    pub encrypted_key: bool,
    /// The PEM syntax error, when the file is not valid PEM.
    pub syntax_error: Option<String>,
    /// The bytes look like DER (binary ASN.1) rather than PEM.
    pub looks_like_der: bool,
    /// Unix permission bits, where the platform has them.
    pub mode: Option<u32>,
}

impl PemFile {
    /// Reads and decodes `path`. Only an unreadable file is an error here; what the content
    /// lacks is for the caller to judge (a key file needs no certificate).
    pub fn read(path: &Path) -> Result<PemFile, Finding> {
        let meta = std::fs::metadata(path).map_err(|e| unreadable(path, &e))?;
        if !meta.is_file() {
            return Err(Finding::new(
                Code::CertFileUnreadable,
                format!("{} is not a file", path.display()),
                format!("{} is a directory or a special file", path.display()),
                "point the setting at the PEM file itself",
            ));
        }
        let max = max_file_bytes();
        if meta.len() > max {
            return Err(too_large(path, max));
        }
        let (bytes, _) = read_regular(path, max).map_err(|e| unreadable(path, &e))?;
        check_limits(path, &bytes, max)?;
        let mut file = Self::parse(path, &bytes);
        file.mode = file_mode(&meta);
        Ok(file)
    }

    /// Decodes PEM bytes (no file system access).
    pub fn parse(path: &Path, bytes: &[u8]) -> PemFile {
        let text = String::from_utf8_lossy(bytes);
        let labels: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
            .filter_map(|l| l.strip_suffix("-----"))
            .map(str::to_string)
            .collect();
        let encrypted_key = labels.iter().any(|l| l == "ENCRYPTED PRIVATE KEY")
            || text.contains("Proc-Type: 4,ENCRYPTED");

        let mut certs = Vec::new();
        let mut keys = Vec::new();
        let mut syntax_error = None;
        for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(bytes) {
            match item {
                // Bounded whatever the caller checked: the rest is not decoded.
                Ok((SectionKind::Certificate, _)) if certs.len() >= MAX_CERTS_PER_FILE => break,
                Ok((SectionKind::Certificate, der)) => certs.push(CertificateDer::from(der)),
                Ok((
                    kind @ (SectionKind::PrivateKey
                    | SectionKind::RsaPrivateKey
                    | SectionKind::EcPrivateKey),
                    der,
                )) => {
                    if let Some(key) = PrivateKeyDer::from_pem(kind, der) {
                        keys.push(key);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    syntax_error = Some(e.to_string());
                    break;
                }
            }
        }
        // DER certificates and keys start with a SEQUENCE tag and are not text.
        let looks_like_der = labels.is_empty()
            && bytes.first() == Some(&0x30)
            && bytes.iter().take(64).any(|b| !b.is_ascii());
        PemFile {
            path: path.to_path_buf(),
            certs,
            keys,
            labels,
            encrypted_key,
            syntax_error,
            looks_like_der,
            mode: None,
        }
    }

    /// The finding for a file that was expected to hold certificates and holds none.
    pub fn no_certificate_finding(&self) -> Finding {
        let p = self.path.display();
        let (what, fix) = self.describe_content("certificate");
        Finding::new(
            Code::CertNotFoundInFile,
            format!("no certificate in {p}"),
            format!("{p} {what}"),
            fix,
        )
    }

    /// The finding for a key file without a usable key (missing or encrypted).
    pub fn no_key_finding(&self) -> Finding {
        let p = self.path.display();
        if self.encrypted_key {
            return Finding::new(
                Code::KeyEncrypted,
                format!("the private key in {p} is passphrase-protected"),
                format!("{p} holds an encrypted key ({})", self.labels.join(", ")),
                format!(
                    "decrypt it once and protect the file by permissions instead: openssl pkey -in {p} -out key.pem (then chmod 600 key.pem)"
                ),
            );
        }
        let (what, fix) = self.describe_content("private key");
        Finding::new(
            Code::KeyNotFoundInFile,
            format!("no private key in {p}"),
            format!("{p} {what}"),
            fix,
        )
    }

    fn describe_content(&self, wanted: &str) -> (String, String) {
        let p = self.path.display();
        if self.looks_like_der {
            return (
                "holds binary DER, not PEM text".to_string(),
                format!("convert it: openssl x509 -inform der -in {p} -out cert.pem (or openssl pkey -inform der for a key)"),
            );
        }
        if let Some(err) = &self.syntax_error {
            return (
                format!("is not valid PEM ({err}); the file may be truncated"),
                format!(
                    "restore the complete {wanted} file; each block needs its BEGIN and END lines"
                ),
            );
        }
        if self.labels.is_empty() {
            return (
                "holds no PEM block at all (empty or not PEM)".to_string(),
                format!("point the setting at the PEM file with the {wanted}"),
            );
        }
        let found = self.labels.join(", ");
        let hint = if self.labels.iter().any(|l| l.contains("REQUEST")) {
            "a certificate signing request is what you send to a CA, not what it returns: use the certificate the CA issued"
        } else if wanted == "certificate" && self.labels.iter().any(|l| l.contains("PRIVATE KEY")) {
            "this looks like the key file: swap the cert and key settings, or point cert at the certificate (fullchain) file"
        } else if wanted == "private key" && self.labels.iter().any(|l| l == "CERTIFICATE") {
            "this looks like the certificate file: point key at the private key file"
        } else {
            "point the setting at the right file"
        };
        (format!("holds only: {found}"), hint.to_string())
    }
}

/// Reads a regular file (symlinks followed), at most `max + 1` bytes (one more than allowed: a
/// file growing meanwhile is caught too), with its metadata. Anything else — a FIFO, a device
/// such as /dev/zero, a socket, a directory — is an error naming what it is, found without
/// blocking: the file is opened non-blocking (a FIFO with no writer would block `open`), and
/// the opened file is checked again (the path may have been swapped in between).
pub(crate) fn read_regular(path: &Path, max: u64) -> std::io::Result<(Vec<u8>, std::fs::Metadata)> {
    let meta = std::fs::metadata(path)?;
    not_regular(&meta)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    not_regular(&meta)?;
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes, meta))
}

/// An error naming the kind of file, unless `meta` is a regular file's.
fn not_regular(meta: &std::fs::Metadata) -> std::io::Result<()> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    let what = if ft.is_dir() {
        "a directory"
    } else {
        special_kind(&ft)
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file"),
    ))
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_ft: &std::fs::FileType) -> &'static str {
    "a special file"
}

fn too_large(path: &Path, max: u64) -> Finding {
    let p = path.display();
    Finding::new(
        Code::CertFileTooLarge,
        format!("{p} is larger than limits.max_cert_file_bytes"),
        format!("{p} has more than {max} bytes; a certificate chain needs a few KiB"),
        "point the setting at the certificate file itself (leaf and chain), not a CA bundle or an archive; raise limits.max_cert_file_bytes if the chain really is that large",
    )
}

pub(crate) fn unreadable(path: &Path, e: &std::io::Error) -> Finding {
    let p = path.display();
    let (summary, fix) = match e.kind() {
        std::io::ErrorKind::NotFound => (
            format!("{p} does not exist"),
            "check the path in the configuration (relative paths are relative to the working directory)".to_string(),
        ),
        std::io::ErrorKind::PermissionDenied => (
            format!("{p} is not readable by tlsgate"),
            "give the user tlsgate runs as read access (for keys: owner-only, e.g. chown and chmod 600)".to_string(),
        ),
        _ => (
            format!("{p} cannot be read"),
            "check the file and its directory".to_string(),
        ),
    };
    Finding::new(
        Code::CertFileUnreadable,
        summary,
        format!("reading {p}: {e}"),
        fix,
    )
}

#[cfg(unix)]
pub(crate) fn file_mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
pub(crate) fn file_mode(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests;
