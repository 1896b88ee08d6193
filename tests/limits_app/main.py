"""The app the limits tests run under a real server.

Its configuration comes from the JSON in ``LIMITS_CONFIG`` (any ``WS_*`` keys), and
every ``disconnect`` hook appends ``<path> <code>`` to ``$HOOK_LOG`` when that is set.
"""

import asyncio
import json
import os

from models import Order  # the app runs from its own folder

from panther import Panther
from panther.app import API
from panther.request import Request
from panther.websocket import GenericWebsocket, send_message_to_group

globals().update(json.loads(os.environ.get('LIMITS_CONFIG', '{}')))


def record(line: str) -> None:
    path = os.environ.get('HOOK_LOG')
    if path:
        with open(path, 'a') as file:
            file.write(line + '\n')


class EchoWebsocket(GenericWebsocket):
    async def connect(self, **kwargs):
        record(f'connect {self.path}')
        await self.accept()

    async def receive(self, data: str | bytes):
        await self.send(data)

    async def disconnect(self, code: int):
        record(f'{self.path} {code}')


class RejectWebsocket(GenericWebsocket):
    """Refuses in connect() (before accepting) or, with ?crash, raises there."""

    async def connect(self, **kwargs):
        if 'crash' in self.query_params:
            raise RuntimeError('connect() failed on purpose')
        await self.close()


class TypedWebsocket(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data: Order):
        await self.send({'ok': data.model_dump()})


class FeedWebsocket(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        await self.join_group('feed')
        await self.send('joined')

    async def disconnect(self, code: int):
        record(f'{self.path} {code}')


@API(methods=['POST'])
async def blast(request: Request):
    """Push ``n`` distinct messages of ``size`` bytes to the feed group, yielding every ``batch``."""
    n = int(request.query_params.get('n', 1000))
    size = int(request.query_params.get('size', 100))
    batch = int(request.query_params.get('batch', 100))
    pause = float(request.query_params.get('pause', 0))
    filler = 'x' * size
    for i in range(n):
        # A fresh string per message, as real payloads are: a queue that grew without bound would show in RSS.
        await send_message_to_group('feed', f'{i:08d}{filler[8:]}')
        if i % batch == batch - 1:
            await asyncio.sleep(pause)
    return {'sent': n}


URLS = {
    'ws/echo': EchoWebsocket,
    'ws/typed': TypedWebsocket,
    'ws/feed': FeedWebsocket,
    'ws/reject': RejectWebsocket,
    'blast': blast,
}

app = Panther(__name__, configs=__name__, urls=URLS)
