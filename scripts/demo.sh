#!/usr/bin/env bash
# The Quickstart: install panther into .venv (creating it) and serve examples/echo on
# http://127.0.0.1:8000. Arguments go to "panther run" (e.g. --port 9000). Works from any
# directory, and leaves your shell where it was.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
ensure_venv gunicorn
cd "$_venv_root/examples/echo"
exec "$VENV_DIR/bin/panther" run main:app "$@"
