"""Notifications: a JWT-protected WebSocket per user, and an API that pushes to it.

Run it from this folder::

    panther createuser main:app          # asks a username and password
    panther run main:app                 # then open http://127.0.0.1:8000

Every browser tab that signs in opens ``/ws/notifications/?authorization=<access token>``;
the connection joins the group ``user:<id>``, which is how the app remembers each
user's live connection ids (on every worker, and gone when the connection is).
``POST /api/notify/<user_id>/`` looks those ids up, sends to each of them and answers
with how many were reached (a count: connection ids are the other user's to know).
"""

from __future__ import annotations

import asyncio
import os

from panther import Panther, status
from panther.app import API, GenericAPI
from panther.authentications import JWTAuthentication, QueryParamJWTAuthentication
from panther.db import DuplicateError
from panther.db.models import BaseUser
from panther.exceptions import AuthenticationAPIError, BadRequestAPIError
from panther.permissions import IsAuthenticated
from panther.response import HTMLResponse, Response
from panther.websocket import GenericWebsocket, group_members, send_message_to_websocket

# Set SECRET_KEY in the environment for anything but a local try-out.
SECRET_KEY = os.environ.get('SECRET_KEY', 'notifications-example-dev-key-change-me-please')
DATABASE = {'path': os.environ.get('NOTIFICATIONS_DB', 'notifications.sqlite3')}
if os.environ.get('REDIS_URL'):
    REDIS = {'url': os.environ['REDIS_URL']}  # logout and multi-machine delivery


def user_group(user_id: int) -> str:
    return f'user:{user_id}'


class NotificationWebsocket(GenericWebsocket):
    auth = QueryParamJWTAuthentication
    permissions = [IsAuthenticated]

    async def connect(self):
        await self.accept()
        await self.join_group(user_group(self.user.id))
        await self.send({'type': 'connected', 'user_id': self.user.id, 'username': self.user.username,
                         'connection_id': self.connection_id})

    async def receive(self, data: str | bytes):
        await self.send({'type': 'error', 'detail': 'this socket only receives notifications'})


def _credentials(request) -> tuple[str, str]:
    data = request.data if isinstance(request.data, dict) else {}
    username, password = data.get('username'), data.get('password')
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise BadRequestAPIError('Send {"username": ..., "password": ...}')
    return username, password


class RegisterAPI(GenericAPI):
    async def post(self, request):
        username, password = _credentials(request)
        try:
            user = await BaseUser.create_user(username, password)
        except DuplicateError:
            raise BadRequestAPIError('That username is taken') from None
        return Response({'id': user.id, 'username': user.username}, status_code=status.HTTP_201_CREATED)


class LoginAPI(GenericAPI):
    async def post(self, request):
        username, password = _credentials(request)
        user = await BaseUser.find_one(username=username)
        # check_password hashes (scrypt, ~50 ms): keep it off the event loop.
        if user is None or not await asyncio.to_thread(user.check_password, password):
            raise AuthenticationAPIError('Wrong username or password')
        return {'user_id': user.id, **await JWTAuthentication.login(user)}


class NotifyAPI(GenericAPI):
    auth = JWTAuthentication
    permissions = [IsAuthenticated]

    async def post(self, request, user_id: int):
        data = request.data if isinstance(request.data, dict) else {}
        connection_ids = await group_members(user_group(user_id))
        notification = {'type': 'notification', 'from': request.user.username, 'message': data.get('message')}
        for connection_id in connection_ids:
            await send_message_to_websocket(connection_id, notification)
        # A count, never the ids: any signed-in user may call this for any user id.
        return {'delivered': len(connection_ids)}


@API()
async def main_page():
    return HTMLResponse(PAGE)


URLS = {
    '': main_page,
    'ws/notifications/': NotificationWebsocket,
    'api/': {
        'register/': RegisterAPI,
        'login/': LoginAPI,
        'notify/<user_id>/': NotifyAPI,
    },
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>panther notifications</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
    fieldset { margin-bottom: 1rem; }
    #inbox { list-style: none; padding: 0; }
    #inbox li { padding: .25rem 0; border-bottom: 1px solid #eee; }
    #status { color: #666; }
  </style>
</head>
<body>
  <h1>panther notifications</h1>
  <p id="status">signed out</p>
  <form id="login">
    <fieldset>
      <input id="username" placeholder="username" autocomplete="username" required>
      <input id="password" type="password" placeholder="password" autocomplete="current-password" required>
      <button type="submit">Sign in</button>
      <button type="button" id="register">Sign up</button>
    </fieldset>
  </form>
  <form id="notify">
    <fieldset>
      <input id="to" type="number" min="1" placeholder="user id" required>
      <input id="message" placeholder="message" autocomplete="off" required>
      <button type="submit" id="send" disabled>Notify</button>
    </fieldset>
  </form>
  <ul id="inbox"></ul>
  <script type="module">
    // The browser client every panther app serves: it reconnects and resumes by itself.
    import { connect } from '/_panther/panther.js';

    const $ = (id) => document.getElementById(id);
    let token = null;
    let socket = null;
    const post = (url, body, headers = {}) => fetch(url, {
      method: 'POST', headers: {'Content-Type': 'application/json', ...headers}, body: JSON.stringify(body),
    }).then(async (r) => ({ok: r.ok, data: await r.json()}));
    const credentials = () => ({username: $('username').value, password: $('password').value});

    function listen(access) {
      if (socket) socket.close();
      socket = connect('/ws/notifications/', {token: access});
      socket.addEventListener('message', (event) => {
        const data = JSON.parse(event.data);
        if (data.type === 'connected') {
          $('status').textContent = `signed in as ${data.username} (user id ${data.user_id})`;
          $('send').disabled = false;
          return;
        }
        const item = document.createElement('li');
        item.className = 'notification';
        item.textContent = `${data.from}: ${data.message}`;
        $('inbox').appendChild(item);
      });
      socket.addEventListener('gap', () => { $('status').textContent += ' (reconnected: some may be missing)'; });
      socket.addEventListener('close', (event) => {
        $('status').textContent = `disconnected (${event.code})`;
        $('send').disabled = true;
      });
    }

    $('login').onsubmit = async (event) => {
      event.preventDefault();
      const answer = await post('/api/login/', credentials());
      if (!answer.ok) { $('status').textContent = answer.data.detail; return; }
      token = answer.data.access_token;
      listen(token);
    };
    $('register').onclick = async () => {
      const answer = await post('/api/register/', credentials());
      $('status').textContent = answer.ok ? `user ${answer.data.id} created: sign in` : answer.data.detail;
    };
    $('notify').onsubmit = async (event) => {
      event.preventDefault();
      await post(`/api/notify/${$('to').value}/`, {message: $('message').value}, {Authorization: `Bearer ${token}`});
      $('message').value = '';
    };
  </script>
</body>
</html>
"""

app = Panther(__name__, configs=__name__, urls=URLS)
