#!/usr/bin/env bash
# Load benchmark: tlsgate vs nginx as TLS-terminating proxies in front of the same upstream,
# side by side in one run on this machine. Prints a Markdown table; writes target/bench-load.json.
#
#   benches/load/run.sh                    # everything (about 3 minutes)
#   benches/load/run.sh --only keepalive   # one measurement; see bench.py --help
#
# Builds tlsgate in release, installs nginx, wrk and h2load (nghttp2-client) with apt-get when
# missing, and stops every process it started when it exits (each runs in its own process group).
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --quiet

# 10 000 idle connections need ~10 000 descriptors in the client and in each proxy.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PY_PID=""
cleanup() {
    # bench.py kills its own children on a normal exit; this covers Ctrl-C and kills.
    if [ -n "$PY_PID" ] && kill -0 "$PY_PID" 2>/dev/null; then
        kill -TERM "$PY_PID" 2>/dev/null || true
        sleep 1
        kill -KILL "$PY_PID" 2>/dev/null || true
    fi
    # Children of bench.py lead their own process groups; bench.py records them here.
    if [ -f "${PGID_FILE:-/nonexistent}" ]; then
        while read -r pg; do kill -KILL -- "-$pg" 2>/dev/null || true; done <"$PGID_FILE"
        rm -f "$PGID_FILE"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PGID_FILE="$(mktemp /tmp/tlsgate-bench-pgids.XXXXXX)"
export PGID_FILE
timeout --signal=TERM --kill-after=10 290 python3 benches/load/bench.py "$@" &
PY_PID=$!
wait "$PY_PID"
