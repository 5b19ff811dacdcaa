#!/usr/bin/env python3
"""tlsgate vs nginx vs HAProxy: TLS-terminating reverse proxies in front of one upstream, one run.

Started by benches/load/run.sh (which builds tlsgate, installs the tools and compiles the
no-resumption shim). Everything runs on 127.0.0.1; every process started here leads its own
process group and is killed on exit.

Setup: one upstream nginx (a single worker) answers `/` ("ok"), `/1k` and `/64k` (static files)
and `/stream16` (16 server-sent events, each flushed on its own; needs nginx's echo module), and
one Python server streams timestamped SSE chunks on `/sse`. tlsgate, nginx and HAProxy terminate
TLS with the same ECDSA P-256 certificate, with the same number of workers (TLSGATE_WORKERS,
worker_processes, nbthread), keep-alive pools towards the upstream, and their default TLS
session settings. Every wrk/h2load run goes through noresume.so, so no handshake is resumed.

Measurements (rounds alternate the order of the proxies):
  keepalive   wrk, HTTP/1.1 over TLS, fixed connections: req/s, p50, p99, proxy CPU/request
  handshakes  wrk with `Connection: close`: one request per connection, each a full handshake;
              a short captured run per proxy counts offered/accepted resumptions
  h2          h2load, HTTP/2 over TLS: req/s
  sse         the SSE upstream stamps each chunk with its send time, a client subtracts it from
              its receive time (same clock): delay through each proxy minus delay direct
  idle        a freshly started instance of each proxy, RSS (/proc, all its processes) with
              LO and then HI idle TLS connections (handshake done, no request):
              (RSS_HI - RSS_LO) / (HI - LO) per connection
  scaling     h2load --h1 (keep-alive, after a warm-up) req/s and p99 at 16, 64, 256, 1024
              connections (1 KiB responses) and for 1 KiB, 64 KiB and a 16-event stream at 64
              connections; also the upstream direct
  reload      tlsgate (file watch) and nginx (`nginx -s reload`): cert rename to first
              handshake with the new certificate
Results: one Markdown table of tlsgate / best-of(nginx, HAProxy) on stdout, raw results in
--json (target/bench-load.json), the scaling plot via plot.py (docs/bench-scaling.png).
"""

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PROXIES = ("tlsgate", "nginx", "haproxy")
OTHERS = ("nginx", "haproxy")
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

CHILDREN = []  # Popen objects, each the leader of its own process group
WORKDIRS = []  # temp dirs to remove on exit

# Presets; any option given on the command line wins.
PRESETS = {
    "full": dict(secs=6, rounds=3, idle_levels="5000,9000", idle_rounds=2, scale_secs=5,
                 scale_rounds=2, sse_chunks=40, sse_interval=0.05),
    "quick": dict(secs=2, rounds=2, idle_levels="500,1000", idle_rounds=1, scale_secs=2,
                  scale_rounds=1, sse_chunks=20, sse_interval=0.025),
}


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ------------------------------------------------------------------------------------------
# Processes: each child leads its own process group; run.sh's EXIT trap kills the groups
# listed in $PGID_FILE if this script dies hard. A group is unlisted once it is stopped, so a
# recycled process-group id is never signalled.
# ------------------------------------------------------------------------------------------


def _pgid_file_update():
    path = os.environ.get("PGID_FILE")
    if path and os.path.exists(path):  # gone: run.sh has cleaned up already
        with open(path, "w") as f:
            f.writelines(f"{p.pid}\n" for p in CHILDREN if p.poll() is None)


def spawn(cmd, env=None, stdout=None, stderr=None, cwd=None):
    p = subprocess.Popen(cmd, env=env, cwd=cwd,
                         stdout=stdout or subprocess.DEVNULL,
                         stderr=stderr or subprocess.DEVNULL,
                         start_new_session=True)  # own process group: killpg reaches every child
    CHILDREN.append(p)
    _pgid_file_update()
    return p


def stop(p, sig=signal.SIGTERM, grace=3.0):
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    # A group leader that exited may leave children behind (nginx workers): finish them too.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if p in CHILDREN:
        CHILDREN.remove(p)
    _pgid_file_update()


def stop_all():
    for p in reversed(list(CHILDREN)):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 3
    for p in list(CHILDREN):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    CHILDREN.clear()
    _pgid_file_update()
    for d in WORKDIRS:
        shutil.rmtree(d, ignore_errors=True)


def run_tool(cmd, timeout, env=None):
    """Runs a load generator in its own process group; returns its stdout."""
    p = spawn(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise RuntimeError(f"{cmd[0]} did not finish within {timeout}s: {' '.join(cmd)}")
    finally:
        if p in CHILDREN:
            CHILDREN.remove(p)
            _pgid_file_update()
    return out.decode(errors="replace")


def wait_port(port, timeout=15, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def load_avg():
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------------------------------
# PKI: ECDSA P-256 CA and two leaves (the second for the reload test)
# ------------------------------------------------------------------------------------------


def make_pki(d):
    def run(*args):
        sh(["openssl", *args], cwd=d)

    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "365",
        "-subj", "/CN=tlsgate bench CA", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("leaf", "leaf2"):
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.ec.key")
        # PKCS#8, the form every server accepts
        run("pkcs8", "-topk8", "-nocrypt", "-in", f"{name}.ec.key", "-out", f"{name}.key")
        run("req", "-new", "-key", f"{name}.key", "-subj", "/CN=localhost", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "365", "-sha256", "-extfile", "leaf.ext",
            "-out", f"{name}.pem")
    return {
        "ca": os.path.join(d, "ca.pem"),
        "cert": os.path.join(d, "leaf.pem"),
        "key": os.path.join(d, "leaf.key"),
        "cert2": os.path.join(d, "leaf2.pem"),
        "key2": os.path.join(d, "leaf2.key"),
    }


# ------------------------------------------------------------------------------------------
# Upstreams
# ------------------------------------------------------------------------------------------

SSE_SERVER = r'''
import asyncio, socket, sys, time
N, IV = int(sys.argv[2]), float(sys.argv[3])
async def handle(r, w):
    w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"cache-control: no-cache\r\nx-accel-buffering: no\r\n"
                    b"transfer-encoding: chunked\r\n\r\n")
            await w.drain()
            for i in range(N):
                await asyncio.sleep(IV)
                body = b"data: %d\n\n" % time.time_ns()
                w.write(b"%x\r\n%s\r\n" % (len(body), body))
                await w.drain()
            w.write(b"0\r\n\r\n")
            await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        w.close()
async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    async with s:
        await s.serve_forever()
asyncio.run(main())
'''

STREAM_EVENTS = 16


def nginx_conf_upstream(d, port, echo):
    www = os.path.join(d, "www")
    os.makedirs(www, exist_ok=True)
    for name, size in (("1k", 1024), ("64k", 65536)):
        with open(os.path.join(www, name), "wb") as f:
            f.write((b"0123456789abcdef" * (size // 16 + 1))[:size])
    stream = ""
    if echo:
        event = 'echo "data: {\\"i\\": %d, \\"text\\": \\"the quick brown fox jumps over the lazy dog\\"}\\n";'
        stream = "location = /stream16 { default_type text/event-stream; " + " ".join(
            f"{event % i} echo_flush;" for i in range(STREAM_EVENTS)) + " }"
    return f"""
{f'load_module {ECHO_MODULE};' if echo else ''}
worker_processes 1;
pid {d}/up.pid;
error_log {d}/up-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {www};
        location = / {{ default_type text/plain; return 200 "ok"; }}
        location = /1k {{ default_type application/octet-stream; }}
        location = /64k {{ default_type application/octet-stream; }}
        {stream}
    }}
}}
"""


# ------------------------------------------------------------------------------------------
# The three proxies
# ------------------------------------------------------------------------------------------


def fd_limit():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def nginx_conf_proxy(d, port, up_port, sse_port, cert, key, workers):
    # Default TLS session settings (tickets on, no shared cache): the client never resumes.
    # proxy_buffers hold a 64 KiB response in memory (the defaults would spill it to a temp
    # file); streams are not buffered, as an SSE deployment would configure.
    return f"""
worker_processes {workers};
worker_rlimit_nofile {fd_limit()};
pid {d}/proxy.pid;
error_log {d}/proxy-error.log warn;
events {{ worker_connections {min(30000, fd_limit() - 100)}; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_header_timeout 120s;
    upstream up {{ server 127.0.0.1:{up_port}; keepalive 256; keepalive_requests 1000000; }}
    upstream sse {{ server 127.0.0.1:{sse_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port} ssl http2 backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        http2_max_requests 1000000;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto https;
        proxy_buffers 16 8k;
        proxy_max_temp_file_size 0;
        location / {{ proxy_pass http://up; }}
        location /stream16 {{ proxy_pass http://up; proxy_buffering off; }}
        location /sse {{ proxy_pass http://sse; proxy_buffering off; }}
    }}
}}
"""


def haproxy_conf(d, port, up_port, sse_port, pem, workers):
    # Default TLS session settings (tickets on, a 20 000-entry session cache). `http-reuse
    # always` is the counterpart of nginx's and tlsgate's upstream keep-alive pools (HAProxy's
    # default `safe` opens a server connection for each client connection's first request).
    # maxconn: HAProxy reserves two descriptors per connection and refuses to start when the
    # descriptor limit (which it cannot raise past the hard limit) does not cover them.
    maxconn = min(40000, (fd_limit() - 200) // 2)
    return f"""
global
    nbthread {workers}
    maxconn {maxconn}
    pidfile {d}/haproxy.pid
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-request 120s
    timeout http-keep-alive 300s
    option forwardfor
    http-reuse always
frontend fe
    bind 127.0.0.1:{port} ssl crt {pem} alpn h2,http/1.1
    maxconn {maxconn}
    http-request set-header X-Forwarded-Proto https
    use_backend sse if {{ path_beg /sse }}
    default_backend up
backend up
    server u 127.0.0.1:{up_port}
backend sse
    server s 127.0.0.1:{sse_port}
"""


def tlsgate_conf(port, admin_port, up_port, sse_port, cert, key, ca):
    return f"""
listeners:
  - name: bench
    bind: 127.0.0.1:{port}
    tls:
      certificates:
        - cert: "{cert}"
          key: "{key}"
          ca: "{ca}"
      default_certificate: 0
routes:
  - path_prefix: /sse
    upstream: sse
  - path_prefix: /
    upstream: u
upstreams:
  u:
    url: http://127.0.0.1:{up_port}
  sse:
    url: http://127.0.0.1:{sse_port}
admin:
  bind: 127.0.0.1:{admin_port}
reload:
  watch: true
diagnostics:
  log_format: json
  upstream_checks: off
limits:
  max_connections: 30000
  header_read_timeout: 120s
"""


def proc_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def descendants(pid):
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for c in f.read().split():
                    out.extend(descendants(int(c)))
    except FileNotFoundError:
        pass
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pids):
    """utime + stime of these processes, in seconds."""
    t = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, IndexError):
            pass
    return t / CLK_TCK


class Proxy:
    """One running instance of a proxy, with its own directory, port and certificate copy."""

    def __init__(self, name, ctx, tag=""):
        self.name, self.ctx = name, ctx
        self.dir = tempfile.mkdtemp(dir=ctx["work"], prefix=f"{name}{tag}-")
        self.port = free_port()
        self.cert = os.path.join(self.dir, "leaf.pem")
        self.key = os.path.join(self.dir, "leaf.key")
        shutil.copy(ctx["pki"]["cert"], self.cert)
        shutil.copy(ctx["pki"]["key"], self.key)
        self.proc = None
        self.conf = None
        self.admin_port = None

    @property
    def url(self):
        # The name, not 127.0.0.1: wrk sends the URL's host as SNI, and an IP address there is
        # not what browsers and SDKs send (rustls logs a warning for each such handshake).
        # localhost resolves to 127.0.0.1 here; wrk and h2load try each address in turn.
        return f"https://localhost:{self.port}"

    def start(self):
        c, d, w = self.ctx, self.dir, self.ctx["workers"]
        logf = open(os.path.join(d, "out.log"), "w")
        if self.name == "tlsgate":
            self.admin_port = free_port()
            self.conf = os.path.join(d, "tlsgate.yaml")
            with open(self.conf, "w") as f:
                f.write(tlsgate_conf(self.port, self.admin_port, c["up_port"], c["sse_port"],
                                     self.cert, self.key, c["pki"]["ca"]))
            env = dict(os.environ, RUST_LOG="warn", TLSGATE_WORKERS=str(w))
            self.proc = spawn([c["tlsgate"], "serve", "-c", self.conf], env=env,
                              stdout=logf, stderr=logf)
        elif self.name == "nginx":
            self.conf = os.path.join(d, "nginx.conf")
            with open(self.conf, "w") as f:
                f.write(nginx_conf_proxy(d, self.port, c["up_port"], c["sse_port"],
                                         self.cert, self.key, w))
            self.proc = spawn(["nginx", "-c", self.conf, "-g", "daemon off;"],
                              stdout=logf, stderr=logf)
        elif self.name == "haproxy":
            pem = os.path.join(d, "leaf+key.pem")
            with open(pem, "w") as f:
                f.write(open(self.cert).read() + open(self.key).read())
            self.conf = os.path.join(d, "haproxy.cfg")
            with open(self.conf, "w") as f:
                f.write(haproxy_conf(d, self.port, c["up_port"], c["sse_port"], pem, w))
            self.proc = spawn(["haproxy", "-db", "-f", self.conf], stdout=logf, stderr=logf)
        else:
            raise ValueError(self.name)
        try:
            wait_port(self.port, proc=self.proc)
        except RuntimeError:
            logf.flush()
            log(f"{self.name} did not start:\n" + open(os.path.join(d, "out.log")).read())
            raise
        return self

    def pids(self):
        return descendants(self.proc.pid)

    def cpu_s(self):
        return proc_cpu_s(self.pids())

    def rss_kib(self):
        return sum(proc_rss_kib(p) for p in self.pids())

    def stop(self):
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


# ------------------------------------------------------------------------------------------
# Load generators (always through noresume.so, so every handshake is a full one)
# ------------------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def tool_env():
    shim = os.environ.get("NORESUME_SO") or os.path.join(ROOT, "target", "noresume.so")
    if not os.path.exists(shim):
        raise RuntimeError(f"{shim} missing: run benches/load/run.sh (it compiles noresume.c)")
    return dict(os.environ, LD_PRELOAD=shim)


def parse_wrk(out):
    def lat(pct):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return {"rps": rps, "p50_ms": lat(50), "p99_ms": lat(99), "errors": errors}


def wrk(url, conns, secs, extra=()):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{secs}s", "--timeout", "10s", "--latency", *extra, url]
    out = run_tool(cmd, secs + 40, env=tool_env())
    try:
        return parse_wrk(out)
    except AttributeError:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")


def parse_h2load(out):
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    r = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out)
    if not m or not r:
        raise RuntimeError(f"cannot parse h2load output:\n{out}")
    p = re.search(r"Application protocol: (\S+)", out)
    t = re.search(r"TLS Protocol: (\S+)", out)
    c = re.search(r"Cipher: (\S+)", out)
    return {"rps": float(m.group(1)), "done": int(r.group(2)),
            "errors": int(r.group(4)) + int(r.group(5)),
            "protocol": p.group(1) if p else None,
            "tls": f"{t.group(1)} {c.group(1)}" if t and c else None}


# h2load offers TLS_AES_128_GCM_SHA256 first, wrk (OpenSSL's default order) AES-256-GCM; nginx
# and tlsgate follow the client's order, HAProxy its own (AES-256-GCM first). One suite for all.
H2LOAD_TLS = ["--tls13-ciphers=TLS_AES_256_GCM_SHA384"]


def h2load(url, conns, streams, secs):
    cmd = ["h2load", *H2LOAD_TLS, "-t2", f"-c{conns}", f"-m{streams}", f"-D{secs}", "--warm-up-time=1", url]
    return parse_h2load(run_tool(cmd, secs + 40, env=tool_env()))


def h2load_h1(url, conns, secs, work):
    """Keep-alive HTTP/1.1 with a warm-up (h2load --h1): every connection is open and past its
    handshake before the measured period, even at 1 024 connections on a busy machine (wrk has
    no warm-up). h2load prints no percentiles; they come from its per-request log."""
    warmup = max(1, -(-conns // 512))
    logf = os.path.join(work, "h2load-requests.tsv")
    cmd = ["h2load", "--h1", *H2LOAD_TLS, "-t2", f"-c{conns}", f"-D{secs}", f"--warm-up-time={warmup}",
           f"--log-file={logf}", url]
    r = parse_h2load(run_tool(cmd, secs + warmup + 40, env=tool_env()))
    lat, non200 = [], 0
    with open(logf) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3:
                non200 += cols[1] not in ("200", "-1")  # -1: a failed stream, already counted
                lat.append(int(cols[2]))
    os.unlink(logf)
    lat.sort()
    r["non200"] = non200
    r["p50_ms"] = lat[len(lat) // 2] / 1000 if lat else None
    r["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000 if lat else None
    return r


def wrk_handshakes(url, conns, secs, threads=2, shim=True):
    """HTTP/1.1 with `Connection: close`: the proxy closes after each response and wrk
    reconnects, so every request is a new connection and a new handshake. (h2load 1.52 with
    -D never returns when the server closes connections, hence wrk.)"""
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--timeout", "10s", "--latency",
           "-H", "Connection: close", url]
    env = tool_env() if shim else dict(os.environ)
    out = run_tool(cmd, secs + 40, env=env)
    try:
        return parse_wrk(out)
    except AttributeError:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")


# ------------------------------------------------------------------------------------------
# Resumption audit: capture a short run and read the hellos
# ------------------------------------------------------------------------------------------


SUITES = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
          0x1303: "TLS_CHACHA20_POLY1305_SHA256"}
GROUPS = {0x001D: "X25519", 0x0017: "P-256", 0x0018: "P-384", 0x11EC: "X25519MLKEM768"}


def _hello_fields(body, server):
    """(session_id, {extension type: data}, cipher suite) of a ClientHello (server=False) or a
    ServerHello body."""
    p = 2 + 32
    sid = body[p + 1:p + 1 + body[p]]
    p += 1 + body[p]
    suite = None
    if server:
        suite = struct.unpack(">H", body[p:p + 2])[0]
        p += 3  # cipher suite, compression method
    else:
        p += 2 + struct.unpack(">H", body[p:p + 2])[0]  # cipher suites
        p += 1 + body[p]  # compression methods
    end = p + 2 + struct.unpack(">H", body[p:p + 2])[0]
    p += 2
    exts = {}
    while p + 4 <= min(end, len(body)):
        t, ln = struct.unpack(">HH", body[p:p + 4])
        exts[t] = body[p + 4:p + 4 + ln]
        p += 4 + ln
    return sid, exts, suite


def hello_stats(pcap_path, server_port):
    data = open(pcap_path, "rb").read()
    if len(data) < 24:
        raise RuntimeError("empty capture")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise RuntimeError("capture is not in pcap format")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    l2 = {1: 14, 113: 16, 276: 20, 0: 4, 108: 4}.get(linktype)
    if l2 is None:
        raise RuntimeError(f"link type {linktype} not handled")
    st = {"connections": 0, "client_hellos": 0, "offered_psk": 0, "offered_ticket": 0, "server_hellos": 0,
          "resumed": 0, "negotiated": {}}
    client_sid = {}
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = pkt[l2:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        tcp = ip[(ip[0] & 15) * 4:]
        if len(tcp) < 20:
            continue
        sport, dport = struct.unpack(">HH", tcp[:4])
        if dport == server_port and tcp[13] & 0x12 == 0x02:  # SYN without ACK
            st["connections"] += 1
        payload = tcp[(tcp[12] >> 4) * 4:]
        if len(payload) < 10 or payload[0] != 22 or payload[1] != 3:
            continue
        try:
            if payload[5] == 1 and dport == server_port:
                sid, exts, _ = _hello_fields(payload[9:], server=False)
                st["client_hellos"] += 1
                st["offered_psk"] += 41 in exts
                st["offered_ticket"] += len(exts.get(35, b"")) > 0
                client_sid[sport] = sid
            elif payload[5] == 2 and sport == server_port:
                sid, exts, suite = _hello_fields(payload[9:], server=True)
                st["server_hellos"] += 1
                group = struct.unpack(">H", exts[51][:2])[0] if len(exts.get(51, b"")) >= 2 else None
                k = f"{SUITES.get(suite, hex(suite))} {GROUPS.get(group, group)}"
                st["negotiated"][k] = st["negotiated"].get(k, 0) + 1
                if 43 in exts:  # TLS 1.3: resumed when the server accepts a PSK
                    st["resumed"] += 41 in exts
                else:  # TLS 1.2: resumed when the server echoes the offered session id
                    st["resumed"] += bool(sid) and sid == client_sid.get(dport)
        except (IndexError, struct.error):
            continue
    return st


def resumption_audit(proxy, work, shim):
    """A one-second wrk run (4 connections, each request on a new one) captured on loopback:
    counts connections, offered and accepted resumptions."""
    if not shutil.which("tcpdump"):
        return {"skipped": "tcpdump not installed"}
    pcap = os.path.join(work, f"audit-{proxy.name}-{'shim' if shim else 'plain'}.pcap")
    errf = os.path.join(work, "tcpdump.err")
    with open(errf, "w") as ef:
        td = spawn(["tcpdump", "-i", "lo", "-nn", "-s", "0", "-B", "65536", "-U", "-w", pcap,
                    f"tcp port {proxy.port}"], stderr=ef)
    deadline = time.time() + 10
    while "listening on" not in open(errf).read():
        if time.time() > deadline or td.poll() is not None:
            stop(td)
            return {"skipped": "tcpdump failed: " + open(errf).read().strip()[-200:]}
        time.sleep(0.05)
    try:
        run = wrk_handshakes(proxy.url + "/", 4, 1, threads=1, shim=shim)
    finally:
        time.sleep(0.3)
        stop(td, signal.SIGINT)
    st = hello_stats(pcap, proxy.port)
    st["requests"] = round(run["rps"])  # over the 1 s run
    st["dropped"] = re.findall(r"(\d+) packets? dropped by kernel", open(errf).read())
    os.unlink(pcap)
    return st


# ------------------------------------------------------------------------------------------
# SSE delay, idle connections, reload
# ------------------------------------------------------------------------------------------


def client_ctx(ca, alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def sse_delays(port, ca, chunks, tls=True):
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = client_ctx(ca).wrap_socket(raw, server_hostname="localhost") if tls else raw
    s.sendall(b"GET /sse HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
    buf = b""
    delays = []
    pat = re.compile(rb"data: (\d+)\n\n")
    s.settimeout(10)
    while len(delays) < chunks:
        data = s.recv(65536)
        now = time.time_ns()
        if not data:
            break
        buf += data
        pos = 0
        for m in pat.finditer(buf):
            delays.append((now - int(m.group(1))) / 1e6)
            pos = m.end()
        buf = buf[pos:]
    s.close()
    if len(delays) < chunks:
        raise RuntimeError(f"SSE: got {len(delays)} of {chunks} chunks via port {port}")
    d = sorted(delays[1:])  # the first chunk includes connection set-up on some paths
    return {"median_ms": statistics.median(d), "p90_ms": d[int(len(d) * 0.9) - 1],
            "max_ms": d[-1], "chunks": len(delays)}


async def _open_idle(port, n, conns, parallel=64):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the client's verify cost is not what is measured
    ctx.set_alpn_protocols(["http/1.1"])
    sem = asyncio.Semaphore(parallel)
    failures = 0

    async def one():
        nonlocal failures
        async with sem:
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"),
                    30)
                conns.append(w)
            except Exception:
                failures += 1

    await asyncio.gather(*(one() for _ in range(n)))
    return failures


def idle_memory(proxy, levels):
    """RSS of a fresh instance with levels[0], then levels[1] idle TLS connections."""
    async def run():
        conns = []
        await asyncio.sleep(0.5)
        base = proxy.rss_kib()
        res = {"base_rss_kib": base, "levels": {}}
        for n in levels:
            failures = await _open_idle(proxy.port, n - len(conns), conns)
            await asyncio.sleep(1.5)  # let allocations settle
            res["levels"][str(n)] = {"rss_kib": proxy.rss_kib(), "open": len(conns),
                                     "failures": failures}
            log(f"    {proxy.name}: {len(conns)} idle, RSS {res['levels'][str(n)]['rss_kib'] / 1024:.1f} MiB")
        for w in conns:
            w.transport.abort()
        await asyncio.sleep(0.2)
        lo, hi = (res["levels"][str(n)] for n in levels)
        if hi["open"] > lo["open"]:
            res["per_conn_kib"] = round((hi["rss_kib"] - lo["rss_kib"]) / (hi["open"] - lo["open"]), 2)
        res["per_conn_from_base_kib"] = round((hi["rss_kib"] - base) / max(1, hi["open"]), 2)
        return res

    return asyncio.run(run())


def fingerprint(port, ca):
    ctx = client_ctx(ca)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True)


def der_of(pem_path):
    import base64
    pem = open(pem_path).read()
    b64 = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(b64.split()))


def wait_for_cert(port, ca, want_der, t0, timeout=10):
    while time.monotonic() - t0 < timeout:
        try:
            if fingerprint(port, ca) == want_der:
                return (time.monotonic() - t0) * 1000
        except OSError:
            pass
        time.sleep(0.005)
    return None


def reload_rounds(proxy, pki, rounds=3):
    """Rotate by rename (new files written beside, then renamed over the configured paths);
    nginx is then sent `nginx -s reload` (it does not watch files), tlsgate is told nothing."""
    times = []
    pairs = [(pki["cert2"], pki["key2"]), (pki["cert"], pki["key"])]
    for i in range(rounds):
        cert_src, key_src = pairs[i % 2]
        shutil.copy(cert_src, proxy.cert + ".new")
        shutil.copy(key_src, proxy.key + ".new")
        os.rename(proxy.key + ".new", proxy.key)
        os.rename(proxy.cert + ".new", proxy.cert)
        t0 = time.monotonic()
        if proxy.name == "nginx":
            sh(["nginx", "-c", proxy.conf, "-s", "reload"])
        times.append(wait_for_cert(proxy.port, pki["ca"], der_of(cert_src), t0))
        time.sleep(0.8)
    ok = [t for t in times if t is not None]
    return {"median_ms": statistics.median(ok) if ok else None, "all_ms": times,
            "how": "nginx -s reload" if proxy.name == "nginx" else "file watch"}


# ------------------------------------------------------------------------------------------
# Rounds and summaries
# ------------------------------------------------------------------------------------------


def measured(proxy, fn):
    """Runs fn() (a wrk/h2load call) and adds the proxy's CPU time per request."""
    c0, t0 = proxy.cpu_s(), time.monotonic()
    r = fn()
    c1, el = proxy.cpu_s(), time.monotonic() - t0
    if r.get("rps"):
        r["cpu_us_per_req"] = round((c1 - c0) / (r["rps"] * el) * 1e6, 1)
    return r


def rounds_of(names, rounds, fn, label):
    """fn(name) per name per round, the order rotating each round; {name: [result per round]}."""
    runs = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            runs[name].append(fn(name))
            log(f"  {label} round {r + 1} {name}: {runs[name][-1]}")
    return runs


def summ(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def compare(per_proxy, higher_better):
    """per_proxy: {name: [value per round]} -> ratios of tlsgate to the better other proxy."""
    pick = max if higher_better else min
    med = {n: statistics.median(v) for n, v in per_proxy.items() if v}
    others = {n: med[n] for n in OTHERS if n in med}
    if "tlsgate" not in med or not others:
        return None
    best = pick(others, key=others.get)
    per_round = []
    for i, t in enumerate(per_proxy["tlsgate"]):
        o = [per_proxy[n][i] for n in OTHERS if len(per_proxy.get(n, [])) > i]
        b = pick(o) if o else None
        if t is not None and b:
            per_round.append(t / b)
    return {"best_other": best, "ratio": med["tlsgate"] / others[best] if others[best] else None,
            "ratio_rounds": per_round,
            "per_proxy": {n: summ(v) for n, v in per_proxy.items()}}


def collect(runs, key):
    return {n: [r.get(key) for r in v] for n, v in runs.items()}


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: short runs, ~2-3 minutes")
    ap.add_argument("--tlsgate", default=os.path.join(ROOT, "target", "release", "tlsgate"))
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench-load.json"))
    ap.add_argument("--png", help="scaling plot (default: docs/bench-scaling.png, with --quick "
                    "target/bench-scaling.png, so a smoke test leaves the documented figure alone)")
    ap.add_argument("--secs", type=int, help="duration of each headline wrk/h2load run")
    ap.add_argument("--rounds", type=int, help="rounds of the headline measurements")
    ap.add_argument("--conns", type=int, default=64, help="keep-alive, handshake and h2 connections")
    ap.add_argument("--workers", type=int, default=2,
                    help="TLSGATE_WORKERS, nginx worker_processes, HAProxy nbthread")
    ap.add_argument("--only", default="keepalive,handshakes,h2,sse,idle,scaling,reload")
    ap.add_argument("--idle-levels", help="LO,HI idle connections (HI: HAProxy takes at most "
                    "(hard RLIMIT_NOFILE - 200) / 2, 9 900 with the 20 000 here)")
    ap.add_argument("--idle-rounds", type=int)
    ap.add_argument("--scale-conns", default="16,64,256,1024")
    ap.add_argument("--scale-secs", type=int)
    ap.add_argument("--scale-rounds", type=int)
    ap.add_argument("--sse-chunks", type=int)
    ap.add_argument("--sse-interval", type=float)
    ap.add_argument("--profile", choices=["callgrind", "perf"],
                    help="profile tlsgate on the keep-alive path instead of benchmarking")
    ap.add_argument("--profile-secs", type=int, default=15)
    ap.add_argument("--profile-conns", type=int, default=16)
    ap.add_argument("--profile-top", type=int, default=15)
    ap.add_argument("--profile-out", default=os.path.join(ROOT, "target", "profile"))
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.profile:
        return profile_main(args)
    mode = "quick" if args.quick else "full"
    if args.png is None:
        args.png = os.path.join(ROOT, *(("target",) if args.quick else ("docs",)), "bench-scaling.png")
    for k, v in PRESETS[mode].items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    only = set(args.only.split(","))
    t_start = time.monotonic()
    levels = tuple(int(x) for x in args.idle_levels.split(","))
    if "idle" in only and (hard - 200) // 2 < levels[-1] + 100:
        log(f"warning: RLIMIT_NOFILE hard limit {hard}: HAProxy accepts at most {(hard - 200) // 2}"
            f" connections, fewer than {levels[-1]} idle ones")

    work = tempfile.mkdtemp(prefix="tlsgate-bench-")
    WORKDIRS.append(work)
    pki = make_pki(work)
    echo = os.path.exists(ECHO_MODULE)
    if not echo:
        log(f"no {ECHO_MODULE} (Debian: libnginx-mod-http-echo): the stream point is skipped")
    ctx = {"work": work, "pki": pki, "workers": args.workers, "tlsgate": args.tlsgate,
           "up_port": free_port(), "sse_port": free_port()}

    # The upstream, shared by all three proxies.
    updir = tempfile.mkdtemp(dir=work, prefix="upstream-")
    for d in (work, updir):  # nginx workers run as an unprivileged user and serve files here
        os.chmod(d, 0o755)
    up_conf = os.path.join(updir, "up.conf")
    with open(up_conf, "w") as f:
        f.write(nginx_conf_upstream(updir, ctx["up_port"], echo))
    up = spawn(["nginx", "-c", up_conf, "-g", "daemon off;"])
    sse_py = os.path.join(work, "sse.py")
    with open(sse_py, "w") as f:
        f.write(SSE_SERVER)
    sse = spawn([sys.executable, sse_py, str(ctx["sse_port"]), str(args.sse_chunks),
                 str(args.sse_interval)])
    wait_port(ctx["up_port"], proc=up)
    wait_port(ctx["sse_port"], proc=sse)

    proxies = {n: Proxy(n, ctx).start() for n in PROXIES}
    time.sleep(0.5)
    # Sanity: every proxy answers through to the upstream, with the same bodies.
    for name, p in proxies.items():
        for path, want in (("/", 2), ("/1k", 1024), ("/64k", 65536)):
            out = sh(["curl", "-sS", "--cacert", pki["ca"], f"https://localhost:{p.port}{path}"]).stdout
            assert len(out) == want, f"{name} {path}: {len(out)} bytes, expected {want}: {out[:300]!r}"
        if echo:
            out = sh(["curl", "-sS", "--cacert", pki["ca"], f"https://localhost:{p.port}/stream16"]).stdout
            assert out.count("data: ") == STREAM_EVENTS, f"{name} /stream16: {out[:200]!r}"

    negotiated = {}
    for name, p in proxies.items():
        with socket.create_connection(("127.0.0.1", p.port)) as raw:
            with client_ctx(pki["ca"]).wrap_socket(raw, server_hostname="localhost") as s:
                negotiated[name] = f"{s.version()} {s.cipher()[0]}"
    log(f"negotiated (Python client): {negotiated}")

    def version(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        return (r.stdout + r.stderr).strip().splitlines()[0]

    res = {
        "mode": mode,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}",
        "load_avg_start": load_avg(),
        "versions": {"nginx": version(["nginx", "-v"]), "haproxy": version(["haproxy", "-v"]),
                     "wrk": version(["wrk", "-v"]), "h2load": version(["h2load", "--version"])},
        "negotiated": negotiated,
        "settings": {"secs": args.secs, "rounds": args.rounds, "conns": args.conns,
                     "workers": args.workers, "cert": "ECDSA P-256", "client_threads": 2,
                     "idle_levels": list(levels), "idle_rounds": args.idle_rounds,
                     "scale_conns": args.scale_conns, "scale_secs": args.scale_secs,
                     "scale_rounds": args.scale_rounds, "sse_chunks": args.sse_chunks,
                     "sse_interval_s": args.sse_interval, "stream_events": STREAM_EVENTS},
    }
    names = list(PROXIES)
    phase_t = [time.monotonic()]
    res["phase_s"] = {}

    def phase_done(name):
        res["phase_s"][name] = round(time.monotonic() - phase_t[0], 1)
        phase_t[0] = time.monotonic()

    if "keepalive" in only:
        log("keep-alive HTTPS (wrk, HTTP/1.1)")
        for n in names:  # warm-up
            wrk(proxies[n].url + "/", args.conns, 1)
        runs = rounds_of(names, args.rounds, lambda n: measured(
            proxies[n], lambda: wrk(proxies[n].url + "/", args.conns, args.secs)), "keepalive")
        res["keepalive"] = {"runs": runs,
                            "upstream": wrk(f"http://127.0.0.1:{ctx['up_port']}/", args.conns, args.secs)}
        phase_done("keepalive")

    if "handshakes" in only:
        log("full handshakes (wrk, Connection: close, no resumption)")
        audit = {}
        for n in names:
            audit[n] = {"with_shim": resumption_audit(proxies[n], work, True),
                        "without_shim": resumption_audit(proxies[n], work, False)}
            log(f"  resumption audit {n}: {audit[n]}")
        runs = rounds_of(names, args.rounds, lambda n: measured(
            proxies[n], lambda: wrk_handshakes(proxies[n].url + "/", args.conns, args.secs)),
            "handshakes")
        res["handshakes"] = {"runs": runs, "resumption_audit": audit}
        phase_done("handshakes")

    if "h2" in only:
        log("HTTP/2 (h2load)")
        runs = rounds_of(names, args.rounds, lambda n: measured(
            proxies[n], lambda: h2load(proxies[n].url + "/", args.conns, 10, args.secs)), "h2")
        res["h2"] = {"runs": runs}
        phase_done("h2")

    if "sse" in only:
        log("SSE chunk delay")
        direct, runs = [], {n: [] for n in names}
        for r in range(args.rounds):
            direct.append(sse_delays(ctx["sse_port"], pki["ca"], args.sse_chunks, tls=False))
            for n in names[r % 3:] + names[:r % 3]:
                d = sse_delays(proxies[n].port, pki["ca"], args.sse_chunks)
                d["added_median_ms"] = d["median_ms"] - direct[-1]["median_ms"]
                runs[n].append(d)
                log(f"  sse round {r + 1} {n}: {d}")
        res["sse"] = {"runs": runs, "direct": direct}
        phase_done("sse")

    if "idle" in only:
        log(f"idle TLS connections ({levels[0]} then {levels[1]}, a fresh instance per round)")
        runs = {n: [] for n in names}
        for r in range(args.idle_rounds):
            for n in names[r % 3:] + names[:r % 3]:
                p = Proxy(n, ctx, tag=f"-idle{r}").start()
                try:
                    runs[n].append(idle_memory(p, levels))
                finally:
                    p.stop()
                log(f"  idle round {r + 1} {n}: {runs[n][-1].get('per_conn_kib')} KiB/conn")
                time.sleep(0.5)
        res["idle"] = {"runs": runs}
        phase_done("idle")

    if "scaling" in only:
        points = [(f"c{c}", "/1k", c) for c in map(int, args.scale_conns.split(","))]
        points.append(("64k", "/64k", args.conns))
        if echo:
            points.append(("stream16", "/stream16", args.conns))
        log(f"scaling: {[p[0] for p in points]} x {args.scale_rounds} rounds x {args.scale_secs}s")
        sc = {"points": {k: {"path": path, "conns": c} for k, path, c in points},
              "runs": {n: {k: [] for k, _, _ in points} for n in names + ["upstream"]}}
        for r in range(args.scale_rounds):
            for key, path, c in points:
                for n in names[r % 3:] + names[:r % 3]:
                    x = measured(proxies[n], lambda: h2load_h1(proxies[n].url + path, c, args.scale_secs, work))
                    sc["runs"][n][key].append(x)
                    log(f"  scaling round {r + 1} {key} {n}: {x}")
                if r == 0:
                    x = h2load_h1(f"http://127.0.0.1:{ctx['up_port']}{path}", c, args.scale_secs, work)
                    sc["runs"]["upstream"][key].append(x)
                    log(f"  scaling {key} upstream direct: {x}")
        res["scaling"] = sc
        phase_done("scaling")

    if "reload" in only:
        log("certificate reload (tlsgate: file watch; nginx: nginx -s reload)")
        res["reload"] = {n: reload_rounds(proxies[n], pki) for n in ("tlsgate", "nginx")}
        log(f"  {res['reload']}")
        phase_done("reload")

    if "tlsgate" in proxies and proxies["tlsgate"].admin_port:
        try:
            res["tlsgate_pool"] = tlsgate_pool_reuse(proxies["tlsgate"].admin_port)
        except Exception as e:  # the metric names are tlsgate's; do not fail the run on them
            res["tlsgate_pool"] = {"error": str(e)}

    res["load_avg_end"] = load_avg()
    res["elapsed_s"] = round(time.monotonic() - t_start, 1)
    res["summary"] = summarize(res)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=2)
    print(markdown(res))
    log(f"JSON: {args.json} ({res['elapsed_s']} s; by phase: {res['phase_s']})")
    if "scaling" in res:
        plot = subprocess.run([sys.executable, os.path.join(HERE, "plot.py"), args.json, args.png],
                              capture_output=True, text=True)
        log(plot.stdout.strip() or plot.stderr.strip())


# ------------------------------------------------------------------------------------------
# Profiling tlsgate on the keep-alive HTTPS path (benches/load/profile.sh)
# ------------------------------------------------------------------------------------------

RUST_HASH = re.compile(r"::h[0-9a-f]{16}\b")
SRC_FILE = re.compile(r"^(?:\?\?\?|\S+\.(?:rs|S|s|c|h|cc|cpp)):(?!:)")
AREAS = (  # (area, substrings of "file:function" or perf's symbol), first match wins
    ("aws-lc: AES-GCM, SHA-2, X25519, ECDSA", ("aws_lc", "aws-lc")),
    ("rustls: records, handshake state", ("rustls",)),
    ("hyper, hyper-util, h2: HTTP/1 and HTTP/2, client pool", ("hyper", "/h2-", "h2::")),
    ("http, httparse, bytes: headers, parsing, buffers", ("/http-1.", "http::", "httparse", "bytes")),
    ("tokio, mio: scheduler, timers, I/O readiness", ("tokio", "mio")),
    ("prometheus-client, tracing: metrics and logs", ("prometheus", "tracing")),
    ("tlsgate's own code", ("tlsgate::", "/src/server/", "/src/proxy/", "src/server/", "src/proxy/")),
    ("libc malloc/free", ("malloc", "_int_free", "cfree", "free_")),
    ("libc memcpy/memmove/memset", ("memcpy", "memmove", "memset", "memcmp")),
    ("Rust core/alloc/std: hashing, formatting, collections", ("/rustc/", "core::", "alloc::", "std::")),
)


def area_of(sym):
    if sym.startswith("[kernel] "):
        return "kernel: system calls, loopback TCP, scheduling"
    for name, keys in AREAS:
        if any(k in sym for k in keys):
            return name
    return "other (libc, vDSO, unresolved)"


def _short(sym, width=100):
    sym = re.sub(r"(\s+-)+\s*$", "", sym)  # perf report's empty trailing columns
    sym = RUST_HASH.sub("", sym).strip()
    sym = re.sub(r"\s+\[[^\]]*\]$", "", sym)  # callgrind_annotate's " [/path/to/object]"
    sym = SRC_FILE.sub("", sym)
    return sym if len(sym) <= width else sym[:width - 1] + "…"


# Frames every sample passes through: threads, the runtime's loop, its task harness.
PLUMBING = re.compile(r"^(\[kernel\] )?(0x[0-9a-f]+|clone3?|start_thread|_start|main|__libc_start\w*|"
                      r"\[kernel\] entry_SYSCALL_64\w*)$|"
                      r"thread_start|__rust_begin_short_backtrace|FnOnce::call_once|"
                      r"^tokio::runtime::(context|runtime|scheduler|task)::|^std::rt::|^std::thread::")


def _ranked(entries, top, skip_plumbing):
    """entries: (share, raw name); merged by short name, runtime plumbing dropped if asked."""
    seen, out = set(), []
    for pct, raw in entries:
        name = _short(raw)
        if name in seen or (skip_plumbing and PLUMBING.search(name)):
            continue
        seen.add(name)
        out.append((pct, name))
    return out[:top]


def _areas(entries):
    acc = {}
    for pct, raw in entries:
        a = area_of(raw)
        acc[a] = acc.get(a, 0.0) + pct
    return sorted(acc.items(), key=lambda kv: -kv[1])


def callgrind_tables(out_file, top):
    rows = {}
    for inclusive in (True, False):
        txt = sh(["callgrind_annotate", "--auto=no", f"--inclusive={'yes' if inclusive else 'no'}",
                  "--threshold=100", out_file]).stdout
        got = []
        for line in txt.splitlines():
            m = re.match(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S.*)$", line)
            if m and "PROGRAM TOTALS" not in line:
                got.append((float(m.group(2)), m.group(3)))
        key = "inclusive" if inclusive else "self"
        rows[key] = _ranked(got, top, inclusive)
        if not inclusive:
            rows["areas"] = _areas(got)
    total = re.search(r"^\s*([\d,]+)\s.*PROGRAM TOTALS", sh(["callgrind_annotate", out_file]).stdout, re.M)
    rows["total_ir"] = total.group(1) if total else None
    return rows


def perf_tables(data, top):
    rows = {}
    for mode, args in (("inclusive", ["--children"]), ("self", ["--no-children"])):
        txt = sh(["perf", "report", "-i", data, "--stdio", *args, "--sort", "symbol", "-g", "none",
                  "--percent-limit", "0", "--no-inline"]).stdout
        got = []
        for line in txt.splitlines():
            m = re.match(r"^\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?\[(.)\]\s+(.*)$", line)
            if m:
                got.append((float(m.group(1)), ("[kernel] " if m.group(3) == "k" else "") + m.group(4)))
        rows[mode] = _ranked(got, top, mode == "inclusive")
        if mode == "self":
            rows["areas"] = _areas(got)
    return rows


def profile_main(args):
    """Starts the upstream and tlsgate alone (under callgrind, or sampled by perf), drives
    keep-alive HTTPS with wrk, and writes the top functions as Markdown."""
    out_dir = os.path.abspath(args.profile_out)
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="tlsgate-profile-")
    WORKDIRS.append(work)
    os.chmod(work, 0o755)
    pki = make_pki(work)
    ctx = {"work": work, "pki": pki, "workers": args.workers, "tlsgate": args.tlsgate,
           "up_port": free_port(), "sse_port": free_port()}
    updir = tempfile.mkdtemp(dir=work, prefix="upstream-")
    os.chmod(updir, 0o755)
    with open(os.path.join(updir, "up.conf"), "w") as f:
        f.write(nginx_conf_upstream(updir, ctx["up_port"], False))
    up = spawn(["nginx", "-c", os.path.join(updir, "up.conf"), "-g", "daemon off;"])
    wait_port(ctx["up_port"], proc=up)
    tg = Proxy("tlsgate", ctx)
    tg.admin_port = free_port()
    with open(os.path.join(tg.dir, "tlsgate.yaml"), "w") as f:
        f.write(tlsgate_conf(tg.port, tg.admin_port, ctx["up_port"], ctx["sse_port"], tg.cert, tg.key,
                             pki["ca"]))
    cmd = [args.tlsgate, "serve", "-c", os.path.join(tg.dir, "tlsgate.yaml")]
    env = dict(os.environ, RUST_LOG="warn", TLSGATE_WORKERS=str(args.workers))
    logf = open(os.path.join(out_dir, "tlsgate.log"), "w")
    conns, secs = args.profile_conns, args.profile_secs
    # Connections open and past their handshakes before anything is recorded: h2load's
    # warm-up, with the profiler switched on only once it is over (a handshake costs as much as
    # a few hundred requests; the keep-alive path is what is profiled here).
    warmup = 10 if args.profile == "callgrind" else 3
    load_cmd = ["h2load", "--h1", *H2LOAD_TLS, "-t2", f"-c{conns}", f"-D{secs}",
                f"--warm-up-time={warmup}", tg.url + "/"]

    def drive(on, off):
        h2 = spawn(load_cmd, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(warmup + 0.5)
        on()
        out, _ = h2.communicate(timeout=secs + warmup + 120)
        off()
        stop(h2)
        return parse_h2load(out.decode(errors="replace"))

    md = [f"Run: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, {os.cpu_count()} cores, "
          f"load average {load_avg()}; tlsgate `TLSGATE_WORKERS={args.workers}`, keep-alive HTTPS "
          f"`GET /` (2-byte body from an nginx upstream), `{' '.join(load_cmd[:-1])} https://localhost:PORT/` "
          f"through noresume.so, binary {args.tlsgate}. Only the {secs} s after the warm-up are recorded: "
          f"no handshakes, only requests on open connections.", ""]
    if args.profile == "callgrind":
        cg_out = os.path.join(out_dir, "callgrind.out")
        vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_out}",
              "--instr-atstart=no", "--dump-instr=no"]
        proc = spawn(vg + cmd, env=env, stdout=logf, stderr=logf)
        wait_port(tg.port, timeout=120, proc=proc)
        # Requests handled while instrumented, from tlsgate's own counter: h2load's count
        # covers its measured period, which need not match the instrumented one exactly.
        served = {}

        def on():
            sh(["callgrind_control", "-i", "on", str(proc.pid)])
            served["on"] = tlsgate_pool_reuse(tg.admin_port)["requests"]

        def off():
            served["off"] = tlsgate_pool_reuse(tg.admin_port)["requests"]
            sh(["callgrind_control", "-i", "off", str(proc.pid)])

        load = drive(on, off)
        n_req = served["off"] - served["on"]
        stop(proc, grace=60)
        t = callgrind_tables(cg_out, args.profile_top)
        md += [f"Load while recorded: {load['rps']:,.0f} req/s under valgrind; {n_req:,} requests served "
               f"while instrumented (tlsgate_requests_total), {t['total_ir']} instructions (Ir) collected, "
               f"{int(t['total_ir'].replace(',', '')) // max(1, n_req):,} per request."
               if t["total_ir"] else "", "",
               "Command: `" + " ".join(vg) + " target/prof/release/tlsgate serve -c tlsgate.yaml`, "
               "instrumentation switched on with `callgrind_control -i on` when the warm-up is over and "
               "off when h2load ends; `callgrind_annotate --auto=no --inclusive=yes|no`.", ""]
        kinds = (("inclusive", "inclusive Ir (the function and everything it calls)"),
                 ("self", "self Ir (the function's own instructions)"))
    else:
        pdata = os.path.join(out_dir, "perf.data")
        proc = spawn(cmd, env=env, stdout=logf, stderr=logf)
        wait_port(tg.port, proc=proc)
        rec = ["perf", "record", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
               "-o", pdata, "-p", str(proc.pid)]
        holder = {}
        load = drive(lambda: holder.update(perf=spawn(rec, stdout=logf, stderr=logf)),
                     lambda: stop(holder["perf"], signal.SIGINT, grace=60))
        stop(proc)
        t = perf_tables(pdata, args.profile_top)
        md += [f"Load while sampled: {load['rps']:,.0f} req/s.", "",
               "Command: `" + " ".join(rec[:-1]) + " <tlsgate pid>` from the end of the warm-up to the "
               "end of the h2load run, then "
               "`perf report --stdio --children|--no-children --sort symbol -g none --no-inline`.", ""]
        kinds = (("inclusive", "children: share of tlsgate's CPU samples in the function and its callees"),
                 ("self", "self: samples in the function itself ([kernel] = system call and TCP work)"))
    md += ["Self cost by area (every function's own share, summed):", "", "| area | share |", "|---|---:|"]
    md += [f"| {a} | {pct:.1f} % |" for a, pct in t["areas"]]
    md.append("")
    for key, title in kinds:
        md += [f"Top {args.profile_top}, {title}:", "", "| # | share | function |", "|---:|---:|---|"]
        md += [f"| {i} | {pct:.2f} % | `{name}` |" for i, (pct, name) in enumerate(t[key], 1)]
        md.append("")
    md += ["Left out of the inclusive list: frames that every sample passes through (thread start, "
           "tokio's scheduler loop and task harness, unresolved stack roots).", ""]
    path = os.path.join(out_dir, f"{args.profile}.md")
    with open(path, "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))
    log(f"written: {path}")


def tlsgate_pool_reuse(admin_port):
    """Share of tlsgate's forwarded requests that reused a pooled upstream connection so far."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10).read().decode()

    def total(prefix):
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))
    requests = total("tlsgate_requests_total{")
    opened = total("tlsgate_upstream_connections_total{")
    return {"requests": int(requests), "connections_opened": int(opened),
            "reuse_share": 1 - opened / requests if requests else None}


# ------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------

TARGETS = {  # metric: (label, target text, higher is better, threshold on the ratio)
    "keepalive_rps": ("keep-alive HTTPS req/s ({conns} conns, HTTP/1.1)", "≥ 1.2×", True, 1.2),
    "keepalive_p99": ("keep-alive p99 latency, ms", "≤ 0.8×", False, 0.8),
    "handshakes": ("full handshakes/s (new connection per request, no resumption)", "≥ 1.5×", True, 1.5),
    "h2_rps": ("HTTP/2 req/s ({conns} conns × 10 streams)", "≥ 1.2×", True, 1.2),
    "idle_kib": ("memory per idle TLS connection, KiB ({lo}→{hi} conns)", "≤ 1.0× (the lower)", False, 1.0),
}


def summarize(r):
    s = {}
    if "keepalive" in r:
        runs = r["keepalive"]["runs"]
        s["keepalive_rps"] = compare(collect(runs, "rps"), True)
        s["keepalive_p99"] = compare(collect(runs, "p99_ms"), False)
        s["keepalive_cpu_us"] = compare(collect(runs, "cpu_us_per_req"), False)
    if "handshakes" in r:
        s["handshakes"] = compare(collect(r["handshakes"]["runs"], "rps"), True)
        s["handshake_cpu_us"] = compare(collect(r["handshakes"]["runs"], "cpu_us_per_req"), False)
    if "h2" in r:
        s["h2_rps"] = compare(collect(r["h2"]["runs"], "rps"), True)
    if "sse" in r:
        s["sse_added_ms"] = compare(collect(r["sse"]["runs"], "added_median_ms"), False)
    if "idle" in r:
        s["idle_kib"] = compare(collect(r["idle"]["runs"], "per_conn_kib"), False)
    return s


def fmt(v, nd=0):
    if v is None:
        return "–"
    return f"{v:,.{nd}f}"


def cell(sm, nd):
    if not sm:
        return "–"
    if sm["n"] > 1:
        return f"{fmt(sm['median'], nd)} ({fmt(sm['min'], nd)}–{fmt(sm['max'], nd)})"
    return fmt(sm["median"], nd)


def verdict(ratio, rounds, higher, thr):
    if ratio is None:
        return "–"
    ok = ratio >= thr if higher else ratio <= thr
    mixed = rounds and any((x >= thr if higher else x <= thr) != ok for x in rounds)
    return ("met" if ok else "missed") + (" (rounds disagree)" if mixed else "")


def markdown(r):
    s = r["summary"]
    st = r["settings"]
    rows = ["| metric | target | tlsgate | nginx | HAProxy | tlsgate / best | ratio per round (min–max) | result |",
            "|---|---|---:|---:|---:|---:|---|---|"]
    nd = {"keepalive_rps": 0, "keepalive_p99": 2, "handshakes": 0, "h2_rps": 0, "idle_kib": 1}
    for key, (label, target, higher, thr) in TARGETS.items():
        c = s.get(key)
        if not c:
            continue
        pp = c["per_proxy"]
        rr = c["ratio_rounds"]
        spread = f"{min(rr):.2f}–{max(rr):.2f}×" if rr else "–"
        label = label.format(conns=st["conns"], lo=st["idle_levels"][0], hi=st["idle_levels"][1])
        ratio = f"{c['ratio']:.2f}× (vs {c['best_other']})" if c["ratio"] is not None else "–"
        rows.append(f"| {label} | {target} | {cell(pp.get('tlsgate'), nd[key])} | {cell(pp.get('nginx'), nd[key])} "
                    f"| {cell(pp.get('haproxy'), nd[key])} | {ratio} | {spread} | {verdict(c['ratio'], rr, higher, thr)} |")
    c = s.get("sse_added_ms")
    if c:
        pp = c["per_proxy"]
        t = pp["tlsgate"]
        ok = t["median"] < 0.2
        mixed = (t["max"] < 0.2) != ok or (t["min"] < 0.2) != ok
        ratio = f"{c['ratio']:.2f}× (vs {c['best_other']})" if c["ratio"] and min(
            x["median"] for x in pp.values()) > 0.005 else "–"
        rows.append(f"| SSE added delay per chunk, median ms (proxied − direct) | < 0.2 ms | {cell(t, 3)} "
                    f"| {cell(pp.get('nginx'), 3)} | {cell(pp.get('haproxy'), 3)} | {ratio} | "
                    f"tlsgate {fmt(t['min'], 3)}–{fmt(t['max'], 3)} ms | {'met' if ok else 'missed'}"
                    f"{' (rounds disagree)' if mixed else ''} |")
    if "reload" in r:
        rl = r["reload"]
        t = rl["tlsgate"]["median_ms"]
        rows.append(f"| cert rename → first handshake with the new cert, ms | ≤ 1000 ms | {fmt(t)} (file watch) "
                    f"| {fmt(rl['nginx']['median_ms'])} (`nginx -s reload`) | not measured | – | – "
                    f"| {'met' if t is not None and t <= 1000 else 'missed'} |")
    notes = [f"{r['date']}, {r['machine']}, load average {r['load_avg_start']} at start, "
             f"{r['load_avg_end']} at end; mode {r['mode']}, {st['workers']} workers each; "
             f"medians of {st['rounds']} rounds (min–max)"
             + (f", idle memory: {st['idle_rounds']} round(s) on fresh instances" if "idle" in r else "")
             + "."]
    if "handshakes" in r:
        a = r["handshakes"]["resumption_audit"]
        parts = []
        for n, v in a.items():
            w, wo = v["with_shim"], v["without_shim"]
            if "skipped" in w:
                parts.append(f"{n}: audit skipped ({w['skipped']})")
            else:
                parts.append(f"{n} {w['resumed']} of {w['server_hellos']} handshakes resumed "
                             f"(without the shim {wo.get('resumed', '?')} of {wo.get('server_hellos', '?')})")
        notes.append("Resumption audit (hellos captured during 1 s of the handshake test): "
                     + "; ".join(parts) + ".")
        neg = {n: ", ".join(v["with_shim"].get("negotiated", {})) for n, v in a.items()}
        notes.append("Negotiated with wrk (captured ServerHellos): "
                     + "; ".join(f"{n} {v}" for n, v in neg.items()) + ".")
    if "h2" in r:
        tls = {n: sorted({x.get("tls") or "?" for x in v}) for n, v in r["h2"]["runs"].items()}
        notes.append("Negotiated with h2load: " + "; ".join(
            f"{n} {', '.join(v)}" for n, v in tls.items()) + ".")
    for key, what in (("keepalive_cpu_us", "keep-alive"), ("handshake_cpu_us", "handshake")):
        c = s.get(key)
        if c:
            pp = c["per_proxy"]
            notes.append(f"Proxy CPU µs per {what} request: " + ", ".join(
                f"{n} {fmt(pp[n]['median'], 1)}" for n in PROXIES if pp.get(n)) + ".")
    return "\n".join(rows) + "\n\n" + "\n".join(notes)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    finally:
        stop_all()
