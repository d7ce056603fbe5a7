# syntax=docker/dockerfile:1
# cdc-sentinel container image: built on Debian 12, run on debian:12-slim as a non-root user.
#
#   docker build -t cdc-sentinel \
#     --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse --short=12 HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run -d -p 9877:9877 \
#     -v $PWD/config.yaml:/etc/cdc-sentinel/config.yaml:ro \
#     -v $PWD/secrets:/run/secrets:ro \
#     cdc-sentinel
#
# Mounted by the user (documented paths, no VOLUME: an anonymous volume would only hide a
# forgotten mount behind an empty directory):
#   /etc/cdc-sentinel/config.yaml   the configuration (required; the image ships none, so a missing
#                                   mount fails at start instead of watching nothing)
#   /run/secrets/                   password files named by *_file / secret_properties_files keys
#                                   (Docker/Compose secrets and Kubernetes Secret volumes land here)
#   /var/lib/cdc-sentinel/evidence  writable by the user, for connectors[].evidence.directory
# Extra arguments are appended to the ENTRYPOINT, e.g. `docker run ... cdc-sentinel --config.check`
# or `--log.format=json` (a later flag overrides an earlier one).
# More: docs/deployment.md. test/deploy_test.py checks this file.

# ---- build --------------------------------------------------------------------------------------
FROM debian:12 AS build
# The build packages of scripts/deps.sh, without the test-only ones (gtest, gmock).
# libboost-dev is header-only here (Beast/Asio): nothing of it in the runtime stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates g++ make cmake pkg-config \
      prometheus-cpp-dev libcpp-httplib-dev librdkafka-dev nlohmann-json3-dev libyaml-cpp-dev \
      default-libmysqlclient-dev libssl-dev zlib1g-dev libboost-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# .dockerignore keeps .git out of the context: the revision comes in as a build argument and goes
# into the binary (--version, cdc_exporter_build_info) through CMake's CDC_REVISION.
ARG REVISION=unknown
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release \
      -DCDC_BUILD_TESTS=OFF -DCDC_BUILD_SANDBOX=OFF -DCDC_REVISION="${REVISION}" \
 && cmake --build /build --target cdc-sentinel -j"$(nproc)" \
 && strip /build/exporter/cdc-sentinel \
 && /build/exporter/cdc-sentinel --version

# ---- runtime ------------------------------------------------------------------------------------
FROM debian:12-slim
# Exactly the packages owning the shared libraries the binary links (ldd + dpkg -S), minus those
# already in debian:12-slim (libc6, libstdc++6, libgcc-s1, zlib1g, liblz4-1, libzstd1), plus
# ca-certificates for https:// Connect URLs and TLS to MySQL/Kafka with the system trust store.
# libmariadb3 also carries the caching_sha2_password plugin MySQL 8 users need.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libbrotli1 \
      libcpp-httplib0.11 \
      libmariadb3 \
      libprometheus-cpp-core1.0 \
      librdkafka1 \
      libsasl2-2 \
      libssl3 \
      libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 65532 cdc-sentinel \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/cdc-sentinel --no-create-home \
      --shell /usr/sbin/nologin cdc-sentinel \
 && mkdir -p /etc/cdc-sentinel /var/lib/cdc-sentinel/evidence \
 && chown -R 65532:65532 /var/lib/cdc-sentinel \
 && chmod 0750 /var/lib/cdc-sentinel /var/lib/cdc-sentinel/evidence
COPY --from=build /build/exporter/cdc-sentinel /usr/local/bin/cdc-sentinel
COPY config/examples/ /usr/local/share/cdc-sentinel/examples/
# OCI image labels. VERSION, REVISION and CREATED come from the build (see the top of this file);
# REVISION is the same one the binary reports. ARGs are per stage, so they are declared again here.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=
LABEL org.opencontainers.image.title="cdc-sentinel" \
      org.opencontainers.image.description="Prometheus exporter for Debezium MySQL connectors that stay RUNNING while delivering nothing" \
      org.opencontainers.image.url="https://github.com/cdc-sentinel/cdc-sentinel" \
      org.opencontainers.image.source="https://github.com/cdc-sentinel/cdc-sentinel" \
      org.opencontainers.image.documentation="https://github.com/cdc-sentinel/cdc-sentinel/blob/main/docs/deployment.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/debian:12-slim"
USER 65532:65532
WORKDIR /var/lib/cdc-sentinel
EXPOSE 9877
# `cdc-sentinel healthcheck URL` exits 0 if URL answers 200 or 401 within 5 s (no curl needed).
# Plain HTTP first, then HTTPS (certificate not verified) for a --web.config.file with
# tls_server_config: over TLS the plain attempt fails at once (the TLS handshake rejects it), so
# the check needs no knowledge of the web config. /bin/sh is debian:12-slim's dash. With
# client_auth_type RequireAndVerifyClientCert, or another --web.listen-address port, use
# `docker run --no-healthcheck` or a --health-cmd of your own (docs/deployment.md#docker).
HEALTHCHECK --interval=30s --timeout=15s --start-period=20s --retries=3 \
  CMD ["/bin/sh", "-c", "/usr/local/bin/cdc-sentinel healthcheck http://127.0.0.1:9877/-/healthy 2>/dev/null || exec /usr/local/bin/cdc-sentinel healthcheck https://127.0.0.1:9877/-/healthy"]
ENTRYPOINT ["/usr/local/bin/cdc-sentinel", "--config.file=/etc/cdc-sentinel/config.yaml", "--web.listen-address=:9877"]
