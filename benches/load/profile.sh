#!/usr/bin/env bash
# Where tlsgate's time goes on the keep-alive HTTPS path.
#
#   benches/load/profile.sh              # callgrind, then a perf sample if perf works here
#   benches/load/profile.sh callgrind    # one of them
#
#   TLSGATE_PROFILE_BIN=path/to/tlsgate benches/load/profile.sh callgrind
#                                        # profile that binary instead of building one
#   PROFILE_ARGS="--profile-out target/profile/x" benches/load/profile.sh callgrind
#                                        # extra arguments for bench.py
#   TLSGATE_BENCH_NO_DIAGNOSIS=1 benches/load/profile.sh callgrind
#                                        # the environment reaches tlsgate: diagnosis off
#
# Builds tlsgate in release with debug symbols into target/prof (so the benchmark's
# target/release binary is left alone), starts an nginx upstream and tlsgate alone, drives
# `GET /` over keep-alive HTTPS with wrk, and writes the top functions as Markdown tables to
# target/profile/{callgrind,perf}.md (benches/load/PROFILE.md quotes them). callgrind counts
# instructions: the same figures whatever else the machine is doing. perf samples cpu-clock
# (hardware counters are not available on every VM) with DWARF call graphs, kernel included.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v valgrind >/dev/null || need+=(valgrind)
command -v perf >/dev/null || need+=(linux-perf)
command -v cc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

BIN="${TLSGATE_PROFILE_BIN:-}"
if [ -z "$BIN" ]; then
    CARGO_PROFILE_RELEASE_DEBUG=true CARGO_TARGET_DIR=target/prof cargo build --release --quiet
    BIN=target/prof/release/tlsgate
fi
mkdir -p target
cc -shared -fPIC -O2 -o target/noresume.so benches/load/noresume.c -ldl
export NORESUME_SO="$PWD/target/noresume.so"

PY_PID=""
cleanup() {
    if [ -n "$PY_PID" ] && kill -0 "$PY_PID" 2>/dev/null; then
        kill -TERM "$PY_PID" 2>/dev/null || true
        sleep 1
        kill -KILL "$PY_PID" 2>/dev/null || true
    fi
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
PGID_FILE="$(mktemp /tmp/tlsgate-profile-pgids.XXXXXX)"
export PGID_FILE
WORK_TMP="$(mktemp -d /tmp/tlsgate-profile.XXXXXX)"
chmod 755 "$WORK_TMP"  # nginx workers (an unprivileged user) serve files from below it
export TMPDIR="$WORK_TMP"

tools=("${@:-callgrind perf}")
for tool in ${tools[*]}; do
    if [ "$tool" = perf ] && ! perf record -q -e cpu-clock -o /dev/null -- true 2>/dev/null; then
        echo "perf cannot sample here; skipped" >&2
        continue
    fi
    timeout --signal=TERM --kill-after=10 600 python3 benches/load/bench.py --profile "$tool" \
        --tlsgate "$BIN" ${PROFILE_ARGS:-} &
    PY_PID=$!
    wait "$PY_PID"
done
