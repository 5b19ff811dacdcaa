#!/usr/bin/env bash
# Load benchmark: tlsgate, nginx and HAProxy as TLS-terminating proxies in front of the same
# upstream, side by side in one run on this machine. Prints one Markdown table of
# tlsgate / best-of(nginx, HAProxy), writes target/bench-load.json and docs/bench-scaling.png
# (with --quick: target/bench-scaling.png).
#
#   benches/load/run.sh --quick              # smoke test, about 2-3 minutes
#   benches/load/run.sh                      # everything, 10-13 minutes
#   benches/load/run.sh --only keepalive     # one measurement; see bench.py --help
#
# Builds tlsgate in release, installs nginx, HAProxy, wrk, h2load, tcpdump and nginx's echo
# module with apt-get when missing (and matplotlib with pip), compiles noresume.c, and stops
# every process it started when it exits (each runs in its own process group). All traffic
# stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v cc >/dev/null || need+=(gcc)
command -v tcpdump >/dev/null || need+=(tcpdump)
[ -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] || need+=(libnginx-mod-http-echo)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! python3 -c 'import matplotlib' 2>/dev/null; then
    python3 -m pip install --quiet matplotlib >&2 || echo "matplotlib unavailable: no plot" >&2
fi

cargo build --release --quiet
mkdir -p target
cc -shared -fPIC -O2 -o target/noresume.so benches/load/noresume.c -ldl
export NORESUME_SO="$PWD/target/noresume.so"

# 10 000 idle connections need ~10 000 descriptors in the client and in each proxy.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Upper bound on the whole run, whatever happens.
limit=1500
for a in "$@"; do [ "$a" = "--quick" ] && limit=420; done

PY_PID=""
cleanup() {
    # bench.py kills its own children on a normal exit; this covers Ctrl-C and kills.
    if [ -n "$PY_PID" ] && kill -0 "$PY_PID" 2>/dev/null; then
        kill -TERM "$PY_PID" 2>/dev/null || true
        sleep 1
        kill -KILL "$PY_PID" 2>/dev/null || true
    fi
    # Children of bench.py lead their own process groups; bench.py lists the live ones here.
    if [ -f "${PGID_FILE:-/nonexistent}" ]; then
        while read -r pg; do kill -KILL -- "-$pg" 2>/dev/null || true; done <"$PGID_FILE"
        rm -f "$PGID_FILE"
    fi
    # bench.py's temporary files (certificates, configs) live under $TMPDIR; it removes them
    # itself unless it was killed.
    [ -n "${WORK_TMP:-}" ] && rm -rf "$WORK_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PGID_FILE="$(mktemp /tmp/tlsgate-bench-pgids.XXXXXX)"
export PGID_FILE
WORK_TMP="$(mktemp -d /tmp/tlsgate-bench.XXXXXX)"
chmod 755 "$WORK_TMP"  # nginx workers (an unprivileged user) serve files from below it
export TMPDIR="$WORK_TMP"
timeout --signal=TERM --kill-after=10 "$limit" python3 benches/load/bench.py "$@" &
PY_PID=$!
wait "$PY_PID"
