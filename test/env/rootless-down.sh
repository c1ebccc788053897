#!/usr/bin/env bash
# Stops the rootless environment rootless-up.sh started: the tasks left in its containerd,
# buildkitd, rootlesskit (and containerd with it), then any process still running as the test
# user (it exists for these tests only). Its mounts live in rootlesskit's mount namespace and go
# with it. Data stays for the next start; `rootless-down.sh --purge` removes it (the user stays).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/rootless-common.sh"
export PATH="$BIN_DIR:$PATH"

if rl_alive "$RL_DIR/rootlesskit.pid" && [ -S "$RL_CTD_SOCK" ]; then
	kill_tasks "$RL_CTD_SOCK"
fi
stop() { # stop NAME PIDFILE
	local pid i
	[ -f "$2" ] || return 0
	if rl_alive "$2"; then
		pid=$(cat "$2")
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		log "stopped rootless $1 ($pid)"
	fi
	rm -f "$2"
}
stop buildkitd "$RL_DIR/buildkitd.pid"
stop rootlesskit "$RL_DIR/rootlesskit.pid"
# Shims and anything else the test user still runs.
if id -u "$RL_USER" >/dev/null 2>&1 && pgrep -u "$RL_USER" >/dev/null 2>&1; then
	pkill -KILL -u "$RL_USER" || true
	log "killed the remaining processes of $RL_USER"
fi
rm -f "$RL_DIR/env" "$RL_DIR/env.json" "$RL_DIR/reused"
if [ "${1:-}" = "--purge" ] && [ -d "$RL_DIR" ]; then
	rm -rf --one-file-system "$RL_DIR"
	log "removed $RL_DIR"
fi
