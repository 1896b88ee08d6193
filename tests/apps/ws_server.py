"""A test app served by a real server: echo, and HTTP triggers that reach a connection by id.

    uvicorn tests.apps.ws_server:app
"""

import asyncio
import os
import secrets

import orjson

from panther import Panther
from panther.app import API
from panther.frames import FRAMES_EXTENSION
from panther.websocket import (
    GenericWebsocket,
    close_websocket_connection,
    send_message_to_group,
    send_message_to_websocket,
)

# The burst test keeps thousands of pushes waiting for a client that reads late; the server
# matrix lowers it so that a client that never reads is cut off quickly.
WS_SEND_QUEUE_SIZE = int(os.environ.get('PANTHER_TEST_QUEUE', '100000'))
WS_PING_INTERVAL = None
# Where disconnect() hooks note their codes (the shutdown scenario reads it).
DISCONNECT_LOG = os.environ.get('PANTHER_TEST_DISCONNECT_LOG')
# tests/test_direct_write.py switches direct writes off to see every send take the ASGI path.
WS_DIRECT_WRITE = os.environ.get('PANTHER_TEST_DIRECT_WRITE', '1') == '1'


def _note_disconnect(connection_id: str | None, code: int) -> None:
    if DISCONNECT_LOG:
        with open(DISCONNECT_LOG, 'a') as log:
            log.write(f'{connection_id} {code}\n')


class EchoWebsocket(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data: str | bytes):
        await self.send(data)

    async def disconnect(self, code: int):
        _note_disconnect(self.connection_id, code)


class GroupWebsocket(GenericWebsocket):
    """Joins group ``name``, says ``joined <connection id>``, then echoes."""

    async def connect(self, name: str):
        await self.accept()
        await self.join_group(name)
        await self.send(f'joined {self.connection_id}')

    async def receive(self, data: str | bytes):
        await self.send(data)


class IdWebsocket(GenericWebsocket):
    """Tells the client its connection id first, then echoes."""

    async def connect(self, **kwargs):
        await self.accept()
        await self.send(self.connection_id)

    async def receive(self, data: str | bytes):
        await self.send(data)

    async def disconnect(self, code: int):
        _note_disconnect(self.connection_id, code)


class WriteModeWebsocket(GenericWebsocket):
    """Answers any message with whether the server offers the frame fast path: 'direct' (panther.frames) or 'asgi'."""

    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        offered = FRAMES_EXTENSION in (self.scope.get('extensions') or {}) and WS_DIRECT_WRITE
        await self.send('direct' if offered else 'asgi')


class BurstWebsocket(GenericWebsocket):
    """On ``{"n": N, "size": S}``: N own sends ``s<i>`` interleaved with N pushes ``p<i>`` from another task.

    The client reads late, so the transport pauses midway and the sends switch between
    direct writes, awaited ASGI sends and the outbox; each stream must still arrive in order.
    Ends with ``done queued=<whether pushes ever had to queue>`` and then closes with 4000.
    """

    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        job = orjson.loads(data)
        size = job['size']

        def pad():  # random, so permessage-deflate cannot shrink the burst below the socket buffers
            return secrets.token_hex(size // 2)

        async def pusher():
            for i in range(job['n']):
                await send_message_to_websocket(self.connection_id, f'p{i}:{pad()}')
                if i % 7 == 0:
                    await asyncio.sleep(0)

        task = asyncio.ensure_future(pusher())
        queued = False
        for i in range(job['n']):
            await self.send(f's{i}:{pad()}')
            queued = queued or app.runtime.registry.get(self.connection_id).high_water > 0
            if i % 5 == 0:
                await asyncio.sleep(0)
        await task
        await self.send(f'done queued={queued}')
        await self.close(4000, 'burst over')


class CrashWebsocket(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data: str | bytes):
        raise RuntimeError(f'receive crashed on {data!r}')


@API(methods=['POST'])
async def send_to(request, connection_id: str):
    await send_message_to_websocket(connection_id, request.data['data'])
    return {'sent': True}


@API(methods=['POST'])
async def close(request, connection_id: str):
    await close_websocket_connection(connection_id, code=request.data['code'], reason=request.data['reason'])
    return {'closed': True}


@API(methods=['POST'])
async def push_many(request, connection_id: str):
    """``n`` numbered pushes of ``size`` bytes to one connection, from this HTTP request."""
    n, size = int(request.query_params.get('n', '200')), int(request.query_params.get('size', '0'))
    pad = 'x' * size
    for i in range(n):
        await send_message_to_websocket(connection_id, f'{i}:{pad}')
    return {'sent': n}


@API(methods=['POST'])
async def to_group(request, name: str):
    """``data`` to group ``name``; with ``?n=N&size=S``, N numbered messages of S bytes instead."""
    n = request.query_params.get('n')
    if n is None:
        await send_message_to_group(name, request.data['data'])
        return {'sent': 1}
    pad = 'x' * int(request.query_params.get('size', '0'))
    for i in range(int(n)):
        await send_message_to_group(name, f'{i}:{pad}')
        if i % 100 == 0:
            await asyncio.sleep(0)  # let the server write and the fast members read
    return {'sent': int(n)}


@API()
async def registry():
    return {'connections': len(app.runtime.registry)}


URLS = {
    'ws/echo': EchoWebsocket,
    'ws/id': IdWebsocket,
    'ws/crash': CrashWebsocket,
    'ws/mode': WriteModeWebsocket,
    'ws/burst': BurstWebsocket,
    'ws/group/<name>': GroupWebsocket,
    'api/push/<connection_id>/': push_many,
    'api/group/<name>/': to_group,
    'api/send/<connection_id>/': send_to,
    'api/close/<connection_id>/': close,
    'api/registry': registry,
}

app = Panther(__name__, configs=__name__)
