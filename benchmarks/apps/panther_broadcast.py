"""Broadcast with the reference's documented recipe: loop over stored ids.

Runs unchanged on this repository's panther and on the reference 5.5.0.
Receivers connect to ``ws/listen`` (their ``connection_id`` is stored in a
module-level list, then the server sends ``ready``); every message sent to
``ws/shout`` is passed to each stored id with ``send_message_to_websocket``.

The reference has no ``disconnect`` hook, so there stale ids stay in the list
(a send to them is a no-op); the benchmark starts a fresh server per run and
keeps every receiver connected, so that does not matter.  Where the hook exists
(SPEC section 3) it removes the id.
"""

from panther import Panther
from panther.websocket import GenericWebsocket, send_message_to_websocket

_listener_ids = []


class Listener(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        self._bench_id = self.connection_id
        _listener_ids.append(self._bench_id)
        await self.send('ready')

    async def disconnect(self, code=None):
        if getattr(self, '_bench_id', None) in _listener_ids:
            _listener_ids.remove(self._bench_id)


class Shouter(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        for connection_id in list(_listener_ids):
            await send_message_to_websocket(connection_id, data)


app = Panther(__name__, configs=__name__, urls={'ws/listen': Listener, 'ws/shout': Shouter})
