# PostgreSQL 15 from Debian's package, which tools/docker-base puts in the
# base image; postgres-entrypoint.sh takes the official image's
# POSTGRES_DB and POSTGRES_HOST_AUTH_METHOD, so with a registry
# `image: timescale/timescaledb:latest-pg15` (or `postgres:15`) replaces
# this build unchanged.
ARG BASE=tbg-base:bookworm
FROM ${BASE}
COPY docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
RUN mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
USER postgres
ENV PGDATA=/var/lib/postgresql/data PATH=/usr/lib/postgresql/15/bin:$PATH
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint.sh"]
