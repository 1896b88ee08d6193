"""Token revocation lookups across a Redis restart and a Redis outage (issue 15, item 4).

A real server (tests/auth_app.py under uvicorn) and a redis-server of this module's own,
which the tests stop and restart. An infrastructure failure must never look like a bad token.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from panther.db import connection as db_connection
from panther.db.models import BaseUser
from tests.auth_support import claims, sign
from tests.servers import run_redis, serve

TOKEN_ERROR = re.compile(r'\w*JWTAuthentication Error: ')
UNAVAILABLE = 'Redis unavailable during authentication: '


@pytest.fixture(scope='module')
def own_redis():
    with run_redis() as redis:
        yield redis


@pytest.fixture(scope='module')
def server(tmp_path_factory, own_redis):
    from panther.configs import config

    workdir = tmp_path_factory.mktemp('auth-restart')
    db_path = workdir / 'auth.sqlite3'
    previous = config.DATABASE
    config.DATABASE = {'path': str(db_path)}
    try:
        user_id = asyncio.run(BaseUser.create_user('ali', 'pw')).id
    finally:
        db_connection.close_database_sync()
        config.DATABASE = previous
    env = {'AUTH_APP_DB': str(db_path), 'AUTH_APP_REDIS_PORT': str(own_redis.port)}
    with serve('tests.auth_app:app', cwd=workdir, server='uvicorn', env=env) as running:
        running.user_id = user_id
        yield running


async def _ws(server, token: str):
    """The first message of the accepted connection, or the refused handshake's HTTP status."""
    try:
        async with websockets.connect(f'{server.ws}/ws/query/?authorization={token}', open_timeout=10) as ws:
            return await asyncio.wait_for(ws.recv(), 10)
    except InvalidStatus as exc:
        return exc.response.status_code


async def _http(server, token: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f'{server.http}/api/header/', headers={'Authorization': f'Bearer {token}'})


def _lines_after(server, start: int) -> list[str]:
    return server.log().splitlines()[start:]


async def test_the_first_handshakes_and_requests_after_a_redis_restart_succeed(server, own_redis):
    token = sign(claims(server.user_id))
    welcome = f'{{"user":"ali","id":{server.user_id}}}'
    # Several at once, so the client's pool holds several connections that the restart kills.
    assert await asyncio.gather(*(_ws(server, token) for _ in range(4))) == [welcome] * 4
    assert [r.status_code for r in await asyncio.gather(*(_http(server, token) for _ in range(4)))] == [200] * 4

    own_redis.stop()
    await asyncio.to_thread(own_redis.start)
    start = len(server.log().splitlines())
    assert await asyncio.gather(*(_ws(server, token) for _ in range(4))) == [welcome] * 4
    responses = await asyncio.gather(*(_http(server, token) for _ in range(4)))
    assert [(r.status_code, r.json()) for r in responses] == [(200, {'user': 'ali', 'id': server.user_id})] * 4
    assert not [line for line in _lines_after(server, start) if 'Error' in line or UNAVAILABLE in line]


async def test_with_redis_down_authentication_fails_as_unavailable_not_as_a_bad_token(server, own_redis):
    token = sign(claims(server.user_id))
    own_redis.stop()
    try:
        start = len(server.log().splitlines())
        response = await _http(server, token)
        assert (response.status_code, response.json()) == (503, {'detail': 'service unavailable'})
        lines = _lines_after(server, start)
        assert len([line for line in lines if UNAVAILABLE in line]) == 1, lines
        assert not [line for line in lines if TOKEN_ERROR.search(line)], lines

        start = len(server.log().splitlines())
        assert await _ws(server, token) != f'{{"user":"ali","id":{server.user_id}}}'  # refused
        lines = _lines_after(server, start)
        assert len([line for line in lines if UNAVAILABLE in line]) == 1, lines
        # No reason about the token itself (expired, invalid, revoked, ...) is given.
        assert not [line for line in lines if 'Token' in line], lines
    finally:
        await asyncio.to_thread(own_redis.start)
    # Back: the next request is served again.
    assert (await _http(server, token)).status_code == 200
