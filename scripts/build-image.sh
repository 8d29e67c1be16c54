#!/usr/bin/env bash
# `npm run image`: builds the phiguard container image with buildah, without a Docker daemon and without pulling a
# base image. The root filesystem is assembled from what a Debian machine with npm has: the npm registry's build of
# the Node release in package.json ("config": {"node": ...}, fetched by scripts/node-runtime.sh), the app built in a
# staging copy (`npm ci`, then `npm prune --omit=dev`), and the C and C++ runtime libraries of this system's Debian
# packages (scripts/image-rootfs.sh). The Dockerfile lays out the same filesystem for builds with a daemon.
#
# The image runs as 10001:10001, has no shell, keeps nothing it writes, and runs under a read-only root.
#
# Usage: npm run image [-- IMAGE]      IMAGE defaults to phiguard:<package.json version>
# Needs: buildah (apt-get install buildah), npm, the npm registry (or its cache), and root or a rootless buildah setup.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

version=$(node -p "require('./package.json').version")
image=${1:-phiguard:$version}

if ! command -v buildah >/dev/null; then
  echo "build-image: buildah is not installed (apt-get install buildah)" >&2
  exit 2
fi

node_dir=$(scripts/node-runtime.sh)
export PATH="$node_dir:$PATH"
echo "build-image: Node $(node --version) from $node_dir" >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/phiguard-image.XXXXXX")
ctr=
cleanup() {
  if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The app, built as the Dockerfile builds it: what `npm ci` needs to run `prepare` (tsc -> dist/), then without the
# development dependencies.
mkdir "$work/app"
cp -a LICENSE package.json package-lock.json tsconfig.json tsconfig.build.json bin proto authz generator "$work/app/"
(
  cd "$work/app"
  npm ci --no-audit --no-fund --prefer-offline >&2
  npm prune --omit=dev --no-audit --no-fund >&2
)

scripts/image-rootfs.sh "$node_dir/node" "$work/app" "$work/rootfs"

revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$repo" status --porcelain -- authz generator bin proto package.json package-lock.json 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi

ctr=$(buildah from scratch)
buildah copy --quiet "$ctr" "$work/rootfs" / >/dev/null
# Keep in step with the Dockerfile's final stage (test/image/image.test.ts compares them).
buildah config \
  --user 10001:10001 \
  --workingdir /app \
  --env NODE_ENV=production \
  --env GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
  --port 9191 \
  --port 9464 \
  --entrypoint '["/usr/local/bin/node", "/app/bin/phiguard.js"]' \
  --cmd '["serve"]' \
  --label org.opencontainers.image.title=phiguard \
  --label "org.opencontainers.image.version=$version" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$image" >/dev/null
ctr=

size=$(du -sb "$work/rootfs" | cut -f1)
echo "build-image: $image built: $((size / 1000000)) MB uncompressed ($(du -sb "$work/rootfs/app/node_modules" | cut -f1 | awk '{ printf "%d", $1 / 1000000 }') MB of it production node_modules, $(stat -c %s "$node_dir/node" | awk '{ printf "%d", $1 / 1000000 }') MB Node)" >&2
echo "$image"
