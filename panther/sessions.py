"""Resumable sessions (``panther.v1``, docs/protocol.md): what a session keeps and how it ends.

A :class:`Session` outlives the connections that carry it. While a connection
carries it, it is *attached* to that connection's outbox
(:class:`panther.session_outbox.SessionOutbox`); when the connection drops
without a deliberate close it is *detached* and waits ``WS_RESUME_WINDOW``
seconds for a resume. The registry holds the session, not the outbox, under the
connection id, so sends and group sends reach it attached or not.

Every message gets the next sequence number and is kept until the client
acknowledges it: a frame written to a TCP connection that then breaks may never
have arrived. At most ``WS_RESUME_BUFFER`` messages are kept. Attached, the
oldest is dropped past that (a later resume that needs it is refused with
``overflow``); detached, one more ends the session.

:class:`SessionStore` is this worker's sessions by connection id, plus for a
while why recent ones ended (so a late resume hears ``overflow`` rather than
``expired``). Sessions of other workers are reached through
:mod:`panther.session_handover`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from panther import resume_credentials
from panther.serialization import dumps_text
from panther.websocket_state import WebsocketState

OPEN = WebsocketState.OPEN

if TYPE_CHECKING:
    from panther.runtime import Runtime
    from panther.session_handover import RemoteHolder
    from panther.session_inbox import SessionInbox
    from panther.session_mirror import SessionMirror
    from panther.session_outbox import SessionOutbox
    from panther.websocket import GenericWebsocket

logger = logging.getLogger('panther')

PROTOCOL = 'panther.v1'
RESUME_PARAMETER = 'panther_resume'
SEQ_PARAMETER = 'panther_seq'

#: Reasons a resume is refused (``welcome.lost``, docs/protocol.md section 6).
EXPIRED, OVERFLOW, INVALID, REPLAYED, OTHER_USER, UNAVAILABLE = (
    'expired', 'overflow', 'invalid', 'replayed', 'user', 'unavailable')

#: Close codes with which a client ends its session deliberately. Not 1005 (a close frame without a
#: code): some servers report a dropped TCP connection with it too.
DELIBERATE_CLOSES = frozenset({1000, 1001})

_TOMBSTONES = 10_000  # at most this many recent endings are remembered


def numbered(seq: int, payload: str | bytes) -> str | bytes:
    """A data message as the client receives it: ``<seq>:<text>``, or 8 bytes of seq then the bytes."""
    if type(payload) is str:
        return f'{seq}:{payload}'
    return seq.to_bytes(8, 'big') + payload  # type: ignore[operator]


def identity(user: Any) -> str:
    """What must stay the same about the user across resumes: its type and id (or its repr)."""
    if user is None:
        return ''
    key = user.get('id') if isinstance(user, dict) else getattr(user, 'id', None)
    return f'{type(user).__qualname__}:{key!r}' if key is not None else repr(user)


class SessionServer(Protocol):
    """Runs the user's hooks on a session's handler for a connection carried by another worker.

    The route's endpoint (``panther.websocket_endpoint``) implements it.
    """

    async def run_resumed(self, session: Session) -> None:
        """Call the handler's ``resumed()`` hook, if it has one."""

    async def run_relayed(self, session: Session, data: str | bytes) -> None:
        """Give the handler a message the client sent, as its receive loop would."""


class Session:
    """One ``panther.v1`` session on this worker."""

    __slots__ = (
        'connection_id', 'drop_code', 'ended', 'handler', 'inbox', 'kept', 'lease', 'limit', 'mirror', 'nonce',
        'outbox', 'path', 'previous', 'seq', 'server', 'store', 'timer', 'user_key',
    )

    def __init__(self, store: SessionStore, connection_id: str, path: str, user_key: str,
                 handler: GenericWebsocket, seq: int = 0, kept: deque[str | bytes] | None = None,
                 server: SessionServer | None = None) -> None:
        self.store = store
        #: Its copy in Redis (panther.session_mirror), None without the Redis bus.
        self.mirror: SessionMirror | None = store.mirror
        #: Runs the handler's hooks when another worker carries the connection (None: nobody can).
        self.server = server
        #: The hooks queued for the handler by a connection on another worker (panther.session_inbox).
        self.inbox: SessionInbox | None = None
        self.connection_id = connection_id
        self.path = path
        self.user_key = user_key
        self.handler = handler
        self.seq = seq  # the number of the last message given to the session
        self.kept: deque[str | bytes] = kept if kept is not None else deque()  # messages seq-len+1 .. seq
        self.limit = store.buffer
        self.nonce = resume_credentials.new_nonce()
        #: The nonce before the last resume, still accepted until the client shows it got the new one.
        self.previous: str | None = None
        self.outbox: SessionOutbox | RemoteHolder | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.drop_code = 1006
        self.ended = False
        #: Counts the connections that carried the session, so news about an earlier one is ignored.
        self.lease = 0

    # -- what the registry calls (the same surface as an outbox) ------------------

    def push(self, payload: str | bytes) -> None:
        """A message for the session from anywhere: numbered, kept, and written if a connection carries it."""
        if self.ended:
            return
        frame = self.number(payload)
        outbox = self.outbox
        if outbox is not None:
            outbox.push_wire(frame)

    def push_message(self, message: dict[str, Any], frame: bytes | None = None, size: int | None = None) -> None:
        self.push(message['text'] if 'text' in message else message['bytes'])

    def close_soon(self, code: int, reason: str) -> None:
        """Close from outside: the connection if attached (the session then ends), else end it now."""
        outbox = self.outbox
        if outbox is not None:
            outbox.close_soon(code, reason)
        else:
            self.store.end_soon(self, code, None)

    def abandon(self) -> None:
        outbox = self.outbox
        if outbox is not None:
            outbox.abandon()
        else:
            self.store.end_soon(self, self.drop_code, None)

    # -- what the carrying connection's SessionOutbox and SessionReceive call ---------

    def write_now(self, outbox: SessionOutbox, payload: str | bytes) -> bool:
        """The handler's send, written at once through the frame sink if it can be; False: use :meth:`send`."""
        if self.outbox is not outbox or not outbox.can_write_now():
            return False
        outbox.write_numbered(self.number(payload))
        return True

    async def send(self, outbox: SessionOutbox, payload: str | bytes) -> None:
        """The handler's send when it cannot be written at once."""
        if self.outbox is outbox and outbox.state is OPEN:
            await outbox.send_numbered(self.number(payload))
        elif outbox.close_code is None:
            self.push(payload)  # the connection dropped, or a resume took over: kept for the client
        # else closing on this side: the session ends, the message is dropped as on any connection

    def heard(self, outbox: SessionOutbox) -> None:
        """The client spoke on ``outbox``: it holds the credential of its latest welcome."""
        if self.previous is not None and self.outbox is outbox:
            self.forget_previous()

    def forget_previous(self) -> None:
        """The client holds its latest credential: the one before stops working."""
        self.previous = None
        if self.mirror is not None:
            self.mirror.credentials(self)

    async def connection_ended(self, outbox: SessionOutbox, code: int, deliberate: bool) -> None:
        if deliberate:
            await self.store.end(self, code, None)
        else:
            self.detach(code)  # the client may come back within WS_RESUME_WINDOW

    # -- numbering ---------------------------------------------------------------

    def number(self, payload: str | bytes) -> str | bytes:
        """Give ``payload`` the next sequence number and keep it; returns the frame's payload."""
        self.seq += 1
        kept = self.kept
        kept.append(payload)
        dropped = False
        if len(kept) > self.limit:
            if self.outbox is None:
                logger.info('session %s ended: more than %d messages waited for it (WS_RESUME_BUFFER)',
                            self.connection_id, self.limit)
                self.store.end_soon(self, self.drop_code, OVERFLOW)
            else:
                kept.popleft()
                dropped = True
        mirror = self.mirror
        if mirror is not None:
            mirror.kept(self, payload, dropped)
        return numbered(self.seq, payload)

    @property
    def first(self) -> int:
        """The number of the oldest kept message (``seq + 1`` when none is kept)."""
        return self.seq - len(self.kept) + 1

    def ack(self, seq: int) -> None:
        """The client has every message up to ``seq``: stop keeping them."""
        kept = self.kept
        count = min(seq - self.first + 1, len(kept))
        for _ in range(count):
            kept.popleft()
        if count > 0 and self.mirror is not None:
            self.mirror.acked(self)

    def after(self, seq: int) -> list[str | bytes]:
        """The kept messages numbered after ``seq``, ready to write."""
        first = self.first
        skip = max(seq - first + 1, 0)
        return [numbered(first + i, p) for i, p in enumerate(self.kept) if i >= skip]

    def credential(self) -> str:
        return resume_credentials.issue(self.store.key, self.connection_id, self.nonce)

    def welcome_text(self, resumed: bool, lost: str | None, seq: int) -> str:
        """The ``welcome`` control frame (docs/protocol.md section 2)."""
        return dumps_text({'type': 'welcome', 'version': 1, 'connection_id': self.connection_id,
                           'resume': self.credential(), 'window': self.store.window, 'buffer': self.limit,
                           'seq': seq, 'resumed': resumed, 'lost': lost})

    # -- attach / detach -----------------------------------------------------------------

    def detach(self, code: int) -> None:
        """The connection dropped without a deliberate close: wait for a resume."""
        self.outbox = None
        self.drop_code = code
        self.timer = asyncio.get_running_loop().call_later(self.store.window, self._expire)
        logger.debug('session %s detached (%d); kept %d messages', self.connection_id, code, len(self.kept))

    def _expire(self) -> None:
        self.timer = None
        logger.info('session %s ended: not resumed within %s s (WS_RESUME_WINDOW)',
                    self.connection_id, self.store.window)
        self.store.end_soon(self, self.drop_code, EXPIRED)

    def stop_clock(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class SessionStore:
    """This worker's sessions, and why recent ones ended."""

    def __init__(self, runtime: Runtime) -> None:
        from panther.session_handover import Handover

        self.runtime = runtime
        self.sessions: dict[str, Session] = {}
        #: Where sessions keep their copy with the Redis bus (panther.session_mirror); made with the first session.
        self.mirror: SessionMirror | None = None
        self._mirror_checked = False
        self.handover = Handover(self)
        from panther.session_adoption import Adoptions

        #: Sessions this worker adopted from dead workers (panther.session_adoption).
        self.adoptions = Adoptions(self)
        #: Sessions of other workers carried by connections of this one (panther.session_handover).
        self.relays = self.handover.relays
        self._endings: dict[str, tuple[str, float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def window(self) -> float:
        return self.runtime.limits.resume_window

    @property
    def buffer(self) -> int:
        return self.runtime.limits.resume_buffer

    @property
    def key(self) -> bytes:
        return (getattr(self.runtime.settings, 'SECRET_KEY', None) or '').encode()

    def open(self, connection_id: str, path: str, user_key: str, handler: GenericWebsocket,
             server: SessionServer | None = None) -> Session:
        """A new session of ``handler``; ``server`` runs its hooks for a connection on another worker."""
        self.use_mirror()
        session = self.sessions[connection_id] = Session(self, connection_id, path, user_key, handler,
                                                         server=server)
        if session.mirror is not None:
            session.mirror.opened(session, [])
        return session

    def use_mirror(self) -> SessionMirror | None:
        """The Redis copy of this worker's sessions, made on first use if the bus keeps one."""
        if not self._mirror_checked:
            bus = self.runtime.bus
            if bus is None:
                return None
            self._mirror_checked = True
            if bus.mirrors_sessions and self.window > 0:
                from panther.session_mirror import SessionMirror

                self.mirror = SessionMirror(bus, self)  # type: ignore[arg-type]
        return self.mirror

    def stopped(self) -> None:
        """The runtime stopped its bus: the next start may bring another one."""
        if self.mirror is not None:
            self.mirror.stop()
        self.mirror = None
        self._mirror_checked = False
        self.adoptions.stopped()

    def adopt(self, session: Session) -> None:
        """A session handed over by another worker now lives here."""
        self.sessions[session.connection_id] = session

    def ending(self, connection_id: str) -> str | None:
        """Why the session ``connection_id`` ended, if it ended here recently."""
        entry = self._endings.get(connection_id)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def check(self, session: Session, nonce: str, seq: int, path: str, user_key: str) -> str | None:
        """None if this handshake may resume ``session``, else the reason it may not."""
        if session.path != path:
            return INVALID
        if not (resume_credentials.same(nonce, session.nonce) or resume_credentials.same(nonce, session.previous)):
            return REPLAYED
        if session.user_key != user_key:
            return OTHER_USER
        if seq < 0 or seq > session.seq:
            return INVALID
        if seq + 1 < session.first:
            return OVERFLOW
        return None

    def renew(self, session: Session, presented: str) -> None:
        """A resume succeeded: a new credential, the presented one kept until the client confirms."""
        session.previous = presented
        session.nonce = resume_credentials.new_nonce()
        if session.mirror is not None:
            session.mirror.credentials(session)

    def end_soon(self, session: Session, code: int, reason: str | None) -> None:
        """End ``session`` for good from synchronous code (a timer, a send)."""
        if session.ended:
            return
        task = asyncio.get_running_loop().create_task(self.end(session, code, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def end(self, session: Session, code: int, reason: str | None) -> None:
        """End ``session`` for good: forget it and its groups, then run ``disconnect(code)`` once."""
        if session.ended:
            return
        session.ended = True
        session.stop_clock()
        session.kept.clear()
        session.outbox = None
        if self.sessions.get(session.connection_id) is session:
            del self.sessions[session.connection_id]
        self._remember(session.connection_id, reason or EXPIRED)
        if session.mirror is not None:
            session.mirror.ended(session.connection_id)
        from panther.websocket import remember_groups

        handler = session.handler
        remember_groups(handler, await self.runtime.forget(session.connection_id))
        try:
            await handler.disconnect(code)
        except Exception:
            logger.exception('%s.disconnect() raised', type(handler).__qualname__)

    def _remember(self, connection_id: str, reason: str) -> None:
        endings = self._endings
        if len(endings) >= _TOMBSTONES:
            now = time.monotonic()
            for key in [k for k, (_, until) in endings.items() if until < now] or list(endings)[:len(endings) // 2]:
                del endings[key]
        endings[connection_id] = (reason, time.monotonic() + max(self.window, 1.0) * 2)
