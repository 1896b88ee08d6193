"""panther.test's clients as suites written for the reference Panther use them (SPEC 2.7).

Written in that style on purpose: ``unittest`` classes, a whole transcript compared
message by message, ``APIClient`` awaited inside ``IsolatedAsyncioTestCase`` and
called plainly from sync tests.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from unittest import IsolatedAsyncioTestCase, TestCase

import orjson
import pytest

from panther import Panther, status
from panther.app import API, GenericAPI
from panther.configs import config
from panther.response import Response
from panther.test import APIClient, PendingResponse, TestResponse, WebsocketClient
from panther.websocket import GenericWebsocket


class GreetThenClose(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.send('welcome')
        await self.close()


class TryLaterClose(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.close(code=status.WS_1013_TRY_AGAIN_LATER, reason='busy, retry soon')


class EveryKindOfSend(GenericWebsocket):
    async def connect(self):
        await self.accept()
        for value in ('plain', 7, {'ok': True}, ['a', 1], ('t', 2), b'\x00raw', None):
            await self.send(value)
        await self.send()
        await self.close()


class WithSubprotocolAndHeaders(GenericWebsocket):
    async def connect(self):
        await self.accept(subprotocol='chat.v2', headers={'X-Served-By': 'panther'})
        await self.close()


class EchoUntilBye(GenericWebsocket):
    async def connect(self):
        await self.accept()

    async def receive(self, data):
        if data == 'bye':
            await self.close()
        else:
            await self.send(data)


class Pets(GenericAPI):
    async def get(self, request):
        return {'pets': ['cat'], 'q': request.query_params.get('q')}

    async def post(self, request):
        return Response({'created': request.data}, status_code=status.HTTP_201_CREATED)

    async def put(self, request):
        return {'put': request.data}

    async def patch(self, request):
        return {'patch': request.data}

    async def delete(self):
        return Response(status_code=status.HTTP_204_NO_CONTENT)


@API(methods=['GET'])
async def biscuits():
    response = Response({'ok': True})
    response.set_cookie('flavour', 'ginger')
    response.set_cookie('size', 'large', max_age=60)
    return response


URLS = {
    'greet': GreetThenClose,
    'try-later': TryLaterClose,
    'all-kinds': EveryKindOfSend,
    'negotiated': WithSubprotocolAndHeaders,
    'echo': EchoUntilBye,
    'api/pets/': Pets,
    'api/biscuits/': biscuits,
}


def build() -> Panther:
    return Panther(__name__, configs=__name__, urls=URLS)


class TestWebsocketTranscript(TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.app = build()

    @classmethod
    def tearDownClass(cls) -> None:
        config.refresh()

    def test_accept_always_carries_subprotocol_and_headers(self):
        responses = WebsocketClient(app=self.app).connect('greet')
        assert responses[0] == {'type': 'websocket.accept', 'subprotocol': None, 'headers': {}}
        assert responses[0]['subprotocol'] is None
        assert responses[0]['headers'] == {}
        assert responses[1] == {'type': 'websocket.send', 'text': 'welcome'}
        assert responses[2] == {'type': 'websocket.close', 'code': 1000, 'reason': ''}
        assert len(responses) == 3

    def test_custom_close_code_and_reason(self):
        responses = WebsocketClient(app=self.app).connect('try-later')
        assert responses[0]['type'] == 'websocket.accept'
        assert responses[1]['type'] == 'websocket.close'
        assert responses[1]['code'] == 1013
        assert responses[1]['reason'] == 'busy, retry soon'

    def test_each_send_has_exactly_one_of_text_and_bytes(self):
        responses = WebsocketClient(app=self.app).connect('all-kinds')
        sends = responses[1:-1]
        assert [m['type'] for m in sends] == ['websocket.send'] * 8
        expected = ['plain', '7', '{"ok":true}', '["a",1]', '["t",2]', b'\x00raw', 'null', 'null']
        for message, value in zip(sends, expected, strict=True):
            key = 'bytes' if isinstance(value, bytes) else 'text'
            other = 'text' if key == 'bytes' else 'bytes'
            assert message[key] == value
            assert other not in message
            assert set(message) == {'type', key}
        assert responses[-1] == {'type': 'websocket.close', 'code': 1000, 'reason': ''}

    def test_accepted_subprotocol_and_headers_are_recorded(self):
        responses = WebsocketClient(app=self.app).connect('negotiated')
        # Header names are recorded lower-case, as ASGI carries them.
        assert responses[0] == {'type': 'websocket.accept', 'subprotocol': 'chat.v2',
                                'headers': {'x-served-by': 'panther'}}

    def test_messages_sent_in(self):
        responses = WebsocketClient(app=self.app).connect('echo', messages=['one', b'\x02', 'bye'])
        assert responses == [
            {'type': 'websocket.accept', 'subprotocol': None, 'headers': {}},
            {'type': 'websocket.send', 'text': 'one'},
            {'type': 'websocket.send', 'bytes': b'\x02'},
            {'type': 'websocket.close', 'code': 1000, 'reason': ''},
        ]


class TestAPIClientAwaited(IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.client = APIClient(app=build())

    @classmethod
    def tearDownClass(cls) -> None:
        config.refresh()

    async def test_every_method_is_awaitable(self):
        res = await self.client.get('api/pets/', query_params={'q': 'tabby'})
        assert res.status_code == 200
        assert res.data == {'pets': ['cat'], 'q': 'tabby'}
        res = await self.client.post('api/pets/', payload={'name': 'rex'})
        assert (res.status_code, res.data) == (201, {'created': {'name': 'rex'}})
        assert (await self.client.put('api/pets/', payload={'a': 1})).data == {'put': {'a': 1}}
        assert (await self.client.patch('api/pets/', payload={'b': 2})).data == {'patch': {'b': 2}}
        assert (await self.client.delete('api/pets/')).status_code == 204
        assert (await self.client.options('api/pets/')).status_code == 405
        head = await self.client.head('api/pets/')
        assert head.status_code == 200 and head.body == b''

    async def test_headers_ignore_case_and_cookies_are_pairs(self):
        res = await self.client.get('api/biscuits/')
        assert res.headers['Content-Type'] == res.headers['content-type'] == 'application/json'
        assert 'Set-Cookie' in res.headers
        assert res.cookies == [
            (b'Set-Cookie', b'flavour=ginger; HttpOnly; Path=/; SameSite=Lax'),
            (b'Set-Cookie', b'size=large; HttpOnly; Max-Age=60; Path=/; SameSite=Lax'),
        ]

    async def test_the_request_runs_on_the_callers_loop(self):
        seen = []

        @API()
        async def where():
            seen.append(asyncio.get_running_loop())
            return {}

        client = APIClient(Panther(__name__, configs=__name__, urls={'where': where}))
        await client.get('where')
        assert seen == [asyncio.get_running_loop()]

    async def test_using_the_response_without_await_says_what_to_write(self):
        pending = self.client.get('api/pets/')
        assert isinstance(pending, PendingResponse)
        with pytest.raises(TypeError, match=r'use "await APIClient.get\(\'api/pets/\'\)"'):
            pending.status_code  # noqa: B018
        del pending


class TestAPIClientSync(TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.client = APIClient(app=build())

    @classmethod
    def tearDownClass(cls) -> None:
        config.refresh()

    def test_plain_calls_return_the_response(self):
        res = self.client.get('/api/pets/')
        assert isinstance(res, TestResponse)
        assert res.status_code == 200 and res.data['pets'] == ['cat']
        assert self.client.post('api/pets/', payload={'x': 1}).status_code == 201
        assert self.client.put('api/pets/', payload=[1]).data == {'put': [1]}
        assert self.client.patch('api/pets/', payload='s').data == {'patch': 's'}
        assert self.client.delete('api/pets/').status_code == 204
        assert self.client.head('api/pets/').status_code == 200

    def test_content_type_argument(self):
        res = self.client.post('api/pets/', payload={'name': 'rex', 'age': '3'},
                               content_type='application/x-www-form-urlencoded')
        assert res.data == {'created': {'name': 'rex', 'age': '3'}}


@pytest.mark.asyncio
async def test_awaited_under_pytest_asyncio():
    client = APIClient(build())
    res = await client.get('/api/pets/')
    assert res.status_code == 200 and orjson.loads(res.body) == res.data


def test_an_unawaited_call_in_a_loop_warns():
    async def forget():
        APIClient(build()).get('/api/pets/')

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        asyncio.run(forget())
        gc.collect()
    assert any('was never awaited' in str(w.message) for w in caught)
