//! The rustls server configuration of a TLS listener.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::server::{ProducesTickets, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};

use crate::certs::set::SniResolver;
use crate::config::{ClientAuthMode, ListenerTls, TlsVersion};
use crate::tls::provider;

/// Builds the server config. The certificate itself comes from the resolver, so reloading a
/// certificate never rebuilds this config (and session tickets survive reloads). `ticketer`:
/// the shared-key ticketer of `session_tickets.key_file`, else a per-process random one.
pub fn server_config(
    tls: &ListenerTls,
    resolver: Arc<SniResolver>,
    ticketer: Option<Arc<dyn ProducesTickets>>,
) -> Result<ServerConfig, String> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls.min_version: {e}"))?;
    let builder = match &tls.client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&auth.ca)
                .map_err(|e| format!("tls.client_auth.ca {}: {e}", auth.ca.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("tls.client_auth.ca {}: {e}", auth.ca.display()))?;
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "tls.client_auth.ca {}: no CA certificate found in the file",
                    auth.ca.display()
                ));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = match auth.mode {
                ClientAuthMode::Require => verifier,
                ClientAuthMode::Optional => verifier.allow_unauthenticated(),
            }
            .build()
            .map_err(|e| format!("tls.client_auth: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = tls.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    // Stateless resumption: cheaper repeat handshakes for clients that reconnect (TLS 1.2
    // session tickets and TLS 1.3 resumption tickets alike).
    match ticketer {
        Some(shared) => config.ticketer = shared,
        None => {
            if let Ok(ticketer) = rustls::crypto::aws_lc_rs::Ticketer::new() {
                config.ticketer = ticketer;
            }
        }
    }
    Ok(config)
}
