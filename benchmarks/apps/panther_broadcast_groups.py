"""Broadcast through groups (SPEC section 3); this repository's panther only.

Receivers connect to ``ws/listen``, join the group ``bench`` and get
``ready``; every message sent to ``ws/shout`` goes to the whole group with one
``send_message_to_group`` call.  Importing this module fails with an
ImportError while ``send_message_to_group`` does not exist yet: the benchmark
runner reports that as "not available".

``BENCH_REDIS_PORT`` (set by the runner for ``broadcast-redis``) configures
``REDIS`` on 127.0.0.1, so the group spans the workers through Redis.
"""

import os

from panther import Panther
from panther.websocket import GenericWebsocket, send_message_to_group

_redis_port = os.environ.get('BENCH_REDIS_PORT')
if _redis_port:
    # the configs module is this module: an upper-case global is configuration
    REDIS = {'host': '127.0.0.1', 'port': int(_redis_port)}
    if os.environ.get('BENCH_REDIS_CLUSTER'):  # a Redis Cluster's start-up node (the -cluster scenarios)
        REDIS['cluster'] = True

group_name = 'bench'


class Listener(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        await self.join_group(group_name)
        await self.send('ready')


class Shouter(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        await send_message_to_group(group_name, data)


app = Panther(__name__, configs=__name__, urls={'ws/listen': Listener, 'ws/shout': Shouter})
