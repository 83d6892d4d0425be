#!/usr/bin/env bash
# Create (or update) the project's virtual environment from PyPI, with torch pinned to the
# local CPU build through binder/constraints.txt, and register its Jupyter kernel.
# Usage: bash tests/setup_env.sh [--browser]   (--browser also installs Debian's chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${AVERSE_VENV:-.venv}
export PIP_CONSTRAINT="$PWD/binder/constraints.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.averse-install-stamp"
want=$(cat pyproject.toml binder/constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing averse and its dependencies into $VENV (torch pinned by binder/constraints.txt)"
    "$VENV/bin/python" -m pip install -q -c binder/constraints.txt -U pip setuptools wheel
    "$VENV/bin/python" -m pip install -q -c binder/constraints.txt -e ".[test]"
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (averse)" >/dev/null
    echo "$want" > "$stamp"
else
    "$VENV/bin/python" -m pip install -q --no-deps -c binder/constraints.txt -e . >/dev/null
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ]; then
        echo "setup: installing Debian's chromium for the browser tests"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "setup: /usr/bin/chromium is missing and this is not root: browser tests will be skipped" >&2
    fi
fi
