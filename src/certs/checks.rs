//! Local certificate checks (being written; replaced by the full checks).

use super::LoadedCertificate;
use crate::config::Config;
use crate::diagnose::Finding;

/// Non-fatal findings of a loaded certificate.
pub fn check_served(_loaded: &LoadedCertificate, _cfg: &Config) -> Vec<Finding> {
    Vec::new()
}
