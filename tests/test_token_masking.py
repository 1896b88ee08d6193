"""No spelling of a token parameter, and no other token source, puts a token in ``panther run``'s log."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from panther.base_request import Headers
from panther.log_masking import MaskSecrets, is_secret_name, mask
from tests.hardening_support import TARGET, user_with_token
from tests.servers import serve


@pytest.mark.parametrize(('text', 'expected'), [
    ('/ws?authorization=abc&x=1', '/ws?authorization=***&x=1'),
    ('/ws?%61uthorization=abc&x=1', '/ws?%61uthorization=***&x=1'),
    ('/ws?x=1&%2561uthorization=abc', '/ws?x=1&%2561uthorization=***'),
    ('/ws?AUTHORIZATION=abc', '/ws?AUTHORIZATION=***'),
    ('/ws?acc%65ss_token=a&refresh%5Ftoken=b&Token=c', '/ws?acc%65ss_token=***&refresh%5Ftoken=***&Token=***'),
    ('/ws?authorization=Bearer+a.b;c#d&x=1', '/ws?authorization=***&x=1'),  # a value runs to the next '&'
    ('/ws?x=1;authorization=abc', '/ws?x=1;authorization=***'),
    ('"WebSocket /ws?authorization=abc" [accepted]', '"WebSocket /ws?authorization=***" [accepted]'),
    ('GET /ws?authorization=ab"c HTTP/1.1', 'GET /ws?authorization=*** HTTP/1.1'),
    ('/ws?authorize=abc&tokens=1', '/ws?authorize=abc&tokens=1'),
])
def test_mask_goes_by_the_decoded_name(text, expected):
    assert mask(text) == expected


def test_secret_names():
    names = ['authorization', '%41UTHORIZATION', 'access%5ftoken', '+token+', '%252561uthorization']
    assert all(map(is_secret_name, names))
    assert not any(map(is_secret_name, ['auth', 'author', 'x', 'tokenx', '%zz']))


def test_gunicorn_style_arguments_lose_credential_headers_and_secret_parameters():
    record = logging.LogRecord('gunicorn.access', logging.INFO, __file__, 1, '%(r)s %({authorization}i)s', None,
                               None)
    record.args = {'r': 'GET /?%61uthorization=abc HTTP/1.1', '{authorization}i': 'Bearer abc',
                   '{cookie}i': 'access_token=abc; theme=dark', 'q': 'token=abc'}
    MaskSecrets().filter(record)
    assert 'abc' not in json.dumps(record.args)
    assert record.getMessage() == 'GET /?%61uthorization=*** HTTP/1.1 ***'


def test_headers_repr_hides_credentials():
    headers = Headers([(b'authorization', b'Bearer abc'), (b'cookie', b'access_token=abc'), (b'x-a', b'1')])
    assert 'abc' not in repr(headers) and "'x-a': '1'" in repr(headers)
    assert headers.authorization == 'Bearer abc'


# (query parameter name as sent, whether QueryParamJWTAuthentication reads it)
SPELLINGS = [
    ('authorization', True),
    ('%61uthorization', True),      # parse_qsl decodes the name: the bypass
    ('%61%75%74%68orization', True),
    ('AUTHORIZATION', False),       # names are case-sensitive, but masked anyway
    ('Authorization', False),
    ('%2561uthorization', False),   # decoded once it is '%61uthorization'; masked anyway
    ('x=1;authorization', False),
]


@pytest.mark.parametrize('workers', [1, 2])
def test_no_spelling_and_no_source_puts_a_token_in_the_log(tmp_path, workers):
    env, token = user_with_token(tmp_path)
    env['HARDENING_WS_AUTHENTICATION'] = 'panther.authentications.QueryParamJWTAuthentication'
    with serve(TARGET, cwd=tmp_path, env=env, args=('--workers', str(workers))) as server:
        async def who(path: str, **kwargs) -> str | None:
            async with websockets.connect(server.ws + path, open_timeout=10, **kwargs) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), 10))['user']

        async def scenario():
            for name, reads in SPELLINGS:
                expected = 'ali' if reads else None
                # The class's own auth, and WS_AUTHENTICATION (called only when credentials are seen).
                assert await who(f'/ws/query/?{name}={token}&room=7') == expected, name
                assert await who(f'/ws/default/?{name}={token}') == expected, name
                assert await who(f'/ws/query/?{name}=Bearer%20{token}') == expected, name
                async with httpx.AsyncClient() as http:
                    answer = await http.get(f'{server.http}/api/query/?{name}={token}')
                    assert answer.json() == {'user': expected}, name
            # A refused token is logged as a refusal, without the token.
            with pytest.raises(InvalidStatus):
                await who(f'/ws/query/?%61uthorization={token}x')
            # Headers and cookies are never logged.
            assert await who('/ws/cookie/', additional_headers={'Cookie': f'access_token={token}'}) == 'ali'
            assert await who('/ws/default/', additional_headers={'Authorization': f'Bearer {token}'}) is None

        asyncio.run(scenario())
        server.stop()
        log = server.log()
    assert token not in log
    assert token[-12:] not in log and token[:40] not in log  # not a piece of it either
    # The lines are there, masked, with the rest of the query intact.
    assert '"WebSocket /ws/query/?%61uthorization=***&room=7" [accepted]' in log
    assert 'GET /api/query/?%2561uthorization=*** HTTP/1.1" 200' in log
    assert '"WebSocket /ws/query/?%61uthorization=***" 401' in log
    assert 'QueryParamJWTAuthentication Error: "Token signature is invalid"' in log
