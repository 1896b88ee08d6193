"""JWT authentication against a real ``panther run`` of tests/apps/jwt_auth.

A signing key missing (a warning, not a start-up error); the verified-token
cache across the workers of one server, with Redis.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3

import httpx
import redis as redis_py
import websockets
from websockets.exceptions import InvalidStatus

from tests.auth_support import claims, sign
from tests.servers import ROOT, serve

APP_DIR = ROOT / 'tests' / 'apps' / 'jwt_auth'
NO_KEY_REASON = "Token is invalid (no signing key: set SECRET_KEY or JWT_CONFIG['key'])"


def _panther_lines(server, level: str) -> list[str]:
    return [line.split('[panther] ', 1)[1] for line in server.log().splitlines()
            if line.startswith(f'{level}:') and '[panther] ' in line]


async def _handshake(server, token: str | None, path: str = '/ws/'):
    """The first message (decoded) of an accepted connection, or the refused handshake's HTTP status."""
    url = server.ws + path + (f'?authorization={token}' if token is not None else '')
    try:
        async with websockets.connect(url, open_timeout=10) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))
    except InvalidStatus as exc:
        return exc.response.status_code


def _refused(answer) -> bool:
    # 403 today; 401 once refusals say why (issue 14 item 2). Either way, not an accepted connection.
    return answer in (401, 403)


def _new_user(server, name: str) -> int:
    response = httpx.post(f'{server.http}/api/users/', json={'username': name}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()['id']


def _serve(tmp_path, *args: str, **env: str):
    # The working directory is tmp_path: with no DATABASE the embedded default file lands there.
    return serve('main:app', tmp_path, args=['--app-dir', str(APP_DIR), *args], env=env)


def test_keyless_server_starts_with_one_warning_and_refuses_tokens(tmp_path):
    with _serve(tmp_path, JWT_APP_KEYLESS='1') as server:
        warnings = [line for line in _panther_lines(server, 'WARNING') if 'JWT_CONFIG' in line]
        assert len(warnings) == 1, server.log()
        assert 'SECRET_KEY' in warnings[0]
        user_id = _new_user(server, 'ali')

        async def scenario():
            anonymous = await _handshake(server, None)
            assert (anonymous['user'], anonymous['id']) == (None, None)
            for token in (sign(claims(user_id)), 'not-a-jwt'):
                before = len(_panther_lines(server, 'ERROR'))
                assert _refused(await _handshake(server, token))
                assert _panther_lines(server, 'ERROR')[before:] == [
                    f'QueryParamJWTAuthentication Error: "{NO_KEY_REASON}"']

        asyncio.run(scenario())
        response = httpx.get(f'{server.http}/api/token/{user_id}/', timeout=10)
        assert response.status_code == 500  # signing without a key fails loudly
        log = server.log()
        # Still one warning: it is said at start-up, not per request.
        assert len([line for line in _panther_lines(server, 'WARNING') if 'JWT_CONFIG' in line]) == 1
        assert 'Traceback' in log and 'JWT_CONFIG: JWT authentication needs a signing key' in log


def test_unknown_user_without_database_is_user_not_found(tmp_path):
    with _serve(tmp_path) as server:
        token = httpx.get(f'{server.http}/api/token/4242/', timeout=10).json()['access_token']
        before = len(_panther_lines(server, 'ERROR'))
        assert _refused(asyncio.run(_handshake(server, token)))
        assert _panther_lines(server, 'ERROR')[before:] == ['QueryParamJWTAuthentication Error: "User not found"']
        user_id = _new_user(server, 'ali')
        token = httpx.get(f'{server.http}/api/token/{user_id}/', timeout=10).json()['access_token']
        answer = asyncio.run(_handshake(server, token))
        assert (answer['user'], answer['id']) == ('ali', user_id)
    assert (tmp_path / 'panther.sqlite3').exists()
    assert not (APP_DIR / 'panther.sqlite3').exists()


# -- the verified-token cache across the workers of one server --------------------


def _token(server, user_id: int) -> str:
    return httpx.get(f'{server.http}/api/token/{user_id}/', timeout=10).json()['access_token']


async def _until_every_worker(server, token: str, predicate, workers: int = 2, tries: int = 120) -> set[int]:
    """Handshake until every worker accepted twice; each answer must satisfy ``predicate``. Returns the pids."""
    seen: dict[int, int] = {}
    for _ in range(tries):
        answer = await _handshake(server, token, '/ws/pid/')
        assert isinstance(answer, dict) and predicate(answer), answer
        seen[answer['pid']] = seen.get(answer['pid'], 0) + 1
        if len(seen) >= workers and min(seen.values()) >= 2:
            return set(seen)
    raise AssertionError(f'handshakes did not reach {workers} workers twice each: {seen}')


def _refused_pids(server) -> list[str]:
    return re.findall(r'refused in pid (\d+)', server.log())


def test_logout_and_user_deletion_reach_every_worker_on_the_next_handshake(tmp_path, redis_server):
    with redis_py.Redis(host='127.0.0.1', port=redis_server) as client:
        client.flushall()
    env = {'JWT_APP_REDIS_PORT': str(redis_server), 'JWT_APP_CACHE_TTL': '60'}
    with _serve(tmp_path, '--workers', '2', **env) as server:
        ali, bob, cara = (_new_user(server, name) for name in ('ali', 'bob', 'cara'))
        tokens = {name: _token(server, user_id) for name, user_id in (('ali', ali), ('bob', bob), ('cara', cara))}

        async def scenario():
            for name in tokens:  # warm the cache of both workers for every token
                pids = await _until_every_worker(server, tokens[name], lambda a, n=name: a['user'] == n)
                assert len(pids) == 2

            # Both workers answer from their cache: cara's row is gone behind the models' back.
            with sqlite3.connect(tmp_path / 'panther.sqlite3') as db:
                db.execute('DELETE FROM baseuser WHERE id = ?', (cara,))
            await _until_every_worker(server, tokens['cara'], lambda a: a['user'] == 'cara')

            async with httpx.AsyncClient() as http:
                bearer = {'Authorization': f'Bearer {tokens["ali"]}'}
                out = await http.post(f'{server.http}/api/logout/', headers=bearer)
                assert out.json()['logged_out'] is True
                gone = await http.delete(f'{server.http}/api/users/{bob}/')
                assert gone.json()['deleted'] is True
            # From the very next handshake on, on whichever worker: refused.
            for name, reason in (('ali', 'Token has been revoked'), ('bob', 'User not found')):
                before_errors, before_pids = len(_panther_lines(server, 'ERROR')), len(_refused_pids(server))
                for _ in range(120):
                    assert _refused(await _handshake(server, tokens[name], '/ws/pid/')), name
                    if len(set(_refused_pids(server)[before_pids:])) == 2:
                        break
                assert len(set(_refused_pids(server)[before_pids:])) == 2, 'not refused by both workers'
                errors = _panther_lines(server, 'ERROR')[before_errors:]
                assert errors and set(errors) == {f'PidQueryParamJWT Error: "{reason}"'}, errors

        asyncio.run(scenario())
