"""WS_ALLOWED_ORIGINS over a real server, and the cookie-auth start-up warning."""

import asyncio
import logging
import types

import pytest
import websockets

from panther import Panther
from panther.websocket import GenericWebsocket
from tests.limits_helpers import limits_server


async def _echo(url: str, **kwargs) -> str:
    async with websockets.connect(url, **kwargs) as ws:
        await ws.send('ping')
        return await ws.recv()


def test_other_origins_are_rejected_before_user_code_and_listed_ones_are_served():
    config = {'WS_ALLOWED_ORIGINS': ['https://Good.example', 'http://localhost:3000/']}
    with limits_server(config) as server:
        url = server.ws + '/ws/echo'

        async def scenario():
            with pytest.raises(websockets.InvalidStatus) as rejected:
                await _echo(url, origin='https://evil.example')
            assert rejected.value.response.status_code == 403
            with pytest.raises(websockets.InvalidStatus):
                await _echo(url, origin='https://good.example.evil.example')
            with pytest.raises(websockets.InvalidStatus):
                await _echo(url, origin='null')
            # Listed origins, compared without case and trailing slash; no Origin at all is a non-browser client.
            assert await _echo(url, origin='https://good.example') == 'ping'
            assert await _echo(url, origin='http://localhost:3000') == 'ping'
            assert await _echo(url) == 'ping'

        asyncio.run(scenario())
        lines = server.wait_hooks(lambda lines: sum(line.endswith(('1000', '1005')) for line in lines) == 3)
        # connect() ran only for the three allowed handshakes: the rejected ones never reached user code.
        assert [line for line in lines if line.startswith('connect')] == ['connect /ws/echo'] * 3
        assert "origin 'https://evil.example' not in WS_ALLOWED_ORIGINS" in server.log()


def test_no_allowed_origins_means_any_origin():
    with limits_server() as server:
        assert asyncio.run(_echo(server.ws + '/ws/echo', origin='https://anywhere.example')) == 'ping'


class CookieTokenAuthentication:
    """Stands in for panther.authentications.CookieJWTAuthentication (judged by name)."""

    async def __call__(self, connection):
        return None


class HeaderTokenAuthentication:
    async def __call__(self, connection):
        return None


class Open(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()


class OwnCookieAuth(GenericWebsocket):
    auth = CookieTokenAuthentication

    async def connect(self, **kwargs):
        await self.accept()


def _warnings_building(caplog, **settings) -> list[str]:
    module = types.ModuleType('limits_origin_configs')
    vars(module).update(settings)
    panther_logger = logging.getLogger('panther')  # it does not propagate to the root logger
    panther_logger.addHandler(caplog.handler)
    try:
        Panther('limits_origin_configs', configs=module)
    finally:
        panther_logger.removeHandler(caplog.handler)
    # A set: the record may reach caplog twice when the logger also propagates to the root.
    return sorted({r.getMessage() for r in caplog.records if 'hijacking' in r.getMessage()})


@pytest.mark.parametrize(('settings', 'where'), [
    ({'WS_AUTHENTICATION': CookieTokenAuthentication, 'WS_ALLOWED_ORIGINS': ['*'], 'URLS': {'ws': Open}},
     'WS_AUTHENTICATION'),
    ({'WS_ALLOWED_ORIGINS': ['https://app.example', '*'], 'URLS': {'ws': OwnCookieAuth}}, 'OwnCookieAuth.auth'),
    ({'WS_AUTHENTICATION': 'panther.authentications.CookieJWTAuthentication', 'SECRET_KEY': 's' * 32,
      'WS_ALLOWED_ORIGINS': ['*'], 'URLS': {'ws': Open}}, 'WS_AUTHENTICATION'),
])
def test_cookie_auth_opened_to_every_origin_warns_at_start_up(caplog, settings, where):
    warnings = _warnings_building(caplog, **settings)
    assert len(warnings) == 1
    assert where in warnings[0] and "WS_ALLOWED_ORIGINS has '*'" in warnings[0]


@pytest.mark.parametrize('settings', [
    # Unset, cookie-authenticated handshakes are accepted from the same origin only: nothing to warn about.
    {'WS_AUTHENTICATION': CookieTokenAuthentication, 'URLS': {'ws': Open}},
    {'URLS': {'ws': OwnCookieAuth}},
    {'WS_AUTHENTICATION': CookieTokenAuthentication, 'WS_ALLOWED_ORIGINS': ['https://app.example'],
     'URLS': {'ws': Open}},
    {'WS_AUTHENTICATION': HeaderTokenAuthentication, 'URLS': {'ws': Open}},
    # The endpoint's own auth wins over WS_AUTHENTICATION, so the cookie default is never used.
    {'WS_AUTHENTICATION': CookieTokenAuthentication, 'URLS': {'ws': type('Own', (Open,), {
        'auth': HeaderTokenAuthentication})}},
])
def test_no_warning_when_origins_are_restricted_or_no_cookie_auth_is_used(caplog, settings):
    assert _warnings_building(caplog, **settings) == []
