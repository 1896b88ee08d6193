"""panther.direct_write: the frame bytes, and when a direct write is (not) allowed.

The real-server side (both uvicorn protocols, with and without permessage-deflate,
every frame-length boundary, ordering under back-pressure) is in
tests/test_websocket_server.py.
"""

from __future__ import annotations

import asyncio
import types

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from panther.config_loader import load_config
from panther.direct_write import direct_writer, wire_frame
from panther.exceptions import ConfigError
from tests.servers import ROOT, serve

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 200_000]


@pytest.mark.parametrize('size', SIZES)
def test_text_frames_match_the_websockets_library(size):
    text = 'ü' * (size // 2) + 'x' * (size % 2)
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert wire_frame(text) == expected


@pytest.mark.parametrize('size', SIZES)
def test_binary_frames_match_the_websockets_library(size):
    data = bytes(i % 251 for i in range(size))
    expected = Frame(Opcode.BINARY, data).serialize(mask=False, extensions=[])
    assert wire_frame(data) == expected


def test_unknown_servers_get_no_direct_writer():
    async def plain_send(message):
        pass

    class OtherProtocol:
        transport = object()

        async def send(self, message):
            pass

    assert direct_writer(plain_send) is None
    assert direct_writer(OtherProtocol().send) is None
    assert direct_writer(print) is None  # a builtin's __self__ is a module


class FakeTransport:
    def __init__(self):
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing


def _fake_protocol(module: str, qualname: str, **attributes):
    cls = type(qualname, (), {'send': lambda self, message: None})
    cls.__module__ = module
    cls.__qualname__ = qualname
    subclass = type('Subclassed', (cls,), {})  # e.g. a server that extends uvicorn's protocol
    protocol = subclass()
    protocol.__dict__.update(attributes)
    return protocol


def _legacy():
    completed, closed = asyncio.Event(), asyncio.Event()
    completed.set()
    encoded = []  # what went through the library's own frame writer: (fin, opcode, payload)
    return _fake_protocol(
        'uvicorn.protocols.websockets.websockets_impl', 'WebSocketProtocol',
        transport=FakeTransport(), _paused=False, state=State.OPEN, extensions=[],
        handshake_completed_event=completed, closed_event=closed, initial_response=None,
        encoded=encoded, write_frame_sync=lambda fin, opcode, data: encoded.append((fin, opcode, data)),
    )


def _fake_sansio_connection():
    """websockets' sans-I/O connection as far as the writer uses it."""
    conn = types.SimpleNamespace(state=State.OPEN, extensions=[], encoded=[], out=[])

    def encoder(opcode, name):
        def send(data):
            conn.encoded.append((True, opcode, data))
            conn.out.append(b'<%s %d>' % (name, len(data)))
        return send

    def data_to_send():
        out, conn.out = conn.out, []
        return out

    conn.send_text, conn.send_binary, conn.data_to_send = encoder(1, b'text'), encoder(2, b'binary'), data_to_send
    return conn


def _sansio():
    writable = asyncio.Event()
    writable.set()
    conn = _fake_sansio_connection()
    return _fake_protocol(
        'uvicorn.protocols.websockets.websockets_sansio_impl', 'WebSocketsSansIOProtocol',
        transport=FakeTransport(), writable=writable, close_sent=False, handshake_complete=True,
        disconnected=False, initial_response=None, conn=conn, encoded=conn.encoded,
    )


@pytest.mark.parametrize(
    ('make', 'on_conn', 'missing'),
    [
        (_legacy, False, 'initial_response'), (_legacy, False, 'extensions'), (_legacy, False, 'write_frame_sync'),
        (_sansio, False, 'initial_response'), (_sansio, True, 'extensions'), (_sansio, True, 'data_to_send'),
    ],
    ids=['websockets-initial_response', 'websockets-extensions', 'websockets-write_frame_sync',
         'sansio-initial_response', 'sansio-extensions', 'sansio-data_to_send'],
)
def test_a_protocol_missing_an_attribute_gets_the_asgi_path(make, on_conn, missing):
    """A uvicorn release that renames an internal must cost speed, not connections."""
    protocol = make()
    delattr(protocol.conn if on_conn else protocol, missing)
    assert direct_writer(protocol.send) is None


LEGACY_REFUSALS = {
    'paused': lambda p: setattr(p, '_paused', True),
    'closing state': lambda p: setattr(p, 'state', State.CLOSING),
    'handshake not done': lambda p: p.handshake_completed_event.clear(),
    'closed': lambda p: p.closed_event.set(),
    'rejected': lambda p: setattr(p, 'initial_response', (403, [], b'')),
    'transport closing': lambda p: setattr(p.transport, 'closing', True),
}

SANSIO_REFUSALS = {
    'paused': lambda p: p.writable.clear(),
    'closing state': lambda p: setattr(p.conn, 'state', State.CLOSING),
    'close sent': lambda p: setattr(p, 'close_sent', True),
    'handshake not done': lambda p: setattr(p, 'handshake_complete', False),
    'disconnected': lambda p: setattr(p, 'disconnected', True),
    'rejected': lambda p: setattr(p, 'initial_response', (403, [], b'')),
    'transport closing': lambda p: setattr(p.transport, 'closing', True),
}


@pytest.mark.parametrize('make', [_legacy, _sansio], ids=['websockets', 'websockets-sansio'])
def test_an_open_connection_without_extensions_is_written_directly(make):
    protocol = make()
    write = direct_writer(protocol.send)
    assert write is not None
    assert write(protocol.send, b'\x81\x01a') is True
    assert write(protocol.send, b'\x81\x01b') is True
    assert protocol.transport.written == [b'\x81\x01a', b'\x81\x01b']


@pytest.mark.parametrize('make', [_legacy, _sansio], ids=['websockets', 'websockets-sansio'])
@pytest.mark.parametrize(
    'payload', ['', 'a', 'é' * 63, 'x' * 125, 'x' * 126, 'x' * 65535, 'x' * 65536, b'', b'\x00\xff' * 70_000]
)
def test_with_an_extension_the_payload_goes_through_the_librarys_encoder(make, payload):
    """permessage-deflate compresses per connection: the shared frame is taken apart, not written."""
    protocol = make()
    (protocol.conn if hasattr(protocol, 'conn') else protocol).extensions.append(object())
    write = direct_writer(protocol.send)
    assert write(protocol.send, wire_frame(payload)) is True
    data = payload.encode() if isinstance(payload, str) else payload
    assert protocol.encoded == [(True, 1 if isinstance(payload, str) else 2, data)]
    if hasattr(protocol, 'conn'):  # sans-I/O: the connection's output is what reaches the socket
        kind = b'text' if isinstance(payload, str) else b'binary'
        assert protocol.transport.written == [b'<%s %d>' % (kind, len(data))]
    else:
        assert protocol.transport.written == []  # the library's writer wrote it


@pytest.mark.parametrize(
    ('make', 'spoil'),
    [*((_legacy, s) for s in LEGACY_REFUSALS.values()), *((_sansio, s) for s in SANSIO_REFUSALS.values())],
    ids=[*(f'websockets-{k}' for k in LEGACY_REFUSALS), *(f'sansio-{k}' for k in SANSIO_REFUSALS)],
)
def test_every_unsafe_moment_falls_back_to_asgi_and_writes_nothing(make, spoil):
    protocol = make()
    write = direct_writer(protocol.send)
    spoil(protocol)
    assert write(protocol.send, b'\x81\x01a') is False
    assert protocol.transport.written == []


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
    with serve('tests.apps.ws_server:app', cwd=ROOT, server='uvicorn', args=['--ws', 'websockets'], env=env) as server:
        async with connect(server.ws + '/ws/mode', compression=None) as ws:
            await ws.send('how?')
            assert await ws.recv() == 'asgi'
            await ws.send('again')
            assert await ws.recv() == 'asgi'


async def test_panther_run_gives_browser_like_clients_direct_writes_with_or_without_deflate():
    """docs/deployment.md: a client that asks for permessage-deflate gets direct writes either way."""
    from websockets.asyncio.client import connect

    for args, extensions in (([], ['permessage-deflate']), (['--ws-per-message-deflate', 'false'], [])):
        with serve('tests.apps.ws_server:app', cwd=ROOT, server='panther', args=args) as server:
            async with connect(server.ws + '/ws/mode') as ws:  # asks for permessage-deflate, as browsers do
                assert [e.name for e in ws.protocol.extensions] == extensions
                await ws.send('how?')
                assert await ws.recv() == 'direct'
            async with connect(server.ws + '/ws/echo') as ws:
                text = 'compressible ' * 5000
                await ws.send(text)
                assert await ws.recv() == text
