"""The echo app of ``panther_echo`` with ``METRICS_PATH`` on: what counting costs (``echo-metrics``)."""

from panther import Panther
from panther.websocket import GenericWebsocket

METRICS_PATH = '/metrics'


class Echo(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        await self.send(data)


app = Panther(__name__, configs=__name__, urls={'ws/echo': Echo})
