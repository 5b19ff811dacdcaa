//! Connection lifecycle against hostile or careless clients (issue 14a): every way a client can
//! hold a connection without using it is bounded by a `limits` timeout, each close is counted
//! in `tlsgate_connections_closed_total{listener,reason}`, sniffing a half-sent first flight
//! waits for bytes instead of spinning, and accept failures back off with a rate-limited log.
//! A flowing response stream is never cut by any of these.
//!
//! Timeouts are configured small (1–3 s); the assertions check that a connection is closed by a
//! generous bound, or still open at a time before its timeout could have fired (timers never
//! fire early, so a loaded machine can only make those checks easier).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn listen_addr(gate: &Tlsgate) -> SocketAddr {
    ([127, 0, 0, 1], gate.listen_port).into()
}

/// How a read on a connection ended.
#[derive(Debug, PartialEq, Eq)]
enum ReadEnd {
    /// The peer closed (EOF, reset, or a TLS connection cut without close_notify).
    Closed,
    /// Still open when the wait ended.
    Open,
}

/// Reads (and discards) until the peer closes or `wait` passes.
fn wait_closed(s: &mut impl Read, tcp: &TcpStream, wait: Duration) -> ReadEnd {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return ReadEnd::Open;
        }
        tcp.set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => return ReadEnd::Closed,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::UnexpectedEof
                        | ErrorKind::BrokenPipe
                ) =>
            {
                return ReadEnd::Closed
            }
            Err(e) => panic!("unexpected read error: {e}"),
        }
    }
}

type TlsClient = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to the gate with the handshake completed and nothing sent.
fn tls_connect(pki: &TestPki, port: u16, alpn: &[&[u8]]) -> TlsClient {
    let mut cfg = pki.client_config(alpn);
    cfg.resumption = rustls::client::Resumption::disabled();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .expect("TLS handshake with the gate");
    }
    rustls::StreamOwned::new(conn, tcp)
}

/// The value of `tlsgate_connections_closed_total{listener="main",reason=…}` (0 when absent).
fn closed_total(gate: &Tlsgate, reason: &str) -> f64 {
    let (code, text) = raw_http_get(
        ([127, 0, 0, 1], gate.admin_port).into(),
        "/metrics",
        Duration::from_secs(5),
    )
    .expect("GET /metrics");
    assert_eq!(code, 200);
    let want = format!("reason=\"{reason}\"");
    text.lines()
        .filter(|l| l.starts_with("tlsgate_connections_closed_total{"))
        .filter(|l| l.contains("listener=\"main\"") && l.contains(&want))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits (up to 5 s) until the metric reaches `at_least`; returns the last value.
fn wait_closed_total(gate: &Tlsgate, reason: &str, at_least: f64) -> f64 {
    let mut last = 0.0;
    wait_until(Duration::from_secs(5), || {
        last = closed_total(gate, reason);
        (last >= at_least).then_some(())
    });
    last
}

/// CPU time (user + system, in clock ticks) a process has used, from `/proc/<pid>/stat`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // Fields after the command name (which may contain spaces) start at "state" (field 3);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// A plain-HTTP upstream whose `/sse` streams `events` SSE events, one every `every`, then
/// `[DONE]` (chunked, so the stream can outlast any client timeout); everything else gets a
/// small JSON 200. Each connection is served on its own thread and closed after one response.
fn sse_upstream(events: usize, every: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                if path != "/sse" {
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                    );
                    return;
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                );
                let chunk = |s: &mut TcpStream, data: &str| {
                    s.write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes())
                };
                for i in 0..events {
                    if chunk(&mut s, &format!("data: {{\"n\":{i}}}\n\n")).is_err() {
                        return;
                    }
                    std::thread::sleep(every);
                }
                let _ = chunk(&mut s, "data: [DONE]\n\n");
                let _ = s.write_all(b"0\r\n\r\n");
            });
        }
    });
    addr
}

// Raw HTTP/2 framing, enough to hold a connection open the way a client that only answers
// PINGs does.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const H2_DATA: u8 = 0;
const H2_HEADERS: u8 = 1;
const H2_RST_STREAM: u8 = 3;
const H2_SETTINGS: u8 = 4;
const H2_PING: u8 = 6;
const H2_GOAWAY: u8 = 7;
const FLAG_ACK: u8 = 1;
const FLAG_END_STREAM: u8 = 1;
const FLAG_END_HEADERS: u8 = 4;

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Splits complete frames off the front of `buf`: (type, flags, stream, payload).
fn h2_take_frames(buf: &mut Vec<u8>) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut out = Vec::new();
    while buf.len() >= 9 {
        let len = (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
        if buf.len() < 9 + len {
            break;
        }
        let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
        out.push((buf[3], buf[4], stream, buf[9..9 + len].to_vec()));
        buf.drain(..9 + len);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Item 1: idle connections are closed
// ---------------------------------------------------------------------------------------------

/// TLS connections that finish the handshake and then send nothing used to stay open forever:
/// as many as `max_connections` of them locked every other client out. `header_read_timeout`
/// now runs from the moment the connection is ready, so they are closed and the slots freed.
#[test]
fn tls_connections_idle_after_the_handshake_are_closed_and_free_their_slots() {
    let up = MockUpstream::start();
    let pki = TestPki::new();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.top_extra = "limits:\n  max_connections: 8\n  header_read_timeout: 1s\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);

    // Six negotiate HTTP/1.1, two HTTP/2: neither protocol keeps a silent client.
    let mut held: Vec<TlsClient> = (0..8)
        .map(|i| {
            let alpn: &[u8] = if i < 6 { b"http/1.1" } else { b"h2" };
            tls_connect(&pki, gate.listen_port, &[alpn])
        })
        .collect();
    for (i, c) in held.iter_mut().enumerate() {
        let tcp = c.sock.try_clone().unwrap();
        assert_eq!(
            wait_closed(c, &tcp, Duration::from_secs(6)),
            ReadEnd::Closed,
            "idle TLS connection {i} was not closed within 6 s (header_read_timeout: 1s)"
        );
    }
    // Every slot is free again: a new client is served.
    assert_eq!(
        https_get_status(gate.listen_port, &pki.ca.cert_der, "/v1/models"),
        Ok(200)
    );
    assert!(
        wait_closed_total(&gate, "client_idle_timeout", 8.0) >= 8.0,
        "closes not counted as client_idle_timeout:\n{}",
        gate.output()
    );
    let logged = gate.wait_for_log(Duration::from_secs(5), |l| {
        l["code"] == "client_idle_timeout" && l["listener"] == "main"
    });
    assert!(
        logged.is_some(),
        "no client_idle_timeout event logged:\n{}",
        gate.output()
    );
    // Closing them is our doing, not a client silently rejecting our certificate.
    let misattributed = gate
        .events("tls_handshake_failed")
        .into_iter()
        .filter(|l| l["code"] == "client_closed_after_certificate")
        .count();
    assert_eq!(misattributed, 0, "{}", gate.output());
}

/// On a plain-HTTP listener: a connection that never sends a byte is closed after
/// `header_read_timeout`; one idle between requests after `keepalive_timeout` (not before);
/// one that sends half a request head after `header_read_timeout`.
#[test]
fn idle_plain_http_connections_are_closed_by_header_and_keepalive_timeouts() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.top_extra = "limits:\n  header_read_timeout: 1s\n  keepalive_timeout: 3s\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    let addr = listen_addr(&gate);

    // Silent from the start.
    let mut silent = TcpStream::connect(addr).unwrap();
    // Half a request head.
    let mut partial = TcpStream::connect(addr).unwrap();
    partial.write_all(b"GET /v1/models HTTP/1.1\r\nHo").unwrap();
    // One complete request, then idle.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    kept.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept).0, 200);
    let idle_from = Instant::now();

    let t = silent.try_clone().unwrap();
    assert_eq!(
        wait_closed(&mut silent, &t, Duration::from_secs(5)),
        ReadEnd::Closed,
        "a silent plain-HTTP connection stayed open (header_read_timeout: 1s)"
    );
    let t = partial.try_clone().unwrap();
    assert_eq!(
        wait_closed(&mut partial, &t, Duration::from_secs(5)),
        ReadEnd::Closed,
        "a half-sent request head was not cut off (header_read_timeout: 1s)"
    );

    // Between requests the keep-alive timeout applies, not the header timeout: still open
    // well after 1 s...
    let t = kept.try_clone().unwrap();
    let until_2s = Duration::from_secs(2).saturating_sub(idle_from.elapsed());
    assert_eq!(
        wait_closed(&mut kept, &t, until_2s),
        ReadEnd::Open,
        "an idle keep-alive connection was closed before keepalive_timeout (3s)"
    );
    // ...and closed after 3 s.
    assert_eq!(
        wait_closed(&mut kept, &t, Duration::from_secs(6)),
        ReadEnd::Closed,
        "an idle keep-alive connection stayed open (keepalive_timeout: 3s)"
    );

    assert!(wait_closed_total(&gate, "client_idle_timeout", 2.0) >= 2.0);
    assert!(wait_closed_total(&gate, "client_header_timeout", 1.0) >= 1.0);
    assert_eq!(
        up.count("/v1/models"),
        1,
        "only the complete request is forwarded"
    );
}

/// An HTTP/2 connection with no open stream is closed with GOAWAY after
/// `http2_idle_timeout`, even while the client keeps sending (and answering) PINGs.
#[test]
fn http2_connection_that_only_pings_gets_goaway_after_http2_idle_timeout() {
    let up = MockUpstream::start();
    let pki = TestPki::new();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.top_extra = "limits:\n  http2_idle_timeout: 2s\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);

    let mut c = tls_connect(&pki, gate.listen_port, &[b"h2"]);
    assert_eq!(c.conn.alpn_protocol(), Some(&b"h2"[..]));
    let mut out = H2_PREFACE.to_vec();
    out.extend(h2_frame(H2_SETTINGS, 0, 0, &[]));
    // One request first: GET /v1/models (HPACK: :method GET, :scheme https, :path literal,
    // :authority literal).
    let mut block = vec![0x82, 0x87, 0x44, 10];
    block.extend_from_slice(b"/v1/models");
    block.extend_from_slice(&[0x41, 9]);
    block.extend_from_slice(b"localhost");
    out.extend(h2_frame(
        H2_HEADERS,
        FLAG_END_STREAM | FLAG_END_HEADERS,
        1,
        &block,
    ));
    c.write_all(&out).unwrap();
    c.flush().unwrap();

    let started = Instant::now();
    let mut buf = Vec::new();
    let mut read = [0u8; 16 * 1024];
    let mut stream_done: Option<Instant> = None;
    let mut goaway: Option<Instant> = None;
    let mut closed = false;
    let mut next_ping = Instant::now();
    let mut pings_answered = 0;
    while started.elapsed() < Duration::from_secs(12) {
        if Instant::now() >= next_ping && goaway.is_none() {
            let f = h2_frame(H2_PING, 0, 0, b"tlsgate!");
            if c.write_all(&f).and_then(|()| c.flush()).is_err() {
                closed = true;
                break;
            }
            next_ping = Instant::now() + Duration::from_millis(250);
        }
        c.sock
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        match c.read(&mut read) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&read[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        for (kind, flags, stream, payload) in h2_take_frames(&mut buf) {
            match kind {
                H2_SETTINGS if flags & FLAG_ACK == 0 => {
                    let _ = c.write_all(&h2_frame(H2_SETTINGS, FLAG_ACK, 0, &[]));
                }
                H2_PING if flags & FLAG_ACK == 0 => {
                    let _ = c.write_all(&h2_frame(H2_PING, FLAG_ACK, 0, &payload));
                }
                H2_PING => pings_answered += 1,
                H2_DATA | H2_HEADERS if stream == 1 && flags & FLAG_END_STREAM != 0 => {
                    stream_done = Some(Instant::now());
                }
                H2_RST_STREAM if stream == 1 => panic!("the request was reset"),
                H2_GOAWAY => goaway = goaway.or(Some(Instant::now())),
                _ => {}
            }
        }
        let _ = c.flush();
    }
    let stream_done = stream_done.expect("the response to the first request");
    let goaway = goaway.unwrap_or_else(|| {
        panic!(
            "no GOAWAY within 12 s of an idle HTTP/2 connection (http2_idle_timeout: 2s; \
             {pings_answered} client PINGs answered)"
        )
    });
    assert!(pings_answered > 3, "the client's PINGs were not answered");
    // Not before the idle timeout counted from the end of the last stream.
    assert!(
        goaway.duration_since(stream_done) >= Duration::from_millis(1900),
        "GOAWAY came {:?} after the last stream ended",
        goaway.duration_since(stream_done)
    );
    if !closed {
        let tcp = c.sock.try_clone().unwrap();
        assert_eq!(
            wait_closed(&mut c, &tcp, Duration::from_secs(10)),
            ReadEnd::Closed,
            "the connection stayed open after GOAWAY"
        );
    }
    assert!(wait_closed_total(&gate, "client_idle_timeout", 1.0) >= 1.0);
}

/// A client that stops sending its request body gets a 408 `client_body_timeout` (the
/// response had not started), and the connection is closed.
#[test]
fn stalled_request_body_gets_408_client_body_timeout() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.top_extra = "limits:\n  client_body_timeout: 1s\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);

    let mut s = TcpStream::connect(listen_addr(&gate)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":",
    )
    .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 408"),
        "expected 408 within 8 s, got after {:?}: {text:?}",
        started.elapsed()
    );
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["error"]["code"], "client_body_timeout", "{body}");
    assert_eq!(v["error"]["type"], "tlsgate_error", "{body}");
    assert!(wait_closed_total(&gate, "client_body_timeout", 1.0) >= 1.0);
}

/// When the upstream answers before the request body is complete and the client then stops
/// sending it, the response already under way is cut (no clean end, no `[DONE]`) at
/// `client_body_timeout`, instead of running on as if the request were whole.
#[test]
fn request_body_stalling_after_the_response_began_cuts_the_response() {
    // The upstream reads only the request head and streams 16 events over 4 s.
    let upstream = sse_upstream(16, Duration::from_millis(250));
    let mut cfg = GateConfig::plain(format!("http://{upstream}"));
    cfg.top_extra = "limits:\n  client_body_timeout: 1s\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);

    let mut s = TcpStream::connect(listen_addr(&gate)).unwrap();
    s.write_all(
        b"POST /sse HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"stream\":",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    assert!(
        text.contains("data: {\"n\":0}"),
        "the response had begun: {text:?}"
    );
    assert!(
        !text.contains("[DONE]") && !text.ends_with("0\r\n\r\n"),
        "the response ran to a clean end after {:?} although the request body stalled: {text:?}",
        started.elapsed()
    );
    assert!(wait_closed_total(&gate, "client_body_timeout", 1.0) >= 1.0);
}

/// Reads a `/big` response to the end as fast as possible; returns the bytes received and
/// whether the connection was cut (EOF or an error before the whole body).
fn read_rest(s: &mut TcpStream, mut received: usize, total: usize) -> (usize, ReadEnd) {
    let mut buf = vec![0u8; 256 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    // The head is a few hundred bytes; the body is `total`.
    while Instant::now() < deadline {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (received, ReadEnd::Closed),
            Ok(n) => {
                received += n;
                if received >= total {
                    return (received, ReadEnd::Open);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (received, ReadEnd::Open)
            }
            Err(_) => return (received, ReadEnd::Closed),
        }
    }
    (received, ReadEnd::Open)
}

/// A client that stops reading a large response is disconnected after `send_timeout`; one
/// that reads slowly but steadily is not.
#[test]
fn client_that_stops_reading_is_closed_after_send_timeout() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.top_extra = "limits:\n  send_timeout: 1s\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    const TOTAL: usize = 64 << 20;

    // Steady: 64 KiB every 100 ms for 3 s (the socket buffers stay full throughout), then the
    // rest at full speed. Every byte arrives.
    let mut s = TcpStream::connect(listen_addr(&gate)).unwrap();
    write!(s, "GET /big?bytes={TOTAL} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let slow_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < slow_until {
        let n = s.read(&mut buf).expect("a steady reader is served");
        assert!(n > 0, "a steady reader was cut after {received} bytes");
        received += n;
        std::thread::sleep(Duration::from_millis(100));
    }
    let (received, end) = read_rest(&mut s, received, TOTAL);
    assert!(
        received >= TOTAL && end == ReadEnd::Open,
        "a client reading 640 KiB/s was cut after {received} bytes"
    );

    // Stalled: nothing read for 4 s.
    let mut s = TcpStream::connect(listen_addr(&gate)).unwrap();
    write!(s, "GET /big?bytes={TOTAL} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let (received, end) = read_rest(&mut s, 0, TOTAL);
    assert_eq!(end, ReadEnd::Closed, "the connection was not closed");
    assert!(
        received < TOTAL,
        "the whole {TOTAL}-byte response arrived: a stalled client was not cut off"
    );
    assert!(wait_closed_total(&gate, "client_send_timeout", 1.0) >= 1.0);
    assert_eq!(
        closed_total(&gate, "client_send_timeout"),
        1.0,
        "only the stalled one"
    );
}

/// `max_connections_per_ip`: a client address over its cap is refused at once, the others are
/// served, and a slot frees when one of its connections closes.
#[test]
fn connections_over_max_connections_per_ip_are_refused() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.top_extra = "limits:\n  max_connections_per_ip: 2\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    let addr = listen_addr(&gate);

    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = TcpStream::connect(addr).unwrap();
    let t = third.try_clone().unwrap();
    assert_eq!(
        wait_closed(&mut third, &t, Duration::from_secs(4)),
        ReadEnd::Closed,
        "a third connection from one address was kept (max_connections_per_ip: 2)"
    );
    assert!(wait_closed_total(&gate, "client_too_many_connections", 1.0) >= 1.0);
    drop(held);
    let served = wait_until(Duration::from_secs(5), || {
        raw_http_get(addr, "/v1/models", Duration::from_secs(2))
    });
    assert_eq!(served.map(|(code, _)| code), Some(200));
}

/// A response that keeps flowing outlives every idle timeout, over HTTP/1.1 and HTTP/2; so
/// does a request whose upstream takes longer than them to answer.
#[test]
fn flowing_sse_stream_is_never_cut_by_idle_timeouts() {
    let upstream = sse_upstream(16, Duration::from_millis(250));
    let pki = TestPki::new();
    let mut cfg = GateConfig::tls(&pki, format!("http://{upstream}"));
    cfg.top_extra = "limits:\n  header_read_timeout: 1s\n  keepalive_timeout: 1s\n  http2_idle_timeout: 1s\n  client_body_timeout: 1s\n  send_timeout: 1s\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/sse");
    for proto in ["--http1.1", "--http2"] {
        let mut args: Vec<&str> = base.iter().map(|s| s.as_str()).collect();
        args.extend([
            proto,
            "-sS",
            "-N",
            "--max-time",
            "30",
            "-H",
            "content-type: application/json",
            "--data",
            "{\"stream\":true}",
            &url,
        ]);
        let started = Instant::now();
        let out = curl(&args);
        assert!(out.ok(), "{proto}: {}", out.describe());
        let events = out.stdout.matches("data: {\"n\":").count();
        assert_eq!(
            events,
            16,
            "{proto}: stream cut after {:?}: {}",
            started.elapsed(),
            out.stdout
        );
        assert!(out.stdout.contains("[DONE]"), "{proto}: {}", out.stdout);
        assert!(started.elapsed() >= Duration::from_secs(3));
    }
    // A slow upstream (silent client, silent response) is not the client's idleness either.
    let mock = MockUpstream::start();
    let mut cfg = GateConfig::tls(&pki, mock.url());
    cfg.top_extra = "limits:\n  header_read_timeout: 1s\n  keepalive_timeout: 1s\n  http2_idle_timeout: 1s\n  client_body_timeout: 1s\n  send_timeout: 1s\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/slow?ms=2500");
    for proto in ["--http1.1", "--http2"] {
        let mut args: Vec<&str> = base.iter().map(|s| s.as_str()).collect();
        args.extend([
            proto,
            "-sS",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ]);
        let out = curl(&args);
        assert_eq!(out.stdout.trim(), "200", "{proto}: {}", out.describe());
    }
}

// ---------------------------------------------------------------------------------------------
// Item 1 (handshake) and item 2: a half-sent first flight neither spins nor outlives
// handshake_timeout
// ---------------------------------------------------------------------------------------------

/// Twenty connections that send 3 bytes of a TLS record header and twenty that send half a
/// plain-HTTP request to the TLS port, then wait: sniffing must wait for bytes, not poll. The
/// process' CPU time over 2 s stays under 10 % of one core; then `handshake_timeout`, counted
/// from accept, closes them all, including one that keeps trickling bytes.
#[test]
fn half_sent_first_flights_do_not_spin_and_are_closed_at_handshake_timeout() {
    let up = MockUpstream::start();
    let pki = TestPki::new();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.top_extra = "limits:\n  handshake_timeout: 5s\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    let addr = listen_addr(&gate);

    let opened = Instant::now();
    let mut conns = Vec::new();
    for i in 0..40 {
        let mut s = TcpStream::connect(addr).unwrap();
        if i % 2 == 0 {
            s.write_all(&[0x16, 0x03, 0x01]).unwrap();
        } else {
            s.write_all(b"GET /v1/models HTTP/1.1\r\nHost: local")
                .unwrap();
        }
        conns.push(s);
    }
    // One that trickles a byte of a ClientHello record every 300 ms: the deadline is from
    // accept, not reset by progress.
    let trickle = TcpStream::connect(addr).unwrap();
    let trickler = {
        let mut s = trickle.try_clone().unwrap();
        std::thread::spawn(move || {
            for b in [
                0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ]
            .into_iter()
            .cycle()
            .take(40)
            {
                if s.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };

    std::thread::sleep(Duration::from_millis(500));
    let pid = gate.pid();
    let before = cpu_ticks(pid);
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    let secs = used as f64 / clock_ticks_per_second() as f64;
    let share = secs / window.elapsed().as_secs_f64();
    assert!(
        share < 0.10,
        "41 half-sent connections cost {:.0}% of a core over {:?} ({used} ticks): the handshake \
         sniffing spins",
        share * 100.0,
        window.elapsed()
    );

    // handshake_timeout: 5s from accept closes every one of them (generous bound: 12 s).
    for (i, s) in conns.iter_mut().enumerate() {
        let t = s.try_clone().unwrap();
        let left = Duration::from_secs(12).saturating_sub(opened.elapsed());
        assert_eq!(
            wait_closed(s, &t, left),
            ReadEnd::Closed,
            "connection {i} outlived handshake_timeout"
        );
    }
    let mut trickle_r = trickle.try_clone().unwrap();
    let left = Duration::from_secs(12).saturating_sub(opened.elapsed());
    assert_eq!(
        wait_closed(&mut trickle_r, &trickle, left),
        ReadEnd::Closed,
        "a connection trickling bytes outlived handshake_timeout (from accept)"
    );
    let _ = trickler.join();
    assert!(wait_closed_total(&gate, "handshake_timeout", 21.0) >= 21.0);
}

// ---------------------------------------------------------------------------------------------
// Item 3: accept failures
// ---------------------------------------------------------------------------------------------

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The soft open-file limit of a running process, from `/proc/<pid>/limits`.
fn nofile_soft(pid: u32) -> usize {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// Sets the soft open-file limit of a running process (util-linux `prlimit`, else Python); the
/// hard limit stays, so the soft one can be raised again without privileges.
fn set_nofile_soft(pid: u32, n: usize) {
    let ok = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={n}:")])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let code = format!(
            "import resource; h = resource.prlimit({pid}, resource.RLIMIT_NOFILE)[1]; \
             resource.prlimit({pid}, resource.RLIMIT_NOFILE, ({n}, h))"
        );
        let st = std::process::Command::new("python3")
            .args(["-c", &code])
            .status()
            .expect("prlimit or python3 to change the open-file limit");
        assert!(st.success(), "could not set RLIMIT_NOFILE of {pid}");
    }
    assert_eq!(
        nofile_soft(pid),
        n,
        "the open-file limit of {pid} did not change"
    );
}

/// With the process out of file descriptors, `accept` fails on every try: the loop backs off
/// and logs a few `accept_failed` events (rate-limited), not one per attempt; once descriptors
/// are free again, connections are served.
#[test]
fn accept_failures_back_off_and_are_logged_rate_limited() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    let addr = listen_addr(&gate);
    let pid = gate.pid();

    // Leave room for a couple of connections, then exhaust it.
    let soft = nofile_soft(pid);
    let in_use = open_fds(pid);
    set_nofile_soft(pid, in_use + 2);
    let mut conns = Vec::new();
    for _ in 0..12 {
        if let Ok(s) = TcpStream::connect(addr) {
            conns.push(s);
        }
    }
    let started = Instant::now();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(pid) - before;
    let failed = gate.events("accept_failed");
    assert!(
        !failed.is_empty(),
        "no accept_failed event while out of descriptors:\n{}",
        gate.output()
    );
    assert!(
        failed.len() <= 10,
        "{} accept_failed events in {:?}: not rate-limited",
        failed.len(),
        started.elapsed()
    );
    let secs = used as f64 / clock_ticks_per_second() as f64;
    assert!(
        secs < 0.5,
        "the accept loop used {secs:.2} s of CPU in 3 s while out of descriptors"
    );

    set_nofile_soft(pid, soft);
    drop(conns);
    let served = wait_until(Duration::from_secs(10), || {
        raw_http_get(addr, "/v1/models", Duration::from_secs(2))
    });
    assert_eq!(served.map(|(code, _)| code), Some(200), "{}", gate.output());
}
