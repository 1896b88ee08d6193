"""A chat with rooms and a presence list.

Run it from this folder with ``panther run main:app`` (add ``--workers 4``, or set
``REDIS_URL``, to spread the rooms over several workers) and open
http://127.0.0.1:8000 in two browser windows: sign in with any name and password
(the first sign-in of a name creates that user) and pick a room.

- ``POST api/signin/`` answers a JWT access token; the page opens
  ``ws/chat/<room>/?authorization=<token>``. ``QueryParamJWTAuthentication`` and
  ``IsAuthenticated`` guard the socket, so the name shown is the signed-in user's.
- One group per room (``chat:<room>``).
- Presence needs no shared store: a newcomer announces itself to the room; every
  browser already there answers with a ``here`` message, which the server turns
  into a ``present`` message sent straight to the newcomer's connection id,
  wherever it lives. Leaving (however the connection ends) is announced from
  ``disconnect``.
- Incoming messages are typed (``Incoming``): anything else gets a ``detail`` reply.
"""

import asyncio
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from panther import Panther, status
from panther.app import API, GenericAPI
from panther.authentications import JWTAuthentication, QueryParamJWTAuthentication
from panther.db import DuplicateError
from panther.db.models import BaseUser
from panther.exceptions import AuthenticationAPIError, BadRequestAPIError
from panther.permissions import IsAuthenticated
from panther.response import HTMLResponse
from panther.websocket import GenericWebsocket, send_message_to_group, send_message_to_websocket

# Set SECRET_KEY in the environment for anything but a local try-out.
SECRET_KEY = os.environ.get('SECRET_KEY', 'chat-example-dev-key-change-me-please')
DATABASE = {'path': os.environ.get('CHAT_DB', 'chat.sqlite3')}
if os.environ.get('REDIS_URL'):
    REDIS = {'url': os.environ['REDIS_URL']}  # rooms shared by every worker on every machine

PAGE = (Path(__file__).parent / 'page.html').read_text(encoding='utf-8')  # read once, at start-up


class Incoming(BaseModel):
    type: Literal['say', 'here']
    text: str = Field(default='', max_length=2000)
    to: str = ''


class ChatWebsocket(GenericWebsocket):
    auth = QueryParamJWTAuthentication
    permissions = [IsAuthenticated]

    async def connect(self, room: str):
        if len(room) > 40:
            await self.close(status.WS_1008_POLICY_VIOLATION, 'room name too long')
            return
        await self.accept()
        await self.join_group(self.room)
        await self.send({'type': 'welcome', 'id': self.connection_id, 'name': self.name, 'room': room})
        await send_message_to_group(self.room, self._me('join'), exclude=self.connection_id)

    async def receive(self, data: Incoming):
        if data.type == 'say' and data.text.strip():
            await send_message_to_group(self.room, {'type': 'message', 'name': self.name, 'text': data.text})
        elif data.type == 'here' and data.to:
            await send_message_to_websocket(data.to, self._me('present'))

    async def disconnect(self, code: int):
        await send_message_to_group(self.room, self._me('leave'), exclude=self.connection_id)

    # Read from the handshake: nothing to keep in sync with what connect() was given.
    @property
    def room(self) -> str:
        return f"chat:{self.path_variables['room']}"

    @property
    def name(self) -> str:
        return self.user.username

    def _me(self, kind: str) -> dict:
        return {'type': kind, 'id': self.connection_id, 'name': self.name}


class SignInAPI(GenericAPI):
    """Sign in; the first sign-in of a name creates that user (a demo convenience)."""

    async def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        username, password = data.get('username'), data.get('password')
        if not isinstance(username, str) or not isinstance(password, str):
            raise BadRequestAPIError('Send {"username": ..., "password": ...}')
        username = username.strip()
        if not 0 < len(username) <= 40 or not password:
            raise BadRequestAPIError('A name (up to 40 characters) and a password are needed')
        user = await BaseUser.find_one(username=username)
        if user is None:
            try:
                user = await BaseUser.create_user(username, password)
            except DuplicateError:  # signed up concurrently under the same name
                user = await BaseUser.find_one(username=username)
        # check_password hashes (scrypt, ~50 ms): keep it off the event loop.
        if user is None or not await asyncio.to_thread(user.check_password, password):
            raise AuthenticationAPIError('Wrong password for that name')
        return await JWTAuthentication.login(user)


@API()
async def page():
    return HTMLResponse(PAGE)


URLS = {
    '': page,
    'api/signin/': SignInAPI,
    'ws/chat/<room>/': ChatWebsocket,
}

app = Panther(__name__, configs=__name__, urls=URLS)
