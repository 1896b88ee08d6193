"""Django Channels with ``channels_redis`` for messages between workers.

Runs in ``benchmarks/.venv-channels``, served by uvicorn like every other target
(Channels' application is plain ASGI).  Django is configured in this module
(``settings.configure``) because there is no project around it.  The same routes
and frames as the panther apps, with Channels' documented idioms:

- ``/ws/echo``: an ``AsyncWebsocketConsumer`` whose ``receive`` sends the text back;
- ``/ws/relay``: the consumer sends ``<worker pid> <channel_name>``; a text
  ``{"to": channel_name, "data": text}`` goes out with
  ``channel_layer.send(to, {"type": "relay.message", ...})`` and the addressee's
  ``relay_message`` handler sends it to its client;
- ``/ws/listen``: the consumer's ``groups = ['bench']`` joins the group before
  ``connect`` runs, which then sends ``ready``;
- ``/ws/shout``: every text goes to ``channel_layer.group_send('bench', ...)``.

``BENCH_REDIS_PORT`` (set by the runner for the ``-redis`` scenarios) configures
``channels_redis.core.RedisChannelLayer`` (the layer Channels' docs recommend for
production) on 127.0.0.1; without it there is no channel layer, as a Channels
app without cross-consumer messaging has none (echo, handshakes, idle memory).
The layer's Redis connections have no socket timeout: with redis-py 8's default
of 5 s, a consumer whose layer has been idle that long dies with a TimeoutError
(seen here as 2 of 1,000 broadcast receivers lost).
"""

import json
import os

import django
from django.conf import settings

_redis_port = os.environ.get('BENCH_REDIS_PORT')
settings.configure(
    INSTALLED_APPS=['channels'],
    CHANNEL_LAYERS={
        'default': {
            'BACKEND': 'channels_redis.core.RedisChannelLayer',
            # redis-py 8 reads with a 5 s socket timeout by default, which breaks the layer's
            # blocking BZPOPMIN (5 s) on an idle layer: the consumer dies with TimeoutError
            # (channels_redis issue 422); the known fix is to turn that timeout off.
            'CONFIG': {'hosts': [{'address': f'redis://127.0.0.1:{_redis_port}', 'socket_timeout': None}]},
        }
    }
    if _redis_port
    else {},
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

group_name = 'bench'


class Echo(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data)


class Relay(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()
        await self.send(text_data=f'{os.getpid()} {self.channel_name}')

    async def receive(self, text_data=None, bytes_data=None):
        envelope = json.loads(text_data)
        await self.channel_layer.send(envelope['to'], {'type': 'relay.message', 'text': envelope['data']})

    async def relay_message(self, event):
        await self.send(text_data=event['text'])


class Listener(AsyncWebsocketConsumer):
    groups = [group_name]

    async def connect(self):
        await self.accept()
        await self.send(text_data='ready')

    async def bench_message(self, event):
        await self.send(text_data=event['text'])


class Shouter(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(group_name, {'type': 'bench.message', 'text': text_data})


app = ProtocolTypeRouter(
    {
        'websocket': URLRouter(
            [
                path('ws/echo', Echo.as_asgi()),
                path('ws/relay', Relay.as_asgi()),
                path('ws/listen', Listener.as_asgi()),
                path('ws/shout', Shouter.as_asgi()),
            ]
        )
    }
)
