# syntax=docker/dockerfile:1

# Tessera container image.
#   docker build -t tessera .
#   docker run --rm -p 8080:8080 -e DATABASE_URL=... -e REDIS_URL=... -e TESSERA_ENCRYPTION_KEYS=... tessera
# Without DATABASE_URL the image falls back to embedded PostgreSQL under /app/.data (trials only).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: full install (dev deps included) and `tsc` -> dist/src/*.js -------------------
FROM ${NODE_IMAGE} AS build
# Toolchain for argon2's node-gyp fallback when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig*.json ./
COPY src/ src/
COPY migrations/ migrations/
COPY data/ data/
COPY openapi/ openapi/
RUN npm run build

# ---- deps: production node_modules only; the toolchain stays in this throwaway stage -------
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
# Application files stay owned by root (read-only for the service user); only the data
# directory used by embedded mode is writable.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/data ./data
COPY --from=build /app/openapi ./openapi
COPY package.json ./
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/main.js"]
