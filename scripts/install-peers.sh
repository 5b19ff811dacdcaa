#!/usr/bin/env bash
# Installs the real TLS peers that tests/it/real_peers.rs starts on 127.0.0.1 or drives as
# clients of tlsgate (issue 15):
#   servers: nginx, HAProxy, PostgreSQL (Debian's package; its binaries live under
#            /usr/lib/postgresql/<major>/bin, which is where the tests look first)
#   clients: Node.js, Java (default-jdk-headless: `java Foo.java`), headless Chromium with
#            NSS's certutil (libnss3-tools) to give it a trust store, curl, openssl, and
#            Python's requests, httpx and openai.
# Idempotent: when everything is present it asks no registry and returns in well under a
# second. Needs root for apt-get (as on CI and the dev machines). Prints versions at the end.
set -euo pipefail

# Debian package -> a file it installs (present means installed).
declare -A probe=(
  [nginx]=/usr/sbin/nginx
  [haproxy]=/usr/sbin/haproxy
  [postgresql]=/usr/share/doc/postgresql/copyright
  [default-jdk-headless]=/usr/share/doc/default-jdk-headless/copyright
  [chromium]=/usr/bin/chromium
  [libnss3-tools]=/usr/bin/certutil
  [curl]=/usr/bin/curl
  [openssl]=/usr/bin/openssl
  [ca-certificates]=/etc/ssl/certs/ca-certificates.crt
)
need_apt=()
for pkg in "${!probe[@]}"; do
  [ -e "${probe[$pkg]}" ] || need_apt+=("$pkg")
done
# Node 20 ships with the machine image; install Debian's only when there is none at all.
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-peers: apt-get install ${need_apt[*]}" >&2
  apt-get update -qq
  # policy-rc.d: the packages must not start system services (nginx, haproxy, PostgreSQL
  # clusters); the tests start their own instances as child processes.
  rc=/usr/sbin/policy-rc.d
  own_rc=0
  if [ ! -e "$rc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$rc"
    chmod +x "$rc"
    own_rc=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" >/dev/null
  if [ "$own_rc" = 1 ]; then rm -f "$rc"; fi
fi

# find_spec, not import: importing openai alone takes about two seconds.
py_has() { python3 -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))" "$@"; }
if ! py_has requests httpx openai; then
  # A PEP 668 "externally managed" system Python refuses plain `pip install`; retry with
  # --break-system-packages there (pyenv/venv Pythons accept the first form).
  python3 -m pip install --quiet requests httpx openai \
    || python3 -m pip install --quiet --break-system-packages requests httpx openai
fi

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
echo "peers:"
echo "  nginx      $(nginx -v 2>&1 | sed 's/^nginx version: //')"
echo "  haproxy    $(haproxy -v 2>/dev/null | head -n1 | cut -d' ' -f3)"
echo "  postgres   $("$pg_bin/postgres" --version | cut -d' ' -f3) ($pg_bin)"
echo "  java       $(java -version 2>&1 | head -n1)"
echo "  node       $(node --version)"
echo "  chromium   $(chromium --version 2>/dev/null | cut -d' ' -f2)"
echo "  certutil   $(dpkg-query -W -f='${Version}' libnss3-tools)"
echo "  curl       $(curl --version | head -n1 | cut -d' ' -f2)"
echo "  openssl    $(openssl version | cut -d' ' -f2)"
echo "  python     $(python3 -c 'import importlib.metadata as m; print(", ".join(p + " " + m.version(p) for p in ("requests", "httpx", "openai")))')"
