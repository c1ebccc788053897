#!/usr/bin/env bash
# The whole test run: install the daemons (cached), bring the environment up (or reuse one that
# is up), seed the base images, run unit and integration tests, and take down what it started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
cd "$here/../.."

t0=$SECONDS
timed "install (total)" "$here/install.sh" >/dev/null
"$here/up.sh" >/dev/null
started=1
[ -f "$AISHELL_TEST_DIR/reused" ] && started=0
cleanup() {
	local rc=$?
	if [ "$started" = 1 ]; then "$here/down.sh" || true; fi
	log "test run finished in $((SECONDS - t0)) s (exit $rc)"
	exit "$rc"
}
trap cleanup EXIT
timed "seed (total)" "$here/seed.sh"
. "$AISHELL_TEST_DIR/env"
export AISHELL_TEST_REQUIRE=1
go test -count=1 -timeout 80m "$@" ./...
