"""FastAPI (Starlette WebSockets) with ``broadcaster`` for messages between workers.

Runs in ``benchmarks/.venv-fastapi``.  The same routes and frames as the panther
apps, each written the way FastAPI's and broadcaster's docs show:

- ``/ws/echo``: ``receive_text`` / ``send_text`` in a loop;
- ``/ws/relay``: the connection subscribes to a broadcaster channel named by a
  fresh id, then gets ``<worker pid> <id>``; a text ``{"to": id, "data": text}``
  is published to channel ``id``; whatever arrives on its own channel is sent to
  the client (broadcaster has no per-connection address: a channel per
  connection is how a message reaches one client on any worker);
- ``/ws/listen``: subscribes to the channel ``bench``, then gets ``ready``;
- ``/ws/shout``: every text is published to ``bench``.

``BENCH_REDIS_PORT`` (set by the runner for the ``-redis`` scenarios) selects
broadcaster's Redis (pub/sub) backend on 127.0.0.1; otherwise its in-memory one.
A connection's receive loop and its subscription run side by side in an anyio
task group, as in broadcaster's README.

Two work-arounds, both for broadcast to one channel from many connections (seen
with broadcaster 0.3.1 and redis-py 8.1; per-connection relay channels are
unique and not affected):

- broadcaster loses subscribers that subscribe at the same moment to a channel
  nobody in the process subscribes to yet: each subscribes the backend and then
  *replaces* the channel's set of queues, so all but the last never get a
  message (32 of 1,000 receivers opened 100 at a time, here).  The app holds
  one subscription to ``bench`` from start-up to shutdown (a task drains it), so
  a receiver's subscription only adds its queue;
- the Redis backend's listener task stops for good when it looks before the
  process's first subscription is registered (redis-py's ``listen()`` ends at
  once while nothing is subscribed) and only wakes on the next backend
  subscription: with ``bench`` held, receivers make none.  The holder therefore
  subscribes a second, per-process channel after ``bench``, which wakes it.
"""

import asyncio
import json
import os
import uuid
from contextlib import asynccontextmanager

import anyio
from broadcaster import Broadcast
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

_redis_port = os.environ.get('BENCH_REDIS_PORT')
broadcast = Broadcast(f'redis://127.0.0.1:{_redis_port}' if _redis_port else 'memory://')
group_channel = 'bench'


async def _hold(subscribed: asyncio.Event) -> None:
    async with broadcast.subscribe(channel=group_channel) as subscriber:
        async with broadcast.subscribe(channel=f'{group_channel}-started-{os.getpid()}'):
            subscribed.set()
            async for _event in subscriber:
                pass


@asynccontextmanager
async def lifespan(_app):
    await broadcast.connect()
    subscribed = asyncio.Event()
    holder = asyncio.create_task(_hold(subscribed))
    await subscribed.wait()
    yield
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)
    await broadcast.disconnect()


app = FastAPI(lifespan=lifespan)


@app.websocket('/ws/echo')
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


async def _subscribed(websocket: WebSocket, channel: str, first: str, on_text) -> None:
    """Forward ``channel`` to the client while ``on_text`` handles what the client sends."""
    async with broadcast.subscribe(channel=channel) as subscriber:
        await websocket.send_text(first)
        async with anyio.create_task_group() as tasks:

            async def forward() -> None:
                async for event in subscriber:
                    await websocket.send_text(event.message)

            tasks.start_soon(forward)
            async for text in websocket.iter_text():
                await on_text(text)
            tasks.cancel_scope.cancel()


async def _publish_to_addressee(text: str) -> None:
    envelope = json.loads(text)
    await broadcast.publish(channel=envelope['to'], message=envelope['data'])


async def _ignore(_text: str) -> None:
    pass


@app.websocket('/ws/relay')
async def relay(websocket: WebSocket):
    await websocket.accept()
    me = uuid.uuid4().hex
    await _subscribed(websocket, me, f'{os.getpid()} {me}', _publish_to_addressee)


@app.websocket('/ws/listen')
async def listen(websocket: WebSocket):
    await websocket.accept()
    await _subscribed(websocket, group_channel, 'ready', _ignore)


@app.websocket('/ws/shout')
async def shout(websocket: WebSocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        await broadcast.publish(channel=group_channel, message=text)
