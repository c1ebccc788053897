#!/usr/bin/env bash
# The whole test run: install the daemons (cached), bring the root and the rootless environments
# up (or reuse ones that are up), seed the base images into both, run unit and integration
# tests, and take down what it started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
cd "$here/../.."

t0=$SECONDS
timed "install (total)" "$here/install.sh" >/dev/null
"$here/up.sh" >/dev/null
started=1 rl_started=0
[ -f "$AISHELL_TEST_DIR/reused" ] && started=0
cleanup() {
	local rc=$?
	if [ "$started" = 1 ]; then
		"$here/down.sh" || true
	elif [ "$rl_started" = 1 ]; then
		"$here/rootless-down.sh" || true
	fi
	log "test run finished in $((SECONDS - t0)) s (exit $rc)"
	exit "$rc"
}
trap cleanup EXIT
timed "seed (total)" "$here/seed.sh"
timed "rootless environment up" "$here/rootless-up.sh"
[ -f "$AISHELL_TEST_DIR/rootless/reused" ] || rl_started=1
timed "seed rootless (total)" env AISHELL_TEST_DIR="$AISHELL_TEST_DIR/rootless" "$here/seed.sh"
. "$AISHELL_TEST_DIR/env"
export AISHELL_TEST_REQUIRE=1
go test -count=1 -timeout 80m "$@" ./...
