//! Capturing what an upstream presents, even when rustls rejects it.
//!
//! rustls keeps nothing of a rejected chain (`peer_certificates()` is set only after
//! verification succeeds), and `ServerCertVerifier` gets no connection identity. Two modes:
//!
//! * **Enforce** (the proxy's pooled connections): the verifier wraps rustls's own
//!   `WebPkiServerVerifier`; on failure it returns the original error *wrapped together with the
//!   presented chain* in `CertificateError::Other(OtherError(PresentedChain))`. The evidence
//!   therefore travels with the error of exactly that connection: no shared mutable slot, no
//!   race between concurrent handshakes, no second connection, and nothing extra on the success
//!   path (a successful connection exposes its chain through `peer_certificates()`). The only
//!   cost: the alert sent to the upstream is certificate_unknown rather than e.g. unknown_ca,
//!   which is harmless outbound. [`unwrap_presented`] recovers the original error and the chain.
//! * **Accept** (`probe`, the startup check, and `insecure_skip_verify`): every chain is
//!   accepted (handshake signatures are still checked, so the session is bound to the presented
//!   key); the inner verdict and the chain are recorded into an optional per-connection
//!   [`CaptureSlot`]. probe and the check build one config per attempt, so a slot per config is
//!   a slot per connection.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, DigitallySignedStruct, Error, OtherError, RootCertStore, SignatureScheme,
};

/// The chain an upstream presented and the error rustls found in it.
#[derive(Debug, Clone)]
pub struct PresentedChain {
    pub original: Error,
    pub certs: Vec<CertificateDer<'static>>,
}

impl fmt::Display for PresentedChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} certificate(s) presented)",
            self.original,
            self.certs.len()
        )
    }
}

impl std::error::Error for PresentedChain {}

/// What the accepting verifier saw on one connection.
#[derive(Debug, Clone)]
pub struct Captured {
    pub certs: Vec<CertificateDer<'static>>,
    pub server_name: String,
    /// The verdict of the inner (webpki) verifier; `Ok` when none was configured.
    pub verdict: Result<(), Error>,
}

/// Where an accepting verifier records the chain of its connection.
pub type CaptureSlot = Arc<Mutex<Option<Captured>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Enforce,
    Accept,
}

/// Why an enforcing verifier cannot be built (an empty root store, most often).
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    #[error("building the certificate verifier: {0}")]
    Build(#[source] rustls::client::VerifierBuilderError),
}

/// A `ServerCertVerifier` that keeps the presented chain (see the module docs).
#[derive(Debug)]
pub struct RecordingVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    mode: Mode,
    slot: Option<CaptureSlot>,
}

impl RecordingVerifier {
    /// Verifies like rustls's webpki verifier against `roots`; failures carry the chain.
    pub fn enforcing(
        roots: Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, VerifierError> {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(VerifierError::Build)?;
        Ok(RecordingVerifier {
            inner: Some(inner),
            provider,
            mode: Mode::Enforce,
            slot: None,
        })
    }

    /// Accepts every chain, recording it (and, with `roots`, the webpki verdict) into `slot`.
    pub fn accepting(
        roots: Option<Arc<RootCertStore>>,
        provider: Arc<CryptoProvider>,
        slot: Option<CaptureSlot>,
    ) -> Self {
        let inner = roots.filter(|r| !r.is_empty()).and_then(|r| {
            WebPkiServerVerifier::builder_with_provider(r, provider.clone())
                .build()
                .ok()
        });
        RecordingVerifier {
            inner,
            provider,
            mode: Mode::Accept,
            slot,
        }
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verdict = match &self.inner {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                .map(|_| ()),
            None => Ok(()),
        };
        let certs = || {
            let mut certs = Vec::with_capacity(1 + intermediates.len());
            certs.push(end_entity.clone().into_owned());
            certs.extend(intermediates.iter().map(|c| c.clone().into_owned()));
            certs
        };
        if let Some(slot) = &self.slot {
            if let Ok(mut guard) = slot.lock() {
                *guard = Some(Captured {
                    certs: certs(),
                    server_name: server_name.to_str().into_owned(),
                    verdict: verdict.clone(),
                });
            }
        }
        match (self.mode, verdict) {
            (Mode::Accept, _) | (Mode::Enforce, Ok(())) => Ok(ServerCertVerified::assertion()),
            (Mode::Enforce, Err(original)) => Err(Error::InvalidCertificate(
                CertificateError::Other(OtherError(Arc::new(PresentedChain {
                    original,
                    certs: certs(),
                }))),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match &self.inner {
            Some(v) => v.verify_tls12_signature(message, cert, dss),
            None => verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match &self.inner {
            Some(v) => v.verify_tls13_signature(message, cert, dss),
            None => verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.inner {
            Some(v) => v.supported_verify_schemes(),
            None => self
                .provider
                .signature_verification_algorithms
                .supported_schemes(),
        }
    }
}

/// The original rustls error and the presented chain, when `err` came from an enforcing
/// [`RecordingVerifier`]; otherwise `err` itself and no chain.
pub fn unwrap_presented(err: &Error) -> (Error, Vec<CertificateDer<'static>>) {
    if let Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) = err {
        if let Some(p) = inner.downcast_ref::<PresentedChain>() {
            return (p.original.clone(), p.certs.clone());
        }
    }
    (err.clone(), Vec::new())
}

/// A client-certificate resolver that records whether the server asked for one.
#[derive(Debug)]
pub struct RecordingCertResolver {
    key: Option<Arc<CertifiedKey>>,
    asked: Arc<AtomicBool>,
}

impl RecordingCertResolver {
    pub fn new(key: Option<Arc<CertifiedKey>>, asked: Arc<AtomicBool>) -> Self {
        RecordingCertResolver { key, asked }
    }
}

impl ResolvesClientCert for RecordingCertResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::SeqCst);
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}
