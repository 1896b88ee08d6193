"""Echo behind JWT authentication, for the ``handshakes --auth jwt`` scenario.

Clients pass an access token as ``?authorization=<token>``
(``QueryParamJWTAuthentication``); a handshake without a valid token is
rejected.  ``GET /token`` creates a user and returns its tokens
(``JWTAuthentication.login``); the runner calls it once before the load.

One conditional, documented here because it is unavoidable: panther 5.5.0 has
no default database, so for it ``DATABASE`` names its file engine (PantherDB,
in the server's scratch directory); ours uses its embedded default.  Both read
this module as their configuration.
"""

import uuid

import panther
from panther import Panther, status
from panther.app import API
from panther.authentications import JWTAuthentication
from panther.db.models import BaseUser
from panther.websocket import GenericWebsocket

SECRET_KEY = 'benchmark-only-secret-key-0123456789abcdef'
AUTHENTICATION = 'panther.authentications.JWTAuthentication'
WS_AUTHENTICATION = 'panther.authentications.QueryParamJWTAuthentication'
USER_MODEL = 'panther.db.models.BaseUser'

if getattr(panther, '__version__', '').startswith('5.'):
    DATABASE = {
        'engine': {
            'class': 'panther.db.connections.PantherDBConnection',
            'path': 'benchmark.pdb',
        }
    }


class AuthEcho(GenericWebsocket):
    async def connect(self, **kwargs):
        if self.user is None:
            await self.close(code=status.WS_1008_POLICY_VIOLATION)
            return
        await self.accept()

    async def receive(self, data):
        await self.send(data)


@API()
async def token_api():
    user = await BaseUser.insert_one(username=f'bench-{uuid.uuid4().hex}', password='x')
    return await JWTAuthentication.login(user)


app = Panther(__name__, configs=__name__, urls={'ws/echo': AuthEcho, 'token': token_api})
