//! The shared state every part of a running tlsgate reports into and the admin API reads:
//! served certificates, handshake failures, reloads, upstream checks, connection and request
//! counts. Writers are the hot path's side effects, so updates are atomic or short locks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use crate::certs::info::format_time;
use crate::certs::LoadedCertificate;
use crate::findings::{Code, Finding};
use crate::locks::{lock, read, write};

/// How many recent handshake failure events `/status` keeps per listener.
const RECENT_EVENTS: usize = 20;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    pub listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub upstream: String,
    pub status_class: StatusClass,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandshakeLabels {
    pub listener: String,
    pub code: Code,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClosedLabels {
    pub listener: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: ReloadResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertLabels {
    pub listener: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabel {
    pub upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdminClosedLabel {
    pub reason: AdminCloseReason,
}

/// Counts the requests of one listener that tlsgate answered as the client's fault
/// (`tlsgate_client_errors_total{listener,code}`). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClientErrors {
    family: Family<HandshakeLabels, Counter>,
    listener: Arc<str>,
}

impl ClientErrors {
    /// Counts one refused request.
    pub fn record(&self, code: Code) {
        self.family
            .get_or_create(&HandshakeLabels {
                listener: self.listener.to_string(),
                code,
            })
            .inc();
    }
}

/// The `reason` label of `tlsgate_admin_connections_closed_total`: why the admin API closed a
/// connection.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum AdminCloseReason {
    /// Refused at accept: `admin.max_connections` were open.
    OverCapacity,
    /// A request head not complete within `admin.header_read_timeout`.
    HeaderTimeout,
    /// Idle between requests for `admin.idle_timeout`.
    IdleTimeout,
    /// The client took nothing of an answer for `admin.idle_timeout`.
    SendTimeout,
}

impl AdminCloseReason {
    pub const ALL: [AdminCloseReason; 4] = [
        AdminCloseReason::OverCapacity,
        AdminCloseReason::HeaderTimeout,
        AdminCloseReason::IdleTimeout,
        AdminCloseReason::SendTimeout,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AdminCloseReason::OverCapacity => "over_capacity",
            AdminCloseReason::HeaderTimeout => "header_timeout",
            AdminCloseReason::IdleTimeout => "idle_timeout",
            AdminCloseReason::SendTimeout => "send_timeout",
        }
    }
}

impl EncodeLabelValue for AdminCloseReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// The `status_class` label of `tlsgate_requests_total`: `1xx` … `5xx`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum StatusClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
}

impl StatusClass {
    pub const ALL: [StatusClass; 5] = [
        StatusClass::Informational,
        StatusClass::Success,
        StatusClass::Redirection,
        StatusClass::ClientError,
        StatusClass::ServerError,
    ];

    /// The class of an HTTP status; anything outside 100-499 counts as `5xx`.
    pub const fn of(status: u16) -> StatusClass {
        match status {
            100..=199 => StatusClass::Informational,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirection,
            400..=499 => StatusClass::ClientError,
            _ => StatusClass::ServerError,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirection => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
        }
    }
}

impl EncodeLabelValue for StatusClass {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// The result of a certificate reload: the `result` label of `tlsgate_cert_reloads_total`
/// (`ok`, `rejected`) and `reload.result` of `/status` (also `none`: never attempted).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadResult {
    Ok,
    Rejected,
    None,
}

impl ReloadResult {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Ok => "ok",
            ReloadResult::Rejected => "rejected",
            ReloadResult::None => "none",
        }
    }
}

impl EncodeLabelValue for ReloadResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// The `code` label of `tlsgate_handshake_failures_total`: the catalogue's name of the code.
impl EncodeLabelValue for Code {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// The Prometheus metrics (names and labels are docs/spec.md's contract).
pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<UpstreamLabel, Histogram>,
    pub handshake_failures: Family<HandshakeLabels, Counter>,
    pub cert_reloads: Family<ResultLabel, Counter>,
    pub cert_not_after: Family<CertLabels, Gauge>,
    pub upstream_up: Family<UpstreamLabel, Gauge>,
    pub open_connections: Family<ListenerLabel, Gauge>,
    pub upstream_connections: Family<UpstreamLabel, Counter>,
    pub connections_closed: Family<ClosedLabels, Counter>,
    pub upstream_open_connections: Family<UpstreamLabel, Gauge>,
    pub upstream_connection_limit: Family<UpstreamLabel, Gauge>,
    pub upstream_overloaded: Family<UpstreamLabel, Counter>,
    pub descriptor_limit: Gauge,
    pub admin_connections_closed: Family<AdminClosedLabel, Counter>,
    pub client_errors: Family<HandshakeLabels, Counter>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tlsgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests forwarded, by upstream and status class",
            requests.clone(),
        );
        let request_duration = Family::<UpstreamLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                300.0, 600.0,
            ])
        });
        registry.register_with_unit(
            "request_duration",
            "Time from request head to the end of the response body",
            prometheus_client::registry::Unit::Seconds,
            request_duration.clone(),
        );
        let handshake_failures = Family::<HandshakeLabels, Counter>::default();
        registry.register(
            "handshake_failures",
            "Failed inbound TLS handshakes, by listener and finding code",
            handshake_failures.clone(),
        );
        let cert_reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "cert_reloads",
            "Certificate reload attempts, by result (ok, rejected)",
            cert_reloads.clone(),
        );
        let cert_not_after = Family::<CertLabels, Gauge>::default();
        registry.register(
            "cert_not_after_timestamp_seconds",
            "Expiry (notAfter, Unix seconds) of each served certificate",
            cert_not_after.clone(),
        );
        let upstream_up = Family::<UpstreamLabel, Gauge>::default();
        registry.register(
            "upstream_up",
            "1 if the last check of the upstream succeeded, 0 if it failed",
            upstream_up.clone(),
        );
        let open_connections = Family::<ListenerLabel, Gauge>::default();
        registry.register(
            "open_connections",
            "Client connections currently open, by listener",
            open_connections.clone(),
        );
        let upstream_connections = Family::<UpstreamLabel, Counter>::default();
        registry.register(
            "upstream_connections",
            "Connections opened to each upstream (requests minus these reused a pooled connection)",
            upstream_connections.clone(),
        );
        let connections_closed = Family::<ClosedLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Client connections tlsgate closed because a limit was reached (an HTTP/2 stream for client_body_timeout), by listener and reason (a finding code)",
            connections_closed.clone(),
        );
        let upstream_open_connections = Family::<UpstreamLabel, Gauge>::default();
        registry.register(
            "upstream_open_connections",
            "Connections open to each upstream now, busy or idle in a pool",
            upstream_open_connections.clone(),
        );
        let upstream_connection_limit = Family::<UpstreamLabel, Gauge>::default();
        registry.register(
            "upstream_connection_limit",
            "The connection cap of each upstream in effect (limits.upstream_max_connections, lowered to fit the open-file limit)",
            upstream_connection_limit.clone(),
        );
        let upstream_overloaded = Family::<UpstreamLabel, Counter>::default();
        registry.register(
            "upstream_overloaded",
            "Requests answered 503 upstream_overloaded: no connection to the upstream freed within limits.upstream_queue_timeout, or the queue was full",
            upstream_overloaded.clone(),
        );
        let descriptor_limit = Gauge::default();
        registry.register(
            "descriptor_limit",
            "The process's open-file limit (RLIMIT_NOFILE, soft) after startup raised it to the hard limit",
            descriptor_limit.clone(),
        );
        let admin_connections_closed = Family::<AdminClosedLabel, Counter>::default();
        registry.register(
            "admin_connections_closed",
            "Admin API connections refused over admin.max_connections or closed by an admin timeout, by reason",
            admin_connections_closed.clone(),
        );
        // Every reason from the start, so a dashboard sees 0 rather than no series.
        for reason in AdminCloseReason::ALL {
            let _ = admin_connections_closed.get_or_create(&AdminClosedLabel { reason });
        }
        let client_errors = Family::<HandshakeLabels, Counter>::default();
        registry.register(
            "client_errors",
            "Requests tlsgate answered itself as the client's fault (4xx), by listener and code",
            client_errors.clone(),
        );
        Metrics {
            registry,
            upstream_open_connections,
            upstream_connection_limit,
            upstream_overloaded,
            descriptor_limit,
            client_errors,
            connections_closed,
            admin_connections_closed,
            upstream_connections,
            requests,
            request_duration,
            handshake_failures,
            cert_reloads,
            cert_not_after,
            upstream_up,
            open_connections,
        }
    }
}

/// A timestamp in `/status`: RFC 3339, UTC, to the second (`2025-01-31T12:00:00Z`).
fn rfc3339<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// An optional timestamp in `/status`: RFC 3339 or `null`.
fn rfc3339_opt<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// The `/status` document (docs/spec.md, "Admin API").
#[derive(Debug, Clone, Serialize)]
pub struct StatusDocument {
    pub version: &'static str,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: OffsetDateTime,
    pub listeners: Vec<ListenerStatus>,
    pub reload: ReloadStatus,
    pub upstreams: Vec<UpstreamStatus>,
}

/// One served certificate as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateStatus {
    pub subject: String,
    pub sans: Vec<String>,
    pub issuer: String,
    #[serde(serialize_with = "rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(serialize_with = "rfc3339")]
    pub not_after: OffsetDateTime,
    pub days_left: i64,
    pub fingerprint_sha256: String,
    pub cert_file: String,
    pub key_file: String,
    #[serde(serialize_with = "rfc3339")]
    pub loaded_at: OffsetDateTime,
    pub findings: Vec<Finding>,
}

impl CertificateStatus {
    pub fn new(loaded: &LoadedCertificate, findings: Vec<Finding>) -> Self {
        let leaf = loaded.leaf();
        CertificateStatus {
            subject: leaf.subject.clone(),
            sans: leaf.sans.clone(),
            issuer: leaf.issuer.clone(),
            not_before: leaf.not_before,
            not_after: leaf.not_after,
            days_left: leaf.days_left(OffsetDateTime::now_utc()),
            fingerprint_sha256: leaf.fingerprint_sha256.clone(),
            cert_file: loaded.source.cert.display().to_string(),
            key_file: loaded.source.key.display().to_string(),
            loaded_at: loaded.loaded_at,
            findings,
        }
    }
}

/// One failed handshake as `/status` keeps it (`handshake_failures.recent`).
#[derive(Debug, Clone, Serialize)]
pub struct HandshakeFailureRecord {
    #[serde(serialize_with = "rfc3339")]
    pub at: OffsetDateTime,
    /// The peer address (redacted as the logs show it).
    pub peer: String,
    pub sni: Option<String>,
    pub alpn: String,
    pub client_versions: String,
    pub alert: Option<String>,
    pub code: Code,
    pub summary: String,
    /// Fingerprint of the certificate served, empty when none was.
    pub served_cert: String,
    /// Behind a load balancer: its address and what its PROXY header said (absent otherwise).
    #[serde(flatten)]
    pub proxy: Option<ProxyEvidence>,
}

/// The load balancer a connection came through, as evidence of a failed handshake.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyEvidence {
    /// The load balancer's address (the TCP peer).
    pub proxy: String,
    /// PROXY v2 `PP2_TYPE_AUTHORITY`: the name the client asked the load balancer for.
    pub proxy_authority: Option<String>,
    /// PROXY v2 `PP2_TYPE_ALPN`: the protocol the client negotiated with the load balancer.
    pub proxy_alpn: Option<String>,
}

/// Handshake failures of one listener.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HandshakeStats {
    pub total: u64,
    pub by_code: BTreeMap<Code, u64>,
    pub recent: VecDeque<HandshakeFailureRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenerStatus {
    pub name: String,
    pub bind: String,
    pub tls: bool,
    pub certificates: Vec<CertificateStatus>,
    pub handshake_failures: HandshakeStats,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    #[serde(serialize_with = "rfc3339_opt")]
    pub last_attempt_at: Option<OffsetDateTime>,
    pub result: ReloadResult,
    pub findings: Vec<Finding>,
}

/// The chain summary of an upstream's presented certificates.
#[derive(Debug, Clone, Serialize)]
pub struct ChainEntry {
    pub subject: String,
    pub issuer: String,
    #[serde(serialize_with = "rfc3339")]
    pub not_after: OffsetDateTime,
}

/// An upstream's health as its last check found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamHealth {
    /// Connected, verified, nothing to warn about.
    Healthy,
    /// Connected, with warnings.
    Degraded,
    /// Could not connect, or an error finding.
    Failing,
    /// Not checked (yet, or checks are off).
    Unchecked,
}

impl UpstreamHealth {
    pub const fn as_str(self) -> &'static str {
        match self {
            UpstreamHealth::Healthy => "healthy",
            UpstreamHealth::Degraded => "degraded",
            UpstreamHealth::Failing => "failing",
            UpstreamHealth::Unchecked => "unchecked",
        }
    }
}

impl std::fmt::Display for UpstreamHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status == "healthy"`: compares with the name `/status` shows.
impl PartialEq<&str> for UpstreamHealth {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UpstreamStatus {
    pub name: String,
    pub url: String,
    pub status: UpstreamHealth,
    #[serde(serialize_with = "rfc3339_opt")]
    pub checked_at: Option<OffsetDateTime>,
    pub tls_version: Option<String>,
    pub cipher: Option<String>,
    pub alpn: Option<String>,
    pub chain: Vec<ChainEntry>,
    pub findings: Vec<Finding>,
}

/// Requests per upstream and status class (`"2xx"`, …), for the HTML page (the metrics family
/// cannot be iterated).
pub type RequestCounts = BTreeMap<String, BTreeMap<String, u64>>;

/// The metric handles of one upstream, resolved once so a request only increments atomics.
struct RequestHandles {
    /// Created on first use, so a class never seen has no series.
    by_class: [std::sync::OnceLock<Counter>; 5],
    duration: Histogram,
}

impl RequestHandles {
    fn new(metrics: &Metrics, upstream: &str) -> Self {
        RequestHandles {
            by_class: Default::default(),
            duration: metrics
                .request_duration
                .get_or_create(&UpstreamLabel {
                    upstream: upstream.to_string(),
                })
                .clone(),
        }
    }

    fn record(&self, metrics: &Metrics, upstream: &str, class: StatusClass, seconds: f64) {
        self.by_class[class as usize]
            .get_or_init(|| {
                metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        upstream: upstream.to_string(),
                        status_class: class,
                    })
                    .clone()
            })
            .inc();
        self.duration.observe(seconds);
    }
}

/// Everything the admin API shows.
pub struct State {
    pub version: &'static str,
    pub started_at: OffsetDateTime,
    ready: AtomicBool,
    /// SIGTERM received: HTTP/1.1 responses say `Connection: close` from now on.
    draining: AtomicBool,
    listeners: RwLock<Vec<ListenerStatus>>,
    reload: Mutex<ReloadStatus>,
    upstreams: Mutex<Vec<UpstreamStatus>>,
    pub metrics: Metrics,
    /// Wakes the upstream checker after a certificate reload (`startup_and_reload`).
    pub upstream_recheck: tokio::sync::Notify,
    /// The `tlsgate_cert_not_after_timestamp_seconds` series each listener has set, so a reload
    /// that drops a name also drops its series (a stale one would look like a cert expiring).
    cert_series: Mutex<HashMap<String, Vec<CertLabels>>>,
    /// The same counts as `tlsgate_requests_total`, readable by the HTML page.
    request_handles: RwLock<HashMap<String, RequestHandles>>,
    /// Asks the reload pipeline to run now (`POST /reload`); set by `serve`.
    pub reload_trigger: Mutex<Option<Arc<dyn Fn() -> ReloadStatus + Send + Sync>>>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    pub fn new() -> State {
        State {
            version: env!("CARGO_PKG_VERSION"),
            started_at: OffsetDateTime::now_utc(),
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            listeners: RwLock::new(Vec::new()),
            reload: Mutex::new(ReloadStatus {
                last_attempt_at: None,
                result: ReloadResult::None,
                findings: Vec::new(),
            }),
            upstreams: Mutex::new(Vec::new()),
            metrics: Metrics::new(),
            upstream_recheck: tokio::sync::Notify::new(),
            request_handles: RwLock::new(HashMap::new()),
            cert_series: Mutex::new(HashMap::new()),
            reload_trigger: Mutex::new(None),
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Starts the drain: not ready any more (`/readyz` 503), and connections are asked to close.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.set_ready(false);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Registers a listener (before it accepts); returns its open-connections gauge, which
    /// the listener keeps so a connection updates it without a lookup.
    pub fn add_listener(&self, name: &str, bind: std::net::SocketAddr, tls: bool) -> Gauge {
        let gauge = self
            .metrics
            .open_connections
            .get_or_create(&ListenerLabel {
                listener: name.to_string(),
            })
            .clone();
        write(&self.listeners).push(ListenerStatus {
            name: name.to_string(),
            bind: bind.to_string(),
            tls,
            certificates: Vec::new(),
            handshake_failures: HandshakeStats::default(),
        });
        gauge
    }

    /// Client connections open on every listener together.
    pub fn open_connections_total(&self) -> i64 {
        read(&self.listeners)
            .iter()
            .map(|l| {
                self.metrics
                    .open_connections
                    .get_or_create(&ListenerLabel {
                        listener: l.name.clone(),
                    })
                    .get()
            })
            .sum()
    }

    /// Records the address a listener actually bound (the configured one may have port 0).
    pub fn set_listener_bind(&self, listener: &str, bind: std::net::SocketAddr) {
        if let Some(l) = write(&self.listeners)
            .iter_mut()
            .find(|l| l.name == listener)
        {
            l.bind = bind.to_string();
        }
    }

    /// Publishes the certificates a listener now serves.
    pub fn set_certificates(&self, listener: &str, certs: Vec<CertificateStatus>) {
        // Per name the soonest expiry among the certificates serving it (an RSA and an ECDSA
        // certificate for the same name: the first to expire is the one to watch).
        let mut soonest: BTreeMap<&str, i64> = BTreeMap::new();
        for c in &certs {
            let not_after = c.not_after.unix_timestamp();
            for name in c.sans.iter().take(16) {
                let e = soonest.entry(name.as_str()).or_insert(not_after);
                *e = (*e).min(not_after);
            }
        }
        let labels: Vec<CertLabels> = soonest
            .keys()
            .map(|name| CertLabels {
                listener: listener.to_string(),
                name: name.to_string(),
            })
            .collect();
        let mut series = lock(&self.cert_series);
        for old in series.get(listener).into_iter().flatten() {
            if !labels.contains(old) {
                self.metrics.cert_not_after.remove(old);
            }
        }
        for l in &labels {
            self.metrics
                .cert_not_after
                .get_or_create(l)
                .set(soonest[l.name.as_str()]);
        }
        series.insert(listener.to_string(), labels);
        drop(series);
        if let Some(l) = write(&self.listeners)
            .iter_mut()
            .find(|l| l.name == listener)
        {
            l.certificates = certs;
        }
    }

    /// Counts one failed handshake and keeps its record for `/status`.
    pub fn record_handshake_failure(&self, listener: &str, record: HandshakeFailureRecord) {
        let code = record.code;
        self.metrics
            .handshake_failures
            .get_or_create(&HandshakeLabels {
                listener: listener.to_string(),
                code,
            })
            .inc();
        if let Some(l) = write(&self.listeners)
            .iter_mut()
            .find(|l| l.name == listener)
        {
            let s = &mut l.handshake_failures;
            s.total += 1;
            *s.by_code.entry(code).or_default() += 1;
            if s.recent.len() == RECENT_EVENTS {
                s.recent.pop_front();
            }
            s.recent.push_back(record);
        }
    }

    /// Counts one connection closed because a limit was reached (`reason`: the finding code).
    pub fn record_connection_closed(&self, listener: &str, reason: Code) {
        self.metrics
            .connections_closed
            .get_or_create(&ClosedLabels {
                listener: listener.to_string(),
                reason: reason.as_str().to_string(),
            })
            .inc();
    }

    /// The handles of `upstream`'s connection-cap metrics: open now, the cap, refusals.
    pub fn upstream_cap_metrics(&self, upstream: &str) -> (Gauge, Gauge, Counter) {
        let label = UpstreamLabel {
            upstream: upstream.to_string(),
        };
        let m = &self.metrics;
        (
            m.upstream_open_connections.get_or_create(&label).clone(),
            m.upstream_connection_limit.get_or_create(&label).clone(),
            m.upstream_overloaded.get_or_create(&label).clone(),
        )
    }

    /// Sets `tlsgate_descriptor_limit`.
    pub fn set_descriptor_limit(&self, limit: u64) {
        self.metrics
            .descriptor_limit
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    /// The `tlsgate_client_errors_total` counters of one listener.
    pub fn client_errors(&self, listener: Arc<str>) -> ClientErrors {
        ClientErrors {
            family: self.metrics.client_errors.clone(),
            listener,
        }
    }

    /// Counts one admin API connection refused or closed (`reason`).
    pub fn record_admin_connection_closed(&self, reason: AdminCloseReason) {
        self.metrics
            .admin_connections_closed
            .get_or_create(&AdminClosedLabel { reason })
            .inc();
    }

    /// The counter of connections opened to `upstream` (shared by every worker's pool).
    pub fn upstream_connections_counter(&self, upstream: &str) -> Counter {
        self.metrics
            .upstream_connections
            .get_or_create(&UpstreamLabel {
                upstream: upstream.to_string(),
            })
            .clone()
    }

    /// Counts one finished request. On the hot path: after the first request of an upstream,
    /// one read lock and atomic increments, no allocation.
    pub fn record_request(&self, upstream: &str, status: u16, seconds: f64) {
        let class = StatusClass::of(status);
        if let Some(h) = read(&self.request_handles).get(upstream) {
            h.record(&self.metrics, upstream, class, seconds);
            return;
        }
        let mut handles = write(&self.request_handles);
        let h = handles
            .entry(upstream.to_string())
            .or_insert_with(|| RequestHandles::new(&self.metrics, upstream));
        h.record(&self.metrics, upstream, class, seconds);
    }

    /// Requests so far per upstream and status class.
    pub fn request_counts(&self) -> RequestCounts {
        read(&self.request_handles)
            .iter()
            .map(|(name, h)| {
                let by_class = StatusClass::ALL
                    .iter()
                    .zip(&h.by_class)
                    .filter_map(|(class, c)| c.get().map(|c| (class.as_str().to_string(), c.get())))
                    .collect();
                (name.clone(), by_class)
            })
            .collect()
    }

    pub fn record_reload(&self, status: ReloadStatus) {
        self.metrics
            .cert_reloads
            .get_or_create(&ResultLabel {
                result: status.result,
            })
            .inc();
        *lock(&self.reload) = status;
    }

    pub fn reload_status(&self) -> ReloadStatus {
        lock(&self.reload).clone()
    }

    pub fn set_upstream(&self, status: UpstreamStatus) {
        let up = match status.status {
            UpstreamHealth::Healthy | UpstreamHealth::Degraded => 1,
            UpstreamHealth::Failing | UpstreamHealth::Unchecked => 0,
        };
        if status.status != UpstreamHealth::Unchecked {
            self.metrics
                .upstream_up
                .get_or_create(&UpstreamLabel {
                    upstream: status.name.clone(),
                })
                .set(up);
        }
        let mut ups = lock(&self.upstreams);
        match ups.iter_mut().find(|u| u.name == status.name) {
            Some(u) => *u = status,
            None => ups.push(status),
        }
    }

    pub fn listeners(&self) -> Vec<ListenerStatus> {
        read(&self.listeners).clone()
    }

    pub fn upstreams(&self) -> Vec<UpstreamStatus> {
        lock(&self.upstreams).clone()
    }

    /// The `/status` document, `days_left` counted from now.
    pub fn status(&self) -> StatusDocument {
        let now = OffsetDateTime::now_utc();
        let mut listeners = self.listeners();
        for l in &mut listeners {
            for c in &mut l.certificates {
                c.days_left = (c.not_after - now).whole_days();
            }
        }
        StatusDocument {
            version: self.version,
            started_at: self.started_at,
            listeners,
            reload: self.reload_status(),
            upstreams: self.upstreams(),
        }
    }

    /// The `/metrics` text.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.metrics.registry);
        out
    }
}

/// The status entries for a loaded set.
pub fn certificate_statuses(set: &crate::certs::set::LoadedSet) -> Vec<CertificateStatus> {
    set.loaded
        .iter()
        .zip(&set.findings)
        .map(|(l, f)| CertificateStatus::new(l, f.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
