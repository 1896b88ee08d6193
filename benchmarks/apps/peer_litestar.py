"""Litestar with its channels plugin for messages between workers.

Runs in ``benchmarks/.venv-litestar``.  The same routes and frames as the
panther apps, with Litestar's documented idioms:

- ``/ws/echo``: a ``websocket_listener`` that returns what it receives;
- ``/ws/relay``: the connection subscribes to a channel named by a fresh id
  (``ChannelsPlugin.start_subscription`` + ``run_in_background(socket.send_data)``),
  then gets ``<worker pid> <id>``; a text ``{"to": id, "data": text}`` is
  ``channels.publish(text, channels=[id])`` (the plugin has no per-connection
  address: a channel per connection is how a message reaches one client);
- ``/ws/listen``: subscribes to the channel ``bench``, then gets ``ready``;
- ``/ws/shout``: every text is published to ``bench``.

``BENCH_REDIS_PORT`` (set by the runner for the ``-redis`` scenarios) selects
``RedisChannelsPubSubBackend`` on 127.0.0.1; otherwise ``MemoryChannelsBackend``.
"""

import json
import os
import uuid

from litestar import Litestar, WebSocket, websocket, websocket_listener
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis

_redis_port = os.environ.get('BENCH_REDIS_PORT')
if _redis_port:
    _backend = RedisChannelsPubSubBackend(redis=Redis(host='127.0.0.1', port=int(_redis_port)))
else:
    _backend = MemoryChannelsBackend()
group_channel = 'bench'


@websocket_listener('/ws/echo')
async def echo(data: str) -> str:
    return data


async def _subscribed(socket: WebSocket, channels: ChannelsPlugin, channel: str, first: str, on_text) -> None:
    """Forward ``channel`` to the client while ``on_text`` handles what the client sends."""
    async with channels.start_subscription([channel]) as subscriber:
        async with subscriber.run_in_background(socket.send_data):
            await socket.send_text(first)
            async for text in socket.iter_data(mode='text'):
                on_text(text)


@websocket('/ws/relay')
async def relay(socket: WebSocket, channels: ChannelsPlugin) -> None:
    await socket.accept()
    me = uuid.uuid4().hex

    def publish_to_addressee(text: str) -> None:
        envelope = json.loads(text)
        channels.publish(envelope['data'], channels=[envelope['to']])

    await _subscribed(socket, channels, me, f'{os.getpid()} {me}', publish_to_addressee)


@websocket('/ws/listen')
async def listen(socket: WebSocket, channels: ChannelsPlugin) -> None:
    await socket.accept()
    await _subscribed(socket, channels, group_channel, 'ready', lambda _text: None)


@websocket('/ws/shout')
async def shout(socket: WebSocket, channels: ChannelsPlugin) -> None:
    await socket.accept()
    async for text in socket.iter_data(mode='text'):
        channels.publish(text, channels=[group_channel])


app = Litestar(
    route_handlers=[echo, relay, listen, shout],
    plugins=[ChannelsPlugin(backend=_backend, arbitrary_channels_allowed=True)],
)
