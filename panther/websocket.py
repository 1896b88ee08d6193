"""WebSocket endpoints, and reaching any live connection from anywhere.

Write one class per endpoint and route it like an API:

```python
from panther.websocket import GenericWebsocket, send_message_to_websocket

class BookWebsocket(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data: str | bytes):
        await self.send(data)

urls = {'ws/book/': BookWebsocket}

# From an API, a background job or another worker:
await send_message_to_websocket(connection_id, {'new': 'book'})
```
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

    From ``connect`` on, ``self`` has ``headers``, ``query_params``, ``cookies``,
    ``path``, ``path_variables``, ``user``, ``client`` and ``scope``; after
    ``accept()``, ``connection_id``.

    Attributes:
        auth: an async function or a class with ``async __call__``, called with
            the connection; what it returns becomes ``self.user``, and if it
            raises the handshake is rejected (401). ``None``: the configured
            ``WS_AUTHENTICATION``, and only when the handshake has credentials.
        permissions: one or a list of async callables called with the
            connection; the first that returns ``False`` rejects it (403).

    Examples:
        ```python
        class RoomWebsocket(GenericWebsocket):
            auth = QueryParamJWTAuthentication
            permissions = [IsAuthenticated]

            async def connect(self, room_id: int):
                await self.accept()
                await self.join_group(f'room:{room_id}')

            async def receive(self, data: str):
                await send_message_to_group(f'room:{self.path_variables["room_id"]}', data)
        ```
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
        """Called after auth and permissions with the path variables as keyword arguments.

        Call ``accept()`` to take the connection or ``close()`` to refuse it;
        returning without either rejects the handshake. Annotated parameters are
        converted (``room_id: int``); a value that does not convert has rejected
        the handshake before ``connect`` runs.
        """

    async def receive(self, data: str | bytes) -> None:
        """Called for every incoming message, one at a time, in order.

        ``data`` is ``str`` for a text frame and ``bytes`` for a binary one;
        annotate it with a pydantic model to get each message decoded and
        validated (an invalid one is answered with ``{"detail": [...]}`` and the
        connection stays open). An exception escaping it is logged and closes
        this connection with 1011.
        """

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

        Args:
            subprotocol: the one chosen from those the client offered
                (``Sec-WebSocket-Protocol``), or ``None``. When it is ``None`` and
                the client offered ``panther.v1``, panther chooses that and the
                connection becomes a resumable session (see docs/sessions.md).
            headers: extra response headers.

        Raises:
            WebsocketStateError: called twice, or after ``close()``.
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
        long-running loop should check ``self.is_connected``.

        Args:
            data: ``str`` (text frame), ``bytes`` (binary frame), or anything
                orjson encodes: ``None``, numbers, lists, tuples, dicts, pydantic
                models (a JSON text frame).

        Raises:
            WebsocketStateError: before ``accept()``, or after this connection's
                own ``close()``.
        """
        kind = type(data)
        payload = data if kind is str or kind is bytes else encode_payload(data)
        outbox = self._outbox
        if not outbox.write_now(payload):
            await outbox.send(payload)

    async def close(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = '') -> None:
        """Close the connection after what was sent before, or reject the handshake if not accepted yet.

        Args:
            code: the close code (``status.WS_1000_NORMAL_CLOSURE``,
                ``status.WS_1008_POLICY_VIOLATION``, ...).
            reason: a short text the client sees (the protocol allows 123 bytes of UTF-8).

        Raises:
            WebsocketStateError: this connection already closed itself.
        """
        await self._outbox.close(code, reason, by_handler=True)

    async def join_group(self, name: str) -> None:
        """Join group ``name``; ``send_message_to_group(name, ...)`` then reaches this connection.

        Joining twice is the same as once. The membership ends with the
        connection (or with ``leave_group``), on whichever worker it lives.

        Raises:
            WebsocketStateError: the connection is not open (not accepted yet, or closed).
        """
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


def carry_over(connection: GenericWebsocket, outbox: Outbox) -> None:
    """Point a session's handler at what now carries its connection (on this worker or another)."""
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

    Works from any code in any process running the same app and bus: an API, a
    background job, another worker, another machine. Sends to one connection
    arrive in order. A connection that no longer exists is skipped with a debug
    log, never an error.

    Args:
        connection_id: the ``connection_id`` of the target connection.
        data: what ``GenericWebsocket.send`` takes: ``str``, ``bytes`` or
            anything JSON can encode.

    Raises:
        BusError: with Redis, only when Redis has been unreachable for so long
            that ``BUS_BUFFER_SIZE`` messages are already waiting.

    Examples:
        ```python
        await send_message_to_websocket(connection_id='7e82d57c9ec0478787b01916910a9f45', data='hi')
        ```
    """
    runtime = _runtime.current()
    if not runtime.started:
        await runtime.start()
    await runtime.send(connection_id, data)


async def close_websocket_connection(
    connection_id: str, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = ''
) -> None:
    """Close the connection ``connection_id`` wherever it lives, after the sends queued before.

    An unknown or already closed id is skipped with a debug log.

    Args:
        connection_id: the ``connection_id`` of the target connection.
        code: the close code the client gets.
        reason: a short text the client gets with it.
    """
    await (await _started()).close(connection_id, code, reason)


async def send_message_to_group(name: str, data: Any, exclude: str | list[str] | None = None) -> None:
    """Send ``data`` once to every member of group ``name`` on every worker and machine.

    It costs one bus message per worker with members, never one per member. A
    group without members is not an error.

    Args:
        name: the group, as passed to ``join_group``.
        data: what ``GenericWebsocket.send`` takes.
        exclude: a connection id (or a list of them) to leave out, e.g. the sender.

    Examples:
        ```python
        await send_message_to_group('room:7', {'type': 'message', 'text': 'hi'}, exclude=self.connection_id)
        ```
    """
    if exclude is None:
        skip: tuple[str, ...] = ()
    elif isinstance(exclude, str):
        skip = (exclude,)
    else:
        skip = tuple(exclude)
    await (await _started()).group_send(name, data, skip)


async def group_members(name: str) -> list[str]:
    """Connection ids of the live members of group ``name`` across all workers and machines.

    Each worker's members in the order they joined; ``[]`` for a group without members.
    """
    return await (await _started()).group_members(name)
