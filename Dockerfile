# The API / watcher / migration image: the sources compiled to JavaScript in dist/ by
# esbuild (src/bin/build.mjs, as `npm start` does), so the runtime stage needs only
# production dependencies and starts without a TypeScript loader.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY schema ./schema
COPY oracles ./oracles
COPY contracts ./contracts
RUN node src/bin/build.mjs --force
# Where `npm run deploy` writes the chain settlement settings (a volume in docker-compose.yml).
RUN mkdir -p /app/.data/chain && chown node /app/.data/chain
USER node
EXPOSE 4000
CMD ["node", "--max-semi-space-size=64", "--enable-source-maps", "dist/src/bin/server.js"]
