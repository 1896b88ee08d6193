"""A chat with rooms and a presence list.

Run it from this folder with ``panther run main:app`` (add ``--workers 4``, or set
REDIS below, to spread the rooms over several workers) and open
http://127.0.0.1:8000/?room=lobby&name=alice in two browser windows.

- ``ws/chat/<room>/?name=<name>``: one group per room (``chat:<room>``).
- Presence needs no shared store: a newcomer announces itself to the room; every
  browser already there answers with a ``here`` message, which the server turns
  into a ``present`` message sent straight to the newcomer's connection id,
  wherever it lives. Leaving (however the connection ends) is announced from
  ``disconnect``.
- Incoming messages are typed (``Incoming``): anything else gets a ``detail`` reply.

The user is named by the ``name`` query parameter for now; with JWT
authentication configured (``WS_AUTHENTICATION``), ``self.user`` would name it.
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from panther import Panther, status
from panther.app import API
from panther.response import HTMLResponse
from panther.websocket import GenericWebsocket, send_message_to_group, send_message_to_websocket

PAGE = (Path(__file__).parent / 'page.html').read_text(encoding='utf-8')  # read once, at start-up


class Incoming(BaseModel):
    type: Literal['say', 'here']
    text: str = Field(default='', max_length=2000)
    to: str = ''


class ChatWebsocket(GenericWebsocket):
    async def connect(self, room: str):
        name = self.query_params.get('name', '').strip()[:40]
        if not name:
            await self.close(status.WS_1008_POLICY_VIOLATION, 'a name is required')
            return
        self.name, self.room = name, f'chat:{room}'
        await self.accept()
        await self.join_group(self.room)
        await self.send({'type': 'welcome', 'id': self.connection_id, 'name': name, 'room': room})
        await send_message_to_group(self.room, self._me('join'), exclude=self.connection_id)

    async def receive(self, data: Incoming):
        if data.type == 'say' and data.text.strip():
            await send_message_to_group(self.room, {'type': 'message', 'name': self.name, 'text': data.text})
        elif data.type == 'here' and data.to:
            await send_message_to_websocket(data.to, self._me('present'))

    async def disconnect(self, code: int):
        if hasattr(self, 'room'):
            await send_message_to_group(self.room, self._me('leave'), exclude=self.connection_id)

    def _me(self, kind: str) -> dict:
        return {'type': kind, 'id': self.connection_id, 'name': self.name}


@API()
async def page():
    return HTMLResponse(PAGE)


URLS = {
    '': page,
    'ws/chat/<room>/': ChatWebsocket,
}

app = Panther(__name__, configs=__name__, urls=URLS)
