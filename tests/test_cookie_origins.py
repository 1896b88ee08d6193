"""Cross-site WebSocket hijacking: a handshake a cookie authenticated needs the same origin by default (SPEC 5.6)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from panther.origins import cross_site_refusal, is_same_origin
from tests.hardening_support import TARGET, user_with_token
from tests.servers import serve

EVIL = 'http://evil.example'


@pytest.mark.parametrize(('origin', 'host', 'same'), [
    ('http://app.example', 'app.example', True),
    ('https://APP.example', 'app.example:443', True),
    ('http://app.example:80', 'app.example', True),
    ('http://127.0.0.1:8000', '127.0.0.1:8000', True),
    ('http://[::1]:8000', '[::1]:8000', True),
    ('https://app.example', 'app.example:80', False),
    ('http://127.0.0.1:8001', '127.0.0.1:8000', False),
    ('http://app.example.evil.example', 'app.example', False),
    ('http://evil.example', 'app.example', False),
    ('null', 'app.example', False),
    ('file://', 'app.example', False),
    ('http://app.example:x', 'app.example', False),
    ('http://app.example', None, False),
])
def test_same_origin_is_host_and_port(origin, host, same):
    assert is_same_origin(origin, host) is same


def _scope(**headers: str) -> dict:
    return {'headers': [(k.encode(), v.encode()) for k, v in headers.items()]}


def test_refusal_only_for_another_origin_with_a_cookie_and_no_allowed_list():
    assert 'evil.example' in cross_site_refusal(_scope(origin=EVIL, host='app.example', cookie='a=1'), None)
    assert cross_site_refusal(_scope(origin='http://app.example', host='app.example', cookie='a=1'), None) is None
    assert cross_site_refusal(_scope(host='app.example', cookie='a=1'), None) is None  # not a browser
    assert cross_site_refusal(_scope(origin=EVIL, host='app.example'), None) is None  # no cookie to ride on
    # A list decides on its own (checked before authentication).
    assert cross_site_refusal(_scope(origin=EVIL, host='app.example', cookie='a=1'), frozenset({EVIL})) is None


async def _who(server, path: str, cookie: str | None = None, origin: str | None = None) -> str | int | None:
    """Who the handshake authenticated as, or the HTTP status that refused it."""
    headers = {'Cookie': cookie} if cookie else {}
    try:
        async with websockets.connect(server.ws + path, origin=origin, additional_headers=headers,
                                      open_timeout=10) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))['user']
    except InvalidStatus as exc:
        return exc.response.status_code


@pytest.fixture(scope='module')
def account(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('cookie-origins')
    env, token = user_with_token(workdir)
    env['HARDENING_WS_AUTHENTICATION'] = 'panther.authentications.CookieJWTAuthentication'
    return workdir, env, f'access_token={token}', token


def test_without_allowed_origins_a_cookie_needs_the_same_origin(account):
    workdir, env, cookie, token = account
    with serve(TARGET, cwd=workdir, env=env) as server:
        same = f'http://127.0.0.1:{server.port}'  # the websockets client sends Host: 127.0.0.1:<port>

        async def scenario():
            # The class's own CookieJWTAuthentication, and WS_AUTHENTICATION (called when credentials are seen).
            for path in ('/ws/cookie/', '/ws/default/'):
                assert await _who(server, path, cookie, origin=EVIL) == 403, path
                assert await _who(server, path, cookie, origin='null') == 403, path
                assert await _who(server, path, cookie, origin=f'http://127.0.0.1:{server.port + 1}') == 403, path
                assert await _who(server, path, cookie, origin=same) == 'ali', path
                assert await _who(server, path, cookie) == 'ali', path  # no Origin: not a browser
                assert await _who(server, path, origin=EVIL) is None, path  # no cookie: anonymous, harmless
            # A bogus query credential makes WS_AUTHENTICATION run; the cookie still authenticates: refused.
            assert await _who(server, '/ws/default/?authorization=x', cookie, origin=EVIL) == 403
            # Cookies that are not the credential: WS_AUTHENTICATION does not run, the handshake is anonymous.
            assert await _who(server, '/ws/default/', 'theme=dark', origin=EVIL) is None
            # A query token authenticates here, not the cookie riding along: other origins are fine.
            assert await _who(server, f'/ws/query/?authorization={token}', cookie, origin=EVIL) == 'ali'

        asyncio.run(scenario())
        server.stop()
        log = server.log()
    assert log.count(f"rejected: origin '{EVIL}' is not the host '127.0.0.1:{server.port}' and a cookie "
                     'authenticated the handshake') == 3
    assert 'hijacking' not in log  # the safe default needs no start-up warning


@pytest.mark.parametrize('workers', [1, 2])
def test_allowed_origins_rule_when_set(account, workers):
    workdir, env, cookie, _ = account
    env = {**env, 'HARDENING_ALLOWED_ORIGINS': json.dumps(['http://app.example'])}
    with serve(TARGET, cwd=workdir, env=env, args=('--workers', str(workers))) as server:
        async def scenario():
            for path in ('/ws/cookie/', '/ws/default/'):
                assert await _who(server, path, cookie, origin='http://app.example') == 'ali', path
                assert await _who(server, path, cookie, origin=EVIL) == 403, path
                # The list is the whole truth: the server's own origin is not on it.
                assert await _who(server, path, cookie, origin=f'http://127.0.0.1:{server.port}') == 403, path
                assert await _who(server, path, cookie) == 'ali', path

        asyncio.run(scenario())


def test_a_star_opts_out_and_is_warned_about(account):
    workdir, env, cookie, _ = account
    env = {**env, 'HARDENING_ALLOWED_ORIGINS': json.dumps(['*'])}
    with serve(TARGET, cwd=workdir, env=env) as server:
        assert asyncio.run(_who(server, '/ws/cookie/', cookie, origin=EVIL)) == 'ali'
        server.stop()
        assert "WS_ALLOWED_ORIGINS has '*'" in server.log()
