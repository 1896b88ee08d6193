"""An app with one API and one WebSocket per built-in JWT class, for the auth tests.

Imported in-process (tests build it from a configs module of their own) and
served in a subprocess (``tests.auth_app:app``; settings from the environment).
"""

from __future__ import annotations

import os

from panther import Panther
from panther.app import GenericAPI
from panther.authentications import CookieJWTAuthentication, JWTAuthentication, QueryParamJWTAuthentication
from panther.exceptions import BadRequestAPIError
from panther.websocket import GenericWebsocket

SECRET = 'auth-tests-secret-key-long-enough-for-hs512-' + 'x' * 20
KINDS = {'header': JWTAuthentication, 'query': QueryParamJWTAuthentication, 'cookie': CookieJWTAuthentication}


def _who(user) -> dict:
    return {'user': None if user is None else user.username, 'id': None if user is None else user.id}


class WhoWebsocket(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.send(_who(self.user))


class WhoAPI(GenericAPI):
    async def get(self, request):
        return _who(request.user)


class LogoutAPI(GenericAPI):
    auth = JWTAuthentication

    async def post(self, request):
        await JWTAuthentication.logout(request.headers.authorization)
        return {'logged_out': True}


class RefreshAPI(GenericAPI):
    async def post(self, request):
        token = (request.data or {}).get('refresh_token')
        if not token:
            raise BadRequestAPIError('refresh_token is required')
        return await JWTAuthentication.refresh(token)


URLS: dict = {
    'api/logout/': LogoutAPI,
    'api/refresh/': RefreshAPI,
}
for _kind, _cls in KINDS.items():
    URLS[f'api/{_kind}/'] = type(f'Who{_kind.title()}API', (WhoAPI,), {'auth': _cls})
    URLS[f'ws/{_kind}/'] = type(f'Who{_kind.title()}Websocket', (WhoWebsocket,), {'auth': _cls})

SECRET_KEY = SECRET
DATABASE = {'path': os.environ.get('AUTH_APP_DB', 'auth-app.sqlite3')}
if os.environ.get('AUTH_APP_REDIS_PORT'):
    REDIS = {'host': '127.0.0.1', 'port': int(os.environ['AUTH_APP_REDIS_PORT'])}

app = Panther(__name__, configs=__name__, urls=URLS)
