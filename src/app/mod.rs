//! Running the proxy: load and check certificates, bind every listener and the admin API, serve
//! until SIGTERM/SIGINT, then drain: `/readyz` 503 at once, keep accepting for
//! `shutdown.drain_delay`, then stop accepting and give open connections up to
//! `shutdown.drain_timeout` (HTTP/2 gets GOAWAY, HTTP/1.1 `Connection: close`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub mod descriptors;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::certs::set::{load_certificates, log_certificates, SniResolver};
use crate::config::ProxyProtocol;
use crate::config::{Config, UpstreamChecks};
use crate::findings::{sort_by_importance, Code, Finding};
use crate::proxy::admission::{ConnectionSlots, SlotMetrics};
use crate::proxy::upstream::UpstreamShared;
use crate::proxy::Proxy;
use crate::reload::{ListenerCerts, Reloader, TicketKeySource, Trigger};
use crate::server::context::ProxyProtocolSide;
use crate::server::lifecycle::{Closer, ConnTimeouts, Drain, PerIpLimit};
use crate::server::listener::{self, ListenerContext, TlsSide};
use crate::status::certificate_statuses;
use crate::status::State;
use crate::telemetry::ratelimit::RateLimiter;
use crate::telemetry::Event;

/// Why `serve` could not start: the findings to print.
#[derive(Debug)]
pub struct StartError(pub Vec<Finding>);

/// A listener ready to accept: its socket and context.
struct Bound {
    /// One listening socket per worker.
    tcp: Vec<std::net::TcpListener>,
    /// The listener's context; each worker gets a copy with its own proxy.
    ctx: ListenerContext,
}

/// How many serving threads: `TLSGATE_WORKERS`, else one per CPU.
///
/// Each worker is a single-threaded runtime with its own upstream pool, accepting from the
/// same sockets: a request is handled start to finish on one thread (no work stealing, no
/// cross-thread wake-ups between the client and upstream connection tasks), the way nginx's
/// workers do.
pub fn worker_count() -> usize {
    std::env::var("TLSGATE_WORKERS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// What a running instance exposes to its caller (tests, the CLI banner).
pub struct Running {
    pub listeners: Vec<(String, SocketAddr, bool)>,
    pub admin: Option<SocketAddr>,
    pub state: Arc<State>,
}

/// Raises the open-file limit, fits the connection caps into it (see [`descriptors`]) and
/// logs the result: `resource_limits`, a warning with the `descriptor_limit_low` finding when
/// a cap had to be lowered.
fn descriptor_budget(cfg: &Config, state: &State) -> descriptors::Budget {
    let limit = descriptors::raise_nofile();
    state.set_descriptor_limit(limit);
    let budget = descriptors::plan(&descriptors::Demand {
        limit,
        open: descriptors::open_descriptors(),
        reserve: cfg.limits.descriptor_reserve,
        admin: if cfg.admin.bind.is_some() {
            cfg.admin.max_connections
        } else {
            0
        },
        max_connections: cfg.limits.max_connections,
        upstream_cap: cfg.limits.upstream_max_connections,
        upstreams: cfg.upstreams.len(),
    });
    match &budget.lowered {
        Some(f) => tracing::warn!(
            event = Event::ResourceLimits.as_str(),
            code = f.code.as_str(),
            severity = "warning",
            nofile = limit,
            max_connections = budget.max_connections,
            upstream_max_connections = budget.upstream_cap,
            summary = %f.summary,
            why = %f.why,
            fix = %f.fix,
        ),
        None => tracing::info!(
            event = Event::ResourceLimits.as_str(),
            nofile = limit,
            max_connections = budget.max_connections,
            upstream_max_connections = budget.upstream_cap,
        ),
    }
    budget
}

/// Starts everything and serves until `stop` resolves; then drains.
pub async fn run(
    cfg: Config,
    on_started: impl FnOnce(&Running),
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    crate::certs::pem::set_max_file_bytes(cfg.limits.max_cert_file_bytes.0);
    let state = Arc::new(State::new());
    let observer_state = state.clone();
    let observer: crate::proxy::RequestObserver = Arc::new(move |log| {
        let upstream = log.upstream.as_deref().unwrap_or("-");
        observer_state.record_request(upstream, log.status, log.start.elapsed().as_secs_f64());
    });
    let upstream_limiter = Arc::new(RateLimiter::default());
    let workers = worker_count();
    let budget = descriptor_budget(&cfg, &state);
    // One connection cap per upstream, shared by every worker.
    let slots: std::collections::HashMap<String, Arc<ConnectionSlots>> = cfg
        .upstreams
        .keys()
        .map(|name| {
            let (open, limit, refused) = state.upstream_cap_metrics(name);
            limit.set(i64::try_from(budget.upstream_cap).unwrap_or(i64::MAX));
            let slots = ConnectionSlots::new(
                budget.upstream_cap,
                cfg.limits.upstream_max_queued,
                cfg.limits.upstream_queue_timeout.get(),
                workers,
                SlotMetrics { open, refused },
            );
            (name.clone(), Arc::new(slots))
        })
        .collect();
    let make_proxy = {
        let cfg = cfg.clone();
        let upstream_limiter = upstream_limiter.clone();
        let state = state.clone();
        move || {
            let shared = |name: &str| UpstreamShared {
                opened: state.upstream_connections_counter(name),
                slots: slots[name].clone(),
            };
            Proxy::with_shared(&cfg, Some(observer.clone()), &shared)
                .map(|p| Arc::new(p.with_limiter(upstream_limiter.clone())))
                .map_err(|e| {
                    StartError(vec![Finding::new(
                        Code::ConfigInvalid,
                        "an upstream cannot be set up",
                        e.to_string(),
                        "correct the upstream settings named",
                    )])
                })
        }
    };
    let proxies = (0..workers)
        .map(|_| make_proxy())
        .collect::<Result<Vec<_>, _>>()?;
    for (name, up) in &cfg.upstreams {
        if up.tls.insecure_skip_verify {
            tracing::warn!(
                event = Event::UpstreamCheck.as_str(),
                upstream = %name,
                code = Code::UpstreamVerificationDisabled.as_str(),
                severity = "warning",
                summary = "certificate verification of this upstream is DISABLED",
                why = format!("upstreams.{name}.tls.insecure_skip_verify is true: anyone on the path can impersonate the upstream and read the API key"),
                fix = format!("remove insecure_skip_verify and trust the upstream's CA with upstreams.{name}.tls.ca_bundle"),
            );
        }
    }

    let http = listener::http_builder(&cfg.limits);
    let mut reload_targets = Vec::new();
    let limiter = Arc::new(RateLimiter::default());
    // Connections closed for a limit (or a refused PROXY header) and failed accepts, per
    // listener and code.
    let close_limiter = Arc::new(RateLimiter::default());
    let per_ip = cfg.limits.max_connections_per_ip.map(PerIpLimit::new);
    let mut ticket_keys = Vec::new();
    let mut bound = Vec::new();
    let mut fatal = Vec::new();
    for l in &cfg.listeners {
        let open_connections = state.add_listener(&l.name, l.bind, l.tls.is_some());
        let proxy_protocol = (l.proxy_protocol != ProxyProtocol::Off).then(|| {
            Arc::new(ProxyProtocolSide {
                mode: l.proxy_protocol,
                trusted: l.trusted_proxies.clone(),
            })
        });
        // A shared ticket key: unusable is a reason not to start (every replica must share it).
        let ticketer = match l.tls.as_ref().and_then(|t| t.session_tickets.as_ref()) {
            None => None,
            Some(st) => match crate::tls::tickets::load_key_file(&st.key_file) {
                Err(mut f) => {
                    fatal.append(&mut f);
                    continue;
                }
                Ok((key, warnings)) => {
                    tracing::info!(
                        event = Event::TicketKeyLoaded.as_str(),
                        listener = %l.name,
                        key_file = %st.key_file.display(),
                        key_name = %key.name_hex(),
                        findings = warnings.len(),
                    );
                    crate::reload::pipeline::log_ticket_key_warnings(
                        &l.name,
                        &st.key_file,
                        &warnings,
                    );
                    let ticketer = Arc::new(crate::tls::tickets::SharedTicketer::new(key));
                    ticket_keys.push(TicketKeySource::new(
                        &l.name,
                        st.key_file.clone(),
                        ticketer.clone(),
                    ));
                    Some(ticketer as Arc<dyn rustls::server::ProducesTickets>)
                }
            },
        };
        let tls = match &l.tls {
            None => None,
            Some(tls_cfg) => {
                match load_certificates(&tls_cfg.certificates, tls_cfg.default_certificate, &cfg) {
                    Err(mut f) => {
                        fatal.append(&mut f);
                        continue;
                    }
                    Ok(set) => {
                        log_certificates(&l.name, &set, Event::CertLoaded);
                        let statuses = certificate_statuses(&set);
                        let chains = Arc::new(arc_swap::ArcSwap::from_pointee(
                            crate::diagnose::evidence::our_chains(&set),
                        ));
                        let loaded = set.loaded;
                        let resolver = SniResolver::new(set.set);
                        reload_targets.push(ListenerCerts::new(
                            &l.name,
                            tls_cfg.certificates.clone(),
                            tls_cfg.default_certificate,
                            resolver.handle(),
                            chains.clone(),
                            loaded,
                        ));
                        let server_config = crate::server::tls::server_config(
                            tls_cfg,
                            Arc::new(resolver.clone()),
                            ticketer,
                        )
                        .map_err(|e| {
                            StartError(vec![Finding::new(
                                Code::ConfigInvalid,
                                format!("listener {} cannot set up TLS", l.name),
                                e.to_string(),
                                "correct the listener's tls settings",
                            )])
                        })?;
                        state.set_certificates(&l.name, statuses);
                        Some(TlsSide {
                            acceptor: TlsAcceptor::from(Arc::new(server_config)),
                            resolver,
                            chains,
                            ours: Arc::new(crate::diagnose::evidence::our_tls(tls_cfg)),
                            limiter: limiter.clone(),
                        })
                    }
                }
            }
        };
        let tcp = bind_for_workers(l.bind, workers).map_err(|e| {
            StartError(vec![Finding::new(
                Code::ConfigInvalid,
                format!("listener {} cannot listen on {}", l.name, l.bind),
                format!("bind {}: {e}", l.bind),
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    "another process uses this port: stop it or choose another bind address (--listen)"
                } else {
                    "choose an address this machine has and a port this user may bind (ports below 1024 need privileges)"
                },
            )])
        })?;
        let bind = tcp
            .first()
            .and_then(|t| t.local_addr().ok())
            .unwrap_or(l.bind);
        state.set_listener_bind(&l.name, bind);
        bound.push(Bound {
            tcp,
            ctx: ListenerContext {
                name: Arc::from(l.name.as_str()),
                bind,
                tls,
                proxy_protocol,
                proxy: proxies[0].clone(),
                http: http.clone(),
                handshake_timeout: cfg.limits.handshake_timeout.get(),
                timeouts: ConnTimeouts::from_limits(&cfg.limits),
                per_ip: per_ip.clone(),
                closer: Arc::new(Closer {
                    listener: Arc::from(l.name.as_str()),
                    state: state.clone(),
                    limiter: close_limiter.clone(),
                }),
                error_detail: cfg.diagnostics.client_error_detail,
                state: state.clone(),
                open_connections,
            },
        });
    }
    if !fatal.is_empty() {
        sort_by_importance(&mut fatal);
        return Err(StartError(fatal));
    }
    if bound.is_empty() {
        return Err(StartError(vec![Finding::new(
            Code::ConfigInvalid,
            "no listener configured",
            "the configuration has no listeners",
            "add a listeners: entry, or start with --listen ADDR",
        )]));
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // The admin API outlives the listeners: `/readyz` says 503 through the whole drain.
    let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
    let admin_addr = match cfg.admin.bind {
        Some(addr) => {
            let tcp = TcpListener::bind(addr).await.map_err(|e| {
                StartError(vec![Finding::new(
                    Code::ConfigInvalid,
                    format!("the admin API cannot listen on {addr}"),
                    format!("bind {addr}: {e}"),
                    "choose another admin.bind address, or stop the process using this port",
                )])
            })?;
            let local = tcp.local_addr().unwrap_or(addr);
            tracing::info!(event = Event::AdminListening.as_str(), bind = %local);
            let budgets = crate::admin::Budgets {
                header_read_timeout: cfg.admin.header_read_timeout.get(),
                idle_timeout: cfg.admin.idle_timeout.get(),
                max_connections: cfg.admin.max_connections,
            };
            tokio::spawn(crate::admin::serve(
                tcp,
                state.clone(),
                budgets,
                admin_stop_rx,
            ));
            Some(local)
        }
        None => None,
    };

    // Reloads: every trigger, and `POST /reload` through the admin state.
    let _triggers = if reload_targets.is_empty() && ticket_keys.is_empty() {
        None
    } else {
        let reloader = Arc::new(
            Reloader::new(reload_targets, Arc::new(cfg.clone()), state.clone())
                .with_ticket_keys(ticket_keys),
        );
        let api = reloader.clone();
        *state
            .reload_trigger
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(move || {
            crate::reload::pipeline::status_of(&api.reload(Trigger::Api, None))
        }));
        Some(crate::reload::watch::start(
            reloader,
            &cfg.reload,
            shutdown_rx.clone(),
        ))
    };

    // Upstream checks: at startup, after reloads, or periodically; never a reason to stop.
    for (name, up) in &cfg.upstreams {
        state.set_upstream(crate::status::UpstreamStatus {
            name: name.clone(),
            url: up.url.clone(),
            status: crate::status::UpstreamHealth::Unchecked,
            checked_at: None,
            tls_version: None,
            cipher: None,
            alpn: None,
            chain: Vec::new(),
            findings: Vec::new(),
        });
    }
    if cfg.diagnostics.upstream_checks != UpstreamChecks::Off && !cfg.upstreams.is_empty() {
        let upstreams = cfg.upstreams.clone();
        let every = match cfg.diagnostics.upstream_checks {
            UpstreamChecks::Every(d) => Some(d.get()),
            _ => None,
        };
        let state = state.clone();
        let mut shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            loop {
                for (name, up) in &upstreams {
                    let st = crate::proxy::check::check_upstream(name, up).await;
                    log_upstream_check(&st);
                    state.set_upstream(st);
                }
                let wait = async {
                    match every {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = state.upstream_recheck.notified() => {}
                    _ = wait => {}
                }
            }
        });
    }

    // Summaries of suppressed handshake and upstream failure events, once their window ends.
    {
        let limiter = limiter.clone();
        let upstream_limiter = upstream_limiter.clone();
        let close_limiter = close_limiter.clone();
        let mut shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tick.tick() => {}
                }
                for s in limiter.flush(std::time::Instant::now()) {
                    tracing::info!(
                        event = Event::TlsHandshakeFailuresSuppressed.as_str(),
                        listener = %s.listener,
                        code = s.code.as_str(),
                        count = s.suppressed,
                        first_peer = %s.first_peer,
                        last_peer = %s.last_peer,
                        window_s = s.window.as_secs(),
                        "{} more {} in the last {} s",
                        s.suppressed,
                        s.code.as_str(),
                        s.window.as_secs()
                    );
                }
                for s in close_limiter.flush(std::time::Instant::now()) {
                    let event = if s.code == Code::AcceptFailed {
                        Event::AcceptFailuresSuppressed
                    } else {
                        Event::ClientErrorsSuppressed
                    };
                    tracing::info!(
                        event = event.as_str(),
                        listener = %s.listener,
                        code = s.code.as_str(),
                        count = s.suppressed,
                        first_peer = %s.first_peer,
                        last_peer = %s.last_peer,
                        window_s = s.window.as_secs(),
                        "{} more {} in the last {} s",
                        s.suppressed,
                        s.code.as_str(),
                        s.window.as_secs()
                    );
                }
                for s in upstream_limiter.flush(std::time::Instant::now()) {
                    tracing::info!(
                        event = Event::UpstreamErrorsSuppressed.as_str(),
                        upstream = %s.listener,
                        code = s.code.as_str(),
                        count = s.suppressed,
                        window_s = s.window.as_secs(),
                        "{} more {} in the last {} s",
                        s.suppressed,
                        s.code.as_str(),
                        s.window.as_secs()
                    );
                }
            }
        });
    }

    let conn_limit = Arc::new(Semaphore::new(budget.max_connections.max(1)));
    let mut summary = Vec::new();
    for b in &bound {
        summary.push((b.ctx.name.to_string(), b.ctx.bind, b.ctx.tls.is_some()));
        tracing::info!(event = Event::Listening.as_str(), listener = %b.ctx.name, bind = %b.ctx.bind, tls = b.ctx.tls.is_some(), workers);
    }
    // Every worker accepts from its own socket of each listener.
    let mut worker_threads = Vec::new();
    let mut sockets: Vec<_> = bound
        .iter_mut()
        .map(|b| std::mem::take(&mut b.tcp).into_iter())
        .collect();
    for proxy in proxies {
        let mut items = Vec::new();
        for (b, socks) in bound.iter().zip(sockets.iter_mut()) {
            // `bind_for_workers` made exactly one socket per worker.
            let Some(tcp) = socks.next() else { continue };
            let ctx = ListenerContext {
                proxy: proxy.clone(),
                ..b.ctx.clone()
            };
            items.push((tcp, Arc::new(ctx)));
        }
        let worker = spawn_worker(
            worker_threads.len(),
            items,
            conn_limit.clone(),
            shutdown_rx.clone(),
            cfg.shutdown.drain_timeout.get(),
        )
        .map_err(|e| {
            StartError(vec![Finding::new(
                Code::ConfigInvalid,
                "a serving thread cannot be started",
                format!("spawning a worker thread: {e}"),
                "lower TLSGATE_WORKERS, or check the process and thread limits (ulimit -u)",
            )])
        })?;
        worker_threads.push(worker);
    }
    drop(bound);
    state.set_ready(true);
    on_started(&Running {
        listeners: summary,
        admin: admin_addr,
        state: state.clone(),
    });

    stop.await;
    let drain_delay = cfg.shutdown.drain_delay.get();
    let drain_timeout = cfg.shutdown.drain_timeout.get();
    // Not ready from now on, so the load balancer stops sending; until it has, keep serving
    // (HTTP/1.1 responses now carry `Connection: close`).
    state.start_draining();
    tracing::info!(
        event = Event::ShuttingDown.as_str(),
        drain_delay_ms = drain_delay.as_millis() as u64,
        drain_timeout_ms = drain_timeout.as_millis() as u64,
        "not ready; accepting for the drain delay, then finishing open requests"
    );
    tokio::time::sleep(drain_delay).await;
    tracing::info!(
        event = Event::Draining.as_str(),
        open_connections = state.open_connections_total(),
        "stopped accepting; open connections have up to the drain timeout to finish"
    );
    let _ = shutdown_tx.send(true);
    for t in worker_threads {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    let _ = admin_stop_tx.send(true);
    tracing::info!(event = Event::Stopped.as_str());
    Ok(())
}

/// Binds `n` listening sockets on `addr` for `n` workers.
///
/// With SO_REUSEPORT the kernel spreads new connections evenly over the workers' sockets (one
/// shared socket lets whichever thread wakes first take a burst of connections and leaves the
/// other idle). Because SO_REUSEPORT would also let a second process share the port silently,
/// a fixed port is first bound once without it, so "address in use" is still reported. Port 0
/// needs no such check (the system picks a port nobody listens on, and never a port held
/// by another SO_REUSEPORT group): the first socket is bound to it and the others to the port
/// it got, so every worker listens on the same one.
fn bind_for_workers(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    #[cfg(unix)]
    if n > 1 {
        let bind_one = |addr: SocketAddr| -> std::io::Result<std::net::TcpListener> {
            let s = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            s.set_reuseaddr(true)?;
            s.set_reuseport(true)?;
            s.bind(addr)?;
            s.listen(1024)?.into_std()
        };
        if addr.port() != 0 {
            drop(std::net::TcpListener::bind(addr)?);
        }
        let first = bind_one(addr)?;
        let addr = first.local_addr()?;
        let mut all = vec![first];
        for _ in 1..n {
            all.push(bind_one(addr)?);
        }
        return Ok(all);
    }
    let first = std::net::TcpListener::bind(addr)?;
    let mut all = Vec::with_capacity(n);
    for _ in 1..n {
        all.push(first.try_clone()?);
    }
    all.insert(0, first);
    Ok(all)
}

/// Starts one serving thread: a single-threaded runtime running the accept loops of every
/// listener, then draining its connections on shutdown.
fn spawn_worker(
    index: usize,
    items: Vec<(std::net::TcpListener, Arc<ListenerContext>)>,
    conn_limit: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let run = move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(event = Event::WorkerFailed.as_str(), worker = index, error = %e);
                return;
            }
        };
        rt.block_on(async move {
            let graceful = Arc::new(Drain::new());
            let mut loops = Vec::new();
            for (tcp, ctx) in items {
                let tcp = match tcp.set_nonblocking(true).and_then(|()| TcpListener::from_std(tcp)) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::error!(event = Event::WorkerFailed.as_str(), worker = index, listener = %ctx.name, error = %e);
                        continue;
                    }
                };
                loops.push(tokio::spawn(listener::run(
                    tcp,
                    ctx,
                    conn_limit.clone(),
                    graceful.clone(),
                    shutdown.clone(),
                )));
            }
            for l in loops {
                let _ = l.await;
            }
            match Arc::try_unwrap(graceful) {
                Ok(g) => {
                    if tokio::time::timeout(drain_timeout, g.shutdown())
                        .await
                        .is_err()
                    {
                        tracing::warn!(
                            event = Event::DrainTimeout.as_str(),
                            worker = index,
                            "connections still open after the drain timeout were closed"
                        );
                    }
                }
                Err(_) => tracing::warn!(event = Event::DrainSkipped.as_str(), worker = index, "connections could not be drained"),
            }
        });
    };
    std::thread::Builder::new()
        .name(format!("tlsgate-worker-{index}"))
        .spawn(run)
}

/// Logs one `upstream_check` result: a warning when anything is wrong, never fatal.
fn log_upstream_check(st: &crate::status::UpstreamStatus) {
    let first = st.findings.first();
    let codes: Vec<&str> = st.findings.iter().map(|f| f.code.as_str()).collect();
    macro_rules! emit {
        ($lvl:ident) => {
            tracing::$lvl!(
                event = Event::UpstreamCheck.as_str(),
                upstream = %st.name,
                url = %st.url,
                status = %st.status,
                tls_version = st.tls_version.as_deref(),
                cipher = st.cipher.as_deref(),
                alpn = st.alpn.as_deref(),
                code = first.map(|f| f.code.as_str()),
                summary = first.map(|f| f.summary.as_str()),
                why = first.map(|f| f.why.as_str()),
                fix = first.map(|f| f.fix.as_str()),
                codes = %codes.join(","),
            )
        };
    }
    if st.status == crate::status::UpstreamHealth::Healthy {
        emit!(info)
    } else {
        emit!(warn)
    }
}

/// Resolves when SIGTERM or SIGINT arrives, which starts the drain. A second one while
/// draining exits at once, with status 128 + the signal's number (143 for SIGTERM, 130 for
/// SIGINT), as a shell reports a process killed by that signal: in-flight requests are cut.
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            // Without signal handlers, run until killed.
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        // The same handlers, kept registered, watch for the second signal.
        tokio::spawn(async move {
            let (name, status) = tokio::select! {
                _ = term.recv() => ("SIGTERM", 128 + 15),
                _ = int.recv() => ("SIGINT", 128 + 2),
            };
            tracing::warn!(
                event = Event::ShutdownForced.as_str(),
                signal = name,
                exit_status = status,
                "a second termination signal while draining: exiting now, open connections are cut"
            );
            std::process::exit(status);
        });
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::bind_for_workers;

    // `listen` registers the socket with the runtime's reactor: a runtime is needed.
    #[tokio::test]
    async fn port_0_gives_every_worker_the_same_port() {
        let socks = bind_for_workers("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_eq!(socks.len(), 3);
        let addrs: Vec<_> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
        assert_ne!(addrs[0].port(), 0);
        assert!(addrs.iter().all(|a| *a == addrs[0]), "{addrs:?}");
    }

    #[tokio::test]
    async fn a_fixed_port_in_use_is_refused() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        for n in [1, 2] {
            let e = bind_for_workers(addr, n).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{n} workers");
        }
    }
}
