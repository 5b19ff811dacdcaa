//! `tlsgate inspect` (being written by the certificate-diagnosis work).

use std::process::ExitCode;

pub fn run(_args: super::InspectArgs) -> ExitCode {
    ExitCode::from(2)
}
