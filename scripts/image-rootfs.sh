#!/usr/bin/env bash
# Lays out the phiguard image's root filesystem in ROOTFS: one Node binary, the built app with its production
# dependencies, the shared libraries that binary links (from the Debian system it is run on) and the few /etc files
# a non-root process needs. No shell, no package manager, nothing writable: the container runs with a read-only root
# and writes only to the volumes it is given (docs/deploy.md).
#
# Both image builds use it, so they produce the same layout: `npm run image` (scripts/build-image.sh, with buildah
# on the host) and the Dockerfile (in its build stage).
#
# Usage: scripts/image-rootfs.sh NODE_BINARY APP_DIR ROOTFS
#   NODE_BINARY  an official Node build (glibc, x86_64 or arm64)
#   APP_DIR      a built copy of the repository after `npm ci && npm prune --omit=dev` (package.json, bin, dist,
#                node_modules are taken from it, and LICENSE)
#   ROOTFS       an empty or missing directory
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 NODE_BINARY APP_DIR ROOTFS" >&2
  exit 2
fi
node_bin=$1
app=$2
rootfs=$3

for part in package.json bin/phiguard.js dist/generator/cli.js node_modules; do
  if [ ! -e "$app/$part" ]; then
    echo "image-rootfs: $app/$part is missing (run npm ci and npm prune --omit=dev in $app first)" >&2
    exit 2
  fi
done
if [ -e "$rootfs" ] && [ -n "$(ls -A "$rootfs")" ]; then
  echo "image-rootfs: $rootfs is not empty" >&2
  exit 2
fi

umask 022
mkdir -p "$rootfs"/{usr/local/bin,app,etc,tmp,usr/share/doc/phiguard}

# Node, where the official node images keep it.
install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"

# The app: the package manifest (it says "type": "module"), the CLI entry, the compiled code and the production
# dependencies. No TypeScript sources, no lockfile, no dev tooling.
cp -a "$app/package.json" "$app/bin" "$app/dist" "$app/node_modules" "$rootfs/app/"

# The shared libraries and the dynamic loader the Node binary needs, at the paths this Debian system resolves them to
# (ldd lists each as `name => path (addr)`, the loader as `path (addr)`). Copied dereferenced, so each is one file.
libs=$(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
if [ -z "$libs" ]; then
  echo "image-rootfs: ldd found no shared libraries for $node_bin" >&2
  exit 2
fi
for lib in $libs; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done

# Their Debian packages' copyright notices (glibc's LGPL, libstdc++'s runtime exception), phiguard's and Node's
# licences.
if command -v dpkg-query >/dev/null; then
  for lib in $libs; do
    # dpkg knows a file by the path its package ships (/lib or /usr/lib on a merged-/usr system).
    pkg=
    for candidate in "$lib" "/usr$lib" "$(readlink -f "$lib")"; do
      pkg=$(dpkg-query -S "$candidate" 2>/dev/null | head -n1 | cut -d: -f1) && break
      pkg=
    done
    if [ -n "$pkg" ] && [ -f "/usr/share/doc/$pkg/copyright" ] && [ ! -e "$rootfs/usr/share/doc/$pkg" ]; then
      mkdir -p "$rootfs/usr/share/doc/$pkg"
      cp "/usr/share/doc/$pkg/copyright" "$rootfs/usr/share/doc/$pkg/copyright"
      echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null | head -n1)" >>"$rootfs/usr/share/doc/phiguard/debian-packages"
    fi
  done
fi
if [ -f "$app/LICENSE" ]; then cp "$app/LICENSE" "$rootfs/usr/share/doc/phiguard/LICENSE"; fi
node_license=$(dirname "$(dirname "$node_bin")")/LICENSE
if [ -f "$node_license" ]; then
  mkdir -p "$rootfs/usr/share/doc/node"
  cp "$node_license" "$rootfs/usr/share/doc/node/LICENSE"
fi

# The user the image runs as (10001, matching runAsUser in envoy/istio/deployment.yaml), and name resolution as
# Debian configures it (files, then DNS): glibc 2.34 and later carry the files and dns NSS modules inside libc.
cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
phiguard:x:10001:10001:phiguard:/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
phiguard:x:10001:
nogroup:x:65534:
EOF
cat >"$rootfs/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
chmod 1777 "$rootfs/tmp"

# Nothing in the image is writable by the user it runs as.
chmod -R u+rwX,go+rX,go-w "$rootfs/app" "$rootfs/usr" "$rootfs/etc"
