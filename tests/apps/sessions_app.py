"""A test app for resumable sessions (tests/test_sessions_server.py).

Users come from the ``user`` query parameter. ``POST /burst/?id=<connection id>&n=<N>``
sends N messages, alternately to the connection and to its group ``room``, from
whichever worker takes the request. Hooks note what they see in ``PANTHER_TEST_SESSION_LOG``,
and so does the authentication, which runs on the worker a handshake lands on.
``ws/x/`` answers each message with what its ``connect()`` put on the instance and
how many messages that instance has received.
"""

import asyncio
import os

from panther import Panther
from panther.app import API
from panther.request import Request
from panther.websocket import GenericWebsocket, send_message_to_group, send_message_to_websocket

SECRET_KEY = 'sessions-test-secret'
WS_PING_INTERVAL = None
WS_RESUME_WINDOW = float(os.environ.get('PANTHER_TEST_RESUME_WINDOW', '30'))
WS_RESUME_BUFFER = int(os.environ.get('PANTHER_TEST_RESUME_BUFFER', '1000'))
WS_SEND_QUEUE_SIZE = 100_000
if os.environ.get('PANTHER_TEST_REDIS'):
    REDIS = {'host': '127.0.0.1', 'port': int(os.environ['PANTHER_TEST_REDIS'])}
    if os.environ.get('PANTHER_TEST_REDIS_CLUSTER'):
        REDIS['cluster'] = True
LOG = os.environ.get('PANTHER_TEST_SESSION_LOG')


def note(line: str) -> None:
    if LOG:
        with open(LOG, 'a') as log:
            log.write(line + '\n')


async def user_from_query(connection):
    name = connection.query_params.get('user')
    note(f'handshake {name} {os.getpid()}')
    return {'id': name} if name else None


class SessionWebsocket(GenericWebsocket):
    auth = user_from_query

    async def connect(self, **kwargs):
        await self.accept()
        await self.join_group('room')
        note(f'connect {self.connection_id} {os.getpid()}')

    async def resumed(self):
        note(f'resumed {self.connection_id} {os.getpid()}')

    async def receive(self, data):
        if data == 'pid':
            await self.send(f'pid:{os.getpid()}')
        elif data == 'close':
            await self.close(4001, 'asked to')
        elif data == 'groups':
            await self.send(f'groups:{",".join(sorted(self.groups))}')
        else:
            await self.send(data)

    async def disconnect(self, code):
        note(f'disconnect {self.connection_id} {code} {os.getpid()}')


class InstanceWebsocket(GenericWebsocket):
    auth = user_from_query

    async def connect(self, **kwargs):
        await self.accept()
        await self.join_group('room')
        self.x = f'x{os.getpid()}.{id(self)}'
        self.calls = 0
        note(f'connect {self.connection_id} {os.getpid()} {self.x}')

    async def resumed(self):
        note(f'resumed {self.connection_id} {os.getpid()} {self.x}')
        await self.send(f'resumed|{self.x}')

    async def receive(self, data):
        self.calls += 1
        await self.send(f'{data}|{self.x}|{self.calls}')

    async def disconnect(self, code):
        note(f'disconnect {self.connection_id} {code} {os.getpid()} {self.x} {self.calls}')


@API(methods=['POST'])
async def burst(request: Request):
    connection_id = request.query_params['id']
    count = int(request.query_params.get('n', '1000'))
    pause = float(request.query_params.get('pause', '0.002'))
    for i in range(count):
        if i % 2:
            await send_message_to_group('room', f'g{i}')
        else:
            await send_message_to_websocket(connection_id, f'd{i}')
        if i % 20 == 19:
            await asyncio.sleep(pause)
    return {'sent': count}


@API()
async def pid():
    return {'pid': os.getpid()}


url_routing = {'ws/s/': SessionWebsocket, 'ws/x/': InstanceWebsocket, 'burst/': burst, 'pid/': pid}
app = Panther(__name__, configs=__name__, urls=url_routing)
