#!/usr/bin/env bash
# Renders the admin status page (GET / on the admin port) with headless Chromium and saves a
# screenshot, so a change to src/admin/page.rs can be looked at without a browser session.
#
#   scripts/screenshot-status.sh [OUT.png]      (default: docs/status-page.png)
#
# It builds tlsgate (debug) unless TLSGATE_BIN names a binary, generates a dev CA and a leaf with
# `tlsgate certs init`, adds a second listener whose certificate (signed by openssl) expires in
# 12 days, starts `tlsgate serve` in front of a local Python HTTP server and a closed port, and
# provokes what the page shows: requests (2xx and a refused upstream's 5xx), handshake failures
# (bytes that are not TLS, a client that does not trust the CA) and a POST /reload. Then:
#
#   chromium --headless --no-sandbox --disable-gpu ... --screenshot=OUT --window-size=1200,900 URL
#
# Needs: cargo (or TLSGATE_BIN), python3, curl, openssl, and Debian's `chromium`
# (apt-get install chromium); CHROMIUM=/path/to/chrome overrides. Everything runs on 127.0.0.1
# and is removed afterwards.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/docs/status-page.png}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
[ -n "$chromium" ] || { echo "chromium not found: apt-get install chromium (or set CHROMIUM)" >&2; exit 2; }
for tool in python3 curl openssl; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 2; }
done

if [ -z "${TLSGATE_BIN:-}" ]; then
  (cd "$repo" && cargo build --quiet --bin tlsgate)
  TLSGATE_BIN="$repo/target/debug/tlsgate"
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
public_port=$(free_port); internal_port=$(free_port); admin_port=$(free_port)
upstream_port=$(free_port); dead_port=$(free_port)

# Certificates: the dev leaf (about 13 months), and one for internal.example expiring in 12 days.
"$TLSGATE_BIN" certs init --dir "$work/certs" >/dev/null
openssl req -new -newkey rsa:2048 -nodes -subj "/CN=internal.example" \
  -keyout "$work/certs/internal-key.pem" -out "$work/certs/internal.csr" 2>/dev/null
printf 'subjectAltName=DNS:internal.example\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$work/certs/ext.cnf"
openssl x509 -req -in "$work/certs/internal.csr" -CA "$work/certs/ca.pem" -CAkey "$work/certs/ca-key.pem" \
  -CAcreateserial -days 12 -extfile "$work/certs/ext.cnf" -out "$work/certs/internal.pem" 2>/dev/null
# Serve leaf then CA, as a real fullchain would.
cat "$work/certs/ca.pem" >>"$work/certs/internal.pem"

mkdir -p "$work/www/v1"
echo '{"object":"list","data":[]}' >"$work/www/v1/models"
(cd "$work/www" && exec python3 -m http.server --bind 127.0.0.1 "$upstream_port" >/dev/null 2>&1) &
pids+=($!)
for _ in $(seq 1 50); do
  curl -fsS --noproxy '*' -o /dev/null "http://127.0.0.1:$upstream_port/v1/models" 2>/dev/null && break
  sleep 0.1
done

cat >"$work/tlsgate.yaml" <<EOF
listeners:
  - name: public
    bind: 127.0.0.1:$public_port
    tls:
      certificates:
        - cert: $work/certs/cert.pem
          key: $work/certs/key.pem
          ca: $work/certs/ca.pem
  - name: internal
    bind: 127.0.0.1:$internal_port
    tls:
      certificates:
        - cert: $work/certs/internal.pem
          key: $work/certs/internal-key.pem
      default_certificate: 0
routes:
  - path_prefix: /dead
    upstream: dead
  - path_prefix: /
    upstream: local
upstreams:
  local:
    url: http://127.0.0.1:$upstream_port
  dead:
    url: http://127.0.0.1:$dead_port
admin:
  bind: 127.0.0.1:$admin_port
reload:
  watch: false
diagnostics:
  log_format: json
EOF

"$TLSGATE_BIN" serve -c "$work/tlsgate.yaml" >"$work/tlsgate.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS --noproxy '*' "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS --noproxy '*' "http://127.0.0.1:$admin_port/readyz" >/dev/null \
  || { echo "tlsgate did not become ready:" >&2; cat "$work/tlsgate.log" >&2; exit 1; }

gate=(curl -sS --noproxy '*' --max-time 10 -o /dev/null --cacert "$work/certs/ca.pem"
      --resolve "localhost:$public_port:127.0.0.1")
for _ in 1 2 3 4 5; do "${gate[@]}" "https://localhost:$public_port/v1/models" || true; done
for _ in 1 2; do "${gate[@]}" "https://localhost:$public_port/dead/v1/models" || true; done
# Handshake failures: bytes that are not TLS, and clients that do not trust the dev CA.
for _ in 1 2 3; do
  python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$public_port)); s.sendall(b'SSH-2.0-OpenSSH_9.2\r\n'); s.settimeout(3); s.recv(100)" 2>/dev/null || true
done
curl -sS --noproxy '*' --max-time 10 -o /dev/null --resolve "localhost:$public_port:127.0.0.1" \
  "https://localhost:$public_port/v1/models" 2>/dev/null || true
curl -sS --noproxy '*' --max-time 10 -o /dev/null -X POST "http://127.0.0.1:$admin_port/reload" || true
sleep 0.5

mkdir -p "$(dirname "$out")"
profile="$(mktemp -d)"
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$profile" --screenshot="$out" --window-size="${WINDOW_SIZE:-1200,900}" \
  "http://127.0.0.1:$admin_port/" >/dev/null 2>&1 || true
rm -rf "$profile"
[ -s "$out" ] || { echo "chromium wrote no screenshot" >&2; exit 1; }
echo "wrote $out"
