//! `tlsgate certs_init` (being written by the certificate-diagnosis work).

use std::process::ExitCode;

pub fn run(_args: super::CertsInitArgs) -> ExitCode {
    ExitCode::from(2)
}
