#!/usr/bin/env bash
# Prints the directory holding the `node` binary of the Node release phiguard is built, tested and shipped on
# (package.json "config": {"node": ...}), fetching it first if needed. An official build of that release comes from
# the npm registry's node-linux-<arch> package (a repackaging of the nodejs.org binary), installed outside the project
# (never a dependency) into a cache: ${PHIGUARD_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phiguard}/node-<version>-<arch>
# (or /tmp/phiguard-node-<uid> when that is not writable).
#
# Usage: PATH="$(scripts/node-runtime.sh):$PATH"   (.ci/run and scripts/build-image.sh do this)
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(node -p "require('./package.json').config.node")
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    echo "node-runtime: no node-linux package for $(uname -m)" >&2
    exit 2
    ;;
esac
cache=${PHIGUARD_NODE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/phiguard}
# A user without a writable home (a CI runner's service account) gets a per-user directory under /tmp.
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  cache=${TMPDIR:-/tmp}/phiguard-node-$(id -u)
  mkdir -p "$cache"
  export npm_config_cache=$cache/npm-cache
fi
prefix=$cache/node-$version-$arch
bin=$prefix/node_modules/node-linux-$arch/bin

if [ "$("$bin/node" --version 2>/dev/null)" != "v$version" ]; then
  rm -rf "$prefix"
  mkdir -p "$prefix"
  echo "node-runtime: fetching node-linux-$arch@$version from the npm registry into $prefix" >&2
  npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund "node-linux-$arch@$version" >&2
fi
if [ "$("$bin/node" --version)" != "v$version" ]; then
  echo "node-runtime: $bin/node is not Node $version" >&2
  exit 2
fi
echo "$bin"
