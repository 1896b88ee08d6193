#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run it with ruff first.
# Python packages go into .venv at the repository root (see scripts/venv.sh); system packages
# (redis-server, Chromium and its driver) come from apt-get. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

source scripts/venv.sh
ensure_venv test
"$VENV_PYTHON" -m ruff check panther tests examples
"$VENV_PYTHON" -m pytest -q -p no:cacheprovider "$@"
