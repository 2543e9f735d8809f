# The project's own processes — tbg-simnode, tbg-pool, tbg-collector,
# tbg-api — in one image; compose.yaml picks the command per service.
# The binaries are built on the host (tools/compose stages them in BIN),
# so the image needs no Rust toolchain and no registry.
#
# BASE is the Debian bookworm image tools/docker-base makes with
# debootstrap; with a registry, `BASE=debian:bookworm-slim` works as it is.
ARG BASE=tbg-base:bookworm
FROM ${BASE}
ARG BIN=docker/bin
COPY ${BIN}/ /usr/local/bin/
RUN mkdir -p /run/tbg /var/lib/tbg
