#!/usr/bin/env bash
# Installs what the integration tests need into a cache directory outside the clone:
# containerd + ctr + containerd-shim-runc-v2, runc, buildkitd + buildctl (built from the Go module
# proxy), Debian's mmdebstrap for seeding base images, and Debian's rootlesskit and uidmap for
# the rootless environment. A second run finds the cache and finishes in seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
command -v go >/dev/null || die "go is not installed (Go 1.26 is needed to build the daemons and aishell)"

apt_packages=(mmdebstrap libseccomp-dev pkg-config gcc curl ca-certificates git rootlesskit uidmap util-linux tmux slirp4netns nftables iproute2)
missing=()
for p in "${apt_packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	[ "$(id -u)" = 0 ] || die "need root to apt-get install ${missing[*]}"
	timed "apt-get install ${missing[*]}" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing[*]} >/dev/null"
fi

mkdir -p "$BIN_DIR"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

install_containerd() {
	local tmp; tmp=$(mktemp -d)
	local ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
	for c in containerd ctr containerd-shim-runc-v2; do
		CGO_ENABLED=0 GOBIN=$tmp go install -tags no_btrfs -ldflags "$ld" \
			"github.com/containerd/containerd/v2/cmd/$c@$CONTAINERD_VERSION"
	done
	mv "$tmp"/* "$BIN_DIR"/ && rmdir "$tmp"
}

install_runc() {
	local tmp; tmp=$(mktemp -d)
	CGO_ENABLED=1 GOBIN=$tmp go install -tags seccomp \
		-ldflags "-s -w -X main.version=${RUNC_VERSION#v}" \
		"github.com/opencontainers/runc@$RUNC_VERSION"
	mv "$tmp/runc" "$BIN_DIR/runc" && rmdir "$tmp"
}

install_buildkit() {
	# `go install` of buildkitd is refused (exclude directives in its go.mod); build from a scratch module.
	local tmp; tmp=$(mktemp -d)
	(
		cd "$tmp"
		go mod init aishell-buildkit-build >/dev/null 2>&1
		go get "github.com/moby/buildkit/cmd/buildkitd@$BUILDKIT_VERSION" "github.com/moby/buildkit/cmd/buildctl@$BUILDKIT_VERSION" >get.log 2>&1 \
			|| { tail -n 20 get.log >&2; exit 1; }
		local ld="-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION"
		for c in buildkitd buildctl; do
			CGO_ENABLED=0 go build -ldflags "$ld" -o "$tmp/out/$c" "github.com/moby/buildkit/cmd/$c"
		done
	)
	mv "$tmp/out/"* "$BIN_DIR"/ && rm -rf "$tmp"
}

[ -x "$BIN_DIR/containerd" ] && [ -x "$BIN_DIR/ctr" ] && [ -x "$BIN_DIR/containerd-shim-runc-v2" ] \
	|| timed "containerd $CONTAINERD_VERSION (build)" install_containerd
[ -x "$BIN_DIR/runc" ] || timed "runc $RUNC_VERSION (build)" install_runc
[ -x "$BIN_DIR/buildkitd" ] && [ -x "$BIN_DIR/buildctl" ] || timed "buildkit $BUILDKIT_VERSION (build)" install_buildkit

"$BIN_DIR/containerd" --version >&2
"$BIN_DIR/runc" --version | sed -n 1p >&2 # sed reads all: no SIGPIPE under pipefail
"$BIN_DIR/buildkitd" --version >&2
echo "$BIN_DIR"
