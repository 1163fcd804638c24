# syntax=docker/dockerfile:1
# The operator image: `docker build -t interdict:0.1.0 .` (see docs/install.md).
# One static-ish binary (glibc only: TLS is rustls) on a slim Debian, as user 65532.

# The toolchain the repository is tested with; Cargo.toml's rust-version is the minimum.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# Only what the binary is built from (.dockerignore keeps target/ and the rest out).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin interdict \
 && cp target/release/interdict /interdict

# Same Debian release as the builder, so the binary finds the glibc it was linked against.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
COPY --from=builder /interdict /interdict
USER 65532:65532
# Metrics, /healthz and /readyz (with --metrics-addr 0.0.0.0:9090, as the chart passes).
EXPOSE 9090
ENTRYPOINT ["/interdict"]
CMD ["run"]
