//! The shared state every part of a running tlsgate reports into and the admin API reads:
//! served certificates, handshake failures, reloads, upstream checks, connection and request
//! counts. Writers are the hot path's side effects, so updates are atomic or short locks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;
use time::OffsetDateTime;

use crate::certs::info::format_time;
use crate::certs::LoadedCertificate;
use crate::diagnose::{Code, Finding};
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
    pub status_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandshakeLabels {
    pub listener: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
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

/// The Prometheus metrics (names and labels are PRODUCT.md's contract).
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
        Metrics {
            registry,
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

/// One served certificate as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateStatus {
    pub subject: String,
    pub sans: Vec<String>,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub fingerprint_sha256: String,
    pub cert_file: String,
    pub key_file: String,
    pub loaded_at: String,
    pub findings: Vec<Finding>,
    #[serde(skip)]
    pub not_after_unix: i64,
}

impl CertificateStatus {
    pub fn new(loaded: &LoadedCertificate, findings: Vec<Finding>) -> Self {
        let leaf = loaded.leaf();
        CertificateStatus {
            subject: leaf.subject.clone(),
            sans: leaf.sans.clone(),
            issuer: leaf.issuer.clone(),
            not_before: format_time(leaf.not_before),
            not_after: format_time(leaf.not_after),
            days_left: leaf.days_left(OffsetDateTime::now_utc()),
            fingerprint_sha256: leaf.fingerprint_sha256.clone(),
            cert_file: loaded.source.cert.display().to_string(),
            key_file: loaded.source.key.display().to_string(),
            loaded_at: format_time(loaded.loaded_at),
            findings,
            not_after_unix: leaf.not_after.unix_timestamp(),
        }
    }
}

/// Handshake failures of one listener.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HandshakeStats {
    pub total: u64,
    pub by_code: BTreeMap<String, u64>,
    pub recent: VecDeque<serde_json::Value>,
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
    pub last_attempt_at: Option<String>,
    /// `ok`, `rejected` or `none` (never attempted).
    pub result: String,
    pub findings: Vec<Finding>,
}

/// The chain summary of an upstream's presented certificates.
#[derive(Debug, Clone, Serialize)]
pub struct ChainEntry {
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpstreamStatus {
    pub name: String,
    pub url: String,
    /// `healthy`, `degraded`, `failing` or `unchecked`.
    pub status: String,
    pub checked_at: Option<String>,
    pub tls_version: Option<String>,
    pub cipher: Option<String>,
    pub alpn: Option<String>,
    pub chain: Vec<ChainEntry>,
    pub findings: Vec<Finding>,
}

/// Requests per upstream and status class (`"2xx"`, …), for the HTML page (the metrics family
/// cannot be iterated).
pub type RequestCounts = BTreeMap<String, BTreeMap<String, u64>>;

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

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

    fn record(&self, metrics: &Metrics, upstream: &str, class: usize, seconds: f64) {
        self.by_class[class]
            .get_or_init(|| {
                metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        upstream: upstream.to_string(),
                        status_class: STATUS_CLASSES[class].to_string(),
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
            listeners: RwLock::new(Vec::new()),
            reload: Mutex::new(ReloadStatus {
                last_attempt_at: None,
                result: "none".into(),
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
            for name in c.sans.iter().take(16) {
                let e = soonest.entry(name.as_str()).or_insert(c.not_after_unix);
                *e = (*e).min(c.not_after_unix);
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

    /// Counts one failed handshake and keeps its event for `/status`.
    pub fn record_handshake_failure(&self, listener: &str, code: Code, event: serde_json::Value) {
        self.metrics
            .handshake_failures
            .get_or_create(&HandshakeLabels {
                listener: listener.to_string(),
                code: code.as_str().to_string(),
            })
            .inc();
        if let Some(l) = write(&self.listeners)
            .iter_mut()
            .find(|l| l.name == listener)
        {
            let s = &mut l.handshake_failures;
            s.total += 1;
            *s.by_code.entry(code.as_str().to_string()).or_default() += 1;
            if s.recent.len() == RECENT_EVENTS {
                s.recent.pop_front();
            }
            s.recent.push_back(event);
        }
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
        let class = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        };
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
                let by_class = STATUS_CLASSES
                    .iter()
                    .zip(&h.by_class)
                    .filter_map(|(class, c)| c.get().map(|c| (class.to_string(), c.get())))
                    .collect();
                (name.clone(), by_class)
            })
            .collect()
    }

    pub fn record_reload(&self, status: ReloadStatus) {
        self.metrics
            .cert_reloads
            .get_or_create(&ResultLabel {
                result: status.result.clone(),
            })
            .inc();
        *lock(&self.reload) = status;
    }

    pub fn reload_status(&self) -> ReloadStatus {
        lock(&self.reload).clone()
    }

    pub fn set_upstream(&self, status: UpstreamStatus) {
        let up = match status.status.as_str() {
            "healthy" | "degraded" => 1,
            _ => 0,
        };
        if status.status != "unchecked" {
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

    /// The `/status` document.
    pub fn status_json(&self) -> serde_json::Value {
        let now = OffsetDateTime::now_utc();
        let mut listeners = self.listeners();
        for l in &mut listeners {
            for c in &mut l.certificates {
                c.days_left =
                    (OffsetDateTime::from_unix_timestamp(c.not_after_unix).unwrap_or(now) - now)
                        .whole_days();
            }
        }
        serde_json::json!({
            "version": self.version,
            "started_at": format_time(self.started_at),
            "listeners": listeners,
            "reload": self.reload_status(),
            "upstreams": self.upstreams(),
        })
    }

    /// The `/metrics` text.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.metrics.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_use_the_contract_names() {
        let s = State::new();
        s.add_listener("public", "127.0.0.1:8443".parse().unwrap(), true)
            .inc();
        s.record_request("openai", 200, 0.02);
        s.record_handshake_failure(
            "public",
            Code::UnknownSni,
            serde_json::json!({"code": "unknown_sni"}),
        );
        let text = s.metrics_text();
        for needle in [
            "tlsgate_requests_total{upstream=\"openai\",status_class=\"2xx\"} 1",
            "tlsgate_request_duration_seconds_bucket",
            "tlsgate_handshake_failures_total{listener=\"public\",code=\"unknown_sni\"} 1",
            "tlsgate_open_connections{listener=\"public\"} 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        let status = s.status_json();
        assert_eq!(
            status["listeners"][0]["handshake_failures"]["by_code"]["unknown_sni"],
            1
        );
        assert_eq!(s.request_counts()["openai"]["2xx"], 1);
        assert_eq!(status["reload"]["result"], "none");
    }

    fn cert(sans: &[&str], not_after: i64) -> CertificateStatus {
        CertificateStatus {
            subject: "CN=x".into(),
            sans: sans.iter().map(|s| s.to_string()).collect(),
            issuer: "CN=ca".into(),
            not_before: String::new(),
            not_after: String::new(),
            days_left: 0,
            fingerprint_sha256: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            loaded_at: String::new(),
            findings: Vec::new(),
            not_after_unix: not_after,
        }
    }

    #[test]
    fn not_after_series_follow_reloads_and_take_the_soonest() {
        let s = State::new();
        s.add_listener("public", "127.0.0.1:8443".parse().unwrap(), true);
        s.set_certificates(
            "public",
            vec![
                cert(&["a.example", "old.example"], 2000),
                cert(&["a.example"], 1000),
            ],
        );
        let text = s.metrics_text();
        assert!(text.contains(
            "tlsgate_cert_not_after_timestamp_seconds{listener=\"public\",name=\"a.example\"} 1000"
        ), "{text}");
        assert!(text.contains("name=\"old.example\"} 2000"), "{text}");
        // A reload drops old.example: its series goes with it.
        s.set_certificates("public", vec![cert(&["a.example"], 3000)]);
        let text = s.metrics_text();
        assert!(!text.contains("old.example"), "{text}");
        assert!(text.contains("name=\"a.example\"} 3000"), "{text}");
    }
}
