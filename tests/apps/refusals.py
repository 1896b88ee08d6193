"""Every way a handshake is refused (tests/test_handshake_refusals.py)."""

import os

from panther import Panther
from panther.exceptions import AuthenticationAPIError
from panther.websocket import GenericWebsocket


class TokenAuth:
    async def __call__(self, connection):
        if connection.query_params.get('token') != 'good':
            raise AuthenticationAPIError('Token expired')
        return {'id': 1}


async def never(connection) -> bool:
    return False


class Open(GenericWebsocket):
    async def connect(self, number: int):
        await self.accept()
        await self.send(f'number {number}')


class Guarded(GenericWebsocket):
    auth = TokenAuth
    permissions = [never]

    async def connect(self, **kwargs):
        await self.accept()


class Authed(GenericWebsocket):
    auth = TokenAuth

    async def connect(self, **kwargs):
        await self.accept()
        await self.send('welcome')


class Shy(GenericWebsocket):
    async def connect(self, **kwargs):
        pass  # never accepts


WS_HANDSHAKE_TIMEOUT = float(os.environ.get('TEST_HANDSHAKE_TIMEOUT', '10'))
URLS = {'ws/open/<number>/': Open, 'ws/guarded/': Guarded, 'ws/authed/': Authed, 'ws/shy/': Shy}
WS_PING_INTERVAL = None

app = Panther(__name__, configs=__name__)
