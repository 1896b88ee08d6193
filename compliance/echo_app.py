"""A bare ASGI 3 WebSocket echo application: the baseline for the compliance run.

It uses no framework at all, so whatever Autobahn reports for it is what the
ASGI server (uvicorn and its WebSocket implementation) does on its own.  Every
text message is sent back as text, every binary message as binary, on any path.
"""

from __future__ import annotations

from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    if scope["type"] == "http":
        body = b"bare echo app: connect with a WebSocket client\n"
        await send(
            {
                "type": "http.response.start",
                "status": 426,
                "headers": [(b"content-type", b"text/plain"), (b"upgrade", b"websocket")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return

    if scope["type"] != "websocket":
        return

    first = await receive()
    if first["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message["type"] != "websocket.receive":
            continue
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
