"""Echo endpoint written against the documented panther API.

Runs unchanged on this repository's panther and on the reference panther 5.5.0:
both read the configuration from this module (``configs=__name__``) and take
the routes from ``urls``.  Served by the benchmark runner as
``uvicorn --app-dir benchmarks/apps panther_echo:app``.
"""

from panther import Panther
from panther.websocket import GenericWebsocket


class Echo(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        await self.send(data)


app = Panther(__name__, configs=__name__, urls={'ws/echo': Echo})
