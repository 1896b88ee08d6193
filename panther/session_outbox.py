"""The outbox of a connection that offered ``panther.v1``: the one write path, numbering what it writes.

A plain client never meets this class: the endpoint builds it only for a
handshake that offers ``panther.v1`` while sessions are on, so the plain path
pays nothing. Until the handler accepts with ``panther.v1`` (panther's choice
when ``accept()`` names no subprotocol) it behaves exactly as an
:class:`~panther.outbox.Outbox`. From then on it carries a session: a
:class:`~panther.sessions.Session` of this worker, which numbers and keeps every
message, or a :class:`~panther.session_handover.Relay` of a session whose home is
another worker, which numbers them there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from panther.frames import wire_frame
from panther.outbox import CONNECTING, OPEN, Outbox
from panther.sessions import PROTOCOL, Session
from panther.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from panther.metrics import RouteMetrics
    from panther.session_handover import Relay
    from panther.sessions import SessionServer, SessionStore
    from panther.websocket import GenericWebsocket


class SessionOutbox(Outbox):
    """An outbox that may carry a session (``store``: this worker's sessions)."""

    __slots__ = ('lost', 'pending', 'session', 'store', 'superseded')

    offers_session = True

    def __init__(self, send: Send, scope: Scope, queue_size: int, close_timeout: float, direct: bool,
                 store: SessionStore, metrics: RouteMetrics | None = None) -> None:
        super().__init__(send, scope, queue_size, close_timeout, direct, metrics)
        self.store = store
        self.session: Session | Relay | None = None
        #: Why the resume this handshake asked for was refused (``welcome.lost``).
        self.lost: str | None = None
        #: ``(path, user identity, handler, server)`` of a new session, set by the endpoint before ``connect()``.
        self.pending: tuple[str, str, GenericWebsocket, SessionServer] | None = None
        #: A resume on another connection took the session over.
        self.superseded = False

    def registered(self) -> Any:
        return self.session if self.session is not None else self

    # -- handshakes ------------------------------------------------------------------

    async def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> bool:
        if subprotocol != PROTOCOL or self.pending is None:
            return await super().accept(subprotocol, headers)
        accepted = await super().accept(subprotocol, headers)
        path, user_key, handler, server = self.pending
        session = self.session = self.store.open(self.connection_id, path, user_key, handler,  # type: ignore[arg-type]
                                                 server)
        session.outbox = self
        if accepted:
            self.push_wire(session.welcome_text(False, self.lost, 0))
        return accepted

    async def accept_resumed(self, session: Session, seq: int) -> bool:
        """Complete a handshake that resumes ``session`` from ``seq``: welcome, then what the client missed."""
        self.session = session
        self.connection_id = session.connection_id
        if not await super().accept(PROTOCOL, []):
            return False
        session.lease += 1
        session.outbox = self
        self.push_all([session.welcome_text(True, None, seq), *session.after(seq)])
        return True

    async def accept_relayed(self, relay: Relay) -> bool:
        """Complete a handshake that carries ``relay`` (a session of another worker)."""
        self.session = relay
        self.connection_id = relay.connection_id
        if not await super().accept(PROTOCOL, []):
            return False
        relay.attach(self)
        return True

    def supersede(self) -> None:
        """A resume on another connection took the session over: close this one, keep the session."""
        self.superseded = True
        self.close_soon(1008, 'session resumed on another connection')

    # -- the handler's sends -------------------------------------------------------

    def write_now(self, payload: str | bytes) -> bool:
        session = self.session
        if session is None:
            return super().write_now(payload)
        return session.write_now(self, payload)

    async def send(self, payload: str | bytes) -> None:
        session = self.session
        if session is None or self.state is CONNECTING or self.closed_by_handler:
            await super().send(payload)
        else:
            await session.send(self, payload)

    # -- what the session writes ----------------------------------------------------------

    def can_write_now(self) -> bool:
        return (self._sink is not None and self.state is OPEN and not self._busy and self._writer is None
                and not self._queue)

    def write_numbered(self, payload: str | bytes) -> None:
        """Write through the frame sink (the caller checked :meth:`can_write_now`), else queue."""
        if not self._sink.write_frame(wire_frame(payload)):  # type: ignore[union-attr]
            super().push(payload)
        elif self.metrics is not None:
            self._count(payload)

    async def send_numbered(self, payload: str | bytes) -> None:
        await super().send(payload)

    def push_wire(self, payload: str | bytes) -> None:
        """Write a ready frame payload (numbered already, or a control message), never waiting."""
        sink = self._sink
        if (sink is not None and self.state is OPEN and not self._busy and self._writer is None and not self._queue
                and sink.write_frame(wire_frame(payload))):
            if self.metrics is not None:
                self._count(payload)
            return  # a group send's common case: no ASGI message built for this member
        super().push(payload)


class SessionReceive:
    """The receive side of a session: ``D<text>`` is a message, ``A<seq>`` an acknowledgement."""

    __slots__ = ('_outbox', '_receive')

    def __init__(self, receive: Receive, outbox: SessionOutbox) -> None:
        self._receive = receive
        self._outbox = outbox

    async def __call__(self) -> Message:
        receive = self._receive
        outbox = self._outbox
        while True:
            message = await receive()
            if message['type'] != 'websocket.receive':
                return message
            session = outbox.session
            if session is not None:
                session.heard(outbox)
            text = message.get('text')
            if text is None:
                return message
            kind = text[:1]
            if kind == 'D':
                message['text'] = text[1:]
                return message
            if kind == 'A' and session is not None:
                try:
                    seq = int(text[1:])
                except ValueError:
                    continue
                session.ack(seq)
            # other kinds are reserved: ignored
