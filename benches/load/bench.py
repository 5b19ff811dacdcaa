#!/usr/bin/env python3
"""tlsgate vs nginx: TLS-terminating reverse proxies in front of the same upstream, one run.

Started by benches/load/run.sh (which builds tlsgate and installs the tools). Everything runs on
127.0.0.1; every process started here is in its own process group and is killed on exit.

Measurements (each for nginx and tlsgate with equal settings; keep-alive also for the upstream
directly):
  keepalive   wrk, HTTP/1.1 over TLS, fixed connections: req/s, p50, p99
  handshakes  wrk with `Connection: close`: every request is a new connection and a full
              handshake (wrk never resumes sessions; nginx has session cache and tickets off)
  h2          h2load, HTTP/2 over TLS: req/s
  sse         a Python SSE upstream stamps each chunk with its send time; a Python TLS client
              subtracts it from its receive time (same clock): median and p99 delay
  idle        RSS of the proxy (nginx: master + workers) with 1 000 and 10 000 idle TLS
              connections open (handshake done, no request)
  reload      tlsgate: time from the cert/key rename to the first handshake serving the new
              certificate; nginx: time from `nginx -s reload` to the same
Results: a Markdown table on stdout and a JSON file (--json).
"""

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

CHILDREN = []  # Popen objects, each the leader of its own process group
WORKDIRS = []  # temp dirs to remove on exit


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def spawn(cmd, env=None, stdout=None, stderr=None):
    p = subprocess.Popen(
        cmd,
        env=env,
        stdout=stdout or subprocess.DEVNULL,
        stderr=stderr or subprocess.DEVNULL,
        start_new_session=True,  # own process group: killpg reaches every child
    )
    CHILDREN.append(p)
    if os.environ.get("PGID_FILE"):  # run.sh's EXIT trap kills these groups if we die hard
        with open(os.environ["PGID_FILE"], "a") as f:
            f.write(f"{p.pid}\n")
    return p


def stop_all():
    for p in reversed(CHILDREN):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 3
    for p in CHILDREN:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    CHILDREN.clear()
    import shutil
    for d in WORKDIRS:
        shutil.rmtree(d, ignore_errors=True)


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


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
# Servers
# ------------------------------------------------------------------------------------------

SSE_CHUNKS = 40
SSE_INTERVAL = 0.05

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


def nginx_conf_upstream(d, port):
    return f"""
worker_processes 1;
pid {d}/up.pid;
error_log {d}/up-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ default_type text/plain; return 200 "ok"; }}
    }}
}}
"""


def nginx_conf_proxy(d, port, up_port, sse_port, pki, workers):
    return f"""
worker_processes {workers};
worker_rlimit_nofile 30000;
pid {d}/proxy.pid;
error_log {d}/proxy-error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_header_timeout 120s;
    upstream up {{ server 127.0.0.1:{up_port}; keepalive 256; keepalive_requests 1000000; }}
    upstream sse {{ server 127.0.0.1:{sse_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port} ssl http2 backlog=4096;
        ssl_certificate {pki['cert']};
        ssl_certificate_key {pki['key']};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        ssl_session_cache off;
        http2_max_requests 1000000;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto https;
        location / {{ proxy_pass http://up; }}
        location /sse {{ proxy_pass http://sse; proxy_buffering off; }}
    }}
}}
"""


def tlsgate_conf(port, admin_port, up_port, sse_port, pki):
    return f"""
listeners:
  - name: bench
    bind: 127.0.0.1:{port}
    tls:
      certificates:
        - cert: "{pki['cert']}"
          key: "{pki['key']}"
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
  max_connections: 20000
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


class Target:
    def __init__(self, name, url_base, pids_fn):
        self.name = name
        self.url_base = url_base  # e.g. https://127.0.0.1:1234
        self.pids_fn = pids_fn

    def cpu_s(self):
        return proc_cpu_s(self.pids_fn())

    def rss_kib(self):
        return sum(proc_rss_kib(p) for p in self.pids_fn())


# ------------------------------------------------------------------------------------------
# Load generators
# ------------------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


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
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{secs}s", "--latency", *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 30).stdout
    try:
        return parse_wrk(out)
    except AttributeError:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")


def h2load(url, conns, streams, secs):
    cmd = ["h2load", "-t2", f"-c{conns}", f"-m{streams}", f"-D{secs}", "--warm-up-time=1", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 30).stdout
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    r = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    p = re.search(r"Application protocol: (\S+)", out)
    if not m or not r:
        raise RuntimeError(f"cannot parse h2load output:\n{out}")
    return {"rps": float(m.group(1)), "errors": int(r.group(4)) + int(r.group(5)),
            "protocol": p.group(1) if p else None}


# ------------------------------------------------------------------------------------------
# SSE delay, idle connections, reload
# ------------------------------------------------------------------------------------------


def client_ctx(ca, alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def sse_delays(port, ca, tls=True):
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = client_ctx(ca).wrap_socket(raw, server_hostname="localhost") if tls else raw
    s.sendall(b"GET /sse HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
    buf = b""
    delays = []
    pat = re.compile(rb"data: (\d+)\n\n")
    s.settimeout(10)
    while len(delays) < SSE_CHUNKS:
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
    if len(delays) < SSE_CHUNKS:
        raise RuntimeError(f"SSE: got {len(delays)} of {SSE_CHUNKS} chunks via port {port}")
    d = sorted(delays[1:])  # the first chunk includes connection set-up on some paths
    return {"median_ms": statistics.median(d), "p99_ms": d[int(len(d) * 0.99) - 1 if len(d) > 1 else 0],
            "max_ms": d[-1], "chunks": len(delays)}


async def _open_idle(port, ca, n, conns, parallel=64):
    ctx = client_ctx(ca)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the client's verify cost is not what is measured
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


def idle_memory(target, port, ca, levels=(1000, 10000)):
    async def run():
        conns = []
        await asyncio.sleep(0.5)
        base = target.rss_kib()
        res = {"base_rss_kib": base}
        opened = 0
        for n in levels:
            failures = await _open_idle(port, ca, n - opened, conns)
            opened = n
            await asyncio.sleep(1.5)  # let allocations settle
            rss = target.rss_kib()
            res[str(n)] = {"rss_kib": rss, "open": len(conns), "failures": failures,
                           "per_conn_kib": round((rss - base) / max(1, len(conns)), 2)}
            log(f"  {target.name}: {len(conns)} idle connections, RSS {rss / 1024:.1f} MiB")
        for w in conns:
            w.transport.abort()
        await asyncio.sleep(0.5)
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


def reload_tlsgate(port, pki, work, rounds=3):
    """Rotate by rename (new files written beside, then renamed over the configured paths)."""
    times = []
    pairs = [(pki["cert2"], pki["key2"]), (pki["cert_orig"], pki["key_orig"])]
    for i in range(rounds):
        cert_src, key_src = pairs[i % 2]
        tmp_cert, tmp_key = pki["cert"] + ".new", pki["key"] + ".new"
        with open(cert_src, "rb") as f:
            open(tmp_cert, "wb").write(f.read())
        with open(key_src, "rb") as f:
            open(tmp_key, "wb").write(f.read())
        os.rename(tmp_key, pki["key"])
        os.rename(tmp_cert, pki["cert"])
        t0 = time.monotonic()
        ms = wait_for_cert(port, pki["ca"], der_of(cert_src), t0)
        times.append(ms)
        time.sleep(0.8)
    ok = [t for t in times if t is not None]
    return {"median_ms": statistics.median(ok) if ok else None, "all_ms": times}


def reload_nginx(port, pki, conf, rounds=3):
    times = []
    pairs = [(pki["cert2"], pki["key2"]), (pki["cert_orig"], pki["key_orig"])]
    for i in range(rounds):
        cert_src, key_src = pairs[i % 2]
        # nginx reads the same paths; tlsgate's test left them at the matching pair
        sh(["cp", cert_src, pki["ng_cert"]])
        sh(["cp", key_src, pki["ng_key"]])
        t0 = time.monotonic()
        sh(["nginx", "-c", conf, "-s", "reload"])
        ms = wait_for_cert(port, pki["ca"], der_of(cert_src), t0)
        times.append(ms)
        time.sleep(0.8)
    ok = [t for t in times if t is not None]
    return {"median_ms": statistics.median(ok) if ok else None, "all_ms": times,
            "how": "nginx -s reload (no file watching)"}


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------


def measured(target, fn):
    """Runs fn() (a wrk/h2load call returning rps) and adds the proxy's CPU time per request."""
    pids = target.pids_fn() if target else []
    c0, t0 = proc_cpu_s(pids), time.monotonic()
    r = fn()
    c1, el = proc_cpu_s(pids), time.monotonic() - t0
    if target and r.get("rps"):
        r["cpu_us_per_req"] = round((c1 - c0) / (r["rps"] * el) * 1e6, 1)
    return r


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def tlsgate_pool_reuse(admin_port):
    """Share of tlsgate's forwarded requests that reused a pooled upstream connection so far."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10).read().decode()
    def total(prefix):
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))
    requests = total("tlsgate_requests_total{")
    opened = total("tlsgate_upstream_connections_total{")
    share = 1 - opened / requests if requests else None
    return {"requests": int(requests), "connections_opened": int(opened), "reuse_share": share}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tlsgate", default=os.path.join(ROOT, "target", "release", "tlsgate"))
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "bench-load.json"))
    ap.add_argument("--secs", type=int, default=6, help="duration of each wrk/h2load run")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per measurement")
    ap.add_argument("--conns", type=int, default=64, help="keep-alive/h2 connections")
    ap.add_argument("--workers", type=int, default=2,
                    help="nginx worker_processes and tlsgate's serving threads (TLSGATE_WORKERS)")
    ap.add_argument("--only", default="keepalive,handshakes,h2,sse,idle,reload")
    ap.add_argument("--idle-levels", default="1000,10000")
    args = ap.parse_args()
    only = set(args.only.split(","))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 11000 and "idle" in only:
        log(f"warning: RLIMIT_NOFILE hard limit {hard}; 10 000 idle connections need ~10 100")

    work = tempfile.mkdtemp(prefix="tlsgate-bench-")
    WORKDIRS.append(work)
    pki = make_pki(work)
    # nginx and tlsgate read separate copies so the reload tests do not interfere.
    for who in ("tg", "ng"):
        for k in ("cert", "key"):
            dst = os.path.join(work, f"{who}-{os.path.basename(pki[k])}")
            sh(["cp", pki[k], dst])
            pki[f"{who}_{k}"] = dst
    pki["cert_orig"], pki["key_orig"] = os.path.join(work, "leaf.orig.pem"), os.path.join(work, "leaf.orig.key")
    sh(["cp", pki["cert"], pki["cert_orig"]])
    sh(["cp", pki["key"], pki["key_orig"]])

    up_port, sse_port, ng_port, tg_port, tg_admin = (free_port() for _ in range(5))

    # Upstream: nginx, one worker, `return 200 "ok"`.
    up_conf = os.path.join(work, "up.conf")
    open(up_conf, "w").write(nginx_conf_upstream(work, up_port))
    spawn(["nginx", "-c", up_conf, "-g", "daemon off;"])
    # SSE upstream.
    sse_py = os.path.join(work, "sse.py")
    open(sse_py, "w").write(SSE_SERVER)
    spawn([sys.executable, sse_py, str(sse_port), str(SSE_CHUNKS), str(SSE_INTERVAL)])
    # nginx proxy.
    ng_pki = dict(pki, cert=pki["ng_cert"], key=pki["ng_key"])
    ng_conf = os.path.join(work, "proxy.conf")
    open(ng_conf, "w").write(nginx_conf_proxy(work, ng_port, up_port, sse_port, ng_pki, args.workers))
    ng = spawn(["nginx", "-c", ng_conf, "-g", "daemon off;"])
    # tlsgate.
    tg_pki = dict(pki, cert=pki["tg_cert"], key=pki["tg_key"])
    tg_conf = os.path.join(work, "tlsgate.yaml")
    open(tg_conf, "w").write(tlsgate_conf(tg_port, tg_admin, up_port, sse_port, tg_pki))
    env = dict(os.environ, RUST_LOG="warn", TLSGATE_WORKERS=str(args.workers))
    tg_log = open(os.path.join(work, "tlsgate.log"), "w")
    tg = spawn([args.tlsgate, "serve", "-c", tg_conf], env=env, stdout=tg_log, stderr=tg_log)
    for name, p in (("upstream", up_port), ("sse upstream", sse_port), ("nginx", ng_port), ("tlsgate", tg_port)):
        try:
            wait_port(p)
        except RuntimeError:
            tg_log.flush()
            log(f"{name} did not start; tlsgate log:\n" + open(os.path.join(work, "tlsgate.log")).read())
            raise
    time.sleep(0.5)

    targets = {
        "nginx": Target("nginx", f"https://127.0.0.1:{ng_port}", lambda: descendants(ng.pid)),
        "tlsgate": Target("tlsgate", f"https://127.0.0.1:{tg_port}", lambda: [tg.pid]),
    }
    ports = {"nginx": ng_port, "tlsgate": tg_port}
    # Sanity: both proxies answer through to the upstream.
    for name, t in targets.items():
        out = sh(["curl", "-sS", "--cacert", pki["ca"], f"https://localhost:{ports[name]}/"]).stdout
        assert out == "ok", f"{name} answered {out!r}"

    negotiated = {}
    for name in targets:
        with socket.create_connection(("127.0.0.1", ports[name])) as raw:
            with client_ctx(pki["ca"]).wrap_socket(raw, server_hostname="localhost") as s:
                negotiated[name] = f"{s.version()} {s.cipher()[0]}"
    log(f"negotiated: {negotiated}")

    res = {
        "negotiated": negotiated,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}",
        "nginx_version": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
        "settings": {"secs": args.secs, "rounds": args.rounds, "conns": args.conns,
                     "cert": "ECDSA P-256", "wrk_threads": 2, "workers": args.workers},
    }
    order = ["nginx", "tlsgate"]

    if "keepalive" in only:
        log("keep-alive HTTPS (wrk)")
        runs = {k: [] for k in ["upstream", *order]}
        wrk(targets["nginx"].url_base + "/", args.conns, 2)  # warm-up
        wrk(targets["tlsgate"].url_base + "/", args.conns, 2)
        for r in range(args.rounds):
            seq = order if r % 2 == 0 else order[::-1]
            for name in seq:
                runs[name].append(measured(targets[name], lambda: wrk(targets[name].url_base + "/", args.conns, args.secs)))
                log(f"  {name}: {runs[name][-1]}")
        runs["upstream"].append(wrk(f"http://127.0.0.1:{up_port}/", args.conns, args.secs))
        log(f"  upstream: {runs['upstream'][-1]}")
        res["keepalive"] = {k: {"rps": median_of(v, "rps"), "p50_ms": median_of(v, "p50_ms"),
                                "p99_ms": median_of(v, "p99_ms"), "cpu_us_per_req": median_of(v, "cpu_us_per_req"),
                                "errors": sum(x["errors"] for x in v),
                                "runs": v} for k, v in runs.items()}
        # Upstream pooling: tlsgate counts the connections it opened and the requests it
        # forwarded; every other request reused a pooled connection.
        res["pool_reuse"] = tlsgate_pool_reuse(tg_admin)
        log(f"  tlsgate upstream pool: {res['pool_reuse']}")

    if "handshakes" in only:
        log("full handshakes (wrk, Connection: close)")
        runs = {k: [] for k in order}
        for r in range(args.rounds):
            seq = order if r % 2 == 0 else order[::-1]
            for name in seq:
                runs[name].append(measured(targets[name], lambda: wrk(
                    targets[name].url_base + "/", args.conns, args.secs, ["-H", "Connection: close"])))
                log(f"  {name}: {runs[name][-1]}")
        res["handshakes"] = {k: {"per_s": median_of(v, "rps"), "cpu_us_per_req": median_of(v, "cpu_us_per_req"), "errors": sum(x["errors"] for x in v),
                                 "runs": v} for k, v in runs.items()}

    if "h2" in only:
        log("HTTP/2 (h2load)")
        runs = {k: [] for k in order}
        for r in range(args.rounds):
            seq = order if r % 2 == 0 else order[::-1]
            for name in seq:
                runs[name].append(measured(targets[name], lambda: h2load(targets[name].url_base + "/", args.conns, 10, args.secs)))
                log(f"  {name}: {runs[name][-1]}")
        res["h2"] = {k: {"rps": median_of(v, "rps"), "cpu_us_per_req": median_of(v, "cpu_us_per_req"), "errors": sum(x["errors"] for x in v),
                         "runs": v} for k, v in runs.items()}

    if "sse" in only:
        log("SSE chunk delay")
        res["sse"] = {"upstream": sse_delays(sse_port, pki["ca"], tls=False)}
        for name in order:
            res["sse"][name] = sse_delays(ports[name], pki["ca"])
            log(f"  {name}: {res['sse'][name]}")

    if "idle" in only:
        log("idle TLS connections")
        levels = tuple(int(x) for x in args.idle_levels.split(","))
        res["idle"] = {}
        for name in order:
            res["idle"][name] = idle_memory(targets[name], ports[name], pki["ca"], levels)
            time.sleep(1)

    if "reload" in only:
        log("certificate reload")
        pki_tg = dict(pki, cert=pki["tg_cert"], key=pki["tg_key"])
        res["reload"] = {"tlsgate": reload_tlsgate(tg_port, pki_tg, work),
                         "nginx": reload_nginx(ng_port, pki, ng_conf)}
        log(f"  {res['reload']}")

    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=2)
    print(markdown(res))
    log(f"JSON: {args.json}")


def fmt(v, nd=0):
    if v is None:
        return "–"
    return f"{v:,.{nd}f}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def markdown(r):
    rows = ["| measurement | nginx | tlsgate | tlsgate / nginx | upstream direct |",
            "|---|---:|---:|---:|---:|"]
    if "keepalive" in r:
        k = r["keepalive"]
        n, t, u = k["nginx"], k["tlsgate"], k["upstream"]
        rows.append(f"| keep-alive HTTPS req/s ({r['settings']['conns']} conns) | {fmt(n['rps'])} | {fmt(t['rps'])} | {ratio(t['rps'], n['rps'])} | {fmt(u['rps'])} (plain HTTP) |")
        rows.append(f"| keep-alive p50 latency ms | {fmt(n['p50_ms'], 2)} | {fmt(t['p50_ms'], 2)} | {ratio(t['p50_ms'], n['p50_ms'])} | {fmt(u['p50_ms'], 2)} |")
        rows.append(f"| keep-alive proxy CPU µs/request | {fmt(n['cpu_us_per_req'], 1)} | {fmt(t['cpu_us_per_req'], 1)} | {ratio(t['cpu_us_per_req'], n['cpu_us_per_req'])} | |")
        rows.append(f"| keep-alive p99 latency ms | {fmt(n['p99_ms'], 2)} | {fmt(t['p99_ms'], 2)} | {ratio(t['p99_ms'], n['p99_ms'])} | {fmt(u['p99_ms'], 2)} |")
        pr = r.get("pool_reuse") or {}
        if pr.get("reuse_share") is not None:
            rows.append(f"| tlsgate upstream requests on a reused pooled connection | | {pr['reuse_share'] * 100:.3f} % ({pr['connections_opened']:,} connections for {pr['requests']:,} requests) | | |")
    if "handshakes" in r:
        h = r["handshakes"]
        rows.append(f"| full handshakes/s (1 request per connection) | {fmt(h['nginx']['per_s'])} | {fmt(h['tlsgate']['per_s'])} | {ratio(h['tlsgate']['per_s'], h['nginx']['per_s'])} | |")
        rows.append(f"| full handshake proxy CPU µs/connection | {fmt(h['nginx']['cpu_us_per_req'], 1)} | {fmt(h['tlsgate']['cpu_us_per_req'], 1)} | {ratio(h['tlsgate']['cpu_us_per_req'], h['nginx']['cpu_us_per_req'])} | |")
    if "h2" in r:
        h = r["h2"]
        rows.append(f"| HTTP/2 req/s ({r['settings']['conns']} conns × 10 streams) | {fmt(h['nginx']['rps'])} | {fmt(h['tlsgate']['rps'])} | {ratio(h['tlsgate']['rps'], h['nginx']['rps'])} | |")
        rows.append(f"| HTTP/2 proxy CPU µs/request | {fmt(h['nginx']['cpu_us_per_req'], 1)} | {fmt(h['tlsgate']['cpu_us_per_req'], 1)} | {ratio(h['tlsgate']['cpu_us_per_req'], h['nginx']['cpu_us_per_req'])} | |")
    if "sse" in r:
        s = r["sse"]
        rows.append(f"| SSE chunk delay median ms | {fmt(s['nginx']['median_ms'], 3)} | {fmt(s['tlsgate']['median_ms'], 3)} | {ratio(s['tlsgate']['median_ms'], s['nginx']['median_ms'])} | {fmt(s['upstream']['median_ms'], 3)} |")
        rows.append(f"| SSE chunk delay max ms | {fmt(s['nginx']['max_ms'], 3)} | {fmt(s['tlsgate']['max_ms'], 3)} | | {fmt(s['upstream']['max_ms'], 3)} |")
    if "idle" in r:
        i = r["idle"]
        rows.append(f"| RSS before idle test MiB | {fmt(i['nginx']['base_rss_kib'] / 1024, 1)} | {fmt(i['tlsgate']['base_rss_kib'] / 1024, 1)} | | |")
        for lv in [k for k in i["nginx"] if k.isdigit()]:
            n, t = i["nginx"][lv], i["tlsgate"][lv]
            rows.append(f"| peak RSS, {int(lv):,} idle TLS conns MiB | {fmt(n['rss_kib'] / 1024, 1)} | {fmt(t['rss_kib'] / 1024, 1)} | {ratio(t['rss_kib'], n['rss_kib'])} | |")
            rows.append(f"| per idle connection KiB ({int(lv):,}) | {fmt(n['per_conn_kib'], 1)} | {fmt(t['per_conn_kib'], 1)} | {ratio(t['per_conn_kib'], n['per_conn_kib'])} | |")
    if "reload" in r:
        rl = r["reload"]
        rows.append(f"| cert rename → first new-cert handshake ms | {fmt(rl['nginx']['median_ms'], 0)} (after `nginx -s reload`) | {fmt(rl['tlsgate']['median_ms'], 0)} (file watch) | | |")
    return "\n".join(rows)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    finally:
        stop_all()
