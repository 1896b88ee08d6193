"""A JWT app for tests against a real ``panther run``; no ``DATABASE`` (the embedded default file).

Environment: ``JWT_APP_KEYLESS=1`` leaves out ``SECRET_KEY`` (the JWT classes warn at
start-up and refuse every token); ``JWT_APP_REDIS_PORT`` sets ``REDIS``;
``JWT_APP_CACHE_TTL`` sets ``AUTH_CACHE_TTL`` (``off``: None).

Routes: ``ws/`` (``QueryParamJWTAuthentication``) and ``ws/pid/`` (the same, and a
refusal also logs ``refused in pid <pid>``) send ``{"user", "id", "pid"}``;
``api/users/`` (POST) creates a user; ``api/users/<id>/`` (DELETE) deletes one;
``api/token/<id>/`` signs an access token; ``api/logout/`` revokes the bearer token.
"""

import logging
import os

from panther import Panther
from panther.app import GenericAPI
from panther.authentications import JWTAuthentication, QueryParamJWTAuthentication
from panther.db.models import BaseUser
from panther.exceptions import AuthenticationAPIError
from panther.websocket import GenericWebsocket

if not os.environ.get('JWT_APP_KEYLESS'):
    SECRET_KEY = 'jwt-app-tests-secret-key-0123456789abcdef'
if os.environ.get('JWT_APP_REDIS_PORT'):
    REDIS = {'host': '127.0.0.1', 'port': int(os.environ['JWT_APP_REDIS_PORT'])}
if os.environ.get('JWT_APP_CACHE_TTL'):
    AUTH_CACHE_TTL = None if os.environ['JWT_APP_CACHE_TTL'] == 'off' else float(os.environ['JWT_APP_CACHE_TTL'])
WS_PING_INTERVAL = None

logger = logging.getLogger('panther')


class PidQueryParamJWT(QueryParamJWTAuthentication):
    """Says which worker refused, so a test can tell that every worker did."""

    async def __call__(self, connection):
        try:
            return await super().__call__(connection)
        except AuthenticationAPIError:
            logger.warning('refused in pid %d', os.getpid())
            raise


class Who(GenericWebsocket):
    auth = QueryParamJWTAuthentication

    async def connect(self):
        await self.accept()
        user = self.user
        await self.send({'user': user and user.username, 'id': user and user.id, 'pid': os.getpid()})


class PidWho(Who):
    auth = PidQueryParamJWT


class Users(GenericAPI):
    async def post(self, request):
        user = await BaseUser.create_user(request.data['username'], 'a passphrase')
        return {'id': user.id}


class OneUser(GenericAPI):
    async def delete(self, user_id: int):
        return {'deleted': await BaseUser.delete_one(id=user_id), 'pid': os.getpid()}


class Token(GenericAPI):
    async def get(self, user_id: int):
        return {'access_token': JWTAuthentication.encode_token(user_id)}


class Logout(GenericAPI):
    async def post(self, request):
        await JWTAuthentication.logout(request.headers.authorization)
        return {'logged_out': True, 'pid': os.getpid()}


URLS = {
    'ws/': Who,
    'ws/pid/': PidWho,
    'api/users/': Users,
    'api/users/<user_id>/': OneUser,
    'api/token/<user_id>/': Token,
    'api/logout/': Logout,
}

app = Panther(__name__, configs=__name__, urls=URLS)
