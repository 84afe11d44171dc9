# peerchat: the relay (serving the web app) and two virtual clients (one process for both),
# supervised by scripts/start.mjs. Multi-stage: the build stage has every dependency and builds the web
# app; the runtime stage has production dependencies only and runs as the `node` user.
# Checked by tests/deploy/deploy-config.test.ts (no Docker engine on the dev machines).

FROM node:20-bookworm-slim AS build
ENV CI=true
RUN npm install -g pnpm@10
WORKDIR /app
# Manifests first, so the dependency layer is cached across source edits.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY engine/package.json engine/
COPY transports/package.json transports/
COPY relay/package.json relay/
COPY virtual-client/package.json virtual-client/
COPY stores/file/package.json stores/file/
COPY stores/indexeddb/package.json stores/indexeddb/
COPY examples/quickstart/package.json examples/quickstart/
COPY examples/board/package.json examples/board/
COPY ui-vue/package.json ui-vue/
COPY bench/package.json bench/
COPY tests/package.json tests/
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm --filter @peerchat/ui-vue build && node scripts/start.mjs --bundle-only
# The runtime tree: production dependencies of the relay and the virtual client only.
RUN rm -rf node_modules */node_modules \
 && pnpm install --frozen-lockfile --prod --filter "@peerchat/relay..." --filter "@peerchat/virtual-client..."

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    PEERCHAT_HOST=0.0.0.0 \
    PEERCHAT_DATA_DIR=/data \
    PEERCHAT_PREBUILT=1
WORKDIR /app
COPY --from=build /app/package.json /app/pnpm-workspace.yaml ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/engine ./engine
COPY --from=build /app/transports ./transports
COPY --from=build /app/relay ./relay
COPY --from=build /app/virtual-client ./virtual-client
COPY --from=build /app/stores ./stores
# (relay/dist/cli.mjs, virtual-client/dist/host.mjs and vc-instance.mjs are the bundles start.mjs runs.)
COPY --from=build /app/scripts/start.mjs ./scripts/start.mjs
COPY --from=build /app/ui-vue/dist ./ui-vue/dist
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "scripts/start.mjs"]
