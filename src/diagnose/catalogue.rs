//! The one catalogue of finding codes.
//!
//! Codes are a contract: users grep logs and script `--format json` output against them, so a
//! code is never renamed once released. Add new codes at the end of their group.

use serde::{Serialize, Serializer};

use super::Severity;

macro_rules! catalogue {
    ($( $group:literal => { $( $variant:ident = $code:literal, $sev:ident, $meaning:literal; )* } )*) => {
        /// A stable finding code. `as_str` gives the snake_case name used in logs, JSON and HTTP errors.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code { $( $( $variant, )* )* }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[ $( $( Code::$variant, )* )* ];

            /// The stable snake_case name.
            pub const fn as_str(self) -> &'static str {
                match self { $( $( Code::$variant => $code, )* )* }
            }

            /// The severity this code carries unless a context says otherwise.
            pub const fn default_severity(self) -> Severity {
                match self { $( $( Code::$variant => Severity::$sev, )* )* }
            }

            /// One line on what the code means (used by the README table and `--help` texts).
            pub const fn meaning(self) -> &'static str {
                match self { $( $( Code::$variant => $meaning, )* )* }
            }

            /// The catalogue group ("local", "inbound", "upstream", "config").
            pub const fn group(self) -> &'static str {
                match self { $( $( Code::$variant => $group, )* )* }
            }

            /// Looks a code up by its snake_case name.
            pub fn from_name(name: &str) -> Option<Code> {
                match name { $( $( $code => Some(Code::$variant), )* )* _ => None }
            }
        }
    };
}

catalogue! {
    "local" => {
        CertFileUnreadable = "cert_file_unreadable", Error, "a certificate or key file is missing, not a file, or not readable";
        CertNotFoundInFile = "cert_not_found_in_file", Error, "no certificate in the file (empty, garbage, a CSR, a key alone, DER where PEM is expected)";
        KeyNotFoundInFile = "key_not_found_in_file", Error, "no private key in the configured key file";
        KeyEncrypted = "key_encrypted", Error, "the private key is passphrase-protected";
        KeyUnsupported = "key_unsupported", Error, "the private key type cannot be used by rustls";
        KeyMismatch = "key_mismatch", Error, "the private key does not match the leaf certificate";
        ChainLeafNotFirst = "chain_leaf_not_first", Error, "the certificate matching the key is not the first in the file";
        ChainOutOfOrder = "chain_out_of_order", Warning, "a certificate in the chain is not followed by its issuer";
        ChainDuplicateCert = "chain_duplicate_cert", Warning, "the same certificate appears twice in the chain";
        ChainIncludesRoot = "chain_includes_root", Info, "the self-signed root is sent with the chain (harmless, wasted bytes)";
        ChainIncomplete = "chain_incomplete", Error, "the issuer of a sent certificate is neither sent nor in any trust store consulted";
        ChainPrivateRoot = "chain_private_root", Info, "the chain ends at a private CA: valid, but every client must be told to trust the root";
        CertExpired = "cert_expired", Error, "a certificate of the chain has expired";
        CertNotYetValid = "cert_not_yet_valid", Error, "a certificate of the chain is not valid yet";
        CertExpiringSoon = "cert_expiring_soon", Warning, "a certificate expires within diagnostics.expiry_warning";
        NameNotCovered = "name_not_covered", Error, "a configured name is not in any subjectAltName of the certificate";
        CertCnOnly = "cert_cn_only", Error, "the certificate has no subjectAltName at all (modern clients ignore the CN)";
        LeafIsCa = "leaf_is_ca", Error, "the leaf has basicConstraints CA:TRUE (rustls clients reject it)";
        EkuMissingServerAuth = "eku_missing_server_auth", Error, "the leaf has an extendedKeyUsage without serverAuth";
        WeakRsaKey = "weak_rsa_key", Error, "an RSA key is shorter than 2048 bits";
        WeakSignature = "weak_signature", Error, "a certificate below the root is signed with SHA-1 or MD5";
        MissingAki = "missing_aki", Warning, "a certificate has no Authority Key Identifier (Python 3.13+ strict verification rejects it)";
        SelfSignedLeaf = "self_signed_leaf", Warning, "the leaf certificate is its own issuer";
        KeyFilePermissions = "key_file_permissions", Warning, "the private key file is readable by group or others";
        ValidityTooLong = "validity_too_long", Info, "the certificate is valid for more than 398 days (public CAs and browsers refuse it)";
    }
    "inbound" => {
        PlainHttpOnTlsPort = "plain_http_on_tls_port", Info, "a plain HTTP request arrived on a TLS port";
        NotTls = "not_tls", Info, "bytes that are not TLS arrived on a TLS port (SSH banner, h2c preface, SSLv2 hello, garbage)";
        ProxyProtocolUnexpected = "proxy_protocol_unexpected", Warning, "a PROXY protocol header arrived on a listener not configured for it";
        ClientTlsVersionTooOld = "client_tls_version_too_old", Info, "the client offers only TLS 1.0/1.1";
        NoSharedCipher = "no_shared_cipher", Info, "no cipher suite in common with the client";
        NoSharedGroup = "no_shared_group", Info, "no key-exchange group in common with the client";
        NoSharedSignatureScheme = "no_shared_signature_scheme", Info, "no signature scheme in common with the client";
        NoSni = "no_sni", Warning, "the client sent no SNI and no default certificate is configured";
        UnknownSni = "unknown_sni", Warning, "the client asked for a name this listener does not serve";
        AlpnMismatch = "alpn_mismatch", Warning, "no application protocol in common with the client";
        ClientRejectedUntrustedCa = "client_rejected_untrusted_ca", Warning, "the client does not trust the CA of our (complete) chain";
        ClientRejectedIncompleteChain = "client_rejected_incomplete_chain", Warning, "the client rejected our certificate and our chain lacks an intermediate";
        ClientRejectedNameMismatch = "client_rejected_name_mismatch", Warning, "the name the client asked for is not covered by the certificate we served";
        ClientRejectedExpiredCert = "client_rejected_expired_cert", Warning, "the client rejected our certificate as expired, and it is";
        ClientClockWrong = "client_clock_wrong", Warning, "the client says our certificate is expired while our whole chain is valid: its clock is wrong";
        ClientRejectedCertificate = "client_rejected_certificate", Warning, "the client rejected our certificate without more evidence; candidates listed";
        ClientClosedAfterCertificate = "client_closed_after_certificate", Info, "the client closed right after our certificate or the handshake, sending no request";
        ClientCertMissing = "client_cert_missing", Warning, "mutual TLS: the client sent no certificate";
        ClientCertUntrusted = "client_cert_untrusted", Warning, "mutual TLS: the client certificate is not issued by the configured client CA";
        ClientCertExpired = "client_cert_expired", Warning, "mutual TLS: the client certificate has expired or is not valid yet";
        ClientCertInvalid = "client_cert_invalid", Warning, "mutual TLS: the client certificate is invalid for another reason";
        HandshakeTimeout = "handshake_timeout", Info, "no complete ClientHello or handshake within limits.handshake_timeout";
        ClientAlert = "client_alert", Info, "the client sent a TLS alert not otherwise classified";
        HandshakeIoError = "handshake_io_error", Info, "the connection was reset or failed during the handshake";
    }
    "upstream" => {
        UpstreamDnsFailed = "upstream_dns_failed", Error, "the upstream host name did not resolve";
        UpstreamRefused = "upstream_refused", Error, "the upstream refused the TCP connection";
        UpstreamConnectTimeout = "upstream_connect_timeout", Error, "the TCP connection to the upstream timed out";
        UpstreamUnreachable = "upstream_unreachable", Error, "the upstream could not be reached";
        UpstreamPlainHttp = "upstream_plain_http", Error, "an https:// upstream answers in plain HTTP";
        UpstreamTlsOnHttpUrl = "upstream_tls_on_http_url", Error, "an http:// upstream speaks TLS";
        UpstreamCertExpired = "upstream_cert_expired", Error, "the upstream's certificate has expired";
        UpstreamCertNotYetValid = "upstream_cert_not_yet_valid", Error, "the upstream's certificate is not valid yet";
        UpstreamNameMismatch = "upstream_name_mismatch", Error, "the upstream's certificate does not cover the name we verify";
        UpstreamSelfSigned = "upstream_self_signed", Error, "the upstream presents a self-signed certificate";
        UpstreamChainIncomplete = "upstream_chain_incomplete", Error, "the upstream does not send the intermediate certificate";
        UpstreamUntrustedRoot = "upstream_untrusted_root", Error, "the upstream's chain ends at a root not in our trust stores";
        UpstreamTlsInspection = "upstream_tls_inspection", Error, "a TLS-inspection proxy seems to re-sign the upstream's traffic";
        UpstreamLegacyTls = "upstream_legacy_tls", Error, "the upstream supports only TLS versions we do not speak";
        UpstreamNoSharedCipher = "upstream_no_shared_cipher", Error, "no cipher suite in common with the upstream";
        UpstreamClientCertRequired = "upstream_client_cert_required", Error, "the upstream requires a client certificate";
        UpstreamClientCertRejected = "upstream_client_cert_rejected", Error, "the upstream rejected our client certificate";
        UpstreamHandshakeTimeout = "upstream_handshake_timeout", Error, "the TLS handshake with the upstream did not finish in time";
        UpstreamTimeout = "upstream_timeout", Error, "the upstream sent no first byte, or went idle, within the timeout";
        UpstreamConnectionReset = "upstream_connection_reset", Error, "the upstream dropped the connection mid-request or mid-response";
        UpstreamVerificationDisabled = "upstream_verification_disabled", Warning, "insecure_skip_verify is on: the upstream's certificate is not checked";
        EgressProxyFailed = "egress_proxy_failed", Error, "the egress CONNECT proxy refused or failed";
        UpstreamTlsFailed = "upstream_tls_failed", Error, "the TLS handshake with the upstream failed for a reason not classified more precisely";
        UpstreamProtocolError = "upstream_protocol_error", Error, "the upstream sent a response that is not valid HTTP";
    }
    "request" => {
        BadRequest = "bad_request", Error, "the client's request could not be forwarded as sent";
        RequestHeadersTooLarge = "request_headers_too_large", Error, "the request headers exceed limits.max_request_header_bytes";
        NoRoute = "no_route", Error, "no route matches the request path";
    }
    "config" => {
        ConfigInvalid = "config_invalid", Error, "the configuration file cannot be read, parsed or validated";
        ConfigEnvMissing = "config_env_missing", Error, "the configuration references an environment variable that is not set";
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let mut seen = HashSet::new();
        for &code in Code::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "duplicate code {name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name} is not snake_case"
            );
            assert_eq!(Code::from_name(name), Some(code));
        }
    }

    #[test]
    fn product_spec_severities_hold() {
        assert_eq!(Code::ChainIncludesRoot.default_severity(), Severity::Info);
        assert_eq!(Code::ChainOutOfOrder.default_severity(), Severity::Warning);
        assert_eq!(Code::KeyMismatch.default_severity(), Severity::Error);
        assert_eq!(
            Code::UpstreamVerificationDisabled.default_severity(),
            Severity::Warning
        );
        for &code in Code::ALL {
            if code.group() == "upstream" && code != Code::UpstreamVerificationDisabled {
                assert_eq!(code.default_severity(), Severity::Error, "{code}");
            }
        }
    }
}

#[cfg(test)]
mod readme_tests {
    use super::Code;

    /// The README's findings table is the user-facing catalogue: it must list every code.
    #[test]
    fn readme_lists_every_code() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md at the crate root");
        for code in Code::ALL {
            assert!(
                readme.contains(&format!("`{}`", code.as_str())),
                "README.md does not list {}",
                code.as_str()
            );
        }
    }
}
