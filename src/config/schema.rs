//! The YAML schema, as typed settings. Field names are the YAML keys; unknown keys are errors.
//!
//! Defaults follow docs/spec.md. Values are already `${ENV}`-interpolated when they reach serde
//! (see `interpolate`), and validated afterwards (see `validate`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::cidr::Cidr;
use super::units::{ByteSize, Duration};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub listeners: Vec<Listener>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub upstreams: BTreeMap<String, Upstream>,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub reload: Reload,
    #[serde(default)]
    pub diagnostics: Diagnostics,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub proxy: ProxySettings,
    #[serde(default)]
    pub shutdown: Shutdown,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Name used in logs, metrics and `/status`; defaults to `listener<N>` when omitted.
    #[serde(default)]
    pub name: String,
    pub bind: SocketAddr,
    /// Whether connections begin with a PROXY protocol header from an L4 load balancer.
    #[serde(default)]
    pub proxy_protocol: ProxyProtocol,
    /// The sources allowed to connect when `proxy_protocol` is on (the load balancers); a
    /// connection from anywhere else is closed (`proxy_protocol_invalid`).
    #[serde(default)]
    pub trusted_proxies: Vec<Cidr>,
    /// Omit for a plain-HTTP listener.
    #[serde(default)]
    pub tls: Option<ListenerTls>,
}

/// `off` | `v1` | `v2` | `any` (v1 or v2): the PROXY protocol a listener requires.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProtocol {
    #[default]
    Off,
    V1,
    V2,
    Any,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    pub certificates: Vec<CertificateSource>,
    /// Index into `certificates` served when SNI is absent or unknown. `None`: refuse, unless
    /// there is exactly one certificate (served to everyone).
    #[serde(default)]
    pub default_certificate: Option<usize>,
    #[serde(default)]
    pub min_version: TlsVersion,
    #[serde(default = "default_alpn")]
    pub alpn: Vec<String>,
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
    /// Resumption across replicas: a ticket key shared by every replica.
    #[serde(default)]
    pub session_tickets: Option<SessionTickets>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionTickets {
    /// 80 random bytes (`openssl rand 80`), nginx's `ssl_session_ticket_key` layout: 16 bytes
    /// key name, 32 bytes HMAC-SHA256 secret, 32 bytes AES-256 key. Re-read on every reload;
    /// the previous key still decrypts.
    pub key_file: PathBuf,
}

fn default_alpn() -> Vec<String> {
    vec!["h2".into(), "http/1.1".into()]
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CertificateSource {
    /// PEM: leaf first, then the chain.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The root clients trust, for a private CA; used for checks, never sent.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// SNI names served; default: the certificate's SANs (DNS and IP).
    #[serde(default)]
    pub names: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    #[serde(rename = "tls1.2")]
    Tls12,
    #[serde(rename = "tls1.3")]
    Tls13,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientAuth {
    pub ca: PathBuf,
    #[serde(default)]
    pub mode: ClientAuthMode,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthMode {
    #[default]
    Require,
    Optional,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    pub upstream: String,
}

fn default_prefix() -> String {
    "/".into()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// `http://` or `https://`, optionally with a path prefix that is prepended to request paths.
    pub url: String,
    /// Headers replacing what the client sent (API-key injection). Lower-case names.
    #[serde(default)]
    pub set_headers: BTreeMap<String, String>,
    #[serde(default)]
    pub tls: UpstreamTls,
    #[serde(default)]
    pub http_version: HttpVersion,
    /// Optional CONNECT proxy URL; empty string means none (so `${HTTPS_PROXY}` may be empty).
    #[serde(default)]
    pub egress_proxy: Option<String>,
    #[serde(default)]
    pub timeouts: UpstreamTimeouts,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    #[serde(default = "default_roots")]
    pub roots: Vec<RootStore>,
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl Default for UpstreamTls {
    fn default() -> Self {
        UpstreamTls {
            roots: default_roots(),
            ca_bundle: None,
            server_name: None,
            client_cert: None,
            client_key: None,
            insecure_skip_verify: false,
        }
    }
}

fn default_roots() -> Vec<RootStore> {
    vec![RootStore::System, RootStore::Webpki]
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RootStore {
    /// The OS store (honours SSL_CERT_FILE / SSL_CERT_DIR).
    System,
    /// The Mozilla roots compiled in (webpki-roots).
    Webpki,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    #[default]
    Auto,
    Http1,
    Http2,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTimeouts {
    #[serde(default = "d_10s")]
    pub connect: Duration,
    #[serde(default = "d_10s")]
    pub tls_handshake: Duration,
    /// Above the OpenAI SDKs' own 600 s default so the SDK times out first.
    #[serde(default = "d_10m")]
    pub first_byte: Duration,
    #[serde(default = "d_5m")]
    pub idle: Duration,
    /// `none` (the default) means no total limit.
    #[serde(default, deserialize_with = "super::units::optional_duration")]
    pub total: Option<Duration>,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        UpstreamTimeouts {
            connect: d_10s(),
            tls_handshake: d_10s(),
            first_byte: d_10m(),
            idle: d_5m(),
            total: None,
        }
    }
}

fn d_10s() -> Duration {
    Duration::from_secs(10)
}
fn d_30s() -> Duration {
    Duration::from_secs(30)
}
fn d_5m() -> Duration {
    Duration::from_secs(300)
}
fn d_10m() -> Duration {
    Duration::from_secs(600)
}
fn d_60s() -> Duration {
    Duration::from_secs(60)
}
fn d_300ms() -> Duration {
    Duration::from_millis(300)
}
fn d_30d() -> Duration {
    Duration::from_secs(30 * 86400)
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// `None` (YAML `bind: off`/omitted admin section keeps the default) — see `validate`.
    #[serde(default = "default_admin_bind")]
    pub bind: Option<SocketAddr>,
    /// Must be true to bind the admin API on a non-loopback address.
    #[serde(default)]
    pub allow_public: bool,
    /// From an admin connection's start to its first complete request head, and from the
    /// first byte of each later request to its complete head: silent and half-sent admin
    /// connections are closed after it.
    #[serde(default = "d_10s")]
    pub header_read_timeout: Duration,
    /// An admin keep-alive connection idle between requests (no byte of the next request yet)
    /// is closed after it.
    #[serde(default = "d_60s")]
    pub idle_timeout: Duration,
    /// Admin connections open at once; more are closed at accept.
    #[serde(default = "d_admin_conns")]
    pub max_connections: usize,
}

fn d_admin_conns() -> usize {
    64
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            bind: default_admin_bind(),
            allow_public: false,
            header_read_timeout: d_10s(),
            idle_timeout: d_60s(),
            max_connections: d_admin_conns(),
        }
    }
}

fn default_admin_bind() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 9901)))
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Reload {
    #[serde(default = "yes")]
    pub watch: bool,
    #[serde(default = "d_300ms")]
    pub debounce: Duration,
    #[serde(default = "d_60s")]
    pub poll: Duration,
}

impl Default for Reload {
    fn default() -> Self {
        Reload {
            watch: true,
            debounce: d_300ms(),
            poll: d_60s(),
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Diagnostics {
    #[serde(default)]
    pub log_format: LogFormat,
    #[serde(default = "d_30d")]
    pub expiry_warning: Duration,
    #[serde(default)]
    pub upstream_checks: UpstreamChecks,
    #[serde(default)]
    pub client_error_detail: ClientErrorDetail,
}

impl Default for Diagnostics {
    fn default() -> Self {
        Diagnostics {
            log_format: LogFormat::default(),
            expiry_warning: d_30d(),
            upstream_checks: UpstreamChecks::default(),
            client_error_detail: ClientErrorDetail::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// `off` | `startup_and_reload` | `every <duration>` (e.g. `every 10m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamChecks {
    Off,
    #[default]
    StartupAndReload,
    Every(Duration),
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientErrorDetail {
    None,
    #[default]
    Summary,
    Full,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "d_max_conn")]
    pub max_connections: usize,
    /// Connections one client address may hold at once; `none` (the default): no cap.
    #[serde(default, deserialize_with = "optional_count")]
    pub max_connections_per_ip: Option<usize>,
    /// From accept to a finished TLS handshake.
    #[serde(default = "d_10s")]
    pub handshake_timeout: Duration,
    #[serde(default = "d_64k")]
    pub max_request_header_bytes: ByteSize,
    /// From the connection being ready (or, between requests, the first byte of the next one)
    /// to a complete request head.
    #[serde(default = "d_30s")]
    pub header_read_timeout: Duration,
    /// An HTTP/1.1 connection idle between requests.
    #[serde(default = "d_75s")]
    pub keepalive_timeout: Duration,
    /// An HTTP/2 connection with no open stream (PINGs do not count as activity).
    #[serde(default = "d_5m")]
    pub http2_idle_timeout: Duration,
    /// No request-body bytes for this long: 408 (or the stream is cut if the response began).
    #[serde(default = "d_60s")]
    pub client_body_timeout: Duration,
    /// The client does not take what we send for this long: the connection is closed.
    #[serde(default = "d_60s")]
    pub send_timeout: Duration,
    /// `none` (the default): no limit; else larger bodies → 413 `client_body_too_large`.
    #[serde(default, deserialize_with = "super::units::optional_size")]
    pub max_request_body_bytes: Option<ByteSize>,
    /// PEM files larger than this are refused (as are files with more than
    /// `MAX_CERTS_PER_FILE` certificates).
    #[serde(default = "d_1mib")]
    pub max_cert_file_bytes: ByteSize,
    /// Streams one HTTP/2 connection may have open at once (advertised in SETTINGS).
    #[serde(default = "d_h2_streams")]
    pub http2_max_concurrent_streams: u32,
    /// Connections to one upstream, in use and idle, shared by every worker; `auto` (the
    /// default, `None` here): 1024, lowered when all upstreams together would not fit the
    /// open-file limit (see `app::descriptors`).
    #[serde(default, deserialize_with = "count_or_auto")]
    pub upstream_max_connections: Option<usize>,
    /// A request that finds its upstream at `upstream_max_connections` waits this long for a
    /// connection, then is answered 503 `upstream_overloaded`.
    #[serde(default = "d_10s")]
    pub upstream_queue_timeout: Duration,
    /// Requests that may wait for a connection to one upstream at once; beyond it, 503 at once.
    #[serde(default = "d_1024")]
    pub upstream_max_queued: usize,
    /// File descriptors kept free of connections (listening sockets, certificate reads, logs,
    /// the watcher, health checks): client and upstream connections are capped so that they
    /// never take the last ones, and `accept` keeps working.
    #[serde(default = "d_fd_reserve")]
    pub descriptor_reserve: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: d_max_conn(),
            max_connections_per_ip: None,
            handshake_timeout: d_10s(),
            max_request_header_bytes: d_64k(),
            header_read_timeout: d_30s(),
            keepalive_timeout: d_75s(),
            http2_idle_timeout: d_5m(),
            client_body_timeout: d_60s(),
            send_timeout: d_60s(),
            max_request_body_bytes: None,
            max_cert_file_bytes: d_1mib(),
            http2_max_concurrent_streams: d_h2_streams(),
            upstream_max_connections: None,
            upstream_queue_timeout: d_10s(),
            upstream_max_queued: d_1024(),
            descriptor_reserve: d_fd_reserve(),
        }
    }
}

/// Envoy's circuit-breaker defaults (max_connections, max_pending_requests): 1024.
fn d_1024() -> usize {
    1024
}

/// Descriptors that no connection may take: 64 (see `Limits::descriptor_reserve`).
fn d_fd_reserve() -> usize {
    64
}

/// nginx's `http2_max_concurrent_streams` default (Envoy: 100).
fn d_h2_streams() -> u32 {
    128
}

fn d_75s() -> Duration {
    Duration::from_secs(75)
}

/// A count or `none` (YAML null too) for no limit.
fn optional_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    d.deserialize_any(CountOr("none"))
}

/// A count (at least 1), or `auto` (YAML null too) for the derived default.
fn count_or_auto<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match d.deserialize_any(CountOr("auto"))? {
        Some(0) => Err(serde::de::Error::custom("must be at least 1, or auto")),
        n => Ok(n),
    }
}

/// A number of connections, or the keyword (and YAML null) for `None`.
struct CountOr(&'static str);

impl<'de> serde::de::Visitor<'de> for CountOr {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a number of connections, or {}", self.0)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        usize::try_from(v)
            .map(Some)
            .map_err(|_| E::custom(format!("{v} is out of range")))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        u64::try_from(v)
            .map_err(|_| E::custom("a number of connections cannot be negative"))
            .and_then(|v| self.visit_u64(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match v.trim() {
            t if t == self.0 => Ok(None),
            t => t.parse().map(Some).map_err(|_| {
                E::custom(format!(
                    "expected a number of connections or {}, found {v:?}",
                    self.0
                ))
            }),
        }
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// SIGTERM: `/readyz` answers 503 at once and listeners keep accepting for `drain_delay` (the
/// time a load balancer needs to stop sending); then accepting stops and open connections get
/// up to `drain_timeout` to finish.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    #[serde(default = "d_5s")]
    pub drain_delay: Duration,
    #[serde(default = "d_60s")]
    pub drain_timeout: Duration,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            drain_delay: d_5s(),
            drain_timeout: d_60s(),
        }
    }
}

fn d_5s() -> Duration {
    Duration::from_secs(5)
}

fn d_max_conn() -> usize {
    10_000
}
fn d_64k() -> ByteSize {
    ByteSize(64 * 1024)
}
fn d_1mib() -> ByteSize {
    ByteSize(1024 * 1024)
}

/// `proxy:` — what the proxy lets through.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// `Upgrade` tokens tunnelled (compared case-insensitively, without a `/version`); any
    /// other token is refused with 400 `client_upgrade_refused`.
    #[serde(default = "default_upgrades")]
    pub allowed_upgrades: Vec<String>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            allowed_upgrades: default_upgrades(),
        }
    }
}

fn default_upgrades() -> Vec<String> {
    vec!["websocket".into()]
}

impl<'de> Deserialize<'de> for UpstreamChecks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let t = text.trim();
        match t {
            "off" => Ok(UpstreamChecks::Off),
            "startup_and_reload" => Ok(UpstreamChecks::StartupAndReload),
            _ => match t.strip_prefix("every ") {
                Some(rest) => super::units::parse_duration(rest)
                    .map(UpstreamChecks::Every)
                    .map_err(serde::de::Error::custom),
                None => Err(serde::de::Error::custom(format!(
                    "expected off, startup_and_reload or `every <duration>` (e.g. every 10m), found {t:?}"
                ))),
            },
        }
    }
}
