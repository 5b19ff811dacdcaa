//! The rustls client configuration for upstream connections: which roots are trusted, the
//! client certificate, ALPN, and the loudly-warned `insecure_skip_verify`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore};

use super::provider;
use super::roots::{root_store, TrustStoreError};
use super::verifier::{CaptureSlot, RecordingCertResolver, RecordingVerifier, VerifierError};
use crate::config::{HttpVersion, UpstreamTls};

/// Why a client certificate and key for mutual TLS cannot be used. The text starts with the
/// setting (`client_cert` or `client_key`) and the path.
#[derive(Debug, thiserror::Error)]
pub enum ClientKeyError {
    #[error("client_cert {}: {source}", path.display())]
    CertRead { path: PathBuf, source: pem::Error },
    #[error("client_cert {}: no certificate in the file", path.display())]
    NoCertificate { path: PathBuf },
    #[error("client_key {}: {source}", path.display())]
    KeyRead { path: PathBuf, source: pem::Error },
    #[error("client_key {}: {source}", path.display())]
    KeyUnusable {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("client_key {}: it is not the key of the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

/// Why the rustls client configuration of an upstream cannot be built. The text starts with
/// the setting under the upstream (`tls.…`).
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    #[error("tls: the protocol versions cannot be set up: {0}")]
    Versions(#[source] rustls::Error),
    #[error(transparent)]
    TrustStores(#[from] TrustStoreError),
    #[error("tls: {0}")]
    Verifier(#[from] VerifierError),
    #[error("tls.{0}")]
    ClientKey(#[from] ClientKeyError),
}

/// Loads a client certificate chain and key for mutual TLS, and checks that they belong
/// together.
pub fn load_client_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, ClientKeyError> {
    let cert_read = |source| ClientKeyError::CertRead {
        path: cert.to_path_buf(),
        source,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(cert_read)?
        .collect::<Result<_, _>>()
        .map_err(cert_read)?;
    if chain.is_empty() {
        return Err(ClientKeyError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|source| ClientKeyError::KeyRead {
        path: key.to_path_buf(),
        source,
    })?;
    let signing = provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|source| ClientKeyError::KeyUnusable {
            path: key.to_path_buf(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing);
    // As rustls's own `with_client_auth_cert`: a key whose public half is unknown passes.
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(ClientKeyError::KeyMismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }),
        Err(source) => Err(ClientKeyError::KeyUnusable {
            path: key.to_path_buf(),
            source,
        }),
    }
}

/// A one-shot config that accepts any chain and records it (and whether a client certificate
/// was asked for): used by `probe` and the upstream check, which then judge the chain
/// themselves. `roots` gives the recorded webpki verdict.
pub fn capturing_config(
    roots: Option<Arc<RootCertStore>>,
    client_key: Option<Arc<CertifiedKey>>,
    alpn: Vec<Vec<u8>>,
    slot: CaptureSlot,
    asked: Arc<AtomicBool>,
) -> Result<ClientConfig, ClientConfigError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(ClientConfigError::Versions)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier::accepting(
            roots,
            provider(),
            Some(slot),
        )))
        .with_client_cert_resolver(Arc::new(RecordingCertResolver::new(client_key, asked)));
    config.alpn_protocols = alpn;
    Ok(config)
}

/// ALPN offered to an upstream for the configured `http_version`.
pub fn alpn_for(version: HttpVersion) -> Vec<Vec<u8>> {
    match version {
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    }
}

/// The client config for one upstream.
pub fn client_config(
    tls: &UpstreamTls,
    alpn: Vec<Vec<u8>>,
) -> Result<ClientConfig, ClientConfigError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(ClientConfigError::Versions)?;
    // Both verifiers keep the presented chain for the diagnosis (see `proxy::verifier`).
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(RecordingVerifier::accepting(None, provider(), None))
    } else {
        Arc::new(RecordingVerifier::enforcing(
            Arc::new(root_store(tls)?),
            provider(),
        )?)
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => builder.with_client_cert_resolver(Arc::new(
            SingleCertAndKey::from(load_client_key(cert, key)?),
        )),
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(config)
}

#[cfg(test)]
mod tests;
