"""A user and a real access token for ``tests/apps/hardening_app.py``, made with the ``panther`` CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT

TARGET = 'tests.apps.hardening_app:app'


def _cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run([sys.executable, '-m', 'panther.cli', *args], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, 'PYTHONPATH': str(ROOT), **env}, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def user_with_token(workdir: Path, username: str = 'ali') -> tuple[dict[str, str], str]:
    """Create ``username`` in a fresh database under ``workdir``; return the app's environment and a token."""
    env = {'HARDENING_DB': str(workdir / 'users.sqlite3')}
    created = _cli('createuser', TARGET, '--username', username, '--password', 'a passphrase', env=env, cwd=workdir)
    user_id = re.search(r'with id (\d+)', created).group(1)
    return env, _cli('token', TARGET, user_id, env=env, cwd=workdir).splitlines()[-1]
