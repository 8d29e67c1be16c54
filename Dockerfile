# phiguard image (the Deployment in envoy/istio/deployment.yaml runs it).
# Note: no Docker engine runs on the machines this repository is developed and tested on, so this file is not built
# in CI here; build and scan it in your own pipeline.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin bin
COPY proto proto
COPY authz authz
COPY generator generator
# npm ci runs the `prepare` script (tsc -> dist/); then drop dev dependencies.
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/bin bin
USER 10001
EXPOSE 9191 9464
ENTRYPOINT ["node", "bin/phiguard.js"]
CMD ["serve"]
