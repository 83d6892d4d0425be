#!/usr/bin/env bash
# The whole test suite: set up the environment (venv, chromium), then pytest with the real
# sample files when ../shared/data is beside the checkout (AVERSE_DATA may point elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup_env.sh --browser
if [ -z "${AVERSE_DATA:-}" ] && [ -d ../shared/data ]; then
    export AVERSE_DATA="$(cd ../shared/data && pwd)"
fi
export AVERSE_TEST_CACHE="${AVERSE_TEST_CACHE:-$PWD/.test-cache}"
mkdir -p "$AVERSE_TEST_CACHE"
export MPLBACKEND=Agg
echo "tests: AVERSE_DATA=${AVERSE_DATA:-<unset: real-sample tests skip>}"
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
