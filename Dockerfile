# Chronicle's one image: `chronicle run` (the processor) and `chronicle services` (the fake hotel and flight).
# docker-compose.yml builds it once and runs it three ways.

# Build: the Swift toolchain, librabbitmq and SQLite headers.
FROM swift:6.2-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends librabbitmq-dev libsqlite3-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest first, so that dependencies are fetched again only when it changes.
COPY Package.swift Package.resolved* ./
RUN swift package resolve
COPY . .
RUN swift build -c release --product chronicle --static-swift-stdlib \
    && cp "$(swift build -c release --show-bin-path)/chronicle" /usr/local/bin/chronicle

# Run: the binary and the two C libraries it links.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends librabbitmq4 libsqlite3-0 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/chronicle /usr/local/bin/chronicle
RUN useradd --system --create-home --home-dir /data chronicle
USER chronicle
WORKDIR /data
VOLUME /data
ENTRYPOINT ["chronicle"]
CMD ["--help"]
