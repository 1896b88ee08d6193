"""The floor under the bare ASGI floor: bare_echo and bare_hub's broadcast, with every
send written as a ready frame straight to uvicorn's transport instead of an ASGI send.

This is what panther.direct_write does when it is safe; here it is done always, with
no check at all (no flow control, no extension or state check), so it is not a server
anyone should run. It shows what is left once the ASGI send path costs nothing: the
event loop, the receive path and the kernel's work per write.

Routes: ``/ws/listen`` and ``/ws/shout`` as in bare_hub; anything else echoes.
Needs ``--ws websockets`` or ``--ws websockets-sansio`` and a client without
permessage-deflate.
"""

from bare_echo import _lifespan, _not_found
from bare_hub import _listen, _listeners


def _frame(message):
    text = message.get('text')
    if text is not None:
        payload, first = text.encode(), 0x81
    else:
        payload, first = message.get('bytes') or b'', 0x82
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, 'big') + payload
    return bytes((first, 127)) + size.to_bytes(8, 'big') + payload


async def _echo(receive, send):
    await send({'type': 'websocket.accept'})
    write = send.__self__.transport.write
    while True:
        message = await receive()
        if message['type'] == 'websocket.disconnect':
            return
        write(_frame(message))


async def _shout(receive, send):
    await send({'type': 'websocket.accept'})
    while True:
        message = await receive()
        if message['type'] == 'websocket.disconnect':
            return
        frame = _frame(message)
        for listener in list(_listeners.values()):
            listener.__self__.transport.write(frame)


_routes = {'/ws/listen': _listen, '/ws/shout': _shout}


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        return await _lifespan(receive, send)
    if scope['type'] != 'websocket':
        return await _not_found(send)
    message = await receive()
    if message['type'] == 'websocket.connect':
        await _routes.get(scope['path'].rstrip('/'), _echo)(receive, send)
