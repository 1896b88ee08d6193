"""Authentication against real servers: uvicorn in a subprocess, a real redis-server,
and the notifications example end to end."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis as redis_py
import websockets
from websockets.exceptions import InvalidStatus

from panther import Panther
from panther.configs import config
from panther.db import connection as db_connection
from panther.db.connections import redis
from panther.db.models import BaseUser
from tests.auth_support import claims, configs_module, credentials, rejection_cases, sign
from tests.servers import EXAMPLES, ROOT, free_port, serve

KINDS = ('header', 'query', 'cookie')
CLASS_NAMES = {'header': 'JWTAuthentication', 'query': 'QueryParamJWTAuthentication',
               'cookie': 'CookieJWTAuthentication'}
ERROR_LINE = re.compile(r'\w+ Error: ".*"$')


def _create_users(db_path: Path, *names: str) -> list[int]:
    previous = config.DATABASE
    config.DATABASE = {'path': str(db_path)}
    try:
        async def create() -> list[int]:
            return [(await BaseUser.create_user(name, 'pw')).id for name in names]

        return asyncio.run(create())
    finally:
        db_connection.close_database_sync()
        config.DATABASE = previous


@pytest.fixture(scope='module')
def server(tmp_path_factory, redis_server):
    workdir = tmp_path_factory.mktemp('auth-server')
    db_path = workdir / 'auth.sqlite3'
    (user_id,) = _create_users(db_path, 'ali')
    env = {'AUTH_APP_DB': str(db_path), 'AUTH_APP_REDIS_PORT': str(redis_server)}
    with serve('tests.auth_app:app', cwd=workdir, server='uvicorn', env=env) as running:
        running.user_id = user_id
        yield running


def _error_lines(server) -> list[str]:
    return [line.split('[panther] ', 1)[-1] for line in server.log().splitlines()
            if '[panther]' in line and ERROR_LINE.search(line)]


async def _ws(server, kind: str, token: str | None):
    """The first message of an accepted connection, or the refused handshake's HTTP status."""
    headers, query = credentials(kind, token) if token is not None else ({}, {})
    url = f'{server.ws}/ws/{kind}/' + (f'?authorization={query["authorization"]}' if query else '')
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=5) as ws:
            return await asyncio.wait_for(ws.recv(), 5)
    except InvalidStatus as exc:
        return exc.response.status_code


async def _http(server, kind: str, token: str | None) -> httpx.Response:
    headers, query = credentials(kind, token) if token is not None else ({}, {})
    async with httpx.AsyncClient() as client:
        return await client.get(f'{server.http}/api/{kind}/', headers=headers, params=query)


async def _post(url: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(url, **kwargs)


@pytest.mark.parametrize('kind', KINDS)
async def test_valid_and_absent_tokens(server, kind):
    token = sign(claims(server.user_id))
    assert await _ws(server, kind, token) == f'{{"user":"ali","id":{server.user_id}}}'
    assert await _ws(server, kind, None) == '{"user":null,"id":null}'
    assert (await _http(server, kind, token)).json() == {'user': 'ali', 'id': server.user_id}
    assert (await _http(server, kind, None)).json() == {'user': None, 'id': None}


@pytest.mark.parametrize('kind', KINDS)
async def test_every_rejection_refuses_the_handshake_with_one_log_line(server, kind):
    tokens = []
    for case, (make, reason) in rejection_cases(server.user_id).items():
        token = make()
        tokens.append(token)
        expected = f'{CLASS_NAMES[kind]} Error: "{reason}"'

        before = len(_error_lines(server))
        assert await _ws(server, kind, token) == 401, case
        assert _error_lines(server)[before:] == [expected], case

        before = len(_error_lines(server))
        response = await _http(server, kind, token)
        assert (response.status_code, response.json()) == (401, {'detail': 'Authentication Error'}), case
        assert _error_lines(server)[before:] == [expected], case
    log = server.log()
    assert 'authorization=***' in log or kind != 'query'
    for token in tokens:
        assert token not in log


async def test_logout_revokes_a_token_everywhere_until_it_expires(server, redis_server):
    token = sign(claims(server.user_id, jti='logout-test-1', life=600))
    assert await _ws(server, 'query', token) != 401

    answer = await _post(f'{server.http}/api/logout/', headers={'Authorization': f'Bearer {token}'})
    assert answer.json() == {'logged_out': True}
    with redis_py.Redis(host='127.0.0.1', port=redis_server) as client:
        ttl = client.ttl('panther:revoked-token:logout-test-1')
    assert 590 <= ttl <= 601

    for kind in KINDS:
        before = len(_error_lines(server))
        assert await _ws(server, kind, token) == 401
        assert (await _http(server, kind, token)).status_code == 401
        assert _error_lines(server)[before:] == [f'{CLASS_NAMES[kind]} Error: "Token has been revoked"'] * 2
    other = sign(claims(server.user_id, jti='logout-test-2'))
    assert await _ws(server, 'header', other) == f'{{"user":"ali","id":{server.user_id}}}'


async def test_refresh_over_http_rotates_the_refresh_token(server):
    refresh = sign(claims(server.user_id, token_type='refresh', jti='refresh-test-1'))
    first = await _post(f'{server.http}/api/refresh/', json={'refresh_token': refresh})
    assert first.status_code == 200 and set(first.json()) == {'access_token', 'refresh_token'}
    assert await _ws(server, 'query', first.json()['access_token']) == f'{{"user":"ali","id":{server.user_id}}}'

    before = len(_error_lines(server))
    again = await _post(f'{server.http}/api/refresh/', json={'refresh_token': refresh})
    assert again.status_code == 401
    assert _error_lines(server)[before:] == ['JWTAuthentication Error: "Token has been revoked"']
    second = await _post(f'{server.http}/api/refresh/', json={'refresh_token': first.json()['refresh_token']})
    assert second.is_success


async def test_lifespan_connects_redis_and_closes_redis_and_database(tmp_path, redis_server):
    app = Panther('lifespan_tests', configs=configs_module(
        URLS={}, REDIS={'host': '127.0.0.1', 'port': redis_server}, DATABASE={'path': str(tmp_path / 'l.sqlite3')}))
    inbox: asyncio.Queue = asyncio.Queue()
    sent: list[dict] = []
    answered = asyncio.Event()

    async def send(message):
        sent.append(message)
        answered.set()

    await inbox.put({'type': 'lifespan.startup'})
    task = asyncio.create_task(app({'type': 'lifespan'}, inbox.get, send))
    await asyncio.wait_for(answered.wait(), 10)
    assert sent[-1]['type'] == 'lifespan.startup.complete'
    assert redis.is_connected
    await BaseUser.count()  # opens the database
    assert db_connection._engine is not None
    await inbox.put({'type': 'lifespan.shutdown'})
    await asyncio.wait_for(task, 10)
    assert sent[-1]['type'] == 'lifespan.shutdown.complete'
    assert not redis.is_connected
    assert db_connection._engine is None


async def test_lifespan_fails_with_one_line_naming_redis_when_unreachable():
    dead_port = free_port()
    app = Panther('lifespan_tests', configs=configs_module(URLS={}, REDIS={'host': '127.0.0.1', 'port': dead_port}))
    sent: list[dict] = []
    inbox: asyncio.Queue = asyncio.Queue()
    await inbox.put({'type': 'lifespan.startup'})

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(app({'type': 'lifespan'}, inbox.get, send), 10)
    assert [m['type'] for m in sent] == ['lifespan.startup.failed']
    assert sent[0]['message'].startswith(f'REDIS: cannot connect to redis at 127.0.0.1:{dead_port}')
    assert '\n' not in sent[0]['message']


def test_panther_run_refuses_to_start_without_redis(tmp_path):
    dead_port = free_port()
    env = {'AUTH_APP_DB': str(tmp_path / 'x.sqlite3'), 'AUTH_APP_REDIS_PORT': str(dead_port),
           'PYTHONPATH': str(ROOT)}
    result = subprocess.run(
        [sys.executable, '-m', 'panther.cli', 'run', 'tests.auth_app:app', '--port', str(free_port())],
        cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=30,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f'REDIS: cannot connect to redis at 127.0.0.1:{dead_port}' in output
    # panther run checks Redis before serving: one line in all, not one per worker or per logger.
    assert len([line for line in output.splitlines() if 'REDIS' in line]) == 1
    assert 'Traceback' not in output


def test_notifications_example_end_to_end(tmp_path):
    env = {'NOTIFICATIONS_DB': str(tmp_path / 'notifications.sqlite3')}
    with serve('main:app', cwd=EXAMPLES / 'notifications', env=env) as server:
        page = httpx.get(server.http + '/')
        assert page.status_code == 200 and "import { connect } from '/_panther/panther.js'" in page.text

        for name in ('ali', 'bob'):
            created = httpx.post(f'{server.http}/api/register/', json={'username': name, 'password': 'pw-' + name})
            assert created.status_code == 201
        wrong = httpx.post(f'{server.http}/api/login/', json={'username': 'ali', 'password': 'nope'})
        assert wrong.status_code == 401
        ali = httpx.post(f'{server.http}/api/login/', json={'username': 'ali', 'password': 'pw-ali'}).json()
        bob = httpx.post(f'{server.http}/api/login/', json={'username': 'bob', 'password': 'pw-bob'}).json()

        async def scenario():
            url = f'{server.ws}/ws/notifications/?authorization='
            with pytest.raises(InvalidStatus):
                async with websockets.connect(url + 'garbage'):
                    pass
            async with websockets.connect(url + ali['access_token']) as tab1, \
                    websockets.connect(url + ali['access_token']) as tab2:
                hello1, hello2 = [json.loads(await ws.recv()) for ws in (tab1, tab2)]
                assert hello1['username'] == 'ali' and hello1['user_id'] == ali['user_id']
                assert hello1['connection_id'] != hello2['connection_id']

                pushed = await _post(f'{server.http}/api/notify/{ali["user_id"]}/', json={'message': 'lunch?'},
                                    headers={'Authorization': f'Bearer {bob["access_token"]}'})
                assert pushed.status_code == 200
                # How many tabs it reached, and nothing that names them.
                assert pushed.json() == {'delivered': 2}
                for tab in (tab1, tab2):
                    assert json.loads(await asyncio.wait_for(tab.recv(), 5)) == {
                        'type': 'notification', 'from': 'bob', 'message': 'lunch?'}

            anonymous = await _post(f'{server.http}/api/notify/{ali["user_id"]}/', json={'message': 'x'})
            assert anonymous.status_code == 403

        asyncio.run(scenario())
        assert ali['access_token'] not in server.log()


def test_notifications_page_in_a_headless_browser(tmp_path):
    import shutil

    from playwright.sync_api import sync_playwright

    env = {'NOTIFICATIONS_DB': str(tmp_path / 'notifications.sqlite3')}
    with serve('main:app', cwd=EXAMPLES / 'notifications', env=env) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which('chromium'), args=['--no-sandbox'])
        try:
            page = browser.new_page()
            page.goto(server.http + '/')
            page.fill('#username', 'zed')
            page.fill('#password', 'a passphrase')
            page.click('#register')
            page.wait_for_function("document.getElementById('status').textContent.includes('created')", timeout=10000)
            page.click('#login button[type=submit]')
            page.wait_for_function("document.getElementById('status').textContent.includes('signed in')",
                                   timeout=10000)
            page.fill('#to', '1')
            page.fill('#message', 'note to self')
            page.click('#send')
            page.wait_for_selector('#inbox li', timeout=10000)
            assert page.text_content('#inbox li') == 'zed: note to self'
        finally:
            browser.close()
