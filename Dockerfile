# syntax=docker/dockerfile:1
# users-subgraph (docs/operations.md, "Container"):
#   docker build -t users-subgraph .
#   docker run --rm -p 4001:4001 -e X_BEARER_TOKEN=... users-subgraph   # provider variables with -e
#   docker run --rm -p 4001:4001 -e DEMO=1 users-subgraph             # the embedded demo, asked for
# The image sets NODE_ENV=production: with no provider configured and no DEMO=1 it refuses to start (exit 78).
#
# Three stages: `build` compiles the TypeScript with every dependency; `deps` installs the production
# dependencies alone, with the one native addon (better-sqlite3, Telegram's session store) compiled there;
# the runtime stage copies both and has no compiler, no npm cache and no devDependency.

ARG NODE_IMAGE=node:20.20-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
# node-gyp uses the image's own headers instead of downloading them.
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
# better-sqlite3 is compiled when no prebuilt binary can be fetched: python3, make and g++.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# --- build: every dependency, then `npm run build` (dist/) --------------------------------------------
FROM base AS build
COPY package.json package-lock.json ./
# Scripts off: `prepare` would build before the sources are here; the build runs below.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY schema ./schema
COPY src ./src
RUN npm run build

# --- deps: production dependencies only, the native addon compiled -----------------------------------
FROM base AS deps
COPY package.json package-lock.json ./
# --ignore-scripts keeps `prepare` (a build, which needs devDependencies) from running; the only install
# script production needs is better-sqlite3's, run on its own.
RUN npm ci --omit=dev --ignore-scripts \
 && npm rebuild better-sqlite3 \
 && npm cache clean --force

# --- runtime ----------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    PORT=4001 \
    HOST=0.0.0.0 \
    TELEGRAM_SESSION_PATH=/data/telegram.session
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root schema ./schema
# The code stays root's and read-only to the process; only /data (the Telegram session) is its own.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 4001
# No curl in a slim image: Node's fetch. /health is 200 while the process is up.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4001)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node as PID 1 receives SIGTERM itself and drains (docs/operations.md, "HTTP endpoints"); as `npm start` runs it.
CMD ["node", "--max-semi-space-size=16", "dist/src/main.js"]
