"""WebSocket endpoints, and reaching any live connection from anywhere.

Write one class per endpoint and route it like an API::

    from panther.websocket import GenericWebsocket, send_message_to_websocket

    class BookWebsocket(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()

        async def receive(self, data: str | bytes):
            await self.send(data)

    urls = {'ws/book/': BookWebsocket}

    # From an API, a background job or another worker:
    await send_message_to_websocket(connection_id, {'new': 'book'})
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from panther import runtime as _runtime
from panther import status
from panther.base_request import BaseRequest
from panther.closing import arm_close_watchdog
from panther.connection_ids import new_connection_id
from panther.coroutines import finish_coroutine
from panther.direct_write import DirectWriter, direct_writer, wire_frame
from panther.runtime import encode_payload, frame
from panther.types import Message, Send
from panther.websocket_state import WebsocketState, check

__all__ = [
    'GenericWebsocket',
    'Websocket',
    'close_websocket_connection',
    'group_members',
    'send_message_to_group',
    'send_message_to_websocket',
]

logger = logging.getLogger('panther')

_CONNECTING = WebsocketState.CONNECTING
_CONNECTED = WebsocketState.CONNECTED
_CLOSED = WebsocketState.CLOSED


class GenericWebsocket(BaseRequest):
    """Base class of a WebSocket endpoint.

    Override ``connect`` (accept or close there; otherwise the handshake is
    rejected), ``receive`` (``str`` for text frames, ``bytes`` for binary, or a
    pydantic model when annotated with one) and optionally ``disconnect``.
    ``auth`` and ``permissions`` are async callables called with the connection.
    """

    auth: Any = None
    permissions: Any = None

    # Internals live in slots so a connection costs little memory; user subclasses
    # still get a __dict__ for their own attributes.
    __slots__ = (
        '__dict__',
        '_asgi_send',
        '_close_code',
        '_close_watchdog',
        '_closed_by_app',
        '_closed_here',
        '_cookies',
        '_direct',
        '_groups',
        '_headers',
        '_limits',
        '_outbox',
        '_query_params',
        '_runtime',
        '_state',
        '_writer',
        '_writing',
        'connection_id',
        'path_variables',
        'scope',
        'user',
    )

    def _setup(self, scope: Any, send: Send, runtime: _runtime.Runtime) -> None:
        self._bind(scope)
        self._asgi_send = send
        self._runtime = runtime
        self._limits = runtime.limits
        self._state = _CONNECTING
        self._closed_by_app = False
        self._closed_here = False
        self._close_code: int | None = None
        self._close_watchdog: asyncio.TimerHandle | None = None
        self._outbox: deque[Message] | None = None
        self._writing = False
        self._writer: asyncio.Task[None] | None = None
        self._groups: set[str] | None = None
        self._direct: DirectWriter | None = None
        self.connection_id: str | None = None

    # -- hooks users override --------------------------------------------------

    async def connect(self, **kwargs: Any) -> None:
        """Called after auth and permissions with the path variables; accept here."""

    async def receive(self, data: str | bytes) -> None:
        """Called for every incoming message."""

    async def disconnect(self, code: int) -> None:
        """Called exactly once when an accepted connection ends, whoever ended it."""

    # -- state ----------------------------------------------------------------

    @property
    def state(self) -> WebsocketState:
        return self._state

    @property
    def is_connected(self) -> bool:
        return self._state is _CONNECTED

    # -- actions ----------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None, headers: dict[str, str] | None = None) -> None:
        """Complete the handshake; ``self.connection_id`` is set from here on."""
        check('accept()', self._state, (_CONNECTING,))
        message: dict[str, Any] = {'type': 'websocket.accept', 'subprotocol': subprotocol}
        if headers:
            message['headers'] = [(k.lower().encode('latin-1'), v.encode('latin-1')) for k, v in headers.items()]
        runtime = self._runtime
        if not runtime.worker_id or runtime._started is None or not runtime._started.is_set():
            await runtime.start()
        try:
            await self._asgi_send(message)
        except OSError:
            # The peer left during the handshake: nothing to register, but disconnect() still runs.
            self.connection_id = new_connection_id(runtime.worker_id)
            self._peer_gone()
            return
        self.connection_id = new_connection_id(runtime.worker_id)
        self._state = _CONNECTED
        if self._limits.direct_write:
            self._direct = direct_writer(self._asgi_send)
        runtime.registry.add(self)

    async def send(self, data: Any = None) -> None:
        """Send ``data``: ``str`` as a text frame, ``bytes`` as binary, anything else as JSON text.

        Sends are delivered in order with every other send to this connection,
        including those from ``send_message_to_websocket``. Once the peer has left
        or the connection was closed from outside, a send is dropped quietly, so a
        long-running loop should check ``self.is_connected``; a send after this
        connection's own ``close()`` raises ``WebsocketStateError``.
        """
        if self._state is not _CONNECTED:
            if self._state is _CLOSED and not self._closed_here:
                # Closed by the peer, from outside or by a limit: not a bug in the caller.
                logger.debug('send on %s dropped: the connection has ended', self.connection_id)
                return
            check('send()', self._state, (_CONNECTED,))
        kind = type(data)
        if kind is not str and kind is not bytes:
            data = encode_payload(data)
        if self._writing or self._outbox:
            self._enqueue(frame(data))
            return
        # Nothing queued or in flight: the frame may go straight to the socket, else
        # the ASGI send is awaited here, so the connection's own sends cost no task.
        direct = self._direct
        if direct is not None and direct(self._asgi_send, wire_frame(data)):
            return
        message = frame(data)
        self._writing = True
        try:
            await self._asgi_send(message)
        except OSError:
            self._peer_gone()
        finally:
            self._writing = False
            if self._outbox and self._writer is None:
                self._writer = asyncio.get_running_loop().create_task(self._flush())

    async def close(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = '') -> None:
        """Close the connection, or reject the handshake if it was not accepted yet."""
        if self._state is _CLOSED and not self._closed_here:
            return  # the peer, an outside close or a limit went first; nothing left to close
        check('close()', self._state, (_CONNECTING, _CONNECTED))
        self._closed_here = True
        await self._send_close(code, reason)

    async def _send_close(self, code: int, reason: str) -> None:
        """Close after every queued send (the framework's own closes: crash, limits)."""
        if self._state is _CLOSED:
            return
        message = {'type': 'websocket.close', 'code': code, 'reason': reason}
        was_connecting = self._state is _CONNECTING
        self._state = _CLOSED
        self._closed_by_app = True
        self._close_code = code
        self._start_close_clock()
        if was_connecting or not (self._writing or self._outbox):
            try:
                await self._asgi_send(message)
            except OSError:
                logger.debug('close of %s: the peer had already gone', self.connection_id)
        else:
            self._enqueue(message, force=True)

    async def join_group(self, name: str) -> None:
        """Join group ``name``; ``send_message_to_group(name, ...)`` then reaches this connection."""
        check('join_group()', self._state, (_CONNECTED,))
        if self._groups is None:
            self._groups = set()
        if name not in self._groups:
            self._groups.add(name)
            await self._runtime.join(name, self.connection_id)  # type: ignore[arg-type]

    async def leave_group(self, name: str) -> None:
        """Leave group ``name`` (no error if not a member)."""
        if self._groups and name in self._groups:
            self._groups.discard(name)
            await self._runtime.leave(name, self.connection_id)  # type: ignore[arg-type]

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self._groups or ())

    # -- the outgoing queue (internal) --------------------------------------------

    def _push(self, payload: str | bytes) -> None:
        """A send from outside this connection's task: queue it, never wait."""
        self._push_frame(frame(payload), None if self._direct is None else wire_frame(payload))

    def _push_frame(self, message: Message, wire: bytes | None = None) -> None:
        """``_push`` of a ready ASGI message; a group send shares one (and its ``wire`` frame) among all members."""
        if self._state is not _CONNECTED:
            logger.debug('send to %s dropped: connection is %s', self.connection_id, self._state.value)
            return
        # Nothing queued or in flight: the frame may go straight to the socket (panther.direct_write).
        if wire is not None and not self._outbox and not self._writing and self._writer is None:
            direct = self._direct
            if direct is not None and direct(self._asgi_send, wire):
                return
        self._enqueue(message)

    def _enqueue(self, message: Message, force: bool = False) -> None:
        outbox = self._outbox
        if not outbox and not self._writing and self._writer is None:
            self._write_now(message)
            return
        if outbox is None:
            # Only connections that ever had to queue pay for a deque.
            outbox = self._outbox = deque()
        if not force and len(outbox) >= self._limits.send_queue_size:
            self._overflow()
            return
        outbox.append(message)
        if not self._writing and self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._flush())

    def _write_now(self, message: Message) -> None:
        """Write from a caller that must not wait, without a task when the server need not wait either.

        A server's send usually completes without suspending (the socket buffer has
        room), so stepping its coroutine once here finishes the write; a broadcast to
        10,000 members then costs no task at all. Only a send that has to wait for
        the client is handed to a writer task, which then drains the outbox as usual.
        """
        coroutine = self._asgi_send(message)
        self._writing = True
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            self._writing = False
            return
        except OSError as exc:
            self._writing = False
            logger.debug('writing to %s failed, the peer has gone: %r', self.connection_id, exc)
            self._peer_gone()
            return
        except Exception:
            self._writing = False
            logger.exception('writing to %s failed', self.connection_id)
            self._peer_gone()
            return
        self._writer = asyncio.get_running_loop().create_task(self._finish_write(coroutine, waiting_on))

    async def _finish_write(self, coroutine: Any, waiting_on: Any) -> None:
        try:
            await finish_coroutine(coroutine, waiting_on)
        except OSError as exc:
            logger.debug('writing to %s failed, the peer has gone: %r', self.connection_id, exc)
            self._peer_gone()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception('writing to %s failed', self.connection_id)
            self._peer_gone()
        else:
            if self._writer is asyncio.current_task():
                await self._flush()
                return
        if self._writer is asyncio.current_task():
            self._writing = False
            self._writer = None

    async def _flush(self) -> None:
        self._writing = True
        outbox = self._outbox
        send = self._asgi_send
        try:
            while outbox:
                await send(outbox.popleft())
        except OSError as exc:
            logger.debug('writing to %s failed, the peer has gone: %r', self.connection_id, exc)
            self._peer_gone()
        except Exception:
            logger.exception('writing to %s failed', self.connection_id)
            self._peer_gone()
        finally:
            # Only the current writer resets the flags; a cancelled one must not clear a successor's.
            if self._writer is asyncio.current_task():
                self._writing = False
                self._writer = None

    def _overflow(self) -> None:
        size = self._limits.send_queue_size
        logger.warning(
            'closing %s with 1013: %d messages wait to be sent (WS_SEND_QUEUE_SIZE); the client is too slow',
            self.connection_id, size,
        )
        self._state = _CLOSED
        self._closed_by_app = True
        self._close_code = status.WS_1013_TRY_AGAIN_LATER
        self._start_close_clock()
        if self._outbox:
            self._outbox.clear()
        # Whatever write is in flight finishes first and the close follows it: two
        # concurrent ASGI sends could reach the socket in either order. The server's
        # own write buffer wait is the only thing the close waits behind.
        self._enqueue({'type': 'websocket.close', 'code': status.WS_1013_TRY_AGAIN_LATER,
                       'reason': 'send queue full'}, force=True)

    def _close_from_outside(self, code: int, reason: str) -> None:
        """``close_websocket_connection``: ordered after every send queued before it."""
        if self._state is not _CONNECTED:
            logger.debug('close of %s dropped: connection is %s', self.connection_id, self._state.value)
            return
        self._state = _CLOSED
        self._closed_by_app = True
        self._close_code = code
        self._start_close_clock()
        self._enqueue({'type': 'websocket.close', 'code': code, 'reason': reason}, force=True)

    def _start_close_clock(self) -> None:
        """A close can wait forever behind writes to a peer that does not read: bound it (panther.closing)."""
        if self._close_watchdog is None and self.connection_id is not None:
            self._close_watchdog = arm_close_watchdog(self._asgi_send, self._limits.close_timeout,
                                                      self.connection_id)

    def _peer_gone(self) -> None:
        if self._outbox:
            self._outbox.clear()  # nobody will read them
        if self._state is not _CLOSED:
            self._state = _CLOSED
            self._closed_by_app = False


#: The same class under the name the reference documentation also uses.
Websocket = GenericWebsocket


async def _started() -> _runtime.Runtime:
    runtime = _runtime.current()
    if not runtime.worker_id:
        await runtime.start()
    return runtime


async def send_message_to_websocket(connection_id: str, data: Any) -> None:
    """Send ``data`` to the connection ``connection_id``, wherever it lives.

    A connection that no longer exists is skipped with a debug log, never an error::

        await send_message_to_websocket(connection_id='7e82d57c9ec0478787b01916910a9f45', data='hi')
    """
    runtime = _runtime.current()
    if not runtime.worker_id:
        await runtime.start()
    await runtime.send(connection_id, data)


async def close_websocket_connection(
    connection_id: str, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = ''
) -> None:
    """Close the connection ``connection_id`` wherever it lives, after the sends queued before."""
    await (await _started()).close(connection_id, code, reason)


async def send_message_to_group(name: str, data: Any, exclude: str | list[str] | None = None) -> None:
    """Send ``data`` once to every member of group ``name`` on every worker and machine.

    ``exclude`` is a connection id (or a list of them) to leave out, e.g. the sender.
    """
    if exclude is None:
        skip: tuple[str, ...] = ()
    elif isinstance(exclude, str):
        skip = (exclude,)
    else:
        skip = tuple(exclude)
    await (await _started()).group_send(name, data, skip)


async def group_members(name: str) -> list[str]:
    """Connection ids of the live members of group ``name`` across all workers and machines."""
    return await (await _started()).group_members(name)
