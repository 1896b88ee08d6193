"""A test app served by a real server: echo, and HTTP triggers that reach a connection by id.

    uvicorn tests.apps.ws_server:app
"""

import asyncio
import os
import secrets

import orjson

from panther import Panther
from panther.app import API
from panther.direct_write import wire_frame
from panther.websocket import GenericWebsocket, close_websocket_connection, send_message_to_websocket

# The burst test keeps thousands of pushes waiting for a client that reads late.
WS_SEND_QUEUE_SIZE = 100_000
# tests/test_direct_write.py switches direct writes off to see every send take the ASGI path.
WS_DIRECT_WRITE = os.environ.get('PANTHER_TEST_DIRECT_WRITE', '1') == '1'


class EchoWebsocket(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data: str | bytes):
        await self.send(data)


class IdWebsocket(GenericWebsocket):
    """Tells the client its connection id first, then echoes."""

    async def connect(self, **kwargs):
        await self.accept()
        await self.send(self.connection_id)

    async def receive(self, data: str | bytes):
        await self.send(data)


class WriteModeWebsocket(GenericWebsocket):
    """Answers any message with how a send reaches the socket now: 'direct' (panther.direct_write) or 'asgi'."""

    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        if self._direct is not None and self._direct(self._asgi_send, wire_frame('direct')):
            return
        await self.send('asgi')


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
            queued = queued or bool(self._outbox)
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


@API()
async def registry():
    return {'connections': len(app.runtime.registry)}


URLS = {
    'ws/echo': EchoWebsocket,
    'ws/id': IdWebsocket,
    'ws/crash': CrashWebsocket,
    'ws/mode': WriteModeWebsocket,
    'ws/burst': BurstWebsocket,
    'api/send/<connection_id>/': send_to,
    'api/close/<connection_id>/': close,
    'api/registry': registry,
}

app = Panther(__name__, configs=__name__)
