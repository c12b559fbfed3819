# syntax=docker/dockerfile:1
# Image for both processes of feishu-user-auth; docker-compose.yml picks the command:
#   worker: node --import tsx workers/main.ts
#   api:    node --import tsx api/main.ts
# tsx runs the TypeScript sources directly and is a runtime dependency, so this installs with
# plain `npm ci`, dev dependencies included (NODE_ENV=production alone would drop them).
FROM node:20-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --include=dev --no-audit

COPY . .
RUN chmod 0755 deploy/docker-entrypoint.sh \
    && chown -R root:root /app \
    && chmod -R a+rX,go-w /app

# Unprivileged user; the application files stay owned by root and read-only for it.
USER node

# 3000: API (PORT). 9464: worker /metrics (prom-client). 9465: Temporal SDK Prometheus exporter.
EXPOSE 3000 9464 9465

ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["node", "--import", "tsx", "api/main.ts"]
