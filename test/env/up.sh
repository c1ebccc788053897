#!/usr/bin/env bash
# Starts a private containerd and buildkitd (containerd worker, host network) on sockets under
# $AISHELL_TEST_DIR, waits until both answer, and writes the variables to use to $AISHELL_TEST_DIR/env
# (for a shell) and $AISHELL_TEST_DIR/env.json (for programs: the tests). An environment that is
# already up and answering is reused; both files are written again either way. Prints the env file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

for b in containerd ctr containerd-shim-runc-v2 runc buildkitd buildctl; do
	[ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing: run test/env/install.sh (make env-install) first"
done

# Runs in their own network (isolated, the default) have slirp4netns open /dev/net/tun: a
# machine without the device node gets it (rootless-up.sh gives it its usual mode).
if [ ! -c /dev/net/tun ]; then
	modprobe tun 2>/dev/null || true
	if [ ! -c /dev/net/tun ]; then
		mkdir -p /dev/net && mknod -m 0666 /dev/net/tun c 10 200
	fi
	log "made /dev/net/tun for slirp4netns"
fi

dir=$AISHELL_TEST_DIR
ctd_sock=$dir/ctd/containerd.sock
bk_sock=$dir/bk/buildkitd.sock
export PATH="$BIN_DIR:$PATH"

# alive PIDFILE: the process is running and is one of ours (a reused pid belongs to someone else).
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && grep -qF "$dir" "/proc/$(cat "$1")/cmdline" 2>/dev/null; }
ctd_ready() { ctr --address "$ctd_sock" version >/dev/null 2>&1; }
bk_ready() { buildctl --addr "unix://$bk_sock" debug workers >/dev/null 2>&1; }
# The variables to use, for a shell and for programs (see write_env in common.sh).
write_env_files() {
	write_env "$dir" "$BIN_DIR" CONTAINERD_ADDRESS="$ctd_sock" CONTAINERD_NAMESPACE=aishell \
		BUILDKIT_HOST="unix://$bk_sock" AISHELL_TEST_DIR="$dir"
}
wait_for() { # wait_for NAME PIDFILE LOG CHECK
	local i
	for ((i = 0; i < 300; i++)); do
		"$4" && return 0
		# The process was started just now, so it is ours: kill -0, not alive (whose cmdline
		# check fails in the instant before the fork has exec'd).
		kill -0 "$(cat "$2")" 2>/dev/null || { tail -n 20 "$3" >&2; die "$1 exited during start-up (log: $3)"; }
		sleep 0.1
	done
	tail -n 20 "$3" >&2
	die "$1 did not answer within 30 s (log: $3)"
}

if alive "$dir/containerd.pid" && alive "$dir/buildkitd.pid" && ctd_ready && bk_ready && [ -f "$dir/env" ]; then
	log "reusing the environment in $dir"
	touch "$dir/reused"
	write_env_files
	cat "$dir/env"
	exit 0
fi
# Something is half up: stop what we started before and start afresh.
if alive "$dir/containerd.pid" || alive "$dir/buildkitd.pid"; then
	"$here/down.sh"
fi

mkdir -p "$dir/ctd/root" "$dir/ctd/state" "$dir/ctd/opt" "$dir/bk"
rm -f "$dir/reused"
cat >"$dir/ctd/config.toml" <<TOML
version = 3
root = "$dir/ctd/root"
state = "$dir/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]

[grpc]
  address = "$ctd_sock"

[ttrpc]
  address = "$ctd_sock.ttrpc"

[debug]
  address = "$dir/ctd/debug.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/ctd/opt"
TOML

t0=$SECONDS
# Whatever fails from here on, stop what was started.
trap 'rc=$?; if [ $rc != 0 ]; then "$here/down.sh" >&2 || true; fi' EXIT
setsid containerd --config "$dir/ctd/config.toml" >"$dir/containerd.log" 2>&1 </dev/null &
echo $! >"$dir/containerd.pid"
wait_for containerd "$dir/containerd.pid" "$dir/containerd.log" ctd_ready

# Its build cache is collected beyond 8 GB: the suite and the benches build many harness versions.
setsid buildkitd --root "$dir/bk" --addr "unix://$bk_sock" \
	--oci-worker=false --containerd-worker=true \
	--containerd-worker-addr "$ctd_sock" --containerd-worker-namespace aishell \
	--containerd-worker-net host \
	--containerd-worker-gc --containerd-worker-gc-keepstorage 8000 >"$dir/buildkitd.log" 2>&1 </dev/null &
echo $! >"$dir/buildkitd.pid"
wait_for buildkitd "$dir/buildkitd.pid" "$dir/buildkitd.log" bk_ready
log "containerd and buildkitd up in $((SECONDS - t0)) s"

write_env_files
cat "$dir/env"
