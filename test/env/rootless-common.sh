# Shared settings of the rootless test environment. Sourced after common.sh, not run.
RL_USER=aishell-rootless
RL_DIR=$AISHELL_TEST_DIR/rootless
RL_BIN=$RL_DIR/bin            # binaries the user can reach (root's cache is not)
RL_RUN=$RL_DIR/run            # the user's XDG_RUNTIME_DIR
RL_DATA=$RL_DIR/data          # containerd's and buildkitd's data
RL_CTD_SOCK=$RL_RUN/containerd/containerd.sock
RL_BK_SOCK=$RL_RUN/buildkit-aishell/buildkitd.sock

# rl_alive PIDFILE: the process runs and belongs to this environment.
rl_alive() {
	[ -f "$1" ] || return 1
	local pid; pid=$(cat "$1")
	kill -0 "$pid" 2>/dev/null && grep -qF "$RL_DIR" "/proc/$pid/cmdline" 2>/dev/null
}
