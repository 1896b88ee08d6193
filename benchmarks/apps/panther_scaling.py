"""Every route of the ``scaling`` scenario in one app, so one server start serves all its loads.

- ``ws/relay``: first frame ``<worker pid> <connection id>``; a text message
  ``{"to": "<id>", "data": "<text>"}`` goes to that connection with
  ``send_message_to_websocket`` (as ``panther_relay_workers.py``).
- ``ws/listen``: joins the group ``bench`` and sends ``ready <worker pid>``, so
  the load generator can tell how the kernel spread the members.
- ``ws/shout``: a message goes to the whole group with ``send_message_to_group``;
  ``members?`` is answered with the group's size (``group_members``), which is the
  presence query of docs/groups.md.
- ``ws/echo``: the idle connections of the memory measurement.

``BENCH_REDIS_PORT`` (and ``BENCH_REDIS_CLUSTER``) select the Redis bus, as in the
other apps.
"""

import json
import os

from panther import Panther
from panther.websocket import GenericWebsocket, group_members, send_message_to_group, send_message_to_websocket

_redis_port = os.environ.get('BENCH_REDIS_PORT')
if _redis_port:
    # the configs module is this module: an upper-case global is configuration
    REDIS = {'host': '127.0.0.1', 'port': int(_redis_port)}
    if os.environ.get('BENCH_REDIS_CLUSTER'):
        REDIS['cluster'] = True

group_name = 'bench'
worker = str(os.getpid())


class Relay(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        await self.send(f'{worker} {self.connection_id}')

    async def receive(self, data):
        envelope = json.loads(data)
        await send_message_to_websocket(envelope['to'], envelope['data'])


class Listener(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        await self.join_group(group_name)
        await self.send(f'ready {worker}')


class Shouter(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        if data == 'members?':
            await self.send(str(len(await group_members(group_name))))
        else:
            await send_message_to_group(group_name, data)


class Echo(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        await self.send(data)


app = Panther(
    __name__,
    configs=__name__,
    urls={'ws/relay': Relay, 'ws/listen': Listener, 'ws/shout': Shouter, 'ws/echo': Echo},
)
