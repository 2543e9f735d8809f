# Redis from Debian's redis-server package, which tools/docker-base puts in
# the base image. With a registry, `image: redis:7-bookworm` replaces this.
ARG BASE=tbg-base:bookworm
FROM ${BASE}
RUN mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data", "--appendonly", "yes"]
