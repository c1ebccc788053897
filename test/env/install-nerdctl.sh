#!/usr/bin/env bash
# Builds nerdctl (only the benchmarks use it, as a peer to compare with) from the Go module
# proxy into the cache. nerdctl's go.mod points its test framework (mod/tigron) at a directory
# inside its repository, which the proxy does not serve; the nerdctl binary names only one
# interface of it, so a four-line stand-in module replaces it. Prints the binary's path, or
# exits 1 saying why it could not be built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
NERDCTL_VERSION=v2.3.5
out=$AISHELL_TEST_CACHE/nerdctl-$NERDCTL_VERSION/nerdctl
if [ -x "$out" ]; then echo "$out"; exit 0; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tigron/tig"
printf 'module github.com/containerd/nerdctl/mod/tigron\n\ngo 1.24\n' >"$tmp/tigron/go.mod"
cat >"$tmp/tigron/tig/tig.go" <<'GO'
// Package tig stands in for nerdctl's test framework; the nerdctl binary only names T.
package tig

// T is the part of testing.T that nerdctl's non-test code names.
type T interface {
	Helper()
	Log(args ...any)
	FailNow()
}
GO
build() {
	cd "$tmp"
	go mod init aishell-nerdctl-build >/dev/null 2>&1
	go mod edit -replace github.com/containerd/nerdctl/mod/tigron=./tigron
	GOFLAGS=-mod=mod go get "github.com/containerd/nerdctl/v2/cmd/nerdctl@$NERDCTL_VERSION" >"$tmp/get.log" 2>&1 \
		|| { tail -5 "$tmp/get.log" >&2; return 1; }
	CGO_ENABLED=0 go build -ldflags "-s -w -X github.com/containerd/nerdctl/v2/pkg/version.Version=$NERDCTL_VERSION" \
		-o "$tmp/nerdctl" github.com/containerd/nerdctl/v2/cmd/nerdctl
	mkdir -p "$(dirname "$out")"
	mv "$tmp/nerdctl" "$out"
}
timed "nerdctl $NERDCTL_VERSION (build)" build || die "could not build nerdctl $NERDCTL_VERSION from the module proxy"
echo "$out"
