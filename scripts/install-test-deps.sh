#!/usr/bin/env bash
# Installs what the integration tests drive as real clients: curl, openssl, Python's openai,
# requests and httpx with HTTP/2 (`httpx[http2]`: tests/it/hostile_requests.rs), and prometheus-client (tests/it/admin_api.rs parses /metrics with its
# OpenMetrics parser; set TLSGATE_REQUIRE_PYTHON=1 to make its absence a failure).
# Idempotent; needs root for apt-get (as on CI and the dev machines).
set -euo pipefail

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import openai, requests, prometheus_client, httpx, h2' >/dev/null 2>&1; then
  # A PEP 668 "externally managed" system Python refuses plain `pip install`; retry with
  # --break-system-packages there (pyenv/venv Pythons accept the first form).
  python3 -m pip install --quiet openai requests prometheus-client 'httpx[http2]' \
    || python3 -m pip install --quiet --break-system-packages openai requests prometheus-client 'httpx[http2]'
fi
echo "test dependencies: ok (curl $(curl --version | head -n1 | cut -d' ' -f2), $(openssl version | cut -d' ' -f1-2), openai $(python3 -c 'import openai; print(openai.__version__)'), prometheus-client $(python3 -m pip show prometheus-client 2>/dev/null | sed -n 's/^Version: //p'))"
