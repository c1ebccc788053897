#!/bin/sh
# aishell's provisioning, one script for two places:
#   - lima.yaml runs it with no arguments, as root (`mode: system`: Go and aishell into
#     /usr/local/bin) and as the user (`mode: user`: buildkitd for aishell as a systemd user unit);
#   - test/env/rootless-up.sh runs its `buildkitd-config` and `buildkitd` commands to start the
#     rootless test environment's buildkitd the same way, so CI exercises this script.
#
#   provision.sh buildkitd-config FILE  write buildkitd's config: no OCI worker; the containerd
#                                       worker of rootless containerd, namespace aishell, host network
#   provision.sh buildkitd FILE         run buildkitd with that config in rootlesskit's namespaces
#                                       (found from $XDG_RUNTIME_DIR/containerd-rootless/child_pid),
#                                       on $AISHELL_BUILDKIT_SOCK (default
#                                       $XDG_RUNTIME_DIR/buildkit-aishell/buildkitd.sock, where
#                                       aishell looks), state in $AISHELL_BUILDKIT_ROOT (default
#                                       ~/.local/share/buildkit-aishell); it stays in the foreground
#   provision.sh                        Lima: as root the system part, as a user the user part
#
# Lima passes the template's param as PARAM_* variables: PARAM_goVersion (the Go toolchain that
# builds aishell), PARAM_aishellModule and PARAM_aishellVersion (what `go install` fetches through
# the module proxy), PARAM_aishellSource (a checkout the VM sees, built instead when set).
# Everything here may run again on every boot: it is idempotent.
set -eu

: "${XDG_RUNTIME_DIR:=/run/user/$(id -u)}"
bk_sock=${AISHELL_BUILDKIT_SOCK:-$XDG_RUNTIME_DIR/buildkit-aishell/buildkitd.sock}
bk_root=${AISHELL_BUILDKIT_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/buildkit-aishell}

say() { echo "aishell provision: $*" >&2; }
die() { say "$*"; exit 1; }

buildkitd_config() {
	mkdir -p "$(dirname "$1")"
	cat >"$1" <<'TOML'
# buildkitd for aishell (written by lima/provision.sh): builds land in containerd's namespace
# aishell, where aishell's images are.
[worker.oci]
  enabled = false

[worker.containerd]
  enabled = true
  address = "/run/containerd/containerd.sock"
  namespace = "aishell"
  rootless = true
  networkMode = "host"
TOML
}

# buildkitd FILE: as nerdctl's containerd-rootless-setuptool.sh starts it, in the user and mount
# namespaces of rootlesskit's child (where /run/containerd is the user's containerd), and in its
# network namespace when it has one of its own (rootlesskit --net=host has none to enter).
buildkitd_run() {
	pidfile=$XDG_RUNTIME_DIR/containerd-rootless/child_pid
	i=0
	while [ ! -s "$pidfile" ]; do
		i=$((i + 1))
		[ "$i" -le 120 ] || die "no rootless containerd: $pidfile is missing (containerd-rootless-setuptool.sh install)"
		sleep 0.5
	done
	child=$(cat "$pidfile")
	mkdir -p "$(dirname "$bk_sock")" "$bk_root"
	set -- -U --preserve-credentials -m
	if [ "$(readlink "/proc/$child/ns/net")" != "$(readlink /proc/self/ns/net)" ]; then
		set -- "$@" -n
	fi
	exec nsenter "$@" -t "$child" -- buildkitd --config "$cfg" --root "$bk_root" --addr "unix://$bk_sock"
}

go_arch() {
	case $(uname -m) in
	x86_64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	*) die "no Go toolchain for $(uname -m)" ;;
	esac
}

# Lima, as root: Go (PARAM_goVersion) in /usr/local/go, and aishell in /usr/local/bin, built in
# the VM for the VM's architecture.
lima_system() {
	# The sandbox's own network (isolated, the default) needs slirp4netns and nft; detached
	# sessions need nothing on the VM (tmux is in the image).
	missing=
	for p in slirp4netns nftables; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		say "installing$missing"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	fi
	go_version=${PARAM_goVersion:?the template sets param.goVersion}
	if [ "$(/usr/local/go/bin/go env GOVERSION 2>/dev/null || true)" != "go$go_version" ]; then
		say "installing Go $go_version"
		tmp=$(mktemp -d)
		curl -fsSL -o "$tmp/go.tgz" "https://go.dev/dl/go$go_version.linux-$(go_arch).tar.gz"
		rm -rf /usr/local/go
		tar -C /usr/local -xzf "$tmp/go.tgz"
		rm -rf "$tmp"
	fi
	export GOPATH=/var/cache/aishell-go GOCACHE=/var/cache/aishell-go/build GOFLAGS=-buildvcs=false CGO_ENABLED=0
	stamp=/usr/local/lib/aishell.stamp
	if [ -n "${PARAM_aishellSource:-}" ]; then
		[ -f "$PARAM_aishellSource/go.mod" ] || die "param.aishellSource=$PARAM_aishellSource is not a checkout the VM sees (is it under a mount?)"
		say "building aishell from $PARAM_aishellSource"
		(cd "$PARAM_aishellSource" && /usr/local/go/bin/go build -o /usr/local/bin/aishell.new ./cmd/aishell)
		mv /usr/local/bin/aishell.new /usr/local/bin/aishell
		echo "source $PARAM_aishellSource" >"$stamp"
		return
	fi
	want="${PARAM_aishellModule:?}/cmd/aishell@${PARAM_aishellVersion:?}"
	if [ -x /usr/local/bin/aishell ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ] && [ "${PARAM_aishellVersion}" != latest ]; then
		return
	fi
	say "installing $want"
	GOBIN=/usr/local/bin /usr/local/go/bin/go install "$want"
	mkdir -p "$(dirname "$stamp")"
	echo "$want" >"$stamp"
}

# Lima, as the user: buildkitd for aishell's namespace as a systemd user unit beside Lima's
# rootless containerd (containerd.service, which Lima's containerd.user installs).
lima_user() {
	self=$HOME/.local/lib/aishell/provision.sh
	mkdir -p "$(dirname "$self")" "$HOME/.config/systemd/user"
	cp "$0" "$self.new" && chmod 0755 "$self.new" && mv "$self.new" "$self"
	cfg=$HOME/.config/buildkit/buildkitd-aishell.toml
	buildkitd_config "$cfg"
	cat >"$HOME/.config/systemd/user/aishell-buildkit.service" <<UNIT
[Unit]
Description=BuildKit for aishell (containerd worker, namespace aishell; lima/provision.sh)
Requires=containerd.service
After=containerd.service

[Service]
Environment=PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
ExecStart=$self buildkitd $cfg
Restart=always
RestartSec=2

[Install]
WantedBy=default.target
UNIT
	systemctl --user daemon-reload
	systemctl --user enable aishell-buildkit.service
	systemctl --user restart aishell-buildkit.service
}

case ${1:-} in
buildkitd-config)
	[ $# = 2 ] || die "usage: $0 buildkitd-config FILE"
	buildkitd_config "$2"
	;;
buildkitd)
	[ $# = 2 ] || die "usage: $0 buildkitd FILE"
	cfg=$2
	buildkitd_run
	;;
"")
	if [ "$(id -u)" = 0 ]; then lima_system; else lima_user; fi
	;;
*)
	die "unknown command $1 (see the top of $0)"
	;;
esac
