# syntax=docker/dockerfile:1
# Kiln in a container: `docker build -t kiln .`, then `docker run -p 7700:7700 -e KILN_MASTER_KEY=… kiln`
# (SQLite in the /var/lib/kiln volume), or see deploy/compose.yaml for PostgreSQL + workers.

# Build stage: compiles better-sqlite3 and installs production dependencies only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY bin ./bin
COPY src ./src
COPY python ./python
COPY schema ./schema

# Run stage: no compilers; scripts get bash and python3; tini reaps script processes.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash python3 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/kiln --shell /usr/sbin/nologin kiln \
 && mkdir -p /var/lib/kiln /etc/kiln \
 && chown kiln:kiln /var/lib/kiln
WORKDIR /app
COPY --from=build /app /app
ENV NODE_ENV=production KILN_DATA=/var/lib/kiln
USER kiln
VOLUME ["/var/lib/kiln"]
EXPOSE 7700
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7700/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--", "node", "/app/bin/kiln.mjs"]
# Binding every interface turns auth on: the admin token is written to /var/lib/kiln/admin-token.
CMD ["server", "--host", "0.0.0.0", "--port", "7700", "--db", "/var/lib/kiln/kiln.db"]
