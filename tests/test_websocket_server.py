"""WebSockets against a real uvicorn server in a subprocess, with the ``websockets`` client."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import connect

from tests.servers import ROOT, serve

BAD_LOG_LINES = ('Unexpected ASGI message', 'ASGI callable returned without', 'Exception in ASGI application')


# uvicorn's default (sans-I/O) WebSocket protocol and its older asyncio one, each with a client that
# negotiates permessage-deflate (every send takes the ASGI path) and one that does not (sends that need
# not wait are written straight to the transport: panther.direct_write).
@pytest.fixture(
    scope='module',
    params=[('auto', 'deflate'), ('websockets', 'deflate'), ('auto', None), ('websockets', None)],
    ids=lambda p: f'ws={p[0]}-compression={p[1]}',
)
def server(request):
    ws, compression = request.param
    with serve('tests.apps.ws_server:app', cwd=ROOT, server='uvicorn', args=['--ws', ws]) as running:
        running.compression = compression
        yield running
    log = running.log()  # including the shutdown
    for line in BAD_LOG_LINES:
        assert line not in log, log[-4000:]


@pytest.fixture(autouse=True)
def clean_log(server):
    """Every test leaves the server log free of ASGI protocol errors and the registry empty."""
    before = len(server.log())
    yield
    assert _registry_drains(server), 'connections left in the registry'
    log = server.log()[before:]
    for line in BAD_LOG_LINES:
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
        await ws.send('')
        assert await ws.recv() == ''
        assert _registry_size(server) == 1


async def test_sends_take_the_direct_path_with_and_without_deflate(server):
    async with connect_to(server, '/ws/mode') as ws:
        assert [e.name for e in ws.protocol.extensions] == (['permessage-deflate'] if server.compression else [])
        await ws.send('how?')
        assert await ws.recv() == 'direct'


@pytest.mark.parametrize('size', [0, 1, 125, 126, 127, 65535, 65536, 65537, 1_000_000])
async def test_echo_at_every_frame_length_boundary(server, size):
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
        await asyncio.sleep(1.0)
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
    assert received[-1] == 'done queued=True'  # the server really had to wait and queue


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
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4004, 'kicked out')


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
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 1011
    async with connect_to(server, '/ws/echo') as other:
        await other.send('fine')
        assert await other.recv() == 'fine'
    log = server.log()[before:]
    assert 'receive crashed' in log and 'Traceback' in log


async def test_rejected_handshakes(server):
    for path in ('/nowhere', '/api/registry'):
        with pytest.raises(websockets.InvalidStatus) as info:
            async with connect_to(server, path):
                pass
        assert info.value.response.status_code == 403


async def test_abrupt_client_departures_are_cleaned_up(server):
    sockets = [await connect_to(server, '/ws/echo') for _ in range(20)]
    for ws in sockets:
        await ws.send('x' * 1000)
    assert _registry_size(server) == 20
    for ws in sockets:
        ws.transport.abort()  # no closing handshake
