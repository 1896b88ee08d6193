"""Sending a close frame that cannot hang on a peer which stopped reading.

uvicorn's ``send`` waits until the transport's write buffer drains before it
writes anything, the close frame included. A peer that never reads therefore
keeps the close waiting forever, and keeps its buffers alive with it (uvicorn's
own keepalive failure only *closes* the transport, which waits for the same
flush). So a close gets ``WS_CLOSE_TIMEOUT`` seconds; after that the TCP
connection is aborted, which frees its buffers and makes the server report the
disconnect to the app.
"""

from __future__ import annotations

import asyncio
import logging

from panther.types import Message, Send

logger = logging.getLogger('panther')


async def send_close(send: Send, message: Message, timeout: float) -> None:
    """Send ``message`` (a ``websocket.close``); abort the connection if it is stuck for ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            await send(message)
    except TimeoutError:
        aborted = abort_transport(send)
        logger.info('close frame waited %s s for a peer that does not read (WS_CLOSE_TIMEOUT): %s',
                    timeout, 'connection aborted' if aborted else 'server offers no way to abort; gave up')


def abort_transport(send: Send) -> bool:
    """Abort the TCP connection behind an ASGI ``send``, where the server exposes it.

    uvicorn's protocols (websockets, websockets-sansio, wsproto; also under
    gunicorn's UvicornWorker) hand the app a bound method of the protocol object,
    which holds the asyncio transport. Other servers: returns False.
    """
    transport = getattr(getattr(send, '__self__', None), 'transport', None)
    abort = getattr(transport, 'abort', None)
    if abort is None:
        return False
    abort()
    return True
