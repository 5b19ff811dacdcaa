//! The rustls client configuration for upstream connections: which roots are trusted, the
//! client certificate, ALPN, and the loudly-warned `insecure_skip_verify`.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};

use super::provider;
use super::roots::root_store;
use super::verifier::{CaptureSlot, RecordingCertResolver, RecordingVerifier};
use crate::config::{HttpVersion, UpstreamTls};

/// Loads a client certificate chain and key for mutual TLS.
pub fn load_client_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("client_cert {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("client_cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "client_cert {}: no certificate in the file",
            cert.display()
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("client_key {}: {e}", key.display()))?;
    let signing = provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("client_key {}: {e}", key.display()))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
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
) -> Result<ClientConfig, String> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
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
pub fn client_config(tls: &UpstreamTls, alpn: Vec<Vec<u8>>) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
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
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| format!("tls.client_cert {}: {e}", cert.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("tls.client_cert {}: {e}", cert.display()))?;
            if chain.is_empty() {
                return Err(format!(
                    "tls.client_cert {}: no certificate in the file",
                    cert.display()
                ));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("tls.client_key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls.client_cert/client_key: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(config)
}
