"""`panther createuser` and `panther token`, then a WebSocket login with that token
against `panther run`, all in a temporary project directory."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.servers import ROOT, serve

SECRET = 'cli-test-secret-' + 'y' * 40

APP = f'''
from panther import Panther
from panther.permissions import IsAuthenticated
from panther.websocket import GenericWebsocket

SECRET_KEY = {SECRET!r}
DATABASE = {{'path': 'project.sqlite3'}}
WS_AUTHENTICATION = 'panther.authentications.QueryParamJWTAuthentication'


class MeWebsocket(GenericWebsocket):
    permissions = [IsAuthenticated]

    async def connect(self):
        await self.accept()
        await self.send({{'username': self.user.username, 'id': self.user.id}})


URLS = {{'ws/me/': MeWebsocket}}
app = Panther(__name__, configs=__name__)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / 'main.py').write_text(APP)
    return tmp_path


def panther(project: Path, *args: str, stdin: str = '') -> subprocess.CompletedProcess[str]:
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    return subprocess.run([sys.executable, '-m', 'panther.cli', *args], cwd=project, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_createuser_token_then_websocket_login(project: Path):
    created = panther(project, 'createuser', 'main:app', stdin='ali\nsecret pw\nsecret pw\n')
    assert created.returncode == 0, created.stderr
    user_id = int(re.search(r'with id (\d+)', created.stdout).group(1))
    assert 'secret pw' not in created.stdout + created.stderr  # hidden input is not echoed back

    rows = sqlite3.connect(project / 'project.sqlite3').execute('SELECT id, data FROM baseuser').fetchall()
    assert [row[0] for row in rows] == [user_id]
    assert json.loads(rows[0][1])['password'].startswith('scrypt$')

    issued = panther(project, 'token', 'main:app', str(user_id))
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    payload = jwt.decode(token, SECRET, algorithms=['HS256'])
    assert payload['user_id'] == user_id and payload['token_type'] == 'access'

    with serve('main:app', cwd=project) as server:
        async def login() -> dict:
            async with websockets.connect(f'{server.ws}/ws/me/?authorization={token}') as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), 5))

        assert asyncio.run(login()) == {'username': 'ali', 'id': user_id}

        async def anonymous() -> int:
            try:
                async with websockets.connect(f'{server.ws}/ws/me/'):
                    return 101
            except InvalidStatus as exc:
                return exc.response.status_code

        assert asyncio.run(anonymous()) == 403
        assert token not in server.log()


def test_createuser_options_duplicates_and_unknown_users(project: Path):
    first = panther(project, 'createuser', 'main:app', '--username', 'bob', '--password', 'pw')
    assert first.returncode == 0 and 'with id 1' in first.stdout

    again = panther(project, 'createuser', 'main:app', '--username', 'bob', '--password', 'pw')
    assert again.returncode == 1
    assert "a user named 'bob' already exists" in again.stderr

    missing = panther(project, 'token', 'main:app', '42')
    assert missing.returncode == 1
    assert 'no user with id 42' in missing.stderr
    assert missing.stdout == ''


def test_createuser_asks_again_when_the_passwords_differ(project: Path):
    result = panther(project, 'createuser', 'main:app', stdin='cara\none\ntwo\nsame\nsame\n')
    assert result.returncode == 0, result.stderr
    assert 'do not match' in result.stdout + result.stderr
    assert "created user 'cara'" in result.stdout


def test_token_without_a_signing_key_is_a_configuration_error(tmp_path: Path):
    (tmp_path / 'main.py').write_text(
        "from panther import Panther\n"
        "DATABASE = {'path': 'p.sqlite3'}\n"
        "app = Panther(__name__, configs=__name__, urls={})\n"
    )
    result = panther(tmp_path, 'token', 'main:app', '1')
    assert result.returncode == 1
    assert 'configuration error: JWT_CONFIG' in result.stderr and 'SECRET_KEY' in result.stderr
