# syntax=docker/dockerfile:1
# Build on the Swift image, run on slim Debian with only the C libraries reelgate links.

FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4-openssl-dev libsqlite3-dev libssl-dev libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product reelgate --static-swift-stdlib \
 && bin="$(swift build -c release --show-bin-path)" \
 && install -D -m 0755 "$bin/reelgate" /out/reelgate \
 && strip /out/reelgate \
 && cp -R "$bin/reelgate_Gateway.resources" /out/   # the simulator's clips, read beside the binary

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4 libsqlite3-0 libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 reelgate \
 && useradd --system --uid 10001 --gid reelgate --home-dir /data --shell /usr/sbin/nologin reelgate \
 && install -d -o reelgate -g reelgate -m 0700 /data /media   # /media: the shared media mount of several instances (compose.postgres.yaml)
COPY --from=build /out/reelgate /usr/local/bin/reelgate
COPY --from=build /out/reelgate_Gateway.resources /usr/local/bin/reelgate_Gateway.resources
COPY config/reelgate.json /etc/reelgate/reelgate.json
USER reelgate:reelgate
ENV REELGATE_DATA_DIR=/data \
    REELGATE_LISTEN=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
# Beyond loopback reelgate refuses to start without a real key: pass REELGATE_API_KEYS=name:key:role.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.1\\r\\nHost: l\\r\\nConnection: close\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3"]
# Exec form: reelgate is PID 1 and receives SIGTERM itself for a graceful drain.
ENTRYPOINT ["/usr/local/bin/reelgate"]
CMD ["serve", "--config", "/etc/reelgate/reelgate.json"]
