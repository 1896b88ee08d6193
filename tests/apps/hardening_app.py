"""The app the hardening tests serve with ``panther run``: what a client can put in the log, and where
a token may travel.

    HARDENING_DB=/tmp/x.sqlite3 panther run tests.apps.hardening_app:app

Settings from the environment: ``HARDENING_DB`` (the SQLite file holding the users),
``HARDENING_WS_AUTHENTICATION`` (a dotted path for ``WS_AUTHENTICATION``) and
``HARDENING_ALLOWED_ORIGINS`` (JSON for ``WS_ALLOWED_ORIGINS``).
"""

from __future__ import annotations

import json
import os

from panther import Panther
from panther.app import API, GenericAPI
from panther.authentications import BaseAuthentication, CookieJWTAuthentication, QueryParamJWTAuthentication
from panther.websocket import GenericWebsocket

SECRET = 'hardening-tests-secret-key-long-enough-' + 'x' * 20
SECRET_KEY = SECRET
DATABASE = {'path': os.environ.get('HARDENING_DB', 'hardening.sqlite3')}
if os.environ.get('HARDENING_WS_AUTHENTICATION'):
    WS_AUTHENTICATION = os.environ['HARDENING_WS_AUTHENTICATION']
if os.environ.get('HARDENING_ALLOWED_ORIGINS'):
    WS_ALLOWED_ORIGINS = json.loads(os.environ['HARDENING_ALLOWED_ORIGINS'])


def _who(user) -> dict:
    return {'user': None if user is None else user.username}


class WhoWebsocket(GenericWebsocket):
    """Says who the handshake authenticated as, then closes."""

    async def connect(self, **kwargs):
        await self.accept()
        await self.send(_who(self.user))


class WhoAPI(GenericAPI):
    auth = QueryParamJWTAuthentication

    async def get(self, request):
        return _who(request.user)


class KeyAuthentication(BaseAuthentication):
    """Refuses with a reason that quotes the client's ``?key=``, as custom authentications do."""

    async def __call__(self, connection):
        raise self.fail(f'unknown key {connection.query_params.get("key")}')


async def raising_authentication(connection):
    """Fails with an exception (not a refusal) whose message quotes the client's ``?key=``."""
    raise ValueError(f'bad key {connection.query_params.get("key")}')


async def never(connection) -> bool:
    return False


class ItemWebsocket(WhoWebsocket):
    async def connect(self, number: int):
        await super().connect()


@API(auth=raising_authentication)
async def raising_api():
    return {}


@API()
async def boom():
    raise RuntimeError('failed on purpose')


URLS = {
    'ws/query/': type('QueryWebsocket', (WhoWebsocket,), {'auth': QueryParamJWTAuthentication}),
    'ws/cookie/': type('CookieWebsocket', (WhoWebsocket,), {'auth': CookieJWTAuthentication}),
    'ws/default/': WhoWebsocket,
    'ws/item/<number>/': ItemWebsocket,
    'ws/guarded/': type('GuardedWebsocket', (WhoWebsocket,), {'permissions': [never]}),
    'ws/keyed/': type('KeyedWebsocket', (WhoWebsocket,), {'auth': KeyAuthentication}),
    'ws/raising/': type('RaisingWebsocket', (WhoWebsocket,), {'auth': raising_authentication}),
    'api/query/': WhoAPI,
    'api/raising/': raising_api,
    'boom/': boom,
}

app = Panther(__name__, configs=__name__, urls=URLS)
