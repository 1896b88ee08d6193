"""The app of ``panther_broadcast_groups`` with ``METRICS_PATH`` on (``broadcast-metrics``)."""

from panther import Panther
from panther.websocket import GenericWebsocket, send_message_to_group

METRICS_PATH = '/metrics'
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
