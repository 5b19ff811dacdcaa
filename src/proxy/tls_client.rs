//! The rustls client configuration for upstream connections: which roots are trusted, the
//! client certificate, ALPN, and the loudly-warned `insecure_skip_verify`.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{HttpVersion, RootStore, UpstreamTls};

/// The process's crypto provider (aws-lc-rs), shared by every config.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// The system trust store, loaded once (honours SSL_CERT_FILE / SSL_CERT_DIR).
pub fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// Builds the root store an upstream is verified against.
pub fn root_store(tls: &UpstreamTls) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for store in &tls.roots {
        match store {
            RootStore::Webpki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            RootStore::System => {
                // Certificates the parser cannot use are skipped, as every OS bundle has some.
                let _ = roots.add_parsable_certificates(system_roots().iter().cloned());
            }
        }
    }
    if let Some(path) = &tls.ca_bundle {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("tls.ca_bundle {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tls.ca_bundle {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "tls.ca_bundle {}: no certificate found in the file",
                path.display()
            ));
        }
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!(
                "tls.ca_bundle {}: no usable CA certificate in the file",
                path.display()
            ));
        }
    }
    Ok(roots)
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
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
    } else {
        builder.with_root_certificates(root_store(tls)?)
    };
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

/// Accepts any certificate but still checks the handshake signatures, so the session is at
/// least bound to the key the server presented. Used only with `insecure_skip_verify: true`.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
