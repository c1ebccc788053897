# Shared settings for the test environment scripts. Sourced, not run.
# Versions are pinned here and nowhere else.
CONTAINERD_VERSION=v2.4.2
BUILDKIT_VERSION=v0.34.2
RUNC_VERSION=v1.5.2
NODE_VERSION=24.21.0
NPM_VERSION=11.6.2
DEBIAN_SUITE=bookworm

# Cache outside the clone, so a second run reuses it.
AISHELL_TEST_CACHE=${AISHELL_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aishell-test}
BIN_DIR=$AISHELL_TEST_CACHE/bin-ctd${CONTAINERD_VERSION}-bk${BUILDKIT_VERSION}-runc${RUNC_VERSION}
SEED_DIR=$AISHELL_TEST_CACHE/seed
# Where a running environment lives (sockets, state, pids, env files).
AISHELL_TEST_DIR=${AISHELL_TEST_DIR:-/tmp/aishell-test-env}

log() { printf '[test-env] %s\n' "$*" >&2; }
die() { printf '[test-env] error: %s\n' "$*" >&2; exit 1; }
# timed NAME CMD...: run CMD, print how long it took.
timed() {
	local name=$1; shift
	local t0=$SECONDS
	"$@" || return $?
	log "$name: $((SECONDS - t0)) s"
}
# kill_tasks SOCKET: kills and deletes every task left in the containerd at SOCKET (their shims
# outlive containerd otherwise).
kill_tasks() {
	local ns t
	for ns in $(ctr --address "$1" namespaces ls -q 2>/dev/null); do
		for t in $(ctr --address "$1" -n "$ns" tasks ls -q 2>/dev/null); do
			ctr --address "$1" -n "$ns" tasks kill -s KILL "$t" >/dev/null 2>&1 || true
			ctr --address "$1" -n "$ns" tasks delete -f "$t" >/dev/null 2>&1 || true
			log "killed leftover task $ns/$t"
		done
	done
}
# json_string S: S as a JSON string (S has no control characters: write_env checks).
json_string() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}
# write_env DIR BIN NAME=VALUE...: describes a running environment twice, each file replaced
# whole (a reader never sees half of one):
#   DIR/env       export lines for a shell (`. DIR/env`), and BIN put first on its PATH;
#   DIR/env.json  the same for programs, with nothing to expand or unquote:
#                 {"env": {"NAME": "VALUE", ...}, "path_prepend": "BIN"}. The Go tests read this one.
write_env() {
	local dir=$1 bin=$2 kv sep=
	shift 2
	for kv in "$bin" "$@"; do
		case $kv in *[[:cntrl:]]*) die "write_env: a value with a control character: $kv" ;; esac
	done
	{
		for kv in "$@"; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done
		printf 'export PATH=%q:$PATH\n' "$bin"
	} >"$dir/env.tmp"
	{
		printf '{\n  "env": {'
		for kv in "$@"; do
			printf '%s\n    %s: %s' "$sep" "$(json_string "${kv%%=*}")" "$(json_string "${kv#*=}")"
			sep=,
		done
		printf '\n  },\n  "path_prepend": %s\n}\n' "$(json_string "$bin")"
	} >"$dir/env.json.tmp"
	mv -f "$dir/env.tmp" "$dir/env"
	mv -f "$dir/env.json.tmp" "$dir/env.json"
}
