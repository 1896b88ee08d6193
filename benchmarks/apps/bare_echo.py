"""Baseline: a bare ASGI 3 WebSocket echo with no framework.

Accepts every handshake on any path, sends each text or binary message back
unchanged and returns when the client goes away.  Plain HTTP gets a 404.
"""


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message['type'] == 'lifespan.startup':
            await send({'type': 'lifespan.startup.complete'})
        elif message['type'] == 'lifespan.shutdown':
            await send({'type': 'lifespan.shutdown.complete'})
            return


async def _not_found(send):
    await send({'type': 'http.response.start', 'status': 404, 'headers': []})
    await send({'type': 'http.response.body', 'body': b''})


async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        return await _lifespan(receive, send)
    if scope['type'] != 'websocket':
        return await _not_found(send)

    message = await receive()
    if message['type'] != 'websocket.connect':
        return
    await send({'type': 'websocket.accept'})
    while True:
        message = await receive()
        if message['type'] == 'websocket.disconnect':
            return
        text = message.get('text')
        if text is not None:
            await send({'type': 'websocket.send', 'text': text})
        else:
            await send({'type': 'websocket.send', 'bytes': message.get('bytes') or b''})
