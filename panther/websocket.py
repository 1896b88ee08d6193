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

import logging
from typing import Any

from panther import runtime as _runtime
from panther import status
from panther.base_request import BaseRequest
from panther.connection_ids import new_connection_id
from panther.outbox import Outbox
from panther.serialization import encode_payload
from panther.sessions import PROTOCOL
from panther.types import Scope
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
        '_cookies',
        '_final_groups',
        '_headers',
        '_outbox',
        '_query_params',
        '_runtime',
        'connection_id',
        'path_variables',
        'scope',
        'user',
    )

    # -- hooks users override --------------------------------------------------

    async def connect(self, **kwargs: Any) -> None:
        """Called after auth and permissions with the path variables; accept here."""

    async def receive(self, data: str | bytes) -> None:
        """Called for every incoming message."""

    # ``async def resumed(self)``: optional; called when a ``panther.v1`` client resumes its
    # session (connect() is not called again). Not defined here so its absence costs nothing.

    async def disconnect(self, code: int) -> None:
        """Called exactly once when an accepted connection ends, whoever ended it.

        The connection has already left its groups: ``group_members()`` no longer
        lists it, while ``self.groups`` still names the groups it was in.
        """

    # -- state ----------------------------------------------------------------

    @property
    def state(self) -> WebsocketState:
        """CONNECTING, OPEN, CLOSING or CLOSED (:mod:`panther.websocket_state`)."""
        return self._outbox.state

    @property
    def is_connected(self) -> bool:
        """True while sends reach the client (accepted, and nobody has closed yet)."""
        return self._outbox.state is WebsocketState.OPEN

    # -- actions ----------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None, headers: dict[str, str] | None = None) -> None:
        """Complete the handshake; ``self.connection_id`` is set from here on.

        ``subprotocol`` is the one chosen from those the client offered; when
        it is None and the client offered ``panther.v1``, panther chooses that
        and the connection becomes a resumable session (docs/sessions.md).
        ``headers`` are extra response headers. Raises ``WebsocketStateError``
        when called twice or after ``close()``.
        """
        outbox = self._outbox
        check('accept()', outbox.state, (WebsocketState.CONNECTING,))
        pairs = [(k.lower().encode('latin-1'), v.encode('latin-1')) for k, v in headers.items()] if headers else []
        runtime = self._runtime
        if not runtime.started:
            await runtime.start()
        connection_id = outbox.connection_id = new_connection_id(runtime.worker_id)
        if subprotocol is None and outbox.offers_session:
            subprotocol = PROTOCOL  # the client offered a session and the handler chose nothing else
        accepted = await outbox.accept(subprotocol, pairs)
        # Set even when the peer left during the handshake, so disconnect() still runs.
        self.connection_id = connection_id
        if accepted:
            runtime.registry.add(connection_id, outbox.registered())

    async def send(self, data: Any = None) -> None:
        """Send ``data``: ``str`` as a text frame, ``bytes`` as binary, anything else as JSON text.

        Sends are delivered in order with every other send to this connection,
        including those from ``send_message_to_websocket``. Once the peer has left
        or the connection was closed from outside, a send is dropped quietly, so a
        long-running loop should check ``self.is_connected``; a send before
        ``accept()`` or after this connection's own ``close()`` raises
        ``WebsocketStateError``.
        """
        kind = type(data)
        payload = data if kind is str or kind is bytes else encode_payload(data)
        outbox = self._outbox
        if not outbox.write_now(payload):
            await outbox.send(payload)

    async def close(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = '') -> None:
        """Close the connection after what was sent before, or reject the handshake if not accepted yet.

        Raises ``WebsocketStateError`` when this connection already closed itself.
        """
        await self._outbox.close(code, reason, by_handler=True)

    async def join_group(self, name: str) -> None:
        """Join group ``name``; ``send_message_to_group(name, ...)`` then reaches this connection."""
        check('join_group()', self._outbox.state, (WebsocketState.OPEN,))
        await self._runtime.join(name, self.connection_id)  # type: ignore[arg-type]

    async def leave_group(self, name: str) -> None:
        """Leave group ``name`` (no error if not a member)."""
        if self.connection_id is not None:
            await self._runtime.leave(name, self.connection_id)

    @property
    def groups(self) -> frozenset[str]:
        """The groups this connection is in (in ``disconnect``: the groups it was in)."""
        if self._final_groups is not None:
            return self._final_groups
        if self.connection_id is None:
            return frozenset()
        return self._runtime.groups_of(self.connection_id)


def open_connection(
    cls: type[GenericWebsocket], scope: Scope, outbox: Outbox, runtime: _runtime.Runtime
) -> GenericWebsocket:
    """An instance of the user's class for one handshake (``panther.websocket_endpoint`` calls it)."""
    connection = cls()
    connection._bind(scope)
    connection._outbox = outbox
    connection._runtime = runtime
    connection._final_groups = None
    connection.connection_id = None
    return connection


def rebind_connection(connection: GenericWebsocket, scope: Scope, outbox: Outbox, user: Any) -> None:
    """Carry a resumed session's handler over to the handshake that resumed it."""
    variables = connection.path_variables
    connection._bind(scope)
    connection.path_variables = variables
    connection.user = user
    connection._outbox = outbox
    connection._final_groups = None


def remember_groups(connection: GenericWebsocket, groups: list[str]) -> None:
    """Remember the groups a finished connection was in, for ``self.groups`` inside ``disconnect``."""
    connection._final_groups = frozenset(groups)


#: The same class under the name the reference documentation also uses.
Websocket = GenericWebsocket


async def _started() -> _runtime.Runtime:
    runtime = _runtime.current()
    if not runtime.started:
        await runtime.start()
    return runtime


async def send_message_to_websocket(connection_id: str, data: Any) -> None:
    """Send ``data`` to the connection ``connection_id``, wherever it lives.

    A connection that no longer exists is skipped with a debug log, never an error::

        await send_message_to_websocket(connection_id='7e82d57c9ec0478787b01916910a9f45', data='hi')
    """
    runtime = _runtime.current()
    if not runtime.started:
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
