#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run it with ruff first.
# Python packages go into .venv at the repository root (see scripts/venv.sh); system packages
# (redis-server, redis-tools, nginx, Chromium and its driver) come from apt-get. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)  # redis-cli --cluster create (tests/redis_cluster.py)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)  # tests/test_nginx.py
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

source scripts/venv.sh
ensure_venv test,docs  # docs: tests/test_docs_site.py builds the site
# The server matrix also runs panther on the lowest uvicorn pyproject.toml allows (tests/servers.py MIN_UVICORN).
lowest=$("$VENV_PYTHON" -c "import re,tomllib;d=tomllib.load(open('pyproject.toml','rb'))['project']['dependencies'];print(next(re.search(r'>=([0-9.]+)',x).group(1) for x in d if x.startswith('uvicorn')))")
if [ ! -f ".cache/uvicorn-lowest/uvicorn-$lowest.dist-info/METADATA" ]; then
  rm -rf .cache/uvicorn-lowest
  "$VENV_PYTHON" -m pip install -q --disable-pip-version-check --no-deps --target .cache/uvicorn-lowest "uvicorn==$lowest"
fi
"$VENV_PYTHON" -m ruff check panther tests examples
"$VENV_PYTHON" -m pytest -q -p no:cacheprovider "$@"
