# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a small Debian image as a non-root user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin tlsgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/tlsgate --create-home tlsgate
COPY --from=build /src/target/release/tlsgate /usr/local/bin/tlsgate
USER tlsgate
WORKDIR /var/lib/tlsgate
# /etc/tlsgate holds tlsgate.yaml; /certs the certificate and key files (mounted read-only).
VOLUME ["/etc/tlsgate", "/certs"]
# The proxy listener and the admin API (bind the admin API to 0.0.0.0 only with admin.allow_public).
EXPOSE 8443 9901
ENTRYPOINT ["/usr/local/bin/tlsgate"]
CMD ["serve", "-c", "/etc/tlsgate/tlsgate.yaml"]
