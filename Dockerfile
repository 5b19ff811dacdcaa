# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a small Debian image as a non-root user.
#   docker build -t tlsgate:0.1.0 .
#   buildah bud --format docker -t tlsgate:0.1.0 .   (no daemon; OCI format would drop HEALTHCHECK)
# The build context is trimmed by .dockerignore to what the build needs. Checked statically by
# scripts/check-dockerfile.sh (hadolint, COPY sources, build command, final-stage rules).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so code changes do not rebuild them. The manifest names the benches, so
# their sources must exist for cargo to read it (they are not compiled here).
COPY Cargo.toml Cargo.lock ./
COPY benches/client_hello.rs benches/micro.rs ./benches/
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin tlsgate

FROM debian:bookworm-slim
# ca-certificates: the system trust store for upstream verification (`roots: [system, …]`).
# Unpinned on purpose: the package is the trust store, and its updates are the point.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tlsgate \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/tlsgate \
       --create-home --shell /usr/sbin/nologin tlsgate
COPY --from=build /src/target/release/tlsgate /usr/local/bin/tlsgate
# The health check speaks HTTP through bash's /dev/tcp: the image has no curl, and needs none.
# (Executable in git, and COPY keeps the mode, so no BuildKit-only --chmod is needed.)
COPY deploy/healthcheck.sh /usr/local/bin/tlsgate-healthcheck
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/tlsgate
# Mount points, read-only: /etc/tlsgate for tlsgate.yaml (and the session-ticket key), /certs for
# the certificate and key. Not declared as VOLUMEs: those would add anonymous volumes wherever
# nothing is mounted, and an image built FROM this one could no longer put files there.
# The proxy listener only. The admin API stays on 127.0.0.1:9901 inside the container (reached
# by the HEALTHCHECK below and by Kubernetes exec probes); publish it only deliberately, with
# admin.bind 0.0.0.0:9901 and admin.allow_public: true.
EXPOSE 8443
# Ready: listeners bound and certificates loaded; turns unhealthy while draining after SIGTERM.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/tlsgate-healthcheck", "/readyz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tlsgate"]
CMD ["serve", "-c", "/etc/tlsgate/tlsgate.yaml"]
