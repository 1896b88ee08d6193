#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run it.
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

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# The server matrix also runs panther on the lowest uvicorn pyproject.toml allows (tests/servers.py MIN_UVICORN).
lowest=$(python3 -c "import re,tomllib;d=tomllib.load(open('pyproject.toml','rb'))['project']['dependencies'];print(next(re.search(r'>=([0-9.]+)',x).group(1) for x in d if x.startswith('uvicorn')))")
if [ ! -f ".cache/uvicorn-lowest/uvicorn-$lowest.dist-info/METADATA" ]; then
  rm -rf .cache/uvicorn-lowest
  python3 -m pip install -q --disable-pip-version-check --no-deps --target .cache/uvicorn-lowest "uvicorn==$lowest"
fi
python3 -m ruff check panther tests examples
python3 -m pytest -q -p no:cacheprovider "$@"
