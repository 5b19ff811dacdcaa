//! The one catalogue of finding codes, and each code's whole policy.
//!
//! Codes are a contract: users grep logs and script `--format json` output against them, so a
//! code is never renamed once released. Add new codes at the end of their group.
//!
//! Everything tlsgate decides *per code* is a column of the code's row, read through the
//! methods of [`Code`]; no other module matches on codes to decide policy, so a new cause of
//! failure is one new row. The columns, in row order:
//!
//! | column | values | read by |
//! |---|---|---|
//! | variant, name | `CertExpired = "cert_expired"`: the Rust name and the stable snake_case code | everything |
//! | severity | `Error` / `Warning` / `Info`: the default severity, and the level of the event logged for it | findings, logs |
//! | HTTP | a status (`502`), `closed` (the connection is closed without an answer) or `-` (the code never ends an HTTP request: local files, handshakes, configuration) | the proxy's error responses |
//! | retry | `retry` when a retry may succeed (no `x-should-retry: false`), `-` when it will fail the same way | the proxy's error responses |
//! | cause | `tls` when a failed upstream request is a TLS failure (`upstream_tls_failed` event, not `upstream_error`), `-` otherwise | the proxy's failure log |
//! | summary | what the code means, in one line | `tlsgate codes`/`explain`, generated docs, candidate lists |
//! | fix | the usual remedy, in one line (findings carry a specific fix) | `tlsgate codes`/`explain`, generated docs |
//!
//! `tlsgate codes --format markdown` renders this table for README.md and docs/codes.md.

use serde::{Serialize, Serializer};

use super::Severity;

/// What an HTTP client is told when a finding with this code ends its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAnswer {
    /// The code never ends an HTTP request (local files, handshakes, configuration, probes).
    None,
    /// tlsgate answers with this status: the OpenAI-shaped JSON error (the readable plain-text
    /// 400 for plain HTTP on a TLS port).
    Status(u16),
    /// The connection is closed without an answer: nothing can be sent any more.
    Closed,
}

/// A catalogue group: codes found at the same stage, listed together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// The short name `Code::group` returns ("local", "upstream", …).
    pub name: &'static str,
    /// A heading for people: what the group covers and where its findings come from.
    pub title: &'static str,
}

/// The HTTP column: `-`, `closed` or a status.
macro_rules! http_column {
    (-) => {
        HttpAnswer::None
    };
    (closed) => {
        HttpAnswer::Closed
    };
    ($status:literal) => {
        HttpAnswer::Status($status)
    };
}

/// The retry column: `retry` or `-`.
macro_rules! retry_column {
    (-) => {
        false
    };
    (retry) => {
        true
    };
}

/// The cause column: `tls` or `-`.
macro_rules! cause_column {
    (-) => {
        false
    };
    (tls) => {
        true
    };
}

macro_rules! catalogue {
    ($( $group:literal $title:literal => {
        $( $variant:ident = $code:literal, $sev:ident, $http:tt, $retry:tt, $cause:tt, $meaning:literal, $fix:literal; )*
    } )*) => {
        /// A stable finding code. `as_str` gives the snake_case name used in logs, JSON and HTTP errors.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code { $( $( $variant, )* )* }

        impl Code {
            /// Every code, in catalogue order (grouped as in [`Code::GROUPS`]).
            pub const ALL: &'static [Code] = &[ $( $( Code::$variant, )* )* ];

            /// The groups, in catalogue order.
            pub const GROUPS: &'static [Group] = &[ $( Group { name: $group, title: $title }, )* ];

            /// The stable snake_case name.
            pub const fn as_str(self) -> &'static str {
                match self { $( $( Code::$variant => $code, )* )* }
            }

            /// The severity this code carries unless a context says otherwise. It is also the
            /// level at which a failure with this code is logged (a `tls_handshake_failed` event
            /// is `WARN` from warning up, `INFO` below): no code needs a level of its own.
            pub const fn default_severity(self) -> Severity {
                match self { $( $( Code::$variant => Severity::$sev, )* )* }
            }

            /// What a client is told when this code ends its request.
            pub const fn http_answer(self) -> HttpAnswer {
                match self { $( $( Code::$variant => http_column!($http), )* )* }
            }

            /// Whether a retry may succeed. When it cannot (certificate, trust, name, protocol,
            /// plain-HTTP and configuration problems fail the same way next time), the error
            /// response says `x-should-retry: false`; transient causes (refused, DNS, timeouts,
            /// resets) leave the SDK's retry policy free.
            pub const fn retryable(self) -> bool {
                match self { $( $( Code::$variant => retry_column!($retry), )* )* }
            }

            /// Whether a failed upstream request with this code is a TLS failure: logged as
            /// `upstream_tls_failed` rather than `upstream_error`.
            pub const fn is_tls_cause(self) -> bool {
                match self { $( $( Code::$variant => cause_column!($cause), )* )* }
            }

            /// One line on what the code means (the summary in `tlsgate codes` and the docs).
            pub const fn meaning(self) -> &'static str {
                match self { $( $( Code::$variant => $meaning, )* )* }
            }

            /// The usual remedy, in one line (`tlsgate codes` and the docs; findings carry a
            /// specific fix).
            pub const fn fix_hint(self) -> &'static str {
                match self { $( $( Code::$variant => $fix, )* )* }
            }

            /// The catalogue group ("local", "inbound", "upstream", "request", "config").
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

impl Code {
    /// The HTTP status a client gets, if it gets one.
    pub const fn http_status(self) -> Option<u16> {
        match self.http_answer() {
            HttpAnswer::Status(s) => Some(s),
            HttpAnswer::None | HttpAnswer::Closed => None,
        }
    }
}

// Columns: Variant = "name", severity, HTTP (`-` | `closed` | status), retry (`retry` | `-`),
// cause (`tls` | `-`), summary, fix. See the module documentation.
catalogue! {
    "local" "Local certificates and keys (startup, reload, `check`, `inspect`)" => {
        CertFileUnreadable = "cert_file_unreadable", Error, -, -, -, "a certificate or key file is missing, not a file, or not readable", "fix the path in the configuration, or give tlsgate's user read access";
        CertNotFoundInFile = "cert_not_found_in_file", Error, -, -, -, "no certificate in the file (empty, garbage, a CSR, a key alone, DER where PEM is expected)", "point `cert:` at the PEM certificate your CA issued (leaf first); convert DER with `openssl x509 -inform der`";
        KeyNotFoundInFile = "key_not_found_in_file", Error, -, -, -, "no private key in the configured key file", "point `key:` at the PEM private key generated with the certificate's request";
        KeyEncrypted = "key_encrypted", Error, -, -, -, "the private key is passphrase-protected", "decrypt once (`openssl pkey -in KEY -out key.pem`) and protect the file with permissions (0600)";
        KeyUnsupported = "key_unsupported", Error, -, -, -, "the private key type cannot be used by rustls", "use an ECDSA P-256/P-384, Ed25519 or RSA ≥ 2048 key";
        KeyMismatch = "key_mismatch", Error, -, -, -, "the private key does not match the leaf certificate", "use the key from the same issuance as the certificate (compare `openssl x509 -pubkey` and `openssl pkey -pubout`)";
        ChainLeafNotFirst = "chain_leaf_not_first", Error, -, -, -, "the certificate matching the key is not the first in the file", "reorder the file: the leaf first, then each issuer";
        ChainOutOfOrder = "chain_out_of_order", Warning, -, -, -, "a certificate in the chain is not followed by its issuer", "reorder the file so each certificate is followed by its issuer";
        ChainDuplicateCert = "chain_duplicate_cert", Warning, -, -, -, "the same certificate appears twice in the chain", "remove the repeated certificate";
        ChainIncludesRoot = "chain_includes_root", Info, -, -, -, "the self-signed root is sent with the chain (harmless, wasted bytes)", "optionally drop the root from the file (clients have it already)";
        ChainIncomplete = "chain_incomplete", Error, -, -, -, "the issuer of a sent certificate is neither sent nor in any trust store consulted", "append the named intermediate (from the CA or its AIA URL), or — if it is your private root — set `ca:` on this certificate";
        ChainPrivateRoot = "chain_private_root", Info, -, -, -, "the chain ends at a private CA: valid, but every client must be told to trust the root", "tell every client to trust the root: curl `--cacert`, `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`, or the system store";
        CertExpired = "cert_expired", Error, -, -, -, "a certificate of the chain has expired", "renew the certificate (tlsgate picks up the new files without a restart)";
        CertNotYetValid = "cert_not_yet_valid", Error, -, -, -, "a certificate of the chain is not valid yet", "check this machine's clock, or wait until notBefore";
        CertExpiringSoon = "cert_expiring_soon", Warning, -, -, -, "a certificate expires within diagnostics.expiry_warning", "renew before the date given; check the renewal job (certbot, cert-manager)";
        NameNotCovered = "name_not_covered", Error, -, -, -, "a configured name is not in any subjectAltName of the certificate", "reissue the certificate with the name in its subjectAltName, or serve that name with another certificate";
        CertCnOnly = "cert_cn_only", Error, -, -, -, "the certificate has no subjectAltName at all (modern clients ignore the CN)", "reissue the certificate with a subjectAltName (`-addext subjectAltName=DNS:name`)";
        LeafIsCa = "leaf_is_ca", Error, -, -, -, "the leaf has basicConstraints CA:TRUE (rustls clients reject it)", "reissue the leaf with basicConstraints CA:FALSE";
        EkuMissingServerAuth = "eku_missing_server_auth", Error, -, -, -, "the leaf has an extendedKeyUsage without serverAuth", "reissue the leaf with extendedKeyUsage serverAuth";
        WeakRsaKey = "weak_rsa_key", Error, -, -, -, "an RSA key is shorter than 2048 bits", "reissue with RSA ≥ 2048 bits or ECDSA P-256";
        WeakSignature = "weak_signature", Error, -, -, -, "a certificate below the root is signed with SHA-1 or MD5", "reissue with a SHA-256 (or stronger) signature";
        MissingAki = "missing_aki", Warning, -, -, -, "a certificate has no Authority Key Identifier (Python 3.13+ strict verification rejects it)", "reissue with an authorityKeyIdentifier (most CAs add it; `openssl x509 -extfile` with `authorityKeyIdentifier=keyid`)";
        SelfSignedLeaf = "self_signed_leaf", Warning, -, -, -, "the leaf certificate is its own issuer", "use a certificate from a CA (`tlsgate certs init` for local development), or make every client trust this certificate";
        KeyFilePermissions = "key_file_permissions", Warning, -, -, -, "the private key file is readable by group or others", "`chmod 600 KEY` (owner only)";
        CertFileTooLarge = "cert_file_too_large", Error, -, -, -, "a PEM file is larger than limits.max_cert_file_bytes or holds more than 100 certificates", "point the setting at the certificate file itself (leaf and chain), not a CA bundle; raise `limits.max_cert_file_bytes` for a larger chain";
        ValidityTooLong = "validity_too_long", Info, -, -, -, "the certificate is valid for more than 398 days (public CAs and browsers refuse it)", "fine for a private PKI; public clients need ≤ 398 days";
        TicketKeyInvalid = "ticket_key_invalid", Error, -, -, -, "the session ticket key file is missing, unreadable, or not 80 bytes", "create it with `openssl rand 80 > ticket.key` (the same file on every replica) and point `session_tickets.key_file` at it";
        TicketKeyPermissions = "ticket_key_permissions", Warning, -, -, -, "the session ticket key file is readable by group or others (whoever reads it can decrypt resumed sessions)", "`chmod 600 KEY_FILE` (owner only)";
    }
    "inbound" "Inbound handshakes (clients → tlsgate; logged per failure, counted per cause)" => {
        PlainHttpOnTlsPort = "plain_http_on_tls_port", Info, 400, -, -, "a plain HTTP request arrived on a TLS port", "the client should use https:// (the 400 answer says so)";
        NotTls = "not_tls", Info, -, -, -, "bytes that are not TLS arrived on a TLS port (SSH banner, h2c preface, SSLv2 hello, garbage)", "point the client at the right port; scanners can be ignored";
        ProxyProtocolUnexpected = "proxy_protocol_unexpected", Warning, -, -, -, "a PROXY protocol header arrived on a listener not configured for it", "disable PROXY protocol on the load balancer, or put tlsgate behind one that does not send it";
        ClientTlsVersionTooOld = "client_tls_version_too_old", Info, -, -, -, "the client's highest TLS version is below the listener's min_version (e.g. up to TLS 1.2 against tls1.3)", "lift the client's version cap, or set `min_version: tls1.2`; TLS 1.0/1.1 clients must upgrade";
        NoSharedCipher = "no_shared_cipher", Info, -, -, -, "no cipher suite in common with the client", "upgrade the client; tlsgate offers only modern AEAD suites";
        NoSharedGroup = "no_shared_group", Info, -, -, -, "no key-exchange group in common with the client", "upgrade the client; tlsgate offers X25519, P-256, P-384 (and hybrid post-quantum)";
        NoSharedSignatureScheme = "no_shared_signature_scheme", Info, -, -, -, "no signature scheme in common with the client", "serve an ECDSA P-256 or RSA certificate the client can verify, or upgrade the client";
        NoSni = "no_sni", Warning, -, -, -, "the client sent no SNI and no default certificate is configured", "set `default_certificate`, or have clients connect by name";
        UnknownSni = "unknown_sni", Warning, -, -, -, "the client asked for a name this listener does not serve", "serve a certificate for that name (or set `default_certificate`); the event lists the names served";
        AlpnMismatch = "alpn_mismatch", Warning, -, -, -, "no application protocol in common with the client", "add the client's protocol to `alpn`, or fix the client";
        ClientRejectedUntrustedCa = "client_rejected_untrusted_ca", Warning, -, -, -, "the client does not trust the CA of our (complete) chain", "make the client trust the CA (private CA: the env var for its ecosystem)";
        ClientRejectedIncompleteChain = "client_rejected_incomplete_chain", Warning, -, -, -, "the client rejected our certificate and our chain lacks an intermediate", "append the named intermediate to the certificate file";
        ClientRejectedNameMismatch = "client_rejected_name_mismatch", Warning, -, -, -, "the name the client asked for is not covered by the certificate we served", "serve a certificate covering the name the client uses, or have it use a covered name";
        ClientRejectedExpiredCert = "client_rejected_expired_cert", Warning, -, -, -, "the client rejected our certificate as expired, and it is", "renew the certificate";
        ClientClockWrong = "client_clock_wrong", Warning, -, -, -, "the client says our certificate is expired while our whole chain is valid: its clock is wrong", "fix the client's clock (NTP)";
        ClientRejectedCertificate = "client_rejected_certificate", Warning, -, -, -, "the client rejected our certificate without more evidence; candidates listed", "check the candidates listed, most likely first";
        ClientClosedAfterCertificate = "client_closed_after_certificate", Info, -, -, -, "the client closed right after our certificate or the handshake, sending no request", "check the client's error: it likely rejected the certificate silently (Node, Java, curl ≥ 8.17)";
        ClientCertMissing = "client_cert_missing", Warning, -, -, -, "mutual TLS: the client sent no certificate", "give the client a certificate from the configured client CA";
        ClientCertUntrusted = "client_cert_untrusted", Warning, -, -, -, "mutual TLS: the client certificate is not issued by the configured client CA", "issue the client certificate from the CA in `client_auth.ca`";
        ClientCertExpired = "client_cert_expired", Warning, -, -, -, "mutual TLS: the client certificate has expired or is not valid yet", "renew the client certificate (or fix the client's clock)";
        ClientCertInvalid = "client_cert_invalid", Warning, -, -, -, "mutual TLS: the client certificate is invalid for another reason", "check the client certificate's key usage and extensions";
        HandshakeTimeout = "handshake_timeout", Info, -, -, -, "no complete ClientHello or handshake within limits.handshake_timeout", "slow or stalled clients; raise `limits.handshake_timeout` only if legitimate clients are slow";
        ClientAlert = "client_alert", Info, -, -, -, "the client sent a TLS alert not otherwise classified", "see the alert name; usually a client-side configuration problem";
        HandshakeIoError = "handshake_io_error", Info, -, -, -, "the connection was reset or failed during the handshake", "network resets; check load balancers and client timeouts";
    }
    "upstream" "Upstreams (startup and reload checks, each failed request, `check`, `probe`)" => {
        UpstreamDnsFailed = "upstream_dns_failed", Error, 502, retry, -, "the upstream host name did not resolve", "fix the host in the upstream URL, or this machine's DNS";
        UpstreamRefused = "upstream_refused", Error, 502, retry, -, "the upstream refused the TCP connection", "start the upstream, or fix the port in the URL";
        UpstreamConnectTimeout = "upstream_connect_timeout", Error, 504, retry, -, "the TCP connection to the upstream timed out", "check firewalls and routes, or set `egress_proxy`";
        UpstreamUnreachable = "upstream_unreachable", Error, 502, retry, -, "the upstream could not be reached", "check the network path to the upstream";
        UpstreamPlainHttp = "upstream_plain_http", Error, 502, -, tls, "an https:// upstream answers in plain HTTP", "use http:// in the upstream URL";
        UpstreamTlsOnHttpUrl = "upstream_tls_on_http_url", Error, 502, -, tls, "an http:// upstream speaks TLS", "use https:// in the upstream URL";
        UpstreamCertExpired = "upstream_cert_expired", Error, 502, -, tls, "the upstream's certificate has expired", "the upstream must renew; a few minutes' difference means clock skew here";
        UpstreamCertNotYetValid = "upstream_cert_not_yet_valid", Error, 502, -, tls, "the upstream's certificate is not valid yet", "check this machine's clock";
        UpstreamNameMismatch = "upstream_name_mismatch", Error, 502, -, tls, "the upstream's certificate does not cover the name we verify", "use a host the certificate covers, or set `tls.server_name`";
        UpstreamSelfSigned = "upstream_self_signed", Error, 502, -, tls, "the upstream presents a self-signed certificate", "add the certificate to `tls.ca_bundle` if you trust it";
        UpstreamChainIncomplete = "upstream_chain_incomplete", Error, 502, -, tls, "the upstream does not send the intermediate certificate", "the upstream must send its intermediate; meanwhile add it to `tls.ca_bundle`";
        UpstreamUntrustedRoot = "upstream_untrusted_root", Error, 502, -, tls, "the upstream's chain ends at a root not in our trust stores", "add the root to `tls.ca_bundle`";
        UpstreamTlsInspection = "upstream_tls_inspection", Error, 502, -, tls, "a TLS-inspection proxy seems to re-sign the upstream's traffic", "add the corporate CA to `tls.ca_bundle` (export it from the system store or ask IT)";
        UpstreamLegacyTls = "upstream_legacy_tls", Error, 502, -, tls, "the upstream supports only TLS versions we do not speak", "upgrade the upstream to TLS 1.2+";
        UpstreamNoSharedCipher = "upstream_no_shared_cipher", Error, 502, -, tls, "no cipher suite in common with the upstream", "upgrade the upstream's TLS configuration";
        UpstreamClientCertRequired = "upstream_client_cert_required", Error, 502, -, tls, "the upstream requires a client certificate", "set `tls.client_cert` and `tls.client_key`";
        UpstreamClientCertRejected = "upstream_client_cert_rejected", Error, 502, -, tls, "the upstream rejected our client certificate", "use a client certificate from the CA the upstream trusts";
        UpstreamHandshakeTimeout = "upstream_handshake_timeout", Error, 504, retry, tls, "the TLS handshake with the upstream did not finish in time", "check that the upstream speaks TLS on that port";
        UpstreamTimeout = "upstream_timeout", Error, 504, retry, -, "the upstream sent no first byte, or went idle, within the timeout", "check the upstream, or raise `timeouts.first_byte` / `timeouts.idle`";
        UpstreamConnectionReset = "upstream_connection_reset", Error, 502, retry, -, "the upstream dropped the connection mid-request or mid-response", "check the upstream's logs; the client may retry";
        UpstreamVerificationDisabled = "upstream_verification_disabled", Warning, 502, -, -, "insecure_skip_verify is on: the upstream's certificate is not checked", "remove `insecure_skip_verify` and trust the CA with `tls.ca_bundle`";
        EgressProxyFailed = "egress_proxy_failed", Error, 502, retry, -, "the egress CONNECT proxy refused or failed", "check `egress_proxy` and the proxy's logs";
        UpstreamTlsFailed = "upstream_tls_failed", Error, 502, -, tls, "the TLS handshake with the upstream failed for a reason not classified more precisely", "see the event's evidence; run `tlsgate probe` on the upstream";
        UpstreamProtocolError = "upstream_protocol_error", Error, 502, -, -, "the upstream sent a response that is not valid HTTP", "check the upstream speaks HTTP on that URL (https:// vs http://)";
        UpstreamOverloaded = "upstream_overloaded", Error, 503, retry, -, "every connection tlsgate may open to the upstream (limits.upstream_max_connections) stayed busy for limits.upstream_queue_timeout, or limits.upstream_max_queued requests already waited; answered 503 with retry-after", "retry after the delay given; if it lasts, raise `limits.upstream_max_connections` (and the open-file limit) or add upstream capacity";
    }
    "request" "Client requests (a fault of the client, never blamed on an upstream)" => {
        BadRequest = "bad_request", Error, 400, -, -, "the client's request could not be forwarded as sent", "fix the request";
        RequestHeadersTooLarge = "request_headers_too_large", Error, 431, -, -, "the request headers exceed limits.max_request_header_bytes", "send smaller headers, or raise `limits.max_request_header_bytes`";
        NoRoute = "no_route", Error, 404, -, -, "no route matches the request path", "add a route for the path, or call a routed path";
        ClientPathInvalid = "client_path_invalid", Warning, 400, -, -, "the request path does not normalize inside its route (dot segments, encoded `%2e`/`%2f` tricks, an escape above a route prefix or the upstream's base path)", "send a plain, normalized path; a client building such paths is broken or probing";
        ClientHostInvalid = "client_host_invalid", Warning, 400, -, -, "the request has no Host (HTTP/1.1), several, a malformed one, or a Host that disagrees with :authority", "send exactly one well-formed Host header, equal to :authority on HTTP/2";
        ClientBodyInvalid = "client_body_invalid", Warning, 400, -, -, "the request body is malformed: bad chunked encoding, fewer bytes than Content-Length, or both Content-Length and Transfer-Encoding", "fix the client's body framing: one of Content-Length or chunked, and as many bytes as announced";
        ClientBodyTimeout = "client_body_timeout", Info, 408, retry, -, "the client stopped sending its request body for longer than limits.client_body_timeout", "check the client's upload path; raise `limits.client_body_timeout` only for legitimately slow senders";
        ClientSendTimeout = "client_send_timeout", Info, closed, -, -, "the client stopped reading the response for longer than limits.send_timeout, so the connection was closed", "check that the client consumes what it asked for; raise `limits.send_timeout` for legitimately slow readers";
        ClientIdleTimeout = "client_idle_timeout", Info, closed, -, -, "an idle connection reached its limit (keep-alive, HTTP/2 idle or plain-port idle) and was closed", "nothing to do for pooled clients; raise `limits.keepalive_timeout` or `limits.http2_idle_timeout` if clients expect longer-lived connections";
        ClientUpgradeRefused = "client_upgrade_refused", Warning, 400, -, -, "the request asks for an Upgrade token not in proxy.allowed_upgrades (h2c, …)", "drop the Upgrade header, or add the token to `proxy.allowed_upgrades`";
        ClientMethodRefused = "client_method_refused", Warning, 405, -, -, "the request method is never forwarded (CONNECT, TRACE)", "use another method: tlsgate is a reverse proxy, not a forward proxy";
        ClientHeadersTooLarge = "client_headers_too_large", Warning, 431, -, -, "the request headers exceed limits.max_request_header_bytes", "send smaller headers (cookies, tokens), or raise `limits.max_request_header_bytes`";
        ClientBodyTooLarge = "client_body_too_large", Warning, 413, -, -, "the request body exceeds limits.max_request_body_bytes", "send a smaller body, or raise `limits.max_request_body_bytes`";
        ProxyProtocolInvalid = "proxy_protocol_invalid", Warning, closed, -, -, "a PROXY protocol header is malformed, or comes from a source not in trusted_proxies", "list the load balancer's addresses in `trusted_proxies`, and match `proxy_protocol` to the version it sends";
        ClientHeaderTimeout = "client_header_timeout", Info, closed, -, -, "a client began a request but did not complete its headers within limits.header_read_timeout; the connection was closed", "slow or stalled clients (slowloris); raise `limits.header_read_timeout` only for legitimately slow clients";
        ClientTooManyConnections = "client_too_many_connections", Warning, closed, -, -, "a client address opened more connections than limits.max_connections_per_ip; the extra ones were closed at once", "have the client reuse its connections, or raise `limits.max_connections_per_ip` (clients behind one NAT or load balancer share an address)";
        ClientProtocolNotNegotiated = "client_protocol_not_negotiated", Warning, closed, -, -, "the client spoke another HTTP version than ALPN negotiated (the HTTP/2 preface without `h2`, or HTTP/1.1 after `h2`); the connection was closed", "have the client speak the protocol it negotiated: offer `h2` in ALPN for HTTP/2 (and list `h2` in the listener's `tls.alpn`), or offer only `http/1.1` for HTTP/1.1";
    }
    "process" "The process itself (listeners, resources)" => {
        AcceptFailed = "accept_failed", Error, -, -, -, "a listener could not accept a connection (out of file descriptors or memory)", "raise the open-file limit (`ulimit -n`, systemd `LimitNOFILE=`) above twice `limits.max_connections`, or lower `limits.max_connections`";
        DescriptorLimitLow = "descriptor_limit_low", Warning, -, -, -, "the open-file limit cannot hold limits.max_connections clients, every upstream's connections and limits.descriptor_reserve; the connection caps were lowered to fit", "raise the open-file limit to the figure given (systemd `LimitNOFILE=`, `docker run --ulimit nofile=`, `ulimit -n`), or lower `limits.max_connections` / `limits.upstream_max_connections`";
    }
    "config" "Configuration" => {
        ConfigInvalid = "config_invalid", Error, -, -, -, "the configuration file cannot be read, parsed or validated", "correct the key or value at the file:line:column given";
        ConfigEnvMissing = "config_env_missing", Error, -, -, -, "the configuration references an environment variable that is not set", "export the variable, or write `${NAME:-default}`";
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
mod tests;
