#!/bin/bash
# tlsgate-healthcheck [PATH] [ADDR]: asks tlsgate's admin API for PATH (default /healthz) and
# exits 0 on an HTTP 200, 1 otherwise (refused, timed out, 503, anything else).
#
# The runtime image carries no curl or wget, so this speaks HTTP/1.1 through bash's /dev/tcp.
# It runs inside the container, so it reaches the admin API on its default loopback address
# (127.0.0.1:9901) and sends that address as Host, which the admin API's DNS-rebinding guard
# accepts. Used by the image's HEALTHCHECK and by the Kubernetes exec probes
# (deploy/kubernetes/deployment.yaml): `tlsgate-healthcheck /readyz`, `tlsgate-healthcheck /healthz`.
#
# ADDR defaults to $TLSGATE_ADMIN_ADDR, else 127.0.0.1:9901. The whole exchange is bounded by
# TLSGATE_HEALTHCHECK_TIMEOUT seconds (default 2); Kubernetes and Docker also enforce their own
# probe timeouts.
set -u

path=${1:-/healthz}
addr=${2:-${TLSGATE_ADMIN_ADDR:-127.0.0.1:9901}}
limit=${TLSGATE_HEALTHCHECK_TIMEOUT:-2}

case $path in
  /*) ;;
  *) echo "tlsgate-healthcheck: PATH must start with /, got '$path'" >&2; exit 2 ;;
esac

port=${addr##*:}
host=${addr%:*}
host=${host#[}
host=${host%]}
if [ -z "$host" ] || [ -z "$port" ] || [ "$host" = "$addr" ]; then
  echo "tlsgate-healthcheck: ADDR must be HOST:PORT, got '$addr'" >&2
  exit 2
fi

# The connect itself is bounded by `timeout` (coreutils, present in debian-slim); the read by
# `read -t`. A subshell keeps the descriptor from leaking into the caller.
# shellcheck disable=SC2016  # the inner script expands its own positional parameters
status_line=$(
  timeout "$limit" bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tlsgate-healthcheck\r\nConnection: close\r\n\r\n" "$3" "$4" >&3
    IFS= read -r -t "$5" line <&3 || exit 1
    printf "%s" "$line"
  ' _ "$host" "$port" "$path" "$addr" "$limit" 2>/dev/null
) || { echo "tlsgate-healthcheck: no answer from $addr$path" >&2; exit 1; }

status_line=${status_line%$'\r'}
case $status_line in
  "HTTP/1."?" 200"*) exit 0 ;;
  *) echo "tlsgate-healthcheck: $addr$path answered '$status_line'" >&2; exit 1 ;;
esac
