"""A test app served by a real server: echo, and HTTP triggers that reach a connection by id.

    uvicorn tests.apps.ws_server:app
"""

from panther import Panther
from panther.app import API
from panther.websocket import GenericWebsocket, close_websocket_connection, send_message_to_websocket


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
    'api/send/<connection_id>/': send_to,
    'api/close/<connection_id>/': close,
    'api/registry': registry,
}

app = Panther(__name__, configs=__name__)
