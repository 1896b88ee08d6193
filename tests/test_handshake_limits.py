"""Floods below the framework (panther's uvicorn protocols, ``panther run``): a request head that never
completes is cut at WS_HANDSHAKE_TIMEOUT, an oversized one gets 431, and pings from a client that never
reads are not answered while its buffer is full."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from websockets.asyncio.client import connect

from tests.raw_ws import RawClient
from tests.servers import ROOT, serve

HANDSHAKE = (b'GET /ws/open/1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
             b'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n')


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed ``sock`` within ``seconds``, and what it sent before."""
    sock.settimeout(seconds)
    received = b''
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True, received
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        return True, received


@pytest.fixture(scope='module')
def server():
    with serve('tests.apps.refusals:app', cwd=ROOT, env={'TEST_HANDSHAKE_TIMEOUT': '0.5'}) as running:
        yield running


def test_a_half_sent_handshake_is_closed_at_the_timeout(server):
    sockets = []
    for _ in range(20):
        sock = socket.create_connection(('127.0.0.1', server.port))
        sock.sendall(HANDSHAKE[:40])  # the request line and part of a header, then nothing
        sockets.append(sock)
    silent = socket.create_connection(('127.0.0.1', server.port))  # connects and sends nothing at all
    started = time.monotonic()
    for sock in [*sockets, silent]:
        closed, _ = _closed_within(sock, 3)
        assert closed
        sock.close()
    assert time.monotonic() - started < 3
    assert 'WS_HANDSHAKE_TIMEOUT' in server.log()


async def test_a_complete_handshake_in_time_is_served(server):
    async with connect(server.ws + '/ws/open/5/') as ws:
        assert await asyncio.wait_for(ws.recv(), 10) == 'number 5'


@pytest.mark.parametrize('head', [
    HANDSHAKE + b'X-Big: ' + b'a' * 9000 + b'\r\n\r\n',  # one huge header, complete
    HANDSHAKE + b'X-Big: ' + b'a' * 9000,  # one huge header that never ends
    HANDSHAKE + b''.join(b'X-%d: v\r\n' % i for i in range(200)) + b'\r\n',  # too many lines
], ids=['huge-header', 'endless-header', 'many-headers'])
def test_an_oversized_head_is_answered_431_and_closed(server, head):
    sock = socket.create_connection(('127.0.0.1', server.port))
    sock.sendall(head)
    closed, received = _closed_within(sock, 2)
    sock.close()
    assert closed
    assert received.startswith(b'HTTP/1.1 431 ')
    assert received.endswith(b'{"detail":"Request Header Fields Too Large"}')


def test_pongs_are_not_buffered_for_a_client_that_never_reads(server):
    """While the client's buffer is full (the transport is paused), pings get no pong: what a
    ping-flooding client that never reads can make the server hold is bounded by the buffer."""
    client = RawClient(server.ws + '/ws/open/1/', receive_buffer=4096)
    sent = 100_000  # x 122 bytes of pong: far past the kernel's buffers
    for _ in range(sent // 10_000):
        for _ in range(10_000):
            client.protocol.send_ping(b'x' * 120)  # a pong carries the ping's payload back
        client._flush()
    time.sleep(0.5)
    drained = client.drain(timeout=3)
    pongs = sum(1 for frame in drained.frames if frame.opcode.name == 'PONG')
    assert not drained.eof and drained.close is None  # still connected: only pongs were skipped
    assert 0 < pongs < sent, pongs  # answered until the buffer filled, then dropped
    client.close()
