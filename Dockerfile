# netpulse in a container (docs/deploy.md). Two stages:
#   build    compiles the `netpulse` binary with the build dependencies of scripts/setup --build-only
#   runtime  the binary, its runtime libraries, web/, the chart library and models/; user netpulse
#
# The dashboard's chart library comes from the build context: node_modules/echarts/dist/
# echarts.min.js, which scripts/setup (or `npm ci --omit=dev`) installs from package-lock.json.
#
#   podman build --format docker -t localhost/netpulse .   (--format docker keeps the HEALTHCHECK)
#   podman run --rm --init -p 127.0.0.1:8080:8080 -v netpulse-data:/var/lib/netpulse localhost/netpulse
#
# ENTRYPOINT is the binary, so arguments are a subcommand: `podman run IMAGE process --input ...`.
# The default command is `netpulse run` on 0.0.0.0:8080 with its SQLite store in the volume.

FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup --build-only ccache && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt ./
COPY src src
# The compiler cache survives between builds on the same machine (buildah/BuildKit cache mount).
# Paths under /src are hashed relative (CCACHE_BASEDIR) and without locale variables, as
# scripts/build does on a host, so a host's cache lent to this build finds the host's objects:
# the container test passes `--build-arg CCACHE_DIR=/host-ccache -v HOST_CACHE:/host-ccache`.
ARG CCACHE_DIR=/root/.cache/ccache
RUN --mount=type=cache,target=/root/.cache/ccache \
    unset LANG LC_ALL LC_CTYPE LC_MESSAGES && export CCACHE_DIR="$CCACHE_DIR" CCACHE_BASEDIR=/src \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNETPULSE_BUILD_TESTS=OFF \
          -DNETPULSE_BUILD_BENCH=OFF -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null \
 && cmake --build build -j"$(nproc)" --target netpulse \
 && strip build/netpulse

FROM debian:bookworm-slim
# The shared libraries the binary names (objdump -p build/netpulse | grep NEEDED: pcap, nDPI,
# SQLite) and those it loads when first used (src/core/shared_library.hpp: libpq for a
# PostgreSQL store, librdkafka for Kafka, libxgboost.so.0 for `train --algo xgboost`); libstdc++
# is in the base image.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libpcap0.8 libndpi4.2 libsqlite3-0 libpq5 librdkafka1 libxgboost0 >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --home-dir /var/lib/netpulse --shell /usr/sbin/nologin netpulse \
 && install -d -o netpulse -g netpulse /var/lib/netpulse
COPY --from=build /src/build/netpulse /usr/bin/netpulse
COPY deploy/healthcheck /usr/bin/netpulse-healthcheck
# web/ is found at /usr/share/netpulse/web from /usr/bin/netpulse, and the chart library at
# ../node_modules/echarts/dist next to it (src/server/static_files.cpp).
COPY web /usr/share/netpulse/web
COPY node_modules/echarts/dist/echarts.min.js /usr/share/netpulse/node_modules/echarts/dist/
COPY models /usr/share/netpulse/models
ENV NETPULSE_MODELS=/usr/share/netpulse/models
USER netpulse
WORKDIR /var/lib/netpulse
VOLUME /var/lib/netpulse
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 CMD ["/usr/bin/netpulse-healthcheck"]
ENTRYPOINT ["netpulse"]
CMD ["run", "--web", "0.0.0.0:8080", "--store", "sqlite:/var/lib/netpulse/netpulse.db"]
