# phiguard image, for builds with a Docker (or BuildKit) daemon. The Deployment in envoy/istio/deployment.yaml runs it.
#
# `npm run image` (scripts/build-image.sh) builds the same image with buildah and no daemon or base image; both lay
# out the root filesystem with scripts/image-rootfs.sh: Node at /usr/local/bin/node, the app in /app with its
# production dependencies, the C/C++ runtime libraries from Debian bookworm, user 10001, no shell. Keep the final
# stage's settings in step with build-image.sh (test/image/image.test.ts compares them with the image it builds).
# NODE_VERSION is package.json's "config.node".
ARG NODE_VERSION=24.22.3

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY LICENSE package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin bin
COPY proto proto
COPY authz authz
COPY generator generator
# npm ci runs the `prepare` script (tsc -> dist/); then drop the development dependencies.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund
COPY scripts/image-rootfs.sh /usr/local/sbin/image-rootfs.sh
RUN bash /usr/local/sbin/image-rootfs.sh /usr/local/bin/node /src /rootfs

FROM scratch
COPY --from=build /rootfs /
USER 10001:10001
WORKDIR /app
# glibc's malloc asks for transparent huge pages for its heap (glibc 2.35+; the kernel's THP mode must be `madvise` or
# `always`): a 9 MiB request then lands in a few 2 MiB pages rather than thousands of 4 KiB ones, each a page fault
# (docs/performance.md, "glibc's malloc on huge pages").
ENV NODE_ENV=production GLIBC_TUNABLES=glibc.malloc.hugetlb=1
EXPOSE 9191 9464
LABEL org.opencontainers.image.title=phiguard org.opencontainers.image.licenses=Apache-2.0
ENTRYPOINT ["/usr/local/bin/node", "/app/bin/phiguard.js"]
CMD ["serve"]
