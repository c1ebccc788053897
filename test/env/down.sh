#!/usr/bin/env bash
# Stops the containerd and buildkitd that up.sh started (by pid, nothing else), after killing
# the tasks left in that containerd, and unmounts whatever they left mounted under
# $AISHELL_TEST_DIR; and the rootless environment under it (rootless-down.sh). Images and state
# stay for the next `up`; `down.sh --purge` removes them too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
dir=$AISHELL_TEST_DIR
export PATH="$BIN_DIR:$PATH"

stop_pid() { # stop_pid NAME PIDFILE
	local f=$2 pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	# Only a process of this environment: a reused pid belongs to someone else.
	if kill -0 "$pid" 2>/dev/null && grep -qF "$dir" "/proc/$pid/cmdline" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			log "$1 ($pid) did not stop on TERM; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		log "stopped $1 ($pid)"
	fi
	rm -f "$f"
}

ctd_sock=$dir/ctd/containerd.sock
if [ -f "$dir/containerd.pid" ] && grep -qF "$dir" "/proc/$(cat "$dir/containerd.pid")/cmdline" 2>/dev/null && [ -S "$ctd_sock" ]; then
	# Tasks keep their shims alive after containerd stops: end them first.
	kill_tasks "$ctd_sock"
fi
# The rootless environment lives under the same directory.
"$here/rootless-down.sh" "$@"
stop_pid buildkitd "$dir/buildkitd.pid"
stop_pid containerd "$dir/containerd.pid"

# Unmount, deepest first, whatever is still mounted below the environment's directory.
if [ -d "$dir" ]; then
	# (mountinfo escapes spaces as \040; the environment's paths have none.)
	awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null && log "unmounted $m" || true
	done
fi
rm -f "$dir/env" "$dir/env.json" "$dir/reused"
if [ "${1:-}" = "--purge" ]; then
	rm -rf --one-file-system "$dir"
	log "removed $dir"
fi
