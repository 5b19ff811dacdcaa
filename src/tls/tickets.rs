//! Session tickets shared by every replica behind one load balancer.
//!
//! rustls encrypts TLS 1.2 session tickets and TLS 1.3 resumption tickets alike through the
//! server config's `ticketer`. Its built-in one keys itself randomly per process, so a client
//! can resume only on the replica that issued its ticket. [`SharedTicketer`] takes its key from
//! a file every replica mounts, in nginx's `ssl_session_ticket_key` layout (80 bytes: a 16-byte
//! key name, a 32-byte HMAC-SHA256 secret, a 32-byte AES-256 key), and seals tickets the way
//! RFC 5077 §4 recommends:
//!
//! ```text
//! key_name (16) | IV (16) | AES-256-CBC(state, PKCS#7) | HMAC-SHA256(key_name | IV | ciphertext) (32)
//! ```
//!
//! The key is swapped in place on reload ([`SharedTicketer::rotate`]): new tickets use the new
//! key, and the previous key still opens the tickets it sealed, so a rotation costs no
//! resumption. Key files are read and judged here (findings `ticket_key_invalid`,
//! `ticket_key_permissions`); when to re-read them is the reload pipeline's business.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_lc_rs::cipher::{
    DecryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
    AES_256,
};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use rustls::server::ProducesTickets;

use crate::findings::{Code, Finding};

/// The size of a key file: name, HMAC secret, AES key.
pub const KEY_FILE_LEN: usize = 80;
const NAME_LEN: usize = 16;
const IV_LEN: usize = 16;
const MAC_LEN: usize = 32;
const BLOCK: usize = 16;

/// The lifetime hint sent with each ticket (clients drop tickets older than this). Like
/// rustls' own ticketer. Forward secrecy comes from rotating the key file, not from this.
pub const TICKET_LIFETIME_S: u32 = 6 * 3600;

/// One ticket key: its public name and the two secrets derived from the file.
pub struct TicketKey {
    name: [u8; NAME_LEN],
    /// SHA-256 of the whole key, to tell a changed file from the same one re-read.
    digest: [u8; 32],
    hmac: hmac::Key,
    seal: PaddedBlockEncryptingKey,
    open: PaddedBlockDecryptingKey,
}

impl TicketKey {
    /// A key from the 80 bytes of a key file.
    pub fn from_bytes(bytes: &[u8]) -> Result<TicketKey, String> {
        if bytes.len() != KEY_FILE_LEN {
            return Err(format!(
                "{} bytes, where a key is exactly {KEY_FILE_LEN}",
                bytes.len()
            ));
        }
        let mut name = [0u8; NAME_LEN];
        name.copy_from_slice(&bytes[..NAME_LEN]);
        let hmac = hmac::Key::new(hmac::HMAC_SHA256, &bytes[NAME_LEN..NAME_LEN + 32]);
        let aes = &bytes[NAME_LEN + 32..KEY_FILE_LEN];
        let cipher = |k: &[u8]| UnboundCipherKey::new(&AES_256, k);
        let seal = cipher(aes)
            .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
            .map_err(|_| "the AES key cannot be used".to_string())?;
        let open = cipher(aes)
            .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
            .map_err(|_| "the AES key cannot be used".to_string())?;
        let mut digest = [0u8; 32];
        digest
            .copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref());
        Ok(TicketKey {
            name,
            digest,
            hmac,
            seal,
            open,
        })
    }

    /// The key name in hex: not secret (every ticket carries it in clear), it tells replicas'
    /// keys apart in logs.
    pub fn name_hex(&self) -> String {
        hex::encode(self.name)
    }

    fn seal(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut body = plain.to_vec();
        let context = self.seal.encrypt(&mut body).ok()?;
        let iv: &[u8] = (&context).try_into().ok()?;
        let mut out = Vec::with_capacity(NAME_LEN + IV_LEN + body.len() + MAC_LEN);
        out.extend_from_slice(&self.name);
        out.extend_from_slice(iv);
        out.extend_from_slice(&body);
        let tag = hmac::sign(&self.hmac, &out);
        out.extend_from_slice(tag.as_ref());
        Some(out)
    }

    /// Opens a ticket this key sealed: authenticity first (constant time), then decryption.
    fn open(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let (sealed, mac) = ticket.split_at(ticket.len().checked_sub(MAC_LEN)?);
        hmac::verify(&self.hmac, sealed, mac).ok()?;
        let iv: [u8; IV_LEN] = sealed.get(NAME_LEN..NAME_LEN + IV_LEN)?.try_into().ok()?;
        let mut body = sealed.get(NAME_LEN + IV_LEN..)?.to_vec();
        let context = DecryptionContext::Iv128(FixedLength::from(iv));
        let plain = self.open.decrypt(&mut body, context).ok()?;
        Some(plain.to_vec())
    }
}

impl fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKey")
            .field("name", &self.name_hex())
            .finish_non_exhaustive()
    }
}

/// The key that seals new tickets, and the one before it, which still opens old ones.
#[derive(Debug)]
struct KeyRing {
    current: Arc<TicketKey>,
    previous: Option<Arc<TicketKey>>,
}

/// A ticketer keyed from a shared file, its key swappable while serving.
pub struct SharedTicketer {
    ring: ArcSwap<KeyRing>,
}

impl SharedTicketer {
    pub fn new(key: TicketKey) -> SharedTicketer {
        SharedTicketer {
            ring: ArcSwap::from_pointee(KeyRing {
                current: Arc::new(key),
                previous: None,
            }),
        }
    }

    /// Seals new tickets with `key` from now on; the current key is kept to open the tickets it
    /// sealed. Returns the previous key's name, or `None` when `key` is the current key already
    /// (the same 80 bytes: nothing to rotate).
    pub fn rotate(&self, key: TicketKey) -> Option<String> {
        let old = self.ring.load();
        if old.current.digest == key.digest {
            return None;
        }
        let old_name = old.current.name_hex();
        self.ring.store(Arc::new(KeyRing {
            current: Arc::new(key),
            previous: Some(old.current.clone()),
        }));
        Some(old_name)
    }

    /// The name of the key sealing new tickets (hex).
    pub fn current_name(&self) -> String {
        self.ring.load().current.name_hex()
    }
}

impl fmt::Debug for SharedTicketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.ring.load();
        f.debug_struct("SharedTicketer")
            .field("current", &ring.current.name_hex())
            .field("previous", &ring.previous.as_ref().map(|k| k.name_hex()))
            .finish()
    }
}

impl ProducesTickets for SharedTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        TICKET_LIFETIME_S
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.ring.load().current.seal(plain)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        // The smallest ticket: name, IV, one block, MAC. Anything shorter is not ours.
        if ticket.len() < NAME_LEN + IV_LEN + BLOCK + MAC_LEN {
            return None;
        }
        let name = ticket.get(..NAME_LEN)?;
        let ring = self.ring.load();
        let opened = [Some(&ring.current), ring.previous.as_ref()]
            .into_iter()
            .flatten()
            .filter(|k| k.name[..] == *name)
            .find_map(|k| k.open(ticket));
        opened
    }
}

/// Reads a key file and judges it: the key with any warnings, or the errors that make it
/// unusable.
pub fn load_key_file(path: &Path) -> Result<(TicketKey, Vec<Finding>), Vec<Finding>> {
    let bytes = std::fs::read(path).map_err(|e| vec![unreadable(path, &e)])?;
    let mode = std::fs::metadata(path).ok().and_then(|m| file_mode(&m));
    key_from_file(path, &bytes, mode)
}

/// Judges the bytes and permission bits of a key file (read by the caller, e.g. from a reload
/// snapshot).
pub fn key_from_file(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
) -> Result<(TicketKey, Vec<Finding>), Vec<Finding>> {
    let key = TicketKey::from_bytes(bytes).map_err(|_| vec![wrong_size(path, bytes)])?;
    let mut warnings = Vec::new();
    if let Some(mode) = mode.filter(|m| m & 0o044 != 0) {
        warnings.push(Finding::new(
            Code::TicketKeyPermissions,
            "the session ticket key file is readable by group or others",
            format!(
                "{} has mode {:04o}: anyone who can read it can decrypt the sessions resumed with its tickets",
                path.display(),
                mode & 0o7777
            ),
            format!(
                "`chmod 600 {}` (owner only); for a Kubernetes Secret volume set `defaultMode: 0400`",
                path.display()
            ),
        ));
    }
    Ok((key, warnings))
}

/// The finding for a key file that cannot be read.
pub fn unreadable(path: &Path, e: &std::io::Error) -> Finding {
    Finding::new(
        Code::TicketKeyInvalid,
        "the session ticket key file cannot be read",
        format!("{}: {e}", path.display()),
        format!(
            "create it on every replica with `openssl rand 80 > {}` (the same bytes everywhere), or correct session_tickets.key_file",
            path.display()
        ),
    )
}

fn wrong_size(path: &Path, bytes: &[u8]) -> Finding {
    let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or("");
    let hint = if text.len() == 2 * KEY_FILE_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        " — it holds 80 bytes written as hex text (`openssl rand -hex 80`); the file must hold the raw bytes"
    } else if text.len() == 108
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        " — it holds 80 bytes written as base64 text (`openssl rand -base64 80`); decode it (`base64 -d`) or write the raw bytes"
    } else if bytes.len() == 48 {
        " — 48 bytes is nginx's older AES-128 layout; tlsgate takes the 80-byte AES-256 one"
    } else {
        ""
    };
    Finding::new(
        Code::TicketKeyInvalid,
        "the session ticket key file is not 80 bytes",
        format!(
            "{} is {} bytes; a key file is exactly {KEY_FILE_LEN} (16-byte name, 32-byte HMAC secret, 32-byte AES key){hint}",
            path.display(),
            bytes.len()
        ),
        format!(
            "write a new key with `openssl rand 80 > {}` and give every replica the same file",
            path.display()
        ),
    )
}

#[cfg(unix)]
fn file_mode(m: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(m.permissions().mode())
}

#[cfg(not(unix))]
fn file_mode(_: &std::fs::Metadata) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests;
