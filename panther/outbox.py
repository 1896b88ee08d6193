"""The one outgoing path of a WebSocket connection.

Every frame and every close of a connection goes through its ``Outbox``: the
handler's ``send``/``close``, sends and closes from outside (other tasks, the
bus, group sends), the limits (slow consumer, rate, size, idle) and shutdown.
It owns the connection's state (:mod:`panther.websocket_state`) and keeps one
rule: frames reach the server in the order they were given, and never two
ASGI sends of one connection run at once.

How a frame leaves:

- nothing queued or in flight, and the server adapter offers a frame sink
  (:mod:`panther.frames`) that accepts it: written at once, no task, no wait;
- the handler's own send, otherwise: the ASGI ``send`` is awaited in the
  handler's task;
- a send from outside (which must never wait), otherwise: queued, and one
  writer task per busy connection drains the queue through the ASGI ``send``.

The queue is bounded by ``WS_SEND_QUEUE_SIZE``: a client too slow to drain it
is closed with 1013. A close waits behind what was queued before it; if the
connection has not ended ``WS_CLOSE_TIMEOUT`` seconds later (a peer that does
not read holds the close behind its full buffer), the outbox gives up on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from panther import status
from panther.frames import FRAMES_EXTENSION, FrameSink, wire_frame
from panther.metrics import RouteMetrics, payload_size
from panther.serialization import dumps
from panther.types import Message, Scope, Send
from panther.websocket_state import WebsocketState, check

logger = logging.getLogger('panther')

CONNECTING = WebsocketState.CONNECTING
OPEN = WebsocketState.OPEN
CLOSING = WebsocketState.CLOSING
CLOSED = WebsocketState.CLOSED

HTTP_RESPONSE_EXTENSION = 'websocket.http.response'


def text_or_bytes_message(payload: str | bytes) -> dict[str, Any]:
    """The ASGI message that sends ``payload`` (servers only read it, so it may be shared)."""
    if type(payload) is str:
        return {'type': 'websocket.send', 'text': payload}
    return {'type': 'websocket.send', 'bytes': payload}


async def refuse_handshake(send: Send, scope: Scope, status_code: int, detail: str) -> None:
    """Refuse a handshake before any connection exists.

    Where the server offers the ``websocket.http.response`` extension the client
    gets an HTTP ``status_code`` with a JSON ``{"detail": detail}`` body (401
    authentication, 403 permission or origin, 404 no route, 400 a path variable);
    elsewhere (the in-process test client, some servers) a ``websocket.close``
    with 1000 and no reason, as the reference framework sends.
    """
    await _refuse(send, HTTP_RESPONSE_EXTENSION in (scope.get('extensions') or {}), status_code, detail)


async def _refuse(send: Send, http_response: bool, status_code: int, detail: str) -> None:
    try:
        if http_response:
            body = dumps({'detail': detail})
            await send({'type': 'websocket.http.response.start', 'status': status_code,
                        'headers': [(b'content-type', b'application/json'),
                                    (b'content-length', str(len(body)).encode())]})
            await send({'type': 'websocket.http.response.body', 'body': body})
        else:
            await send({'type': 'websocket.close', 'code': status.WS_1000_NORMAL_CLOSURE, 'reason': ''})
    except Exception as exc:
        logger.debug('refusing a handshake failed, the peer has gone: %r', exc)


class Outbox:
    """The outgoing side and the state of one connection.

    ``send`` is the server's ASGI send (opaque); ``scope`` is read once for the
    extensions the server offers; ``queue_size`` and ``close_timeout`` are the
    ``WS_SEND_QUEUE_SIZE`` and ``WS_CLOSE_TIMEOUT`` limits; ``direct`` allows
    the frame sink (``WS_DIRECT_WRITE``); ``metrics`` are the counters of the
    connection's route when ``METRICS_PATH`` is set, else None.
    """

    __slots__ = (
        '_abandoned',
        '_busy',
        '_http_response',
        '_queue',
        '_queue_size',
        '_send',
        '_sink',
        '_task',
        '_watchdog',
        '_writer',
        'close_code',
        'close_timeout',
        'closed_by_handler',
        'connection_id',
        'high_water',
        'metrics',
        'state',
    )

    #: Whether this connection could carry a ``panther.v1`` session (:mod:`panther.session_outbox`).
    offers_session = False
    #: The session this outbox carries; plain connections have none.
    session = None

    def __init__(self, send: Send, scope: Scope, queue_size: int, close_timeout: float, direct: bool = True,
                 metrics: RouteMetrics | None = None) -> None:
        extensions = scope.get('extensions') or {}
        self._send = send
        self._sink: FrameSink | None = extensions.get(FRAMES_EXTENSION) if direct else None
        self._http_response = HTTP_RESPONSE_EXTENSION in extensions
        self._queue: deque[Message] | None = None  # only connections that ever queue pay for a deque
        self._queue_size = queue_size
        self._busy = False  # the handler's own ASGI send is in flight
        self._writer: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._abandoned = False
        self.close_timeout = close_timeout
        self.state = CONNECTING
        #: The code this side closed with (the handler, outside, a limit); None while nobody here closed.
        self.close_code: int | None = None
        #: The handler's own close(): a later send() by the handler is then a bug, not a race.
        self.closed_by_handler = False
        self.connection_id: str | None = None
        #: The most frames that ever waited in the queue at once.
        self.high_water = 0
        self.metrics = metrics

    @property
    def fast_path(self) -> bool:
        """Whether the server offers the frame sink for this connection."""
        return self._sink is not None

    @property
    def queued(self) -> int:
        """Frames waiting for the writer (diagnostics and tests)."""
        return len(self._queue) if self._queue else 0

    @property
    def accepted(self) -> bool:
        """True once the handshake completed (also after the connection ended)."""
        return self._task is not None

    @property
    def abandoned(self) -> bool:
        """True once the outbox gave up on a connection that would not finish closing."""
        return self._abandoned

    # -- handshake -----------------------------------------------------------------

    async def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> bool:
        """Complete the handshake; False if the peer left meanwhile (the state is then CLOSED)."""
        check('accept()', self.state, (CONNECTING,))
        message: dict[str, Any] = {'type': 'websocket.accept', 'subprotocol': subprotocol}
        if headers:
            message['headers'] = headers
        try:
            await self._send(message)
        except Exception as exc:
            logger.debug('accept failed, the peer has gone: %r', exc)
            self.state = CLOSED
            if self.metrics is not None:
                self.metrics.handshake('peer_left')
            return False
        self.state = OPEN
        self._task = asyncio.current_task()
        if self.metrics is not None:
            self.metrics.open += 1
            self.metrics.handshake('accepted')
        return True

    def registered(self) -> Any:
        """What the registry keeps for this connection: the outbox itself (a session's outbox: its session)."""
        return self

    async def refuse(self, status_code: int, detail: str) -> None:
        """Refuse the handshake (see :func:`refuse_handshake`)."""
        if self.state is not CONNECTING:
            return
        self.state = CLOSED
        await _refuse(self._send, self._http_response, status_code, detail)

    # -- sends -----------------------------------------------------------------------

    def write_now(self, payload: str | bytes) -> bool:
        """Write ``payload`` through the frame sink if it can leave at once; False if :meth:`send` must take it.

        Synchronous, so the common case of a send costs no coroutine at all.
        """
        sink = self._sink
        if sink is None or self.state is not OPEN or self._busy or self._writer is not None or self._queue:
            return False
        if not sink.write_frame(wire_frame(payload)):
            return False
        if self.metrics is not None:
            self._count(payload)
        return True

    async def send(self, payload: str | bytes) -> None:
        """The handler's own send: written now, or awaited, or queued behind earlier frames."""
        if self.state is not OPEN:
            self._not_open('send()')
            return
        if self.metrics is not None:
            self._count(payload)
        if self._busy or self._writer is not None or self._queue:
            self._enqueue(text_or_bytes_message(payload))
            return
        sink = self._sink
        if sink is not None and sink.write_frame(wire_frame(payload)):
            return
        self._busy = True
        try:
            # text_or_bytes_message, inlined: this is the per-message path of every server without a frame sink.
            await self._send({'type': 'websocket.send', 'text': payload} if type(payload) is str
                             else {'type': 'websocket.send', 'bytes': payload})
        except Exception as exc:
            self._failed(exc)
        finally:
            self._busy = False
            if self._queue and self._writer is None:
                self._start_writer()

    def push(self, payload: str | bytes) -> None:
        """A send from outside the handler's task: never waits."""
        self.push_message(text_or_bytes_message(payload), None if self._sink is None else wire_frame(payload))

    def push_message(self, message: Message, frame: bytes | None = None, size: int | None = None) -> None:
        """``push`` of a ready ASGI message and its wire frame; a group send shares both among its members.

        ``size`` is the payload's size in bytes for the metrics, if the caller knows it (a group
        send computes it once for all its members).
        """
        if self.state is not OPEN:
            logger.debug('send to %s dropped: connection is %s', self.connection_id, self.state.value)
            return
        metrics = self.metrics
        if metrics is not None:
            metrics.sent += 1
            metrics.sent_bytes += size if size is not None else payload_size(
                message.get('text') or message.get('bytes') or b'')
        if frame is not None and not self._busy and self._writer is None and not self._queue:
            sink = self._sink
            if sink is not None and sink.write_frame(frame):
                return
        self._enqueue(message)

    def push_all(self, payloads: list[str | bytes]) -> None:
        """``push`` of a backlog (a resumed session's missed messages), in order, whatever the queue bound."""
        for payload in payloads:
            if self.state is not OPEN:
                return
            sink = self._sink
            if (sink is not None and not self._busy and self._writer is None and not self._queue
                    and sink.write_frame(wire_frame(payload))):
                continue
            self._enqueue(text_or_bytes_message(payload), force=True)

    # -- closes ------------------------------------------------------------------------

    async def close(self, code: int, reason: str, by_handler: bool = False) -> None:
        """Close from the connection's own task, after every frame queued before.

        ``by_handler``: the handler's ``close()``, which may not be repeated; the
        framework's own closes (a crash, a size or rate limit) pass False.
        Before ``accept`` it refuses the handshake with that close.
        """
        if self.state is CONNECTING:
            self.state = CLOSED
            self.closed_by_handler = by_handler
            self.close_code = code
            try:
                await self._send({'type': 'websocket.close', 'code': code, 'reason': reason})
            except Exception as exc:
                logger.debug('refusing a handshake failed, the peer has gone: %r', exc)
            return
        if self.state is not OPEN:
            if by_handler and self.closed_by_handler:
                check('close()', self.state, (OPEN,))
            return  # the peer, an outside close or a limit went first: nothing left to close
        self._begin_close(code, by_handler)
        message = {'type': 'websocket.close', 'code': code, 'reason': reason}
        if self._busy or self._writer is not None or self._queue:
            self._enqueue(message, force=True)
            return
        try:
            await self._send(message)
        except Exception as exc:
            logger.debug('close of %s: the peer had already gone: %r', self.connection_id, exc)

    def close_soon(self, code: int, reason: str) -> None:
        """Close from outside the connection's task (other code, idle limit, shutdown), after queued frames."""
        if self.state is not OPEN:
            logger.debug('close of %s dropped: connection is %s', self.connection_id, self.state.value)
            return
        self._begin_close(code, False)
        self._enqueue({'type': 'websocket.close', 'code': code, 'reason': reason}, force=True)

    def ended(self, code: int) -> int:
        """The server reported the disconnect with ``code``; returns the code ``disconnect()`` hears."""
        self.state = CLOSED
        self._stop_watchdog()
        return self.close_code if self.close_code is not None else code

    def abandon(self) -> None:
        """Stop waiting for a connection that does not finish closing, and free what it holds.

        With a frame sink the server drops the TCP connection and reports the
        disconnect. Without one, the task serving the connection is cancelled
        (the endpoint then ends it as if the disconnect had come) and the server
        closes the transport when the app returns, as ASGI says.
        """
        self._stop_watchdog()
        if self._queue:
            self._queue.clear()
        if self._sink is not None:
            self._sink.abort_connection()
            return
        self._abandoned = True
        self.state = CLOSED
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
        task = self._task
        if task is not None and not task.done():
            task.cancel()

    def finish(self) -> None:
        """The connection has ended: stop the writer and the close clock."""
        metrics = self.metrics
        if metrics is not None and self._task is not None:
            metrics.open -= 1  # counted at accept; nothing is counted for this connection after this
            self.metrics = None
        self.state = CLOSED
        self._stop_watchdog()
        writer = self._writer
        if writer is not None and not writer.done() and writer is not asyncio.current_task():
            writer.cancel()
        if self._queue:
            self._queue.clear()

    # -- internals -------------------------------------------------------------------------

    def _count(self, payload: str | bytes) -> None:
        metrics = self.metrics
        metrics.sent += 1  # type: ignore[union-attr]
        metrics.sent_bytes += payload_size(payload)  # type: ignore[union-attr]

    def _not_open(self, step: str) -> None:
        if self.state is CONNECTING or self.closed_by_handler:
            check(step, self.state, (OPEN,))
        # Closed by the peer, from outside or by a limit: not a bug in the caller.
        logger.debug('%s on %s dropped: the connection has ended', step, self.connection_id)

    def _enqueue(self, message: Message, force: bool = False) -> None:
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        if not force and len(queue) >= self._queue_size:
            self._overflow()
            return
        queue.append(message)
        if len(queue) > self.high_water:
            self.high_water = len(queue)
            metrics = self.metrics
            if metrics is not None and self.high_water > metrics.high_water:
                metrics.high_water = self.high_water
        if not self._busy and self._writer is None:
            self._start_writer()

    def _start_writer(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        queue = self._queue
        send = self._send
        try:
            while queue:
                await send(queue.popleft())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
        finally:
            # Only the current writer clears the slot; a cancelled one must not clear a successor's.
            if self._writer is asyncio.current_task():
                self._writer = None

    def _overflow(self) -> None:
        logger.warning(
            'closing %s with 1013: %d messages wait to be sent (WS_SEND_QUEUE_SIZE); the client is too slow',
            self.connection_id, self._queue_size,
        )
        if self._queue:
            self._queue.clear()
        if self.metrics is not None:
            self.metrics.limit_closed('send_queue')
        self._begin_close(status.WS_1013_TRY_AGAIN_LATER, False)
        # Whatever write is in flight finishes first and the close follows it: two
        # concurrent ASGI sends could reach the socket in either order.
        self._enqueue({'type': 'websocket.close', 'code': status.WS_1013_TRY_AGAIN_LATER,
                       'reason': 'send queue full'}, force=True)

    def _begin_close(self, code: int, by_handler: bool) -> None:
        self.state = CLOSING
        self.close_code = code
        self.closed_by_handler = by_handler
        if self._watchdog is None and self.close_timeout > 0:
            self._watchdog = asyncio.get_running_loop().call_later(self.close_timeout, self._give_up)

    def _give_up(self) -> None:
        self._watchdog = None
        if self.state is CLOSED and not self._busy and self._writer is None:
            return
        logger.info('%s did not finish closing within %s s (WS_CLOSE_TIMEOUT), the peer does not read: '
                    'connection abandoned', self.connection_id, self.close_timeout)
        self.abandon()

    def _stop_watchdog(self) -> None:
        watchdog = self._watchdog
        if watchdog is not None:
            watchdog.cancel()
            self._watchdog = None

    def _failed(self, exc: BaseException) -> None:
        """A write failed: the peer has gone (an OSError, as ASGI servers raise) or the server broke."""
        if isinstance(exc, OSError) or self.state is CLOSED:
            logger.debug('writing to %s failed, the peer has gone: %r', self.connection_id, exc)
        else:
            logger.error('writing to %s failed: %r', self.connection_id, exc)
        if self._queue:
            self._queue.clear()  # nobody will read them
        self.state = CLOSED
