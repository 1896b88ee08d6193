"""Relay between workers: ``panther_relay.py`` plus the worker each connection lives on.

Runs unchanged on this repository's panther and on the reference 5.5.0, served
with two workers.  After the handshake the server sends ``<worker pid>
<connection id>`` as a text frame, so the load generator can pair every sender
with a receiver on the *other* worker; a text message ``{"to": "<id>", "data":
"<text>"}`` is delivered with ``send_message_to_websocket`` to that connection.

``BENCH_REDIS_PORT`` (set by the runner for ``relay-redis``) configures
``REDIS`` on 127.0.0.1: both frameworks then carry the send through Redis.
Without it (``relay-shared``) ours is served by ``panther run --workers 2``,
which gives the workers its shared-local bus.
"""

import json
import os

from panther import Panther
from panther.websocket import GenericWebsocket, send_message_to_websocket

_redis_port = os.environ.get('BENCH_REDIS_PORT')
if _redis_port:
    # the configs module is this module: an upper-case global is configuration
    REDIS = {'host': '127.0.0.1', 'port': int(_redis_port)}
    if os.environ.get('BENCH_REDIS_CLUSTER'):  # a Redis Cluster's start-up node (the -cluster scenarios)
        REDIS['cluster'] = True


class Relay(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        await self.send(f'{os.getpid()} {self.connection_id}')

    async def receive(self, data):
        envelope = json.loads(data)
        await send_message_to_websocket(envelope['to'], envelope['data'])


app = Panther(__name__, configs=__name__, urls={'ws/relay': Relay})
