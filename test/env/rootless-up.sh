#!/usr/bin/env bash
# Brings up a rootless containerd and buildkitd for an unprivileged test user, laid out as
# containerd-rootless.sh and `containerd-rootless-setuptool.sh install-buildkit-containerd` lay
# them out (and so as Lima's VMs have them):
#   - the user aishell-rootless (created once, with subordinate uid and gid ranges);
#   - rootlesskit --net=host (no tun device, no iptables) holding containerd, with
#     $XDG_RUNTIME_DIR/containerd bound on /run/containerd and the data dir on /var/lib/containerd
#     in its mount namespace, state dir $XDG_RUNTIME_DIR/containerd-rootless;
#   - buildkitd in rootlesskit's namespaces (entered with nsenter), containerd worker, namespace
#     aishell, on $XDG_RUNTIME_DIR/buildkit-aishell/buildkitd.sock, where aishell looks by default.
# Everything lives under $AISHELL_TEST_DIR/rootless (the user's XDG_RUNTIME_DIR is
# $AISHELL_TEST_DIR/rootless/run); nothing else on the machine changes but the user's account.
# An environment that is up and answering is reused. Writes $AISHELL_TEST_DIR/rootless/env (for a
# shell) and $AISHELL_TEST_DIR/rootless/env.json (for programs: the tests), on reuse too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/rootless-common.sh"

[ "$(id -u)" = 0 ] || die "rootless-up.sh sets up a test user: run it as root"
for b in containerd ctr containerd-shim-runc-v2 runc buildkitd buildctl; do
	[ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing: run test/env/install.sh first"
done

rl_ready() {
	ctr --address "$RL_CTD_SOCK" version >/dev/null 2>&1 && buildctl --addr "unix://$RL_BK_SOCK" debug workers >/dev/null 2>&1
}
# For seed.sh and the tests (which talk to the sockets as root, and run aishell as the user
# with only XDG_RUNTIME_DIR set, so it finds everything by its defaults).
write_env_files() {
	write_env "$RL_DIR" "$RL_BIN" CONTAINERD_ADDRESS="$RL_CTD_SOCK" CONTAINERD_NAMESPACE=aishell \
		BUILDKIT_HOST="unix://$RL_BK_SOCK" AISHELL_ROOTLESS_USER="$RL_USER" \
		AISHELL_ROOTLESS_RUNTIME_DIR="$RL_RUN" AISHELL_ROOTLESS_BIN="$RL_BIN"
}
export PATH="$BIN_DIR:$PATH"
# Rootless runs with network isolated have slirp4netns open /dev/net/tun as the user: give it
# the mode distributions give it (0666; some containers and CI machines make it 0600).
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
	chmod 0666 /dev/net/tun
	log "made /dev/net/tun mode 0666 (the usual mode) for slirp4netns in rootless runs"
fi
if rl_alive "$RL_DIR/rootlesskit.pid" && rl_alive "$RL_DIR/buildkitd.pid" && rl_ready && [ -f "$RL_DIR/env" ]; then
	log "reusing the rootless environment in $RL_DIR"
	touch "$RL_DIR/reused"
	write_env_files
	exit 0
fi
if rl_alive "$RL_DIR/rootlesskit.pid" || rl_alive "$RL_DIR/buildkitd.pid"; then
	"$here/rootless-down.sh"
fi

# The user, with subordinate ids for the user namespace (useradd allocates them on Debian;
# an existing user without them gets the next free range).
if ! id -u "$RL_USER" >/dev/null 2>&1; then
	useradd --create-home --shell /bin/bash --user-group "$RL_USER"
	log "created user $RL_USER"
fi
next_free_range() {
	cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: 'BEGIN { m = 100000 } NF == 3 && $2 + $3 > m { m = $2 + $3 } END { print m }'
}
for f in /etc/subuid /etc/subgid; do
	if ! grep -q "^$RL_USER:" "$f" 2>/dev/null; then
		start=$(next_free_range)
		if [ "$f" = /etc/subuid ]; then
			usermod --add-subuids "$start-$((start + 65535))" "$RL_USER"
		else
			usermod --add-subgids "$start-$((start + 65535))" "$RL_USER"
		fi
		log "gave $RL_USER the range $start-$((start + 65535)) in $f"
	fi
done
uid=$(id -u "$RL_USER")
gid=$(id -g "$RL_USER")
home=$(getent passwd "$RL_USER" | cut -d: -f6)

# Binaries the user can reach (the cache is under root's home), and the user's directories.
mkdir -p "$RL_DIR" "$RL_BIN"
chmod 0755 "$RL_DIR" "$RL_BIN"
for b in containerd ctr containerd-shim-runc-v2 runc buildkitd buildctl; do
	install -m 0755 "$BIN_DIR/$b" "$RL_BIN/$b"
done
install -d -o "$uid" -g "$gid" -m 0700 "$RL_RUN" "$RL_DATA"
install -d -o "$uid" -g "$gid" -m 0755 "$RL_RUN/containerd" "$RL_DATA/containerd" "$RL_DATA/buildkit-aishell" "$RL_RUN/buildkit-aishell"
rm -f "$RL_DIR/reused"

# containerd's config: default paths, which the bind mounts below put in the user's directories.
cat >"$RL_DIR/containerd.toml" <<TOML
version = 3
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]
TOML
# The child: runs as uid 0 of rootlesskit's namespaces. /run and /var/lib are copied up by
# rootlesskit (a tmpfs of links to the originals), so the links can be replaced by bind mounts.
cat >"$RL_BIN/containerd-rootless-child.sh" <<'SH'
#!/bin/sh
set -eu
rm -f /run/containerd /var/lib/containerd
mkdir -p /run/containerd /var/lib/containerd
mount --bind "$XDG_RUNTIME_DIR/containerd" /run/containerd
mount --bind "$AISHELL_RL_DATA/containerd" /var/lib/containerd
exec containerd --config "$AISHELL_RL_DIR/containerd.toml"
SH
chmod 0755 "$RL_BIN/containerd-rootless-child.sh"

# as_user CMD...: the user's identity and a clean environment (an array, so that a command
# started in the background is the process itself and $! its pid).
as_user=(setpriv --reuid="$uid" --regid="$gid" --init-groups
	env -i HOME="$home" USER="$RL_USER" LOGNAME="$RL_USER" PATH="$RL_BIN:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	XDG_RUNTIME_DIR="$RL_RUN" AISHELL_RL_DIR="$RL_DIR" AISHELL_RL_DATA="$RL_DATA")

# started PIDFILE: the process started just now still runs (kill -0: rl_alive's cmdline check
# fails in the instant before the fork has exec'd).
started() { kill -0 "$(cat "$1")" 2>/dev/null; }
t0=$SECONDS
trap 'rc=$?; if [ $rc != 0 ]; then "$here/rootless-down.sh" >&2 || true; fi' EXIT
"${as_user[@]}" setsid rootlesskit --state-dir="$RL_RUN/containerd-rootless" --net=host \
	--copy-up=/etc --copy-up=/run --copy-up=/var/lib \
	"$RL_BIN/containerd-rootless-child.sh" >"$RL_DIR/containerd.log" 2>&1 </dev/null &
echo $! >"$RL_DIR/rootlesskit.pid"
for ((i = 0; i < 300; i++)); do
	ctr --address "$RL_CTD_SOCK" version >/dev/null 2>&1 && break
	started "$RL_DIR/rootlesskit.pid" || { tail -n 20 "$RL_DIR/containerd.log" >&2; die "rootless containerd exited during start-up (log: $RL_DIR/containerd.log)"; }
	sleep 0.1
done
ctr --address "$RL_CTD_SOCK" version >/dev/null 2>&1 || { tail -n 20 "$RL_DIR/containerd.log" >&2; die "rootless containerd did not answer within 30 s"; }

# buildkitd as the Lima template's provisioning starts it (lima/provision.sh, the same script):
# its config (containerd worker, namespace aishell, rootless, host network), and nsenter into
# rootlesskit's child found from child_pid (user and mount namespaces; --net=host leaves no
# network namespace to enter). The script execs buildkitd, so $! is buildkitd's pid.
install -m 0755 "$here/../../lima/provision.sh" "$RL_BIN/aishell-provision.sh"
"$RL_BIN/aishell-provision.sh" buildkitd-config "$RL_DIR/buildkitd.toml"
"${as_user[@]}" AISHELL_BUILDKIT_ROOT="$RL_DATA/buildkit-aishell" AISHELL_BUILDKIT_SOCK="$RL_BK_SOCK" \
	setsid "$RL_BIN/aishell-provision.sh" buildkitd "$RL_DIR/buildkitd.toml" >"$RL_DIR/buildkitd.log" 2>&1 </dev/null &
echo $! >"$RL_DIR/buildkitd.pid"
for ((i = 0; i < 300; i++)); do
	buildctl --addr "unix://$RL_BK_SOCK" debug workers >/dev/null 2>&1 && break
	started "$RL_DIR/buildkitd.pid" || { tail -n 20 "$RL_DIR/buildkitd.log" >&2; die "rootless buildkitd exited during start-up (log: $RL_DIR/buildkitd.log)"; }
	sleep 0.1
done
rl_ready || { tail -n 20 "$RL_DIR/buildkitd.log" >&2; die "rootless buildkitd did not answer within 30 s"; }
log "rootless containerd and buildkitd up for $RL_USER in $((SECONDS - t0)) s"

write_env_files
