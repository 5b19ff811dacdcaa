//! The stable names of log events (the `event` field). Users filter logs on them, so a name is
//! a contract: every `tracing` call names its event through [`Event`], and a new name is a new
//! variant here, never a string at the call site.

macro_rules! events {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// A stable log event name; [`Event::as_str`] is the value of the `event` field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Event { $( $(#[$doc])* $variant, )* }

        impl Event {
            /// Every event, in declaration order.
            pub const ALL: &'static [Event] = &[ $( Event::$variant, )* ];

            /// The snake_case name logged in the `event` field.
            pub const fn as_str(self) -> &'static str {
                match self { $( Event::$variant => $name, )* }
            }
        }
    };
}

events! {
    /// An inbound TLS handshake failed (or plain HTTP reached a TLS port).
    TlsHandshakeFailed = "tls_handshake_failed",
    /// The rate-limit summary of `tls_handshake_failed` events of one window.
    TlsHandshakeFailuresSuppressed = "tls_handshake_failures_suppressed",
    /// A listener's certificate as loaded at startup.
    CertLoaded = "cert_loaded",
    /// A listener's certificate after a published reload.
    CertReloaded = "cert_reloaded",
    /// New certificate files failed their checks; the old set keeps serving.
    CertReloadRejected = "cert_reload_rejected",
    /// One finding about a served certificate.
    CertFinding = "cert_finding",
    /// A served certificate is about to expire.
    CertExpiringSoon = "cert_expiring_soon",
    /// A startup, reload or periodic check of an upstream.
    UpstreamCheck = "upstream_check",
    /// A request failed on the TLS handshake or certificate of its upstream.
    UpstreamTlsFailed = "upstream_tls_failed",
    /// A request failed on its upstream for a reason other than TLS.
    UpstreamError = "upstream_error",
    /// The rate-limit summary of upstream failure events of one window.
    UpstreamErrorsSuppressed = "upstream_errors_suppressed",
    /// A connection to an upstream whose certificate is not verified.
    UpstreamVerificationDisabled = "upstream_verification_disabled",
    /// The access log line of one request.
    Request = "request",
    /// A request refused as the client's fault (4xx JSON), or a connection closed for it.
    ClientError = "client_error",
    /// The rate-limit summary of `client_error` events of one window.
    ClientErrorsSuppressed = "client_errors_suppressed",
    /// The rate-limit summary of `accept_failed` events of one window.
    AcceptFailuresSuppressed = "accept_failures_suppressed",
    /// Accepting a connection failed.
    AcceptFailed = "accept_failed",
    /// Startup: the open-file limit and the connection caps in effect (a warning when lowered).
    ResourceLimits = "resource_limits",
    /// A client connection ended with an error after the handshake.
    ConnectionError = "connection_error",
    /// An upgraded (WebSocket) connection could not be joined.
    UpgradeFailed = "upgrade_failed",
    /// A listener is bound and accepting.
    Listening = "listening",
    /// The admin API is bound (its address, port 0 resolved).
    AdminListening = "admin_listening",
    /// `serve --ready-file` could not be written.
    ReadyFileFailed = "ready_file_failed",
    /// A termination signal arrived; draining starts.
    ShuttingDown = "shutting_down",
    /// The drain delay is over: accepting stopped, open connections finish.
    Draining = "draining",
    /// A second termination signal during the drain: exiting at once.
    ShutdownForced = "shutdown_forced",
    /// The process is about to exit.
    Stopped = "stopped",
    /// A worker thread or its runtime failed.
    WorkerFailed = "worker_failed",
    /// Connections were still open when the drain timeout ended.
    DrainTimeout = "drain_timeout",
    /// A worker's connections could not be drained.
    DrainSkipped = "drain_skipped",
    /// Watching one directory of certificate files failed.
    WatchFailed = "watch_failed",
    /// File watching is unavailable; the poll remains.
    WatchUnavailable = "watch_unavailable",
    /// A listener's session ticket key as loaded at startup.
    TicketKeyLoaded = "ticket_key_loaded",
    /// A reload put a new session ticket key in use (the previous one still decrypts).
    TicketKeyRotated = "ticket_key_rotated",
    /// A new session ticket key file failed its checks; the current key stays.
    TicketKeyRejected = "ticket_key_rejected",
    /// A warning about a session ticket key file in use (its permissions).
    TicketKeyFinding = "ticket_key_finding",
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
