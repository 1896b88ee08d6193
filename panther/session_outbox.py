"""The outbox of a connection that offered ``panther.v1``: the one write path, numbering what it writes.

A plain client never meets this class: the endpoint builds it only for a
handshake that offers ``panther.v1`` while sessions are on, so the plain path
pays nothing. Until the handler accepts with ``panther.v1`` (panther's choice
when ``accept()`` names no subprotocol) it behaves exactly as an
:class:`~panther.outbox.Outbox`; from then on every application message goes
through its :class:`~panther.sessions.Session`, which numbers and keeps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from panther.frames import wire_frame
from panther.outbox import CONNECTING, OPEN, Outbox
from panther.serialization import dumps_text
from panther.sessions import PROTOCOL, Session
from panther.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from panther.sessions import SessionStore
    from panther.websocket import GenericWebsocket


def _control(message: dict[str, Any]) -> str:
    return dumps_text(message)


class SessionOutbox(Outbox):
    """An outbox that may carry a session (``store``: this worker's sessions)."""

    __slots__ = ('lost', 'pending', 'session', 'store', 'superseded')

    offers_session = True

    def __init__(self, send: Send, scope: Scope, queue_size: int, close_timeout: float, direct: bool,
                 store: SessionStore) -> None:
        super().__init__(send, scope, queue_size, close_timeout, direct)
        self.store = store
        self.session: Session | None = None
        #: Why the resume this handshake asked for was refused (``welcome.lost``).
        self.lost: str | None = None
        #: ``(path, user identity, handler)`` of a new session, set by the endpoint before ``connect()``.
        self.pending: tuple[str, str, GenericWebsocket] | None = None
        #: A resume on another connection took the session over.
        self.superseded = False

    def registered(self) -> Any:
        return self.session if self.session is not None else self

    async def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> bool:
        if subprotocol != PROTOCOL or self.pending is None:
            return await super().accept(subprotocol, headers)
        accepted = await super().accept(subprotocol, headers)
        path, user_key, handler = self.pending
        session = self.session = self.store.open(self.connection_id, path, user_key, handler)  # type: ignore[arg-type]
        session.outbox = self
        if accepted:
            self.push_wire(_control(session.welcome(False, self.lost, 0)))
        return accepted

    async def accept_resumed(self, session: Session, seq: int) -> bool:
        """Complete a handshake that resumes ``session`` from ``seq``: welcome, then what the client missed."""
        self.session = session
        self.connection_id = session.connection_id
        if not await super().accept(PROTOCOL, []):
            return False
        session.outbox = self
        self.push_all([_control(session.welcome(True, None, seq)), *session.after(seq)])
        return True

    # -- the handler's sends -------------------------------------------------------

    def write_now(self, payload: str | bytes) -> bool:
        session = self.session
        if session is None:
            return super().write_now(payload)
        sink = self._sink
        if (session.outbox is not self or sink is None or self.state is not OPEN or self._busy
                or self._writer is not None or self._queue):
            return False
        frame = session.number(payload)
        if not sink.write_frame(wire_frame(frame)):
            super().push(frame)
        return True

    async def send(self, payload: str | bytes) -> None:
        session = self.session
        if session is None or self.state is CONNECTING or self.closed_by_handler:
            await super().send(payload)
        elif session.outbox is self and self.state is OPEN:
            await super().send(session.number(payload))
        elif self.close_code is None:
            # The connection dropped (or a resume took over): the session keeps it for the client.
            session.push(payload)
        else:
            await super().send(payload)  # closing on this side: the session ends, dropped as on any connection

    # -- the session's writes --------------------------------------------------------

    def push_wire(self, payload: str | bytes) -> None:
        """Write a ready frame payload (numbered already, or a control message)."""
        super().push(payload)


class SessionReceive:
    """The receive side of a session: ``D<text>`` is a message, ``A<seq>`` an acknowledgement."""

    __slots__ = ('_outbox', '_receive')

    def __init__(self, receive: Receive, outbox: SessionOutbox) -> None:
        self._receive = receive
        self._outbox = outbox

    async def __call__(self) -> Message:
        receive = self._receive
        while True:
            message = await receive()
            if message['type'] != 'websocket.receive':
                return message
            session = self._outbox.session
            if session is not None and session.previous is not None and session.outbox is self._outbox:
                session.previous = None  # the client speaks on this connection: it has the new credential
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
