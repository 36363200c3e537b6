#!/usr/bin/env bash
# Install the dependencies, then run the whole test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k scopes -x`.
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

# Keep the checkout clean: no .pytest_cache, no __pycache__ directories.
export PYTHONDONTWRITEBYTECODE=1

# -rfEs: the short summary lists failures, errors and every skip with its reason
# (a bare -rs would drop failures and errors from that summary). --durations: the 25
# slowest tests, to keep the whole run well under CI's limit.
exec .venv/bin/python -m pytest tests -p no:cacheprovider -q -rfEs --durations=25 "$@"
