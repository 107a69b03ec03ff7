# The API / watcher / migration / deployment image, in two stages:
# - build: every dependency (dev included), the sources compiled to JavaScript in dist/ by
#   esbuild (src/bin/build.mjs, as `npm start` does), with the files the code reads beside it
#   (schema, oracles, migrations, the dashboard, the contracts' compiled artifacts);
# - runtime: production dependencies only (no compiler, no TypeScript loader, no esbuild) and dist/.
# test/production-build.test.ts runs the runtime stage's steps without Docker.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Optional dependencies included: esbuild's compiler is its optional platform package.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY schema ./schema
COPY oracles ./oracles
COPY contracts ./contracts
RUN node src/bin/build.mjs --force

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Where `npm run deploy` writes the chain settlement settings (a volume in docker-compose.yml).
RUN mkdir -p /app/.data/chain && chown node /app/.data/chain
USER node
EXPOSE 4000
CMD ["node", "--max-semi-space-size=64", "--enable-source-maps", "dist/src/bin/server.js"]
