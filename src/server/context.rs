//! What the connections of one listener share: its name and address, the TLS side (acceptor,
//! swappable certificate set, our own chains as evidence), the proxy, the HTTP settings and the
//! state it reports into. Built by `app`, read by the accept loop and the handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio_rustls::TlsAcceptor;

use super::lifecycle::{Closer, ConnTimeouts, PerIpLimit};
use crate::certs::set::SniResolver;
use crate::config::{Cidr, ClientErrorDetail, ProxyProtocol};
use crate::diagnose::handshake::{OurChain, OurTls};
use crate::proxy::Proxy;
use crate::status::State;
use crate::telemetry::ratelimit::RateLimiter;

/// Everything a listener's connections share.
#[derive(Clone)]
pub struct ListenerContext {
    pub name: Arc<str>,
    pub bind: SocketAddr,
    pub tls: Option<TlsSide>,
    /// `proxy_protocol`: connections begin with a PROXY header from a trusted load balancer.
    pub proxy_protocol: Option<Arc<ProxyProtocolSide>>,
    pub proxy: Arc<Proxy>,
    pub http: HttpBuilders,
    pub handshake_timeout: Duration,
    /// The timeouts of an established connection.
    pub timeouts: ConnTimeouts,
    /// `limits.max_connections_per_ip`, shared by every listener; `None`: no cap.
    pub per_ip: Option<Arc<PerIpLimit>>,
    /// Counts and logs connections closed for a limit.
    pub closer: Arc<Closer>,
    /// What a client is told in tlsgate's own errors (the 408 of `client_body_timeout`).
    pub error_detail: ClientErrorDetail,
    pub state: Arc<State>,
    /// `tlsgate_open_connections{listener}`.
    pub open_connections: prometheus_client::metrics::gauge::Gauge,
}

/// The HTTP server settings of a listener's connections, one builder per protocol choice.
#[derive(Clone)]
pub struct HttpBuilders {
    /// Plain HTTP (HTTP/1.1, or HTTP/2 with prior knowledge) and TLS connections that did not
    /// negotiate `h2` (the HTTP/2 preface refused by the caller).
    pub auto: auto::Builder<TokioExecutor>,
    /// TLS connections that negotiated `h2`: HTTP/2 only, so an HTTP/1.1 request there is a
    /// protocol error, never served.
    pub h2: auto::Builder<TokioExecutor>,
}

/// The TLS side of a listener: the acceptor and the resolver its certificates are swapped in.
#[derive(Clone)]
pub struct TlsSide {
    pub acceptor: TlsAcceptor,
    pub resolver: SniResolver,
    /// What we know of our own served chains, per certificate index (for attributing client
    /// rejections). Swapped together with the certificates on reload.
    pub chains: Arc<arc_swap::ArcSwap<Vec<OurChain>>>,
    /// What this listener accepts (versions, suites, groups, ALPN), for "offered vs ours".
    pub ours: Arc<OurTls>,
    /// Rate limit of `tls_handshake_failed` events (shared by all listeners).
    pub limiter: Arc<RateLimiter>,
}

/// What a listener with `proxy_protocol` needs to read and judge the header.
pub struct ProxyProtocolSide {
    /// `v1`, `v2` or `any` (never `off`: the listener then has no `ProxyProtocolSide`).
    pub mode: ProxyProtocol,
    /// `trusted_proxies`: the only sources whose connections are taken.
    pub trusted: Vec<Cidr>,
}
