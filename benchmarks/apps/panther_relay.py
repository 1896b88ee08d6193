"""Relay: one connection sends a message to another connection by its id.

Runs unchanged on this repository's panther and on the reference 5.5.0.  After
the handshake the server sends the connection's ``connection_id`` as a text
frame; a text message ``{"to": "<id>", "data": "<text>"}`` is delivered with
``send_message_to_websocket`` to that connection.
"""

import json

from panther import Panther
from panther.websocket import GenericWebsocket, send_message_to_websocket


class Relay(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        await self.send(self.connection_id)

    async def receive(self, data):
        envelope = json.loads(data)
        await send_message_to_websocket(envelope['to'], envelope['data'])


app = Panther(__name__, configs=__name__, urls={'ws/relay': Relay})
