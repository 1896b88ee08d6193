"""python-socketio (ASGI) with ``AsyncRedisManager`` for messages between workers.

Runs in ``benchmarks/.venv-socketio``.  Socket.IO has one endpoint
(``/socket.io/``) and its own protocol on top of WebSocket, so the load
generator speaks Socket.IO to it (``loadgen.py --protocol socketio``): what the
plain-WebSocket targets get from the URL path (echo, relay, listen, shout)
arrives here as the ``route`` of the connect's auth payload, and a client sends
its messages as the event named after its route.  The server answers with the
event ``msg``:

- ``echo``: ``emit('msg', data, to=sid)``;
- ``relay``: on connect ``emit('msg', '<worker pid> <sid>', to=sid)``; the event
  ``relay`` with ``{"to": sid, "data": text}`` does ``emit('msg', text, to=to)``;
- ``listen``: on connect ``enter_room(sid, 'bench')``, then ``emit('msg', 'ready', to=sid)``;
- ``shout``: ``emit('msg', data, room='bench')``.

``BENCH_REDIS_PORT`` (set by the runner for the ``-redis`` scenarios) gives the
server an ``AsyncRedisManager`` on 127.0.0.1 (every emit then goes through Redis
pub/sub to every worker); otherwise the default in-process manager.
``always_connect=True`` because the connect handler emits: python-socketio
documents that option for that case (the connection is accepted first).
"""

import os

import socketio

_redis_port = os.environ.get('BENCH_REDIS_PORT')
_options = {'client_manager': socketio.AsyncRedisManager(f'redis://127.0.0.1:{_redis_port}')} if _redis_port else {}
sio = socketio.AsyncServer(async_mode='asgi', always_connect=True, **_options)
app = socketio.ASGIApp(sio)
room_name = 'bench'


@sio.event
async def connect(sid, environ, auth):
    route = (auth or {}).get('route')
    if route == 'relay':
        await sio.emit('msg', f'{os.getpid()} {sid}', to=sid)
    elif route == 'listen':
        await sio.enter_room(sid, room_name)
        await sio.emit('msg', 'ready', to=sid)


@sio.on('echo')
async def echo(sid, data):
    await sio.emit('msg', data, to=sid)


@sio.on('relay')
async def relay(sid, data):
    await sio.emit('msg', data['data'], to=data['to'])


@sio.on('shout')
async def shout(sid, data):
    await sio.emit('msg', data, room=room_name)
