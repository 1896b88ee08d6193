"""panther.servers.uvicorn: panther's protocol class, driven as uvicorn drives it.

A real ``PantherWebSocketProtocol`` is fed a real handshake over a fake
transport: the scope offers the ``panther.frames`` extension, the frame sink
writes only when the server itself would write, and permessage-deflate frames
go through the library's encoder. The real-server side is in
tests/test_server_matrix.py and tests/test_websocket_server.py.
"""

from __future__ import annotations

import asyncio
import base64
import os
import types
import zlib

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode

from panther.config_loader import load_config
from panther.exceptions import ConfigError
from panther.frames import FRAMES_EXTENSION, wire_frame
from panther.servers.uvicorn import PantherWebSocketProtocol
from tests.servers import ROOT, serve


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.aborted = self.closing = True

    def get_extra_info(self, name, default=None):
        return {'sockname': ('127.0.0.1', 8000), 'peername': ('127.0.0.1', 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _handshake(deflate: bool) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ['GET /ws HTTP/1.1', 'Host: 127.0.0.1:8000', 'Upgrade: websocket', 'Connection: Upgrade',
             f'Sec-WebSocket-Key: {key}', 'Sec-WebSocket-Version: 13']
    if deflate:
        lines.append('Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode()


async def _protocol(deflate: bool = False, accept: bool = True):
    """A protocol whose app accepts (or not) and then waits; returns (protocol, transport, scope)."""
    seen: dict = {}
    accepted = asyncio.Event()

    async def app(scope, receive, send):
        seen['scope'] = scope
        await receive()
        if accept:
            await send({'type': 'websocket.accept'})
        accepted.set()
        await asyncio.sleep(3600)

    config = Config(app=app, ws=PantherWebSocketProtocol, ws_per_message_deflate=deflate, lifespan='off')
    config.load()
    protocol = PantherWebSocketProtocol(config, ServerState(), {})
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(_handshake(deflate))
    await asyncio.wait_for(accepted.wait(), 2)
    transport.written.clear()
    return protocol, transport, seen['scope']


async def _close(protocol: PantherWebSocketProtocol) -> None:
    for task in list(protocol.tasks):
        task.cancel()
    await asyncio.sleep(0)


async def test_the_scope_offers_the_frame_sink_and_writes_go_straight_to_the_transport():
    protocol, transport, scope = await _protocol()
    sink = scope['extensions'][FRAMES_EXTENSION]
    assert sink is protocol
    assert 'websocket.http.response' in scope['extensions']
    assert sink.write_frame(wire_frame('a')) is True
    assert sink.write_frame(wire_frame(b'b')) is True
    assert transport.written == [b'\x81\x01a', b'\x82\x01b']
    await _close(protocol)


def _pause(protocol, transport):
    protocol.pause_writing()


def _close_sent(protocol, transport):
    protocol.close_sent = True


def _lost(protocol, transport):
    protocol.connection_lost(None)


def _transport_closing(protocol, transport):
    transport.closing = True


def _peer_closed(protocol, transport):
    protocol.data_received(Frame(Opcode.CLOSE, b'\x03\xe8').serialize(mask=True, extensions=[]))


@pytest.mark.parametrize('spoil', [_pause, _close_sent, _lost, _transport_closing, _peer_closed],
                         ids=['paused', 'close-sent', 'connection-lost', 'transport-closing', 'peer-closed'])
async def test_every_unsafe_moment_refuses_and_writes_nothing(spoil):
    protocol, transport, _ = await _protocol()
    spoil(protocol, transport)
    transport.written.clear()
    assert protocol.write_frame(wire_frame('a')) is False
    assert transport.written == []
    await _close(protocol)


async def test_before_the_handshake_completes_it_refuses():
    protocol, transport, _ = await _protocol(accept=False)
    assert protocol.write_frame(wire_frame('a')) is False
    assert transport.written == []
    await _close(protocol)


PAYLOADS = {'empty': '', 'one': 'a', 'utf8': 'é' * 63, '125': 'x' * 125, '126': 'x' * 126, '65535': 'x' * 65535,
            '65536': 'x' * 65536, 'empty-bytes': b'', 'binary-140k': b'\x00\xff' * 70_000}


def _inflate(written: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of one compressed server frame (RFC 7692: raw deflate, tail restored)."""
    first, second = written[0], written[1] & 0x7F
    offset = 2 if second < 126 else 4 if second == 126 else 10
    assert first & 0x40, 'RSV1 (compressed) must be set'
    return first & 0x0F, zlib.decompressobj(-15).decompress(written[offset:] + b'\x00\x00\xff\xff')


@pytest.mark.parametrize('payload', PAYLOADS.values(), ids=PAYLOADS.keys())
async def test_with_permessage_deflate_the_payload_goes_through_the_librarys_encoder(payload):
    """permessage-deflate compresses per connection: the shared frame is taken apart and encoded again."""
    protocol, transport, _ = await _protocol(deflate=True)
    assert protocol.conn.extensions, 'the handshake did not negotiate permessage-deflate'
    assert protocol.write_frame(wire_frame(payload)) is True
    opcode, data = _inflate(b''.join(transport.written))
    assert opcode == (1 if isinstance(payload, str) else 2)
    assert data == (payload.encode() if isinstance(payload, str) else payload)
    await _close(protocol)


async def test_abort_drops_the_transport():
    protocol, transport, _ = await _protocol()
    protocol.abort_connection()
    assert transport.aborted
    await _close(protocol)


def test_the_switch_is_a_checked_config_key():
    module = types.ModuleType('direct_write_configs')
    module.URLS = {}
    assert load_config(module).WS_DIRECT_WRITE is True
    module.WS_DIRECT_WRITE = 'no'
    with pytest.raises(ConfigError) as error:
        load_config(module)
    assert error.value.key == 'WS_DIRECT_WRITE'


async def test_switched_off_every_send_goes_through_asgi_on_a_real_server():
    from websockets.asyncio.client import connect

    env = {'PANTHER_TEST_DIRECT_WRITE': '0'}
    with serve('tests.apps.ws_server:app', cwd=ROOT, server='panther', env=env) as server:
        async with connect(server.ws + '/ws/mode', compression=None) as ws:
            await ws.send('how?')
            assert await ws.recv() == 'asgi'
        assert 'writes: ASGI sends (WS_DIRECT_WRITE is False)' in server.log()


@pytest.mark.parametrize(('server', 'args', 'expected', 'banner'), [
    ('panther', [], 'direct', "writes: direct frames through panther's uvicorn protocol"),
    ('panther', ['--ws-per-message-deflate', 'false'], 'direct', 'writes: direct frames'),
    ('panther', ['--ws', 'websockets-sansio'], 'asgi', 'writes: ASGI sends (--ws websockets-sansio was given)'),
    ('uvicorn', ['--ws', 'websockets-sansio'], 'asgi', 'writes: ASGI sends (the server offers no panther.frames'),
    ('uvicorn', ['--ws', 'panther.servers.uvicorn:PantherWebSocketProtocol'], 'direct', None),
])
async def test_which_write_path_is_active_and_the_banner_says_so(server, args, expected, banner):
    """Browsers ask for permessage-deflate: they get the fast path as well as clients that do not."""
    from websockets.asyncio.client import connect

    with serve('tests.apps.ws_server:app', cwd=ROOT, server=server, args=args) as running:
        for compression in ('deflate', None):
            async with connect(running.ws + '/ws/mode', compression=compression) as ws:
                await ws.send('how?')
                assert await ws.recv() == expected
            async with connect(running.ws + '/ws/echo', compression=compression) as ws:
                text = 'compressible ' * 5000
                await ws.send(text)
                assert await ws.recv() == text
        if banner is not None:
            for _ in range(50):
                if 'writes:' in running.log():
                    break
                await asyncio.sleep(0.1)
            assert banner in running.log()
