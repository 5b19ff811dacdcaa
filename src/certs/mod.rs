//! Certificates: PEM loading, x509 inspection (`CertInfo`), the local chain checks, and the
//! local development CA.

pub mod checks;
pub mod devca;
pub mod info;
pub mod pem;
pub mod served;
pub mod set;

pub use info::CertInfo;
pub use served::LoadedCertificate;
