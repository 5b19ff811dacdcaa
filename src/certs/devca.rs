//! The local development CA and leaf: used by the built-in default of `serve` and by
//! `tlsgate certs init`.
//!
//! The CA is created once and kept: users add it to their trust stores, so replacing it would
//! break every client they configured. The leaf is re-issued from the kept CA when it is missing,
//! unreadable, within 30 days of expiry, or does not cover a requested name.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use super::info::CertInfo;
use super::pem::PemFile;

/// Names every dev leaf covers.
pub const DEFAULT_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// The files of a dev CA and leaf.
#[derive(Debug, Clone)]
pub struct DevCerts {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// True when the CA was created by this call (clients must be told to trust it).
    pub created_ca: bool,
    /// True when the leaf was (re-)issued by this call.
    pub issued_leaf: bool,
    pub names: Vec<String>,
}

/// Why the dev certificates could not be made.
#[derive(Debug)]
pub struct DevCaError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for DevCaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

fn io_err(path: &Path, e: std::io::Error) -> DevCaError {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            " (directory not writable: choose another with --dir)"
        }
        std::io::ErrorKind::NotFound => " (a parent directory does not exist)",
        _ if e.raw_os_error() == Some(28) => " (disk full)",
        _ => "",
    };
    DevCaError {
        path: path.to_path_buf(),
        message: format!("{e}{hint}"),
    }
}

fn gen_err(path: &Path, e: rcgen::Error) -> DevCaError {
    DevCaError {
        path: path.to_path_buf(),
        message: format!("certificate generation failed: {e}"),
    }
}

/// Creates (or reuses) the CA and a leaf for [`DEFAULT_NAMES`] plus `extra_names` in `dir`.
/// `create_dir` allows creating `dir` (and its parents) when missing.
pub fn ensure_dev_certs(
    dir: &Path,
    extra_names: &[String],
    create_dir: bool,
) -> Result<DevCerts, DevCaError> {
    if !dir.exists() {
        if !create_dir {
            return Err(DevCaError {
                path: dir.to_path_buf(),
                message: "directory does not exist (create it, or choose another with --dir)"
                    .into(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        set_mode(dir, 0o700).map_err(|e| io_err(dir, e))?;
    } else if !dir.is_dir() {
        return Err(DevCaError {
            path: dir.to_path_buf(),
            message: "exists and is not a directory".into(),
        });
    }

    let mut names: Vec<String> = DEFAULT_NAMES.iter().map(|s| s.to_string()).collect();
    for n in extra_names {
        let n = n.trim().to_ascii_lowercase();
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }

    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca-key.pem");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");

    let existing_ca = read_ca(&ca_cert, &ca_key);
    let created_ca = existing_ca.is_none();
    let (ca_pem, ca_key_pair) = match existing_ca {
        Some(pair) => pair,
        None => {
            let (pem, kp) = new_ca().map_err(|e| gen_err(&ca_cert, e))?;
            write_file(&ca_key, kp.serialize_pem().as_bytes(), 0o600)?;
            write_file(&ca_cert, pem.as_bytes(), 0o644)?;
            (pem, kp)
        }
    };

    let issued_leaf = created_ca || !leaf_usable(&cert, &key, &names);
    if issued_leaf {
        let issuer =
            Issuer::from_ca_cert_pem(&ca_pem, &ca_key_pair).map_err(|e| gen_err(&ca_cert, e))?;
        let leaf_key = KeyPair::generate().map_err(|e| gen_err(&key, e))?;
        let mut params = CertificateParams::new(names.clone()).map_err(|e| gen_err(&cert, e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "tlsgate local development");
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        // 397 days: under the 398-day limit browsers and Apple clients enforce.
        params.not_after = now + Duration::days(397);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params
            .signed_by(&leaf_key, &issuer)
            .map_err(|e| gen_err(&cert, e))?;
        write_file(&key, leaf_key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&cert, leaf.pem().as_bytes(), 0o644)?;
    }

    Ok(DevCerts {
        dir: dir.to_path_buf(),
        ca_cert,
        ca_key,
        cert,
        key,
        created_ca,
        issued_leaf,
        names,
    })
}

fn new_ca() -> Result<(String, KeyPair), rcgen::Error> {
    let kp = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let cn = if host.is_empty() {
        "tlsgate local development CA".to_string()
    } else {
        format!("tlsgate local development CA ({host})")
    };
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "tlsgate");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(10 * 365);
    let cert = params.self_signed(&kp)?;
    Ok((cert.pem(), kp))
}

fn read_ca(cert: &Path, key: &Path) -> Option<(String, KeyPair)> {
    let pem = std::fs::read_to_string(cert).ok()?;
    let key_pem = std::fs::read_to_string(key).ok()?;
    let kp = KeyPair::from_pem(&key_pem).ok()?;
    let file = PemFile::parse(cert, pem.as_bytes());
    let info = CertInfo::parse(file.certs.first()?).ok()?;
    if info.not_after < OffsetDateTime::now_utc() + Duration::days(30) {
        return None;
    }
    Some((pem, kp))
}

fn leaf_usable(cert: &Path, key: &Path, names: &[String]) -> bool {
    let (Ok(c), Ok(k)) = (PemFile::read(cert), PemFile::read(key)) else {
        return false;
    };
    let (Some(der), false) = (c.certs.first(), k.keys.is_empty()) else {
        return false;
    };
    let Ok(info) = CertInfo::parse(der) else {
        return false;
    };
    let fresh = info.not_after > OffsetDateTime::now_utc() + Duration::days(30);
    let covers = names
        .iter()
        .all(|n| info.sans.iter().any(|s| s.eq_ignore_ascii_case(n)));
    fresh && covers
}

/// Writes via a temporary file and a rename so a reader never sees half a file, with the mode
/// set before any content is written (a key is never briefly world-readable).
fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), DevCaError> {
    let tmp = path.with_extension("pem.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let mut f = opts.open(&tmp).map_err(|e| io_err(&tmp, e))?;
    set_mode(&tmp, mode).map_err(|e| io_err(&tmp, e))?;
    f.write_all(content).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
