#!/usr/bin/env bash
# What `make test` runs: lint, architecture contracts, then the whole pytest suite with the
# real servers started. In CI (CI=true) a missing server is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VENV

"$VENV/bin/ruff" check --quiet .
"$VENV/bin/lint-imports" --no-cache >/dev/null || { "$VENV/bin/lint-imports" --no-cache; exit 1; }
echo "lint: ruff and import contracts clean"

exports=$(bash scripts/services.sh start)
eval "$exports"
trap 'bash scripts/services.sh stop' EXIT
for var in DOCKPATROL_TEST_PG_URL DOCKPATROL_TEST_S3_ENDPOINT DOCKPATROL_TEST_REDIS_URL; do
  if [ -z "${!var:-}" ]; then
    if [ "${CI:-}" = "true" ]; then echo "error: $var not available in CI (see services.sh output above)" >&2; exit 1; fi
    echo "note: $var unset: those tests will be skipped (run 'sudo bash scripts/services.sh install' once)" >&2
  fi
done
if [ "${CI:-}" = "true" ]; then export DOCKPATROL_REQUIRE_SERVERS=1; fi

export DOCKPATROL_DATA_DIR=${DOCKPATROL_TEST_DATA_DIR:-$(mktemp -d /tmp/dockpatrol-test.XXXXXX)}
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
