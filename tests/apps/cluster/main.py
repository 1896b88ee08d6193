"""A test app for many workers: every connection and API says which worker served it.

WebSocket ``ws/``: the first message is ``{"hello": <connection id>, "worker": ..., "pid": ...}``;
then JSON commands ``{"op": ...}`` (see ``Node.receive``). ``ws/typed/`` takes typed messages.
The bus backend comes from the environment: ``TEST_REDIS_PORT`` configures REDIS
(a Redis Cluster's start-up node if ``TEST_REDIS_CLUSTER`` is set).
"""

import asyncio
import os

import orjson
from pydantic import BaseModel

from panther import Panther
from panther import runtime as _runtime
from panther.app import API
from panther.request import Request
from panther.websocket import (
    GenericWebsocket,
    close_websocket_connection,
    group_members,
    send_message_to_group,
    send_message_to_websocket,
)

if os.environ.get('TEST_REDIS_CLUSTER'):
    REDIS = {'cluster': True, 'host': '127.0.0.1', 'port': int(os.environ['TEST_REDIS_PORT']),
             **orjson.loads(os.environ.get('TEST_REDIS_EXTRA', '{}'))}
elif os.environ.get('TEST_REDIS_PORT'):
    REDIS = {'host': '127.0.0.1', 'port': int(os.environ['TEST_REDIS_PORT']), 'db': 0}
BUS_LIVENESS_TTL = float(os.environ.get('TEST_BUS_TTL', '5'))
WS_PING_INTERVAL = None
WS_SEND_QUEUE_SIZE = 20_000
WS_MAX_MESSAGE_SIZE = int(os.environ.get('TEST_WS_MAX_MESSAGE_SIZE', 1 << 20))

_background: set[asyncio.Task] = set()


def me() -> dict:
    runtime = _runtime.current()
    return {'worker': runtime.worker_id, 'pid': os.getpid(), 'deliveries': runtime.deliveries,
            'bus': runtime.bus.kind if runtime.bus else None}


async def _stream(to: str, count: int, every: int, pause: float) -> None:
    for i in range(count):
        await send_message_to_websocket(to, str(i))
        if every and i % every == every - 1:
            await asyncio.sleep(pause)


class Node(GenericWebsocket):
    async def connect(self):
        await self.accept()
        await self.send({'hello': self.connection_id, **me()})

    async def receive(self, data):
        msg = orjson.loads(data)
        op = msg['op']
        if op == 'echo':
            await self.send({'echo': msg['data']})
        elif op == 'stats':
            await self.send({'stats': me()})
        elif op == 'join':
            await self.join_group(msg['name'])
            await self.send({'joined': msg['name']})
        elif op == 'leave':
            await self.leave_group(msg['name'])
            await self.send({'left': msg['name']})
        elif op == 'members':
            await self.send({'members': sorted(await group_members(msg['name']))})
        elif op == 'group':
            await send_message_to_group(msg['name'], msg['data'], exclude=msg.get('exclude'))
            await self.send({'grouped': msg['name']})
        elif op == 'send':
            for i in range(msg.get('count', 1)):
                await send_message_to_websocket(msg['to'], msg['data'] if 'data' in msg else str(i))
            await self.send({'sent': msg.get('count', 1)})
        elif op == 'stream':
            task = asyncio.get_running_loop().create_task(
                _stream(msg['to'], msg['count'], msg.get('every', 0), msg.get('pause', 0.0)))
            _background.add(task)
            task.add_done_callback(_background.discard)
            await self.send({'streaming': msg['count']})


class Order(BaseModel):
    item: str
    quantity: int


class Typed(GenericWebsocket):
    async def connect(self):
        await self.accept()

    async def receive(self, data: Order):
        await self.send({'item': data.item, 'total': data.quantity * 2})


@API(methods=['POST'])
async def send_api(request: Request):
    body = request.data
    count = body.get('count', 1)
    for i in range(count):
        if body.get('binary'):
            payload = i.to_bytes(4, 'big')
        elif 'data' in body:
            payload = body['data']
        else:
            payload = str(i)
        await send_message_to_websocket(body['to'], payload)
    return me()


@API(methods=['POST'])
async def close_api(request: Request):
    body = request.data
    await close_websocket_connection(body['to'], code=body.get('code', 1000), reason=body.get('reason', ''))
    return me()


@API(methods=['POST'])
async def group_api(request: Request):
    body = request.data
    await send_message_to_group(body['name'], body['data'], exclude=body.get('exclude'))
    return me()


@API()
async def members_api(name: str):
    return {'members': sorted(await group_members(name)), **me()}


@API()
async def whoami():
    return me()


URLS = {
    'ws/': Node,
    'ws/typed/': Typed,
    'api/send/': send_api,
    'api/close/': close_api,
    'api/group/': group_api,
    'api/members/<name>/': members_api,
    'api/whoami/': whoami,
}

app = Panther(__name__, configs=__name__, urls=URLS)
