"""An app with METRICS_PATH and HEALTH_PATH, for tests/test_metrics_server.py.

``METRICS_TEST_REDIS`` (a redis:// url) switches the bus to Redis.
"""

import os

from panther import Panther
from panther.exceptions import AuthenticationAPIError
from panther.websocket import GenericWebsocket, send_message_to_group


class Echo(GenericWebsocket):
    """Echoes; 'pid' answers with the worker's pid; 'close:<code>' closes with that code."""

    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        if data == 'pid':
            await self.send(str(os.getpid()))
        elif isinstance(data, str) and data.startswith('close:'):
            await self.close(int(data[6:]))
        else:
            await self.send(data)


class Room(GenericWebsocket):
    """Joins the room; 'pid' answers with the worker's pid, anything else goes to the whole room."""

    async def connect(self, room: str):
        await self.accept()
        await self.join_group(room)
        self.room = room

    async def receive(self, data):
        if data == 'pid':
            await self.send(str(os.getpid()))
        else:
            await send_message_to_group(self.room, data)


class TokenAuth:
    async def __call__(self, connection):
        if connection.query_params.get('token') != 'good':
            raise AuthenticationAPIError('bad token')
        return {'id': 1}


async def never(connection) -> bool:
    return False


class Number(GenericWebsocket):
    async def connect(self, number: int):
        await self.accept()


class Authed(GenericWebsocket):
    auth = TokenAuth

    async def connect(self, **kwargs):
        await self.accept()


class Forbidden(GenericWebsocket):
    permissions = [never]


class Shy(GenericWebsocket):
    async def connect(self, **kwargs):
        pass  # never accepts


METRICS_PATH = '/metrics'
HEALTH_PATH = '/health'
WS_PING_INTERVAL = None
URLS = {
    'ws/echo/': Echo,
    'ws/room/<room>/': Room,
    'ws/number/<number>/': Number,
    'ws/authed/': Authed,
    'ws/forbidden/': Forbidden,
    'ws/shy/': Shy,
}
if os.environ.get('METRICS_TEST_REDIS'):
    REDIS = {'url': os.environ['METRICS_TEST_REDIS']}

app = Panther(__name__, configs=__name__)
