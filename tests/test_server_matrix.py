"""The server matrix: one scenario suite against every ASGI server panther supports.

Each server runs ``tests.apps.ws_server`` in a subprocess and is driven with
the ``websockets`` client (and a raw socket for the client that never reads):
``panther run`` (panther's uvicorn protocol: direct frames), ``panther run`` on
the lowest uvicorn that pyproject.toml allows, plain uvicorn with each of its
WebSocket protocols, hypercorn, daphne and granian's ASGI interface.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import connect

from tests.raw_ws import RawClient
from tests.servers import MIN_UVICORN, ROOT, serve

BAD_LOG_LINES = ('Unexpected ASGI message', 'ASGI callable returned without', 'Exception in ASGI application')


class Kind:
    """One server of the matrix: how to start it, and what its clients should see."""

    def __init__(self, name: str, server: str, args: tuple[str, ...] = (), compression: str | None = 'deflate',
                 http_refusals: bool = True, min_uvicorn: bool = False,
                 shutdown: tuple[set[int | None], set[int] | None] = ({1012}, {1012}),
                 empty_messages: bool = True, framework_codes: bool = True, flow_control: bool = True,
                 spurious_refusal_error: bool = False) -> None:
        self.name = name
        # daphne's send ignores a message whose text or bytes is empty: no empty frame can leave it.
        self.empty_messages = empty_messages
        # daphne (autobahn) only sends close codes 1000 and 3000-4999, and drops close reasons: the
        # framework's own codes (1008, 1009, 1011, 1013) never leave it; such a close is given up
        # after WS_CLOSE_TIMEOUT and the connection ends without a close frame.
        self.framework_codes = framework_codes
        # daphne buffers whatever the app sends without limit (its send never waits), so a client
        # that never reads is invisible to WS_SEND_QUEUE_SIZE there.
        self.flow_control = flow_control
        # uvicorn's sans-I/O protocol logs "ASGI callable returned without completing handshake." after an
        # HTTP refusal (panther's protocol does not): the server's line, not a fault of the app.
        self.spurious_refusal_error = spurious_refusal_error

        # On SIGTERM: the close codes clients see, and those disconnect() hears (None: it is not called).
        self.shutdown_codes, self.hook_codes = shutdown
        self.server = server
        self.args = list(args)
        self.compression = compression
        self.http_refusals = http_refusals  # offers the websocket.http.response extension
        self.min_uvicorn = min_uvicorn

    def bad_lines(self) -> tuple[str, ...]:
        if self.spurious_refusal_error:
            return tuple(line for line in BAD_LOG_LINES if line != 'ASGI callable returned without')
        return BAD_LOG_LINES

    def env(self, **extra: str) -> dict[str, str]:
        env = {'PANTHER_TEST_QUEUE': '10000', **extra}
        if self.min_uvicorn:
            env['PYTHONPATH'] = os.pathsep.join([str(MIN_UVICORN), str(ROOT)])
        return env


KINDS = [
    Kind('panther-run', 'panther'),
    Kind('panther-run-no-deflate', 'panther', compression=None),
    Kind('panther-run-lowest-uvicorn', 'panther', min_uvicorn=True),
    Kind('uvicorn-websockets-sansio', 'uvicorn', ('--ws', 'websockets-sansio'), spurious_refusal_error=True),
    Kind('uvicorn-websockets', 'uvicorn', ('--ws', 'websockets')),
    Kind('uvicorn-wsproto', 'uvicorn', ('--ws', 'wsproto')),
    # hypercorn cancels the app's tasks at once: panther still sends 1001 as they end.
    Kind('hypercorn', 'hypercorn', shutdown=({1001}, {1001})),
    # daphne drops every connection without a close frame and never tells the app (it runs no lifespan
    # either): nothing panther can hear, so no disconnect() runs. docs/deployment.md says so.
    Kind('daphne', 'daphne', http_refusals=False, shutdown=({None}, None), empty_messages=False,
         framework_codes=False, flow_control=False),
    # granian drops connections without a close frame; the app hears 1005, or 1001 when its lifespan
    # shutdown (panther's own going-away close) runs first.
    Kind('granian', 'granian', shutdown=({None}, {1001, 1005})),
]


@pytest.fixture(scope='module', params=KINDS, ids=lambda kind: kind.name)
def server(request):
    kind: Kind = request.param
    with serve('tests.apps.ws_server:app', cwd=ROOT, server=kind.server, args=kind.args, env=kind.env()) as running:
        running.compression = kind.compression
        running.kind = kind
        yield running
    log = running.log()  # including the shutdown
    for line in kind.bad_lines():
        assert line not in log, log[-4000:]


@pytest.fixture(autouse=True)
def clean_log(server):
    """Every test leaves the server log free of ASGI protocol errors and the registry empty."""
    before = len(server.log())
    yield
    assert _registry_drains(server), 'connections left in the registry'
    log = server.log()[before:]
    for line in server.kind.bad_lines():
        assert line not in log, log[-4000:]


def connect_to(server, path: str, **kwargs):
    return connect(server.ws + path, compression=server.compression, **kwargs)


def _registry_size(server) -> int:
    return httpx.get(server.http + '/api/registry').json()['connections']


def _registry_drains(server, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _registry_size(server) == 0:
            return True
        time.sleep(0.05)
    return False


async def test_echo_text_and_binary(server):
    async with connect_to(server, '/ws/echo') as ws:
        await ws.send('hello')
        assert await ws.recv() == 'hello'
        await ws.send(b'\x00\x01\xfe\xff')
        assert await ws.recv() == b'\x00\x01\xfe\xff'
        if server.kind.empty_messages:
            await ws.send('')
            assert await ws.recv() == ''
        assert _registry_size(server) == 1


async def test_the_fast_path_is_offered_only_by_panthers_protocol(server):
    async with connect_to(server, '/ws/mode') as ws:
        await ws.send('how?')
        assert await ws.recv() == ('direct' if server.kind.server == 'panther' else 'asgi')


@pytest.mark.parametrize('size', [0, 1, 125, 126, 127, 65535, 65536, 65537, 1_000_000])
async def test_echo_at_every_frame_length_boundary(server, size):
    if size == 0 and not server.kind.empty_messages:
        size = 1  # this server cannot send an empty frame (Kind.empty_messages); the shortest it can instead
    text = 'é' * (size // 4) + 'x' * (size - 2 * (size // 4))  # exactly `size` bytes of UTF-8, multi-byte too
    assert len(text.encode()) == size
    blob = bytes(range(256)) * (size // 256) + bytes(size % 256)
    async with connect_to(server, '/ws/echo', max_size=None) as ws:
        await ws.send(text)
        assert await ws.recv() == text
        await ws.send(blob)
        assert await ws.recv() == blob


async def test_own_sends_and_pushes_stay_in_order_while_the_client_reads_late(server):
    n, size = 3000, 2000  # 2 x 6 MB: well past the socket buffers, so the transport pauses
    # A small max_queue makes the client stop reading from its socket too.
    async with connect_to(server, '/ws/burst', max_size=None, max_queue=4) as ws:
        await ws.send(orjson.dumps({'n': n, 'size': size}).decode())
        # Wait for the first frame, then stop reading so the server's buffers fill up.
        first = await ws.recv()
        # daphne (autobahn) drops a connection whose peer has not answered its close within 1 s, with all
        # it still buffered: there the client cannot afford to read late (Kind.flow_control).
        await asyncio.sleep(1.0 if server.kind.flow_control else 0)
        received = [first]
        while True:
            message = await asyncio.wait_for(ws.recv(), 30)
            received.append(message)
            if message.startswith('done'):
                break
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4000
    own = [m.split(':')[0] for m in received if m.startswith('s')]
    pushed = [m.split(':')[0] for m in received if m.startswith('p')]
    assert own == [f's{i}' for i in range(n)]
    assert pushed == [f'p{i}' for i in range(n)]
    assert len(received) == 2 * n + 1
    # The server really had to wait and queue (one that buffers without limit may or may not make it).
    assert received[-1] == 'done queued=True' or not server.kind.flow_control


async def test_many_clients_nothing_lost_or_reordered(server):
    clients, messages = 200, 100

    async def client(n: int) -> list[str]:
        async with connect_to(server, '/ws/echo', max_queue=None) as ws:
            expected = [f'{n}:{i}' for i in range(messages)]
            received: list[str] = []
            # Half pipelined, half lock-step, so both the queued and the direct write paths run.
            for text in expected[:50]:
                await ws.send(text)
            for _ in range(50):
                received.append(await ws.recv())
            for text in expected[50:]:
                await ws.send(text)
                received.append(await ws.recv())
            return received

    results = await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(clients))), 90)
    for n, received in enumerate(results):
        assert received == [f'{n}:{i}' for i in range(messages)]


async def test_http_endpoint_sends_to_a_connection_by_id(server):
    async with connect_to(server, '/ws/id') as ws, httpx.AsyncClient(base_url=server.http) as http:
        connection_id = await ws.recv()
        assert len(connection_id) == 32
        response = await http.post(f'/api/send/{connection_id}/', json={'data': 'from http'})
        assert response.json() == {'sent': True}
        assert await ws.recv() == 'from http'
        await http.post(f'/api/send/{connection_id}/', json={'data': {'n': 1, 'items': [1, 2]}})
        assert orjson.loads(await ws.recv()) == {'n': 1, 'items': [1, 2]}
        # The connection's own replies still work alongside.
        await ws.send('echo me')
        assert await ws.recv() == 'echo me'


async def test_http_endpoint_closes_a_connection_with_code_and_reason(server):
    async with connect_to(server, '/ws/id') as ws, httpx.AsyncClient(base_url=server.http) as http:
        connection_id = await ws.recv()
        await http.post(f'/api/send/{connection_id}/', json={'data': 'last words'})
        await http.post(f'/api/close/{connection_id}/', json={'code': 4004, 'reason': 'kicked out'})
        assert await ws.recv() == 'last words'
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        expected = 'kicked out' if server.kind.framework_codes else ''  # daphne drops close reasons
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4004, expected)


async def test_unknown_id_is_harmless(server):
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post('/api/send/' + '0' * 32 + '/', json={'data': 'nobody'})
        assert response.json() == {'sent': True}
        response = await http.post('/api/close/not-an-id/', json={'code': 1000, 'reason': ''})
        assert response.json() == {'closed': True}


async def test_crash_closes_1011_and_is_logged(server):
    before = len(server.log())
    async with connect_to(server, '/ws/crash') as ws:
        await ws.send('boom')
        if server.kind.framework_codes:
            with pytest.raises(websockets.ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 15)
            assert info.value.rcvd.code == 1011
        else:
            # 1011 cannot leave this server: panther gives the close up after WS_CLOSE_TIMEOUT and forgets the
            # connection (the clean_log fixture checks), but the server keeps the TCP connection open.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 7)
            assert 'connection abandoned' in server.log()[before:]
    async with connect_to(server, '/ws/echo') as other:
        await other.send('fine')
        assert await other.recv() == 'fine'
    log = server.log()[before:]
    assert 'receive crashed' in log and 'Traceback' in log


async def test_rejected_handshakes_say_why_where_the_server_lets_them(server):
    for path in ('/nowhere', '/api/registry'):
        with pytest.raises(websockets.InvalidStatus) as info:
            async with connect_to(server, path):
                pass
        response = info.value.response
        if server.kind.http_refusals:
            assert response.status_code == 404
            assert orjson.loads(response.body) == {'detail': 'Not Found'}
        else:
            assert response.status_code == 403  # the server's answer to a close before accept


async def test_abrupt_client_departures_are_cleaned_up(server):
    sockets = [await connect_to(server, '/ws/echo') for _ in range(20)]
    for ws in sockets:
        await ws.send('x' * 1000)
    assert _registry_size(server) == 20
    for ws in sockets:
        ws.transport.abort()  # no closing handshake


async def test_200_pushes_from_an_http_request_arrive_in_order_and_the_connection_still_works(server):
    async with connect_to(server, '/ws/id') as ws, httpx.AsyncClient(base_url=server.http) as http:
        connection_id = await ws.recv()
        response = await http.post(f'/api/push/{connection_id}/', params={'n': 200})
        assert response.json() == {'sent': 200}
        received = [await asyncio.wait_for(ws.recv(), 10) for _ in range(200)]
        assert received == [f'{i}:' for i in range(200)]
        await ws.send('still here')
        assert await ws.recv() == 'still here'
        await ws.send(b'\x00binary')
        assert await ws.recv() == b'\x00binary'


async def test_a_group_send_reaches_every_member_once(server):
    async with connect_to(server, '/ws/group/room') as a, connect_to(server, '/ws/group/room') as b, \
            connect_to(server, '/ws/group/other') as c, httpx.AsyncClient(base_url=server.http) as http:
        for ws in (a, b, c):
            assert (await ws.recv()).startswith('joined ')
        await http.post('/api/group/room/', json={'data': 'to the room'})
        await http.post('/api/group/room/', json={'data': {'n': 2}})
        for ws in (a, b):
            assert await ws.recv() == 'to the room'
            assert orjson.loads(await ws.recv()) == {'n': 2}
        await c.send('only echoes here')
        assert await c.recv() == 'only echoes here'


async def test_a_client_that_never_reads_is_cut_off_while_another_is_unharmed(server):
    slow = RawClient(server.ws + '/ws/group/slow', receive_buffer=4096)
    try:
        async with connect_to(server, '/ws/echo') as fast, httpx.AsyncClient(base_url=server.http, timeout=60) as http:
            # 20,000 x 2 kB: far past the socket buffers and the 10,000-frame send queue of this app.
            flood = asyncio.ensure_future(http.post('/api/group/slow/', params={'n': 20_000, 'size': 2000}))
            for i in range(20):
                await fast.send(f'fast {i}')
                assert await asyncio.wait_for(fast.recv(), 10) == f'fast {i}'
            assert (await flood).json() == {'sent': 20_000}
            # The slow client is closed (1013, then given up after WS_CLOSE_TIMEOUT): only the fast one is left.
            deadline = time.monotonic() + (30 if server.kind.flow_control else 8)
            while _registry_size(server) > 1 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            # Where the server buffers without limit (Kind.flow_control) nothing ever waits in panther.
            assert _registry_size(server) == (1 if server.kind.flow_control else 2)
            await fast.send('after')
            assert await fast.recv() == 'after'
    finally:
        slow.close()
    assert ('with 1013' in server.log()) is server.kind.flow_control
