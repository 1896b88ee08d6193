# Sourced by scripts/demo.sh and scripts/test.sh (bash): a virtual environment with panther installed.
#
#   source scripts/venv.sh
#   ensure_venv EXTRAS        # e.g. "gunicorn" or "test"; sets VENV_DIR and VENV_PYTHON
#
# Debian and Ubuntu refuse "pip install" into their own Python (externally-managed-environment),
# and a stock install may lack python3, pip or the venv module, so panther goes into a virtual
# environment: .venv at the repository root (PANTHER_VENV overrides it), created from python3 on
# PATH (PANTHER_PYTHON overrides it). What is missing is installed with apt-get, through sudo
# when not root. An existing environment is reused; pip runs again only when pyproject.toml or
# the extras changed.

_venv_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_venv_say() { echo "[venv] $*" >&2; }

_venv_apt_install() {
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      _venv_say "need root (or sudo) to run: apt-get install $*"; return 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    _venv_say "no apt-get here: install $* with your system's package manager"; return 1
  fi
  _venv_say "installing $* with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# make_venv DIR: create DIR as a virtual environment from ${PANTHER_PYTHON:-python3}.
make_venv() {
  local dir="$1" python="${PANTHER_PYTHON:-python3}" version error
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c 'import pip' 2>/dev/null; then
    return 0
  fi
  if ! command -v "$python" >/dev/null; then
    _venv_apt_install python3 python3-venv || return 1
  fi
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    _venv_say "panther needs Python 3.11 or newer; $python is $("$python" -V 2>&1)"; return 1
  fi
  rm -rf "$dir"
  if ! error="$("$python" -m venv "$dir" 2>&1)"; then
    rm -rf "$dir"
    # Debian ships venv's pip bootstrap (ensurepip) apart: python3-venv for the default python3,
    # python3.X-venv for the others.
    version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    _venv_apt_install python3-venv || return 1
    if ! error="$("$python" -m venv "$dir" 2>&1)"; then
      rm -rf "$dir"
      _venv_apt_install "python$version-venv" || return 1
      if ! error="$("$python" -m venv "$dir" 2>&1)"; then
        rm -rf "$dir"
        _venv_say "could not create $dir with $python -m venv:"; echo "$error" >&2; return 1
      fi
    fi
  fi
  _venv_say "created $dir ($("$dir/bin/python" -V 2>&1))"
}

# ensure_venv EXTRAS: make the environment and install this checkout into it (editable) with EXTRAS.
ensure_venv() {
  local extras="${1:-}" target stamp want
  VENV_DIR="${PANTHER_VENV:-$_venv_root/.venv}"
  VENV_PYTHON="$VENV_DIR/bin/python"
  make_venv "$VENV_DIR" || return 1
  target="$_venv_root"
  if [ -n "$extras" ]; then target="$_venv_root[$extras]"; fi
  stamp="$VENV_DIR/.panther-installed${extras:+-$extras}"
  want="$(sha256sum "$_venv_root/pyproject.toml" | cut -d' ' -f1) $target"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    _venv_say "installing $target into $VENV_DIR"
    "$VENV_PYTHON" -m pip install -q --disable-pip-version-check -e "$target"
    echo "$want" >"$stamp"
  fi
}
