# syntax=docker/dockerfile:1
# Image for the processes of feishu-user-auth; docker-compose.yml picks the command:
#   api:     node dist/api/main.js (the default)
#   worker:  node dist/workers/main.js
#   migrate: node dist/db/cli.js
# The build stage compiles the TypeScript to dist/ with tsc and prebuilds the workflow bundle
# (npm run build); the runtime stage installs production dependencies only and runs dist/ with
# plain node. test/operations/image-build.test.ts runs the same steps without a Docker engine.

FROM node:22-slim AS build

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit

COPY tsconfig.json tsconfig.build.json ./
COPY lib lib
COPY workflows workflows
COPY activities activities
COPY workers workers
COPY api api
COPY db db
COPY scripts scripts
RUN npm run build


FROM node:22-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit

COPY --from=build /app/dist ./dist
COPY deploy/docker-entrypoint.sh deploy/docker-entrypoint.sh
RUN chmod 0755 deploy/docker-entrypoint.sh \
    && chown -R root:root /app \
    && chmod -R a+rX,go-w /app

# Unprivileged user; the application files stay owned by root and read-only for it.
USER node

# 3000: API (PORT). 9464: worker /metrics (prom-client). 9465: Temporal SDK Prometheus exporter.
# 9466: API /metrics (API_METRICS_PORT).
EXPOSE 3000 9464 9465 9466

ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["node", "dist/api/main.js"]
