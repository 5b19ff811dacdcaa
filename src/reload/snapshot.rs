//! A stable snapshot of the certificate files: read until two consecutive reads agree, so a
//! half-written file, or a certificate from one renewal with the key of the next, is never
//! taken.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::certs::pem::{self, PemFile};
use crate::findings::Finding;

/// How long to wait between the two reads that must agree.
pub const SETTLE: Duration = Duration::from_millis(40);
/// How many times to re-read before taking what is there (a file rewritten continuously).
pub const MAX_READS: usize = 25;

/// The content of each file at one moment (or why it could not be read).
#[derive(Debug)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, FileRead>,
}

/// A file's bytes and permission bits, or why it could not be read.
pub type FileRead = Result<(Vec<u8>, Option<u32>), std::io::Error>;

impl Snapshot {
    /// Reads every path once.
    pub fn read(paths: &[PathBuf]) -> Snapshot {
        let files = paths
            .iter()
            .map(|p| {
                let r = pem::read_regular(p, pem::max_file_bytes())
                    .map(|(bytes, meta)| (bytes, pem::file_mode(&meta)));
                (p.clone(), r)
            })
            .collect();
        Snapshot { files }
    }

    /// Reads until two consecutive reads `SETTLE` apart agree (or `MAX_READS` is reached).
    pub fn read_stable(paths: &[PathBuf]) -> Snapshot {
        Self::settle(|| Snapshot::read(paths), || std::thread::sleep(SETTLE))
    }

    /// The settling rule on its own, so it can be tested without a racing writer: `read`
    /// takes a snapshot, `wait` passes the settle time.
    fn settle(mut read: impl FnMut() -> Snapshot, mut wait: impl FnMut()) -> Snapshot {
        let mut prev = read();
        for _ in 0..MAX_READS {
            wait();
            let next = read();
            if next.same_content(&prev) {
                return next;
            }
            prev = next;
        }
        prev
    }

    fn same_content(&self, other: &Snapshot) -> bool {
        self.files.len() == other.files.len()
            && self
                .files
                .iter()
                .zip(&other.files)
                .all(|((pa, a), (pb, b))| {
                    pa == pb
                        && match (a, b) {
                            (Ok((x, _)), Ok((y, _))) => x == y,
                            (Err(x), Err(y)) => x.kind() == y.kind(),
                            _ => false,
                        }
                })
    }

    /// A hash of all contents (missing files count), to tell whether anything changed.
    pub fn content_hash(&self) -> String {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for (p, r) in &self.files {
            ctx.update(p.as_os_str().as_encoded_bytes());
            match r {
                Ok((bytes, _)) => {
                    ctx.update(&(bytes.len() as u64).to_be_bytes());
                    ctx.update(bytes);
                }
                Err(e) => ctx.update(format!("error:{:?}", e.kind()).as_bytes()),
            }
        }
        hex::encode(ctx.finish().as_ref())
    }

    /// The raw bytes of a file, when it was readable.
    #[cfg(test)]
    fn bytes(&self, path: &Path) -> Option<&[u8]> {
        match self.files.get(path) {
            Some(Ok((b, _))) => Some(b),
            _ => None,
        }
    }

    /// The bytes and permission bits of a file of the snapshot (a ticket key), or why it could
    /// not be read; `None` when the path is not part of the snapshot.
    pub fn raw(&self, path: &Path) -> Option<&FileRead> {
        self.files.get(path)
    }

    /// Parses a file of the snapshot, as `PemFile::read` would have from disk.
    pub fn pem(&self, path: &Path) -> Result<PemFile, Finding> {
        match self.files.get(path) {
            Some(Ok((bytes, mode))) => {
                pem::check_limits(path, bytes, pem::max_file_bytes())?;
                let mut f = PemFile::parse(path, bytes);
                f.mode = *mode;
                Ok(f)
            }
            Some(Err(e)) => Err(pem::unreadable(path, e)),
            // Not part of the snapshot: read it now.
            None => PemFile::read(path),
        }
    }
}

#[cfg(test)]
mod tests;
