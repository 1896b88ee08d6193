"""A close that cannot hang on a peer which stopped reading.

uvicorn's ``send`` waits until the transport's write buffer drains before it
writes anything, the close frame included, and a close queued behind such a
write waits too. A peer that never reads therefore keeps the close waiting
forever and its buffers alive with it (uvicorn's own keepalive failure only
*closes* the transport, which waits for the same flush). So every close of an
accepted connection starts a ``WS_CLOSE_TIMEOUT`` clock; if the connection has
not ended when it runs out, its TCP connection is aborted, which frees the
buffers and makes the server report the disconnect to the app.
"""

from __future__ import annotations

import asyncio
import logging

from panther.types import Send

logger = logging.getLogger('panther')


def arm_close_watchdog(send: Send, timeout: float, connection_id: str | None) -> asyncio.TimerHandle:
    """Abort the connection behind ``send`` in ``timeout`` seconds unless the handle is cancelled first."""
    return asyncio.get_running_loop().call_later(timeout, _give_up, send, timeout, connection_id)


def _give_up(send: Send, timeout: float, connection_id: str | None) -> None:
    aborted = abort_transport(send)
    logger.info('%s did not finish closing within %s s (WS_CLOSE_TIMEOUT), the peer does not read: %s',
                connection_id, timeout, 'connection aborted' if aborted else 'the server offers no way to abort')


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
