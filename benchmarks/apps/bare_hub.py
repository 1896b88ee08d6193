"""Baseline for relay and broadcast: a bare ASGI 3 app with an in-process registry.

Routes (the same paths and message formats as the panther relay/broadcast apps):

- ``/ws/relay``: after the handshake the server sends the connection's id as a
  text frame.  A text message ``{"to": "<id>", "data": "<text>"}`` is delivered
  as ``<text>`` to the connection with that id.
- ``/ws/listen``: registers the connection as a broadcast receiver and sends
  ``ready``.
- ``/ws/shout``: every message received is sent to every registered receiver,
  one send after the other, like the panther recipe does.
- ``/ws/echo``: echo, so one server can serve every baseline.

This is the least work a server can do for these patterns: a dict lookup and a
direct ASGI ``send`` on the receiver's connection.
"""

import itertools
import json

from bare_echo import _lifespan, _not_found
from bare_echo import app as _echo

_senders = {}
_listeners = {}
_ids = itertools.count(1)


async def _relay(receive, send):
    connection_id = str(next(_ids))
    await send({'type': 'websocket.accept'})
    _senders[connection_id] = send
    try:
        await send({'type': 'websocket.send', 'text': connection_id})
        while True:
            message = await receive()
            if message['type'] == 'websocket.disconnect':
                return
            envelope = json.loads(message.get('text') or message.get('bytes'))
            target = _senders.get(envelope['to'])
            if target is not None:
                await target({'type': 'websocket.send', 'text': envelope['data']})
    finally:
        _senders.pop(connection_id, None)


async def _listen(receive, send):
    connection_id = next(_ids)
    await send({'type': 'websocket.accept'})
    _listeners[connection_id] = send
    try:
        await send({'type': 'websocket.send', 'text': 'ready'})
        while (await receive())['type'] != 'websocket.disconnect':
            pass
    finally:
        _listeners.pop(connection_id, None)


async def _shout(receive, send):
    await send({'type': 'websocket.accept'})
    while True:
        message = await receive()
        if message['type'] == 'websocket.disconnect':
            return
        text = message.get('text')
        for listener in list(_listeners.values()):
            await listener({'type': 'websocket.send', 'text': text})


_routes = {'/ws/relay': _relay, '/ws/listen': _listen, '/ws/shout': _shout}


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        return await _lifespan(receive, send)
    if scope['type'] != 'websocket':
        return await _not_found(send)
    handler = _routes.get(scope['path'].rstrip('/'))
    if handler is None:
        return await _echo(scope, receive, send)
    message = await receive()
    if message['type'] == 'websocket.connect':
        await handler(receive, send)
