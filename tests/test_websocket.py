"""The documented WebSocket lifecycle, driven in-process with ``WebsocketClient``."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from pydantic import BaseModel

from panther import status
from panther.exceptions import ConfigError
from panther.test import WebsocketClient
from panther.websocket import (
    GenericWebsocket,
    Websocket,
    close_websocket_connection,
    send_message_to_websocket,
)
from tests.ws_helpers import make_app

ACCEPT = {'type': 'websocket.accept', 'subprotocol': None, 'headers': {}}
REJECT = {'type': 'websocket.close', 'code': status.WS_1000_NORMAL_CLOSURE, 'reason': ''}


class Echo(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        await self.send(data)


def transcript(urls, path, **kwargs):
    kwargs.setdefault('idle', 0.1)
    return WebsocketClient(make_app(urls)).connect(path, **kwargs)


# -- accept / reject / close ------------------------------------------------------


def test_accept_then_echo_text_and_bytes():
    messages = transcript({'ws': Echo}, '/ws', messages=['hi', b'\x00\x01'])
    assert messages == [
        ACCEPT,
        {'type': 'websocket.send', 'text': 'hi'},
        {'type': 'websocket.send', 'bytes': b'\x00\x01'},
    ]


def test_websocket_is_the_same_class():
    assert Websocket is GenericWebsocket


def test_not_accepting_rejects_the_handshake():
    called = []

    class Silent(GenericWebsocket):
        async def connect(self, **kwargs):
            called.append(True)

    assert transcript({'ws': Silent}, '/ws') == [REJECT]
    assert called == [True]


def test_default_connect_rejects():
    assert transcript({'ws': GenericWebsocket}, '/ws') == [REJECT]


@pytest.mark.parametrize(('args', 'expected'), [
    ((), {'code': 1000, 'reason': ''}),
    ((status.WS_1008_POLICY_VIOLATION, 'go away'), {'code': 1008, 'reason': 'go away'}),
    ((4001, 'custom'), {'code': 4001, 'reason': 'custom'}),
])
def test_close_codes_and_reasons(args, expected):
    disconnected = []

    class Closer(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()

        async def receive(self, data):
            await self.close(*args)

        async def disconnect(self, code):
            disconnected.append(code)

    messages = transcript({'ws': Closer}, '/ws', messages=['bye'])
    assert messages == [ACCEPT, {'type': 'websocket.close', **expected}]
    assert disconnected == [expected['code']]


def test_disconnect_set_on_the_instance_is_still_called():
    # A class that keeps the base (empty) disconnect() is not called at the end; one set on the instance is.
    disconnected = []

    class Late(GenericWebsocket):
        async def connect(self, **kwargs):
            async def disconnect(code):
                disconnected.append(code)

            self.disconnect = disconnect
            await self.accept()

        async def receive(self, data):
            await self.close(4002, 'bye')

    transcript({'ws': Late}, '/ws', messages=['x'])
    assert disconnected == [4002]


def test_close_inside_connect_before_accept_rejects():
    disconnected = []

    class Refuser(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.close(4003, 'not you')

        async def disconnect(self, code):
            disconnected.append(code)

    app = make_app({'ws': Refuser})
    assert WebsocketClient(app).connect('/ws') == [{'type': 'websocket.close', 'code': 4003, 'reason': 'not you'}]
    assert disconnected == []  # never accepted
    assert len(app.runtime.registry) == 0


def test_close_inside_connect_after_accept():
    disconnected = []

    class AcceptThenClose(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()
            await self.send('welcome')
            await self.close(4000, 'done')

        async def disconnect(self, code):
            disconnected.append(code)

    app = make_app({'ws': AcceptThenClose})
    assert WebsocketClient(app).connect('/ws') == [
        ACCEPT, {'type': 'websocket.send', 'text': 'welcome'},
        {'type': 'websocket.close', 'code': 4000, 'reason': 'done'},
    ]
    assert disconnected == [4000]
    assert len(app.runtime.registry) == 0


def test_accept_with_subprotocol_and_headers():
    class Proto(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept(subprotocol='chat', headers={'X-Server': 'panther'})

    messages = transcript({'ws': Proto}, '/ws')
    assert messages == [{'type': 'websocket.accept', 'subprotocol': 'chat', 'headers': {'x-server': 'panther'}}]


def test_unknown_path_and_http_route_reject():
    from panther.app import API

    @API()
    async def page():
        return 'page'

    app = make_app({'ws': Echo, 'page': page})
    assert WebsocketClient(app).connect('/nowhere') == [REJECT]
    assert WebsocketClient(app).connect('/page') == [REJECT]


# -- path variables, query params, headers ----------------------------------------------


class Typed(GenericWebsocket):
    async def connect(self, i: int, f: float, b: bool, u: uuid.UUID, s: str):
        await self.accept()
        await self.send({
            'values': [i, f, b, str(u), s],
            'types': [type(v).__name__ for v in (i, f, b, u, s)],
            'path_variables': {k: str(v) for k, v in self.path_variables.items()},
        })


class Raw(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        await self.send({'kwargs': kwargs, 'types': sorted({type(v).__name__ for v in kwargs.values()})})


TYPED_URLS = {'typed/<i>/<f>/<b>/<u>/<s>/': Typed, 'raw/<room>/<n>/': Raw}
UID = '12345678-1234-5678-1234-567812345678'


@pytest.mark.parametrize(('b', 'expected'), [('true', True), ('1', True), ('false', False), ('0', False)])
def test_path_variables_are_converted_by_annotation(b, expected):
    app = make_app(TYPED_URLS)
    messages = WebsocketClient(app).connect(f'/typed/7/2.5/{b}/{UID}/room-1/')
    assert messages[0] == ACCEPT
    import orjson

    body = orjson.loads(messages[1]['text'])
    assert body['values'] == [7, 2.5, expected, UID, 'room-1']
    assert body['types'] == ['int', 'float', 'bool', 'UUID', 'str']
    assert body['path_variables']['i'] == '7'


@pytest.mark.parametrize('path', [
    f'/typed/x/2.5/true/{UID}/s/',  # int
    f'/typed/7/abc/true/{UID}/s/',  # float
    f'/typed/7/2.5/maybe/{UID}/s/',  # bool
    '/typed/7/2.5/true/not-a-uuid/s/',  # UUID
])
def test_bad_path_variable_rejects_the_handshake(path, caplog):
    connected = []

    class Guarded(Typed):
        async def connect(self, i: int, f: float, b: bool, u: uuid.UUID, s: str):
            connected.append(True)

    app = make_app({'typed/<i>/<f>/<b>/<u>/<s>/': Guarded})
    with caplog.at_level(logging.INFO, logger='panther'):
        assert WebsocketClient(app).connect(path) == [REJECT]
    assert connected == []
    assert 'path variable' in caplog.text


def test_kwargs_get_path_variables_as_strings():
    import orjson

    messages = transcript(TYPED_URLS, '/raw/lobby/42/')
    assert orjson.loads(messages[1]['text']) == {'kwargs': {'room': 'lobby', 'n': '42'}, 'types': ['str']}


class Inspect(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        await self.send({
            'query_params': self.query_params,
            'authorization': self.headers.authorization,
            'x_custom_attr': self.headers.x_custom,
            'x_custom_item': self.headers['X-CUSTOM'],
            'missing': self.headers.not_there,
            'path': self.path,
            'client': list(self.client),
            'scope_type': self.scope['type'],
            'user': self.user,
        })


def test_query_params_headers_and_scope_attributes():
    import orjson

    messages = transcript(
        {'ws/inspect': Inspect}, '/ws/inspect?a=1&b=two',
        headers={'Authorization': 'Bearer abc', 'X-Custom': 'yes'}, query_params={'c': 'three'},
    )
    body = orjson.loads(messages[1]['text'])
    assert body == {
        'query_params': {'a': '1', 'b': 'two', 'c': 'three'},
        'authorization': 'Bearer abc',
        'x_custom_attr': 'yes',
        'x_custom_item': 'yes',
        'missing': None,
        'path': '/ws/inspect',
        'client': ['127.0.0.1', 50000],
        'scope_type': 'websocket',
        'user': None,
    }


# -- send encoding -----------------------------------------------------------------------


class Book(BaseModel):
    title: str
    pages: int


@pytest.mark.parametrize(('value', 'frame'), [
    ('text', {'text': 'text'}),
    ('', {'text': ''}),
    (b'\x00\xff', {'bytes': b'\x00\xff'}),
    (None, {'text': 'null'}),
    ((1, 'a'), {'text': '[1,"a"]'}),
    ([1, 2], {'text': '[1,2]'}),
    ({'a': 1}, {'text': '{"a":1}'}),
    ({}, {'text': '{}'}),
    (0, {'text': '0'}),
    (1.5, {'text': '1.5'}),
    (False, {'text': 'false'}),
    (Book(title='Dune', pages=412), {'text': '{"title":"Dune","pages":412}'}),
])
def test_send_encoding(value, frame):
    class Sender(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()
            await self.send(value)

    assert transcript({'ws': Sender}, '/ws') == [ACCEPT, {'type': 'websocket.send', **frame}]


def test_send_without_argument_is_null():
    class Sender(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()
            await self.send()

    assert transcript({'ws': Sender}, '/ws')[1] == {'type': 'websocket.send', 'text': 'null'}


# -- auth ---------------------------------------------------------------------------------------


async def token_user(connection):
    """A WS_AUTHENTICATION that records that it ran and returns a user."""
    token = (connection.headers.authorization or connection.query_params.get('authorization')
             or connection.cookies.get('access_token'))
    CALLS.append(token)
    return {'name': 'from-default', 'token': token}


CALLS: list = []


class WhoAmI(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        await self.send({'user': self.user})


async def returns_alice(connection):
    return {'name': 'alice'}


async def returns_none(connection):
    return None


async def raises(connection):
    raise ValueError('token expired')


def _user_of(messages):
    import orjson

    assert messages[0] == ACCEPT
    return orjson.loads(messages[1]['text'])['user']


def test_auth_function_returning_a_user():
    class WithAuth(WhoAmI):
        auth = returns_alice

    assert _user_of(transcript({'ws': WithAuth}, '/ws')) == {'name': 'alice'}


def test_auth_returning_none_leaves_user_none():
    class WithAuth(WhoAmI):
        auth = returns_none

    assert _user_of(transcript({'ws': WithAuth}, '/ws')) is None


def test_auth_raising_rejects_and_logs_the_reason(caplog):
    connected = []

    class WithAuth(WhoAmI):
        auth = raises

        async def connect(self, **kwargs):
            connected.append(True)

    with caplog.at_level(logging.INFO, logger='panther'):
        assert transcript({'ws': WithAuth}, '/ws') == [REJECT]
    assert connected == []
    assert 'token expired' in caplog.text


def test_auth_class_with_async_call():
    class Auth:
        async def __call__(self, connection):
            return {'name': 'class', 'path': connection.path}

    class WithAuth(WhoAmI):
        auth = Auth

    assert _user_of(transcript({'ws': WithAuth}, '/ws')) == {'name': 'class', 'path': '/ws'}


def test_plain_async_function_attribute_is_called_with_the_connection_alone():
    seen = []

    async def my_auth(connection):
        seen.append(connection)
        return 'u'

    async def my_check(connection):
        seen.append(connection)
        return True

    class Plain(WhoAmI):
        auth = my_auth
        permissions = my_check

    app = make_app({'ws': Plain})
    assert _user_of(WebsocketClient(app).connect('/ws')) == 'u'
    assert len(seen) == 2
    assert all(isinstance(c, Plain) for c in seen)
    assert seen[0] is seen[1]


def test_class_auth_is_called_even_without_credentials():
    calls = []

    async def always(connection):
        calls.append(connection.headers.authorization)
        return 'anon'

    class WithAuth(WhoAmI):
        auth = always

    app = make_app({'ws': WithAuth}, WS_AUTHENTICATION='tests.test_websocket.token_user')
    assert _user_of(WebsocketClient(app).connect('/ws')) == 'anon'
    assert calls == [None]


def test_ws_authentication_is_skipped_without_credentials():
    CALLS.clear()
    app = make_app({'ws': WhoAmI}, WS_AUTHENTICATION='tests.test_websocket.token_user')
    assert _user_of(WebsocketClient(app).connect('/ws', query_params={'other': '1'})) is None
    assert _user_of(WebsocketClient(app).connect('/ws', headers={'Cookie': 'session=x'})) is None
    assert CALLS == []


@pytest.mark.parametrize('kwargs', [
    {'headers': {'Authorization': 'Bearer T'}},
    {'query_params': {'authorization': 'T'}},
    {'headers': {'Cookie': 'theme=dark; access_token=T'}},
])
def test_ws_authentication_runs_when_credentials_are_present(kwargs):
    CALLS.clear()
    app = make_app({'ws': WhoAmI}, WS_AUTHENTICATION='tests.test_websocket.token_user')
    user = _user_of(WebsocketClient(app).connect('/ws', **kwargs))
    assert user['name'] == 'from-default'
    assert user['token'] in ('Bearer T', 'T')
    assert len(CALLS) == 1


def test_ws_authentication_raising_rejects(caplog):
    app = make_app({'ws': WhoAmI}, WS_AUTHENTICATION=raises)
    with caplog.at_level(logging.INFO, logger='panther'):
        assert WebsocketClient(app).connect('/ws', headers={'Authorization': 'x'}) == [REJECT]
    assert 'token expired' in caplog.text


# -- permissions ------------------------------------------------------------------------------------


async def allow(connection):
    return True


async def deny(connection):
    return False


class AllowClass:
    async def __call__(self, connection):
        return True


class DenyClass:
    async def __call__(self, connection):
        return False


@pytest.mark.parametrize(('permissions', 'accepted'), [
    (None, True),
    ([], True),
    (allow, True),
    (deny, False),
    (AllowClass, True),
    (DenyClass, False),
    (AllowClass(), True),
    ([allow, AllowClass], True),
    ([allow, DenyClass], False),
    ([deny, allow], False),
])
def test_permissions(permissions, accepted):
    class Guarded(Echo):
        pass

    Guarded.permissions = permissions
    messages = transcript({'ws': Guarded}, '/ws')
    assert (messages == [ACCEPT]) is accepted
    if not accepted:
        assert messages == [REJECT]


def test_first_false_permission_stops_the_chain():
    ran = []

    async def first(connection):
        ran.append('first')
        return True

    async def second(connection):
        ran.append('second')
        return False

    async def third(connection):
        ran.append('third')
        return True

    class Guarded(Echo):
        permissions = [first, second, third]

    assert transcript({'ws': Guarded}, '/ws') == [REJECT]
    assert ran == ['first', 'second']


def test_permission_sees_the_user_from_auth():
    async def only_alice(connection):
        return connection.user == {'name': 'alice'}

    class Guarded(WhoAmI):
        auth = returns_alice
        permissions = [only_alice]

    assert _user_of(transcript({'ws': Guarded}, '/ws')) == {'name': 'alice'}


def test_permission_raising_rejects(caplog):
    class Guarded(Echo):
        permissions = raises

    with caplog.at_level(logging.INFO, logger='panther'):
        assert transcript({'ws': Guarded}, '/ws') == [REJECT]
    assert 'token expired' in caplog.text


def sync_check(connection):
    return True


class SyncCall:
    def __call__(self, connection):
        return True


@pytest.mark.parametrize(('attr', 'value', 'name'), [
    ('auth', sync_check, 'sync_check'),
    ('permissions', sync_check, 'sync_check'),
    ('permissions', [allow, SyncCall], 'SyncCall'),
    ('auth', SyncCall, 'SyncCall'),
])
def test_sync_guard_is_a_startup_error_naming_it(attr, value, name):
    class Guarded(Echo):
        pass

    setattr(Guarded, attr, value)
    with pytest.raises(ConfigError) as info:
        make_app({'ws': Guarded})
    assert name in str(info.value)
    assert attr in str(info.value)


def test_sync_ws_authentication_is_a_startup_error():
    with pytest.raises(ConfigError, match=r'WS_AUTHENTICATION.*sync_check'):
        make_app({'ws': Echo}, WS_AUTHENTICATION=sync_check)


# -- crashes --------------------------------------------------------------------------------------


class Crashy(GenericWebsocket):
    disconnects: list = []

    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        if data == 'boom':
            raise ZeroDivisionError('receive exploded')
        await self.send(data)

    async def disconnect(self, code):
        self.disconnects.append(code)


CRASH_CLOSE = {'type': 'websocket.close', 'code': 1011, 'reason': 'Internal Server Error'}


async def test_exception_in_receive_closes_1011_and_others_carry_on(caplog):
    Crashy.disconnects = []
    app = make_app({'ws': Crashy})
    client = WebsocketClient(app)
    with caplog.at_level(logging.ERROR, logger='panther'):
        async with client.session('/ws') as other, client.session('/ws') as victim:
            await victim.send('boom')
            assert await victim.receive() == CRASH_CLOSE
            await victim.wait_closed()
            await other.send('still here')
            assert await other.receive_text() == 'still here'
            assert len(app.runtime.registry) == 1
    assert 'receive exploded' in caplog.text
    assert 'Traceback' in caplog.text
    assert 'ZeroDivisionError' in caplog.text
    assert Crashy.disconnects == [1011, 1000]
    assert len(app.runtime.registry) == 0


async def test_exception_in_connect_after_accept_closes_1011(caplog):
    disconnected = []

    class Broken(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()
            raise KeyError('connect exploded')

        async def disconnect(self, code):
            disconnected.append(code)

    app = make_app({'ws': Broken})
    with caplog.at_level(logging.ERROR, logger='panther'):
        messages = await WebsocketClient(app).aconnect('/ws')
    assert messages == [ACCEPT, CRASH_CLOSE]
    assert 'connect exploded' in caplog.text and 'Traceback' in caplog.text
    assert disconnected == [1011]
    assert len(app.runtime.registry) == 0


async def test_exception_in_connect_before_accept_rejects(caplog):
    class Broken(GenericWebsocket):
        async def connect(self, **kwargs):
            raise KeyError('early')

    with caplog.at_level(logging.ERROR, logger='panther'):
        messages = await WebsocketClient(make_app({'ws': Broken})).aconnect('/ws')
    assert messages == [{'type': 'websocket.close', 'code': 1011, 'reason': 'Internal Server Error'}]
    assert 'early' in caplog.text and 'Traceback' in caplog.text


async def test_exception_in_disconnect_is_logged_and_cleaned_up(caplog):
    class Broken(Echo):
        async def disconnect(self, code):
            raise RuntimeError('disconnect exploded')

    app = make_app({'ws': Broken})
    with caplog.at_level(logging.ERROR, logger='panther'):
        async with WebsocketClient(app).session('/ws') as ws:
            await ws.send('x')
            assert await ws.receive_text() == 'x'
    assert 'disconnect exploded' in caplog.text and 'Traceback' in caplog.text
    assert len(app.runtime.registry) == 0


# -- disconnect hook: exactly once however it ends -------------------------------------------------


class Tracked(GenericWebsocket):
    log: list = []

    async def connect(self, **kwargs):
        await self.accept()
        self.log.append(('connect', self.connection_id))

    async def receive(self, data):
        if data == 'close':
            await self.close(4000, 'server side')
        elif data == 'crash':
            raise RuntimeError('crash')
        else:
            await self.send(data)

    async def disconnect(self, code):
        self.log.append(('disconnect', code))


@pytest.mark.parametrize(('how', 'code'), [
    ('client', 1001),
    ('server', 4000),
    ('outside', 4002),
    ('crash', 1011),
])
async def test_disconnect_runs_exactly_once(how, code):
    Tracked.log = []
    app = make_app({'ws': Tracked})
    ws = WebsocketClient(app).session('/ws')
    await ws.start()
    connection_id = Tracked.log[0][1]
    assert len(app.runtime.registry) == 1
    if how == 'client':
        await ws.close(1001)
    elif how == 'server':
        await ws.send('close')
    elif how == 'outside':
        await close_websocket_connection(connection_id, code=4002, reason='outside')
    else:
        await ws.send('crash')
    await ws.wait_closed()
    await ws.close()  # no second disconnect when the client closes afterwards
    ws.check_protocol()
    assert Tracked.log == [('connect', connection_id), ('disconnect', code)]
    assert len(app.runtime.registry) == 0


async def test_disconnect_runs_when_the_connection_task_is_cancelled():
    Tracked.log = []
    app = make_app({'ws': Tracked})
    ws = WebsocketClient(app).session('/ws')
    await ws.start()
    ws._task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ws._task
    assert [entry[0] for entry in Tracked.log] == ['connect', 'disconnect']
    assert len(app.runtime.registry) == 0


# -- typed receive -----------------------------------------------------------------------------------------


class Order(BaseModel):
    item: str
    quantity: int


class Shop(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data: Order):
        await self.send({'got': type(data).__name__, 'total': data.quantity * 2, 'item': data.item})


async def test_typed_receive_validates_and_stays_open():
    app = make_app({'shop': Shop})
    async with WebsocketClient(app).session('/shop') as ws:
        await ws.send({'item': 'tea', 'quantity': 3})
        assert await ws.receive_json() == {'got': 'Order', 'total': 6, 'item': 'tea'}

        await ws.send('not json at all')
        error = await ws.receive_json()
        assert 'detail' in error and error['detail'][0]['type'] == 'json_invalid'

        await ws.send({'item': 'tea', 'quantity': 'many'})
        error = await ws.receive_json()
        assert error['detail'][0]['loc'] == ['quantity']

        await ws.send(b'{"item": "cake", "quantity": 1}')
        assert await ws.receive_json() == {'got': 'Order', 'total': 2, 'item': 'cake'}
        assert len(app.runtime.registry) == 1


# -- reaching a connection from outside ---------------------------------------------------------------------------


class Registered(GenericWebsocket):
    ids: list = []

    async def connect(self, **kwargs):
        await self.accept()
        self.ids.append(self.connection_id)

    async def receive(self, data):
        # Its own sends interleave with sends from outside in call order.
        await self.send(f'{data}-1')
        await send_message_to_websocket(self.connection_id, f'{data}-2')
        await self.send(f'{data}-3')


async def test_send_and_close_from_outside_in_order():
    Registered.ids = []
    app = make_app({'ws': Registered})
    async with WebsocketClient(app).session('/ws') as ws:
        connection_id = Registered.ids[0]
        await send_message_to_websocket(connection_id, 'outside')
        await send_message_to_websocket(connection_id, {'json': True})
        await send_message_to_websocket(connection_id, b'raw')
        assert await ws.receive_text() == 'outside'
        assert await ws.receive_json() == {'json': True}
        assert await ws.receive_bytes() == b'raw'

        await ws.send('m')
        assert [await ws.receive_text() for _ in range(3)] == ['m-1', 'm-2', 'm-3']

        for i in range(5):
            await send_message_to_websocket(connection_id, str(i))
        await close_websocket_connection(connection_id, code=status.WS_1008_POLICY_VIOLATION, reason='kicked')
        received = [await ws.receive() for _ in range(6)]
        assert [m.get('text') for m in received[:5]] == ['0', '1', '2', '3', '4']
        assert received[5] == {'type': 'websocket.close', 'code': 1008, 'reason': 'kicked'}
        await ws.wait_closed()
    assert len(app.runtime.registry) == 0


async def test_unknown_connection_id_is_a_debug_log(caplog):
    app = make_app({'ws': Registered})
    async with WebsocketClient(app).session('/ws'):
        pass  # starts the runtime
    gone = Registered.ids[-1]
    with caplog.at_level(logging.DEBUG, logger='panther'):
        await send_message_to_websocket(gone, 'anyone?')
        await close_websocket_connection(gone)
        await send_message_to_websocket('not-an-id', 'x')
        await send_message_to_websocket(app.runtime.worker_id + 'f' * 20, 'x')
    debug = [r for r in caplog.records if r.name == 'panther']
    assert len(debug) == 4
    assert all(r.levelno == logging.DEBUG for r in debug)
    assert len(app.runtime.registry) == 0


async def test_outside_send_after_close_is_dropped():
    class Slow(Registered):
        async def receive(self, data):
            await self.close()
            await send_message_to_websocket(self.connection_id, 'late')

    Registered.ids = []
    async with WebsocketClient(make_app({'ws': Slow})).session('/ws') as ws:
        await ws.send('x')
        assert await ws.receive() == {'type': 'websocket.close', 'code': 1000, 'reason': ''}
        await ws.wait_closed()
        assert [m['type'] for m in ws.transcript] == ['websocket.accept', 'websocket.close']


# -- the transcript client -------------------------------------------------------------------------------


def test_connect_returns_when_the_app_never_closes():
    class Quiet(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()

    assert transcript({'ws': Quiet}, '/ws', idle=0.05) == [ACCEPT]


async def test_session_receive_times_out_instead_of_hanging():
    async with WebsocketClient(make_app({'ws': Echo})).session('/ws') as ws:
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.05)


def test_connect_returns_even_when_the_app_never_goes_quiet():
    class Ticker(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()
            while True:
                await self.send('tick')
                await asyncio.sleep(0.01)

    import time

    started = time.monotonic()
    app = make_app({'ws': Ticker})
    messages = WebsocketClient(app).connect('/ws', idle=0.5, timeout=0.3)
    assert time.monotonic() - started < 5
    assert len(app.runtime.registry) == 0  # the cancelled connection was still cleaned up
    assert messages[0] == ACCEPT and messages[1] == {'type': 'websocket.send', 'text': 'tick'}
