//! The rustls server configuration of a TLS listener.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::certs::set::SniResolver;
use crate::config::{ClientAuthMode, ListenerTls, TlsVersion};
use crate::tls::provider;

/// Why a listener's TLS server configuration cannot be built. The text names the setting
/// under the listener (`tls.…`) and, for a file, its path.
#[derive(Debug, thiserror::Error)]
pub enum ServerConfigError {
    #[error("tls.min_version: {0}")]
    Versions(#[source] rustls::Error),
    #[error("tls.client_auth.ca {}: {source}", path.display())]
    ClientAuthCaRead { path: PathBuf, source: pem::Error },
    #[error("tls.client_auth.ca {}: no CA certificate found in the file", path.display())]
    ClientAuthCaEmpty { path: PathBuf },
    #[error("tls.client_auth: {0}")]
    ClientVerifier(#[source] rustls::server::VerifierBuilderError),
}

/// Builds the server config. The certificate itself comes from the resolver, so reloading a
/// certificate never rebuilds this config (and session tickets survive reloads).
pub fn server_config(
    tls: &ListenerTls,
    resolver: Arc<SniResolver>,
) -> Result<ServerConfig, ServerConfigError> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(ServerConfigError::Versions)?;
    let builder = match &tls.client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) => {
            let read = |source| ServerConfigError::ClientAuthCaRead {
                path: auth.ca.clone(),
                source,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&auth.ca)
                .map_err(read)?
                .collect::<Result<_, _>>()
                .map_err(read)?;
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(ServerConfigError::ClientAuthCaEmpty {
                    path: auth.ca.clone(),
                });
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = match auth.mode {
                ClientAuthMode::Require => verifier,
                ClientAuthMode::Optional => verifier.allow_unauthenticated(),
            }
            .build()
            .map_err(ServerConfigError::ClientVerifier)?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = tls.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    // Stateless resumption: cheaper repeat handshakes for clients that reconnect.
    if let Ok(ticketer) = rustls::crypto::aws_lc_rs::Ticketer::new() {
        config.ticketer = ticketer;
    }
    Ok(config)
}
