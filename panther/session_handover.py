"""Resuming a session on another worker, over the bus.

A session lives on its *home* worker, the one its connection id names (with
Redis: until that worker dies and another adopts it): that worker numbers and keeps its messages, holds its group
memberships, runs its window and its ``disconnect``. Every send to the id is
routed there already (``panther.connection_ids``), so nothing about routing
changes when the client comes back elsewhere.

When a resume lands on another worker (the *holder*), the holder asks home
(``R``); home checks the credential, seq, path and user exactly as for a local
resume, and answers with the welcome (``W``) or a refusal (``N``). From then
on home writes the session's numbered frames to the holder (``F``/``f``), which
only relays them to its socket, in order. The holder runs none of the user's
code: it relays the client's messages home (``I``/``i``), where the handler
instance that ran ``connect()`` runs ``resumed()``, ``receive()`` and at the end
``disconnect()`` one at a time in arrival order (``panther.session_inbox``); its
sends are numbered there like any other. The holder also sends the client's
acknowledgements (``A``), group joins of code running on the holder (``J``), and
how the connection ended (``D``: home then detaches or ends the session). Home closes a relayed
connection with ``X``, hands it to a newer connection with ``Y``, and asks now
and then whether the holder still carries it (``P``, answered ``Q``): a holder
silent twice (killed) is taken for gone and the session detached. Every attachment has a *lease* number, so a late
message about an earlier connection of the session is ignored.

What survives what: the holder may die (the client resumes again, anywhere).
Without Redis, home dying ends its sessions (as it ends its plain
connections); with Redis the holder drops a connection whose home died, and the
resume that follows adopts the session (``panther.session_adoption``); see
docs/sessions.md. Messages the client sent that had not
reached home, or that home had not handled yet, when home died are lost: what a
client sends is delivered at most once (docs/protocol.md).

Envelopes start with ``R`` (``panther.envelope.SESSION``), then the kind, then
JSON, except the frames (``F``/``f`` from home, ``I``/``i`` to home; text and
bytes): id + lease as 8 bytes + the payload.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from panther.envelope import SESSION
from panther.session_inbox import SessionInbox
from panther.sessions import EXPIRED, UNAVAILABLE, Session, identity
from panther.websocket_state import WebsocketState

OPEN, CLOSED = WebsocketState.OPEN, WebsocketState.CLOSED

if TYPE_CHECKING:
    from panther.runtime import Runtime
    from panther.session_outbox import SessionOutbox
    from panther.sessions import SessionStore

logger = logging.getLogger('panther')

_ID = 32
#: Seconds a holder waits for home to answer a resume.
ANSWER_TIMEOUT = 5.0


def _json(kind: bytes, body: dict[str, Any]) -> bytes:
    return SESSION + kind + orjson.dumps(body)


def _frame(connection_id: str, lease: int, payload: str | bytes, kinds: bytes = b'Ff') -> bytes:
    """A payload for one attachment of a session; ``kinds``: the kind for text, then for bytes."""
    head = connection_id.encode() + lease.to_bytes(8, 'big')
    if type(payload) is str:
        return SESSION + kinds[:1] + head + payload.encode()  # type: ignore[union-attr]
    return SESSION + kinds[1:] + head + payload  # type: ignore[operator]


def _unframe(raw: bytes) -> tuple[str, int, str | bytes]:
    """``(connection id, lease, payload)`` of a frame built by :func:`_frame`."""
    body = raw[10 + _ID:]
    payload = body.decode() if raw[1:2].isupper() else bytes(body)
    return raw[2:2 + _ID].decode(), int.from_bytes(raw[2 + _ID:10 + _ID], 'big'), payload


class _Sender:
    """Messages to one worker, sent in the order given, never waiting the caller."""

    def __init__(self, runtime: Runtime, worker_id: str) -> None:
        self.runtime = runtime
        self.worker_id = worker_id
        self._queue: deque[bytes] = deque()
        self._task: asyncio.Task[None] | None = None

    def put(self, raw: bytes) -> None:
        self._queue.append(raw)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                bus = self.runtime.bus
                raw = self._queue.popleft()
                if bus is None:
                    continue
                try:
                    await bus.send(self.worker_id, raw)
                except Exception as exc:
                    logger.warning('session handover: a message to worker %s was lost: %r', self.worker_id, exc)
        finally:
            self._task = None


class RemoteHolder:
    """At home: the session's connection is on another worker.

    ``Session.outbox`` points to it, and so does the session's handler (its
    ``self.send``/``self.close`` act on the connection on the other worker).
    """

    offers_session = True

    def __init__(self, handover: Handover, session: Session, worker_id: str, lease: int) -> None:
        self.handover = handover
        self.session = session
        self.connection_id = session.connection_id
        self.worker_id = worker_id
        self.lease = lease
        # The holder may die without a word (SIGKILL): it is asked now and then whether it still
        # carries the session, and one that stays silent twice is taken for gone.
        self.answered = True
        self.silent = 0
        self._probe_later()

    def _probe_later(self) -> None:
        interval = max(1.0, min(10.0, self.handover.store.window / 3))
        asyncio.get_running_loop().call_later(interval, self._probe)

    def _probe(self) -> None:
        session = self.session
        if session.outbox is not self or session.ended:
            return
        self.silent = 0 if self.answered else self.silent + 1
        if self.silent >= 2:
            logger.info('session %s: worker %s carrying it does not answer; detached', session.connection_id,
                        self.worker_id)
            session.detach(1006)
            return
        self.answered = False
        self._put(_json(b'P', {'id': session.connection_id, 'lease': self.lease}))
        self._probe_later()

    def _put(self, raw: bytes) -> None:
        self.handover.sender(self.worker_id).put(raw)

    # -- what the session's handler calls (the surface of an Outbox it uses) ------------

    @property
    def state(self) -> WebsocketState:
        session = self.session
        return OPEN if session.outbox is self and not session.ended else CLOSED

    def write_now(self, payload: str | bytes) -> bool:
        return False

    async def send(self, payload: str | bytes) -> None:
        self.session.push(payload)  # numbered and kept here; relayed while this connection carries it

    async def close(self, code: int, reason: str, by_handler: bool = False) -> None:
        self.session.close_soon(code, reason)  # the holder closes, tells home (D), and the session ends

    # -- what the session calls ----------------------------------------------------

    def push_wire(self, payload: str | bytes) -> None:
        self._put(_frame(self.session.connection_id, self.lease, payload))

    def close_soon(self, code: int, reason: str) -> None:
        self._put(_json(b'X', {'id': self.session.connection_id, 'lease': self.lease, 'code': code,
                               'reason': reason}))

    def abandon(self) -> None:
        self.close_soon(1011, 'abandoned')

    def supersede(self) -> None:
        """A resume elsewhere took the session over: close the connection there, keep the session."""
        self._put(_json(b'Y', {'id': self.session.connection_id, 'lease': self.lease}))


class Relay:
    """At the holder: a session whose home is another worker, carried by one local connection."""

    remote = True

    def __init__(self, handover: Handover, connection_id: str, home: str, lease: int, welcome: str,
                 groups: list[str]) -> None:
        self.handover = handover
        self.connection_id = connection_id
        self.home = home
        self.lease = lease
        self.welcome = welcome
        self.groups = set(groups)
        self.outbox: SessionOutbox | None = None
        self.early: list[str | bytes] = []  # frames that came before the handshake completed
        self.confirmed = False
        self.ended = False

    def _put(self, raw: bytes) -> None:
        self.handover.sender(self.home).put(raw)

    # -- from home ---------------------------------------------------------------

    def deliver(self, payload: str | bytes) -> None:
        outbox = self.outbox
        if outbox is None:
            self.early.append(payload)
        else:
            outbox.push_wire(payload)

    def attach(self, outbox: SessionOutbox) -> None:
        self.outbox = outbox
        outbox.push_all([self.welcome, *self.early])
        self.early = []

    # -- what SessionOutbox and SessionReceive call ------------------------------------

    def write_now(self, outbox: SessionOutbox, payload: str | bytes) -> bool:
        return False  # home numbers it: always through send()

    async def send(self, outbox: SessionOutbox, payload: str | bytes) -> None:
        if outbox.close_code is not None:
            return  # closing on this side: the session ends
        from panther import envelope

        bus = self.handover.runtime.bus
        if bus is not None:
            await bus.send(self.home, envelope.encode_send(self.connection_id, payload))

    def push(self, payload: str | bytes) -> None:
        self.handover.runtime_send_soon(self.connection_id, payload)

    def forward(self, data: str | bytes) -> None:
        """A message from the client: home's handler instance receives it."""
        self._put(_frame(self.connection_id, self.lease, data, b'Ii'))

    def heard(self, outbox: SessionOutbox) -> None:
        if not self.confirmed and outbox is self.outbox:
            self.confirmed = True
            self._put(_json(b'A', {'id': self.connection_id, 'lease': self.lease, 'seq': -1}))

    def ack(self, seq: int) -> None:
        self._put(_json(b'A', {'id': self.connection_id, 'lease': self.lease, 'seq': seq}))

    async def connection_ended(self, outbox: SessionOutbox, code: int, deliberate: bool) -> None:
        self.ended = True
        self.outbox = None
        if self.handover.relays.get(self.connection_id) is self:
            del self.handover.relays[self.connection_id]
        self._put(_json(b'D', {'id': self.connection_id, 'lease': self.lease, 'code': code,
                               'end': deliberate}))


class Handover:
    """This worker's side of cross-worker resumes: as home, and as holder."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.runtime: Runtime = store.runtime
        self.relays: dict[str, Relay] = {}
        self._senders: dict[str, _Sender] = {}
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._tickets = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watching = False

    def sender(self, worker_id: str) -> _Sender:
        sender = self._senders.get(worker_id)
        if sender is None:
            sender = self._senders[worker_id] = _Sender(self.runtime, worker_id)
        return sender

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def runtime_send_soon(self, connection_id: str, payload: str | bytes) -> None:
        self._spawn(self.runtime.send(connection_id, payload))

    # -- as holder ---------------------------------------------------------------------

    async def request(self, home: str, connection_id: str, nonce: str, seq: int, path: str,
                      user: Any, gone: Callable[[], Awaitable[bool]] | None = None) -> Relay | str:
        """Ask ``home`` for the session; the relay to carry it, or the reason it was refused.

        ``gone``: asked every half second while no answer came; True gives up at once (``unavailable``).
        """
        if self.runtime.bus is None:
            return UNAVAILABLE
        ticket = next(self._tickets)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ticket] = future
        self.sender(home).put(_json(b'R', {
            'id': connection_id, 'nonce': nonce, 'seq': seq, 'path': path, 'user': identity(user),
            'from': self.runtime.worker_id, 'ticket': ticket}))
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                while gone is not None:
                    done, _ = await asyncio.wait([future], timeout=0.5)
                    if done:
                        break
                    if await gone():
                        logger.info('resume of %s: its worker %s is gone', connection_id, home)
                        return UNAVAILABLE
                return await future
        except TimeoutError:
            logger.warning('resume of %s: its worker %s did not answer within %s s', connection_id, home,
                           ANSWER_TIMEOUT)
            return UNAVAILABLE
        finally:
            self._waiting.pop(ticket, None)

    # -- receiving -------------------------------------------------------------------

    def deliver(self, raw: bytes) -> None:
        kind = raw[1:2]
        if kind in (b'F', b'f'):
            connection_id, lease, payload = _unframe(raw)
            relay = self.relays.get(connection_id)
            if relay is not None and relay.lease == lease:
                relay.deliver(payload)
            return
        if kind in (b'I', b'i'):
            self._inbound(*_unframe(raw))
            return
        body = orjson.loads(raw[2:])
        if kind == b'R':
            self._resume_request(body)
        elif kind == b'W':
            future = self._waiting.get(body['ticket'])
            relay = Relay(self, body['id'], body['home'], body['lease'], body['welcome'], body['groups'])
            if future is not None and not future.done():
                self.relays[relay.connection_id] = relay
                future.set_result(relay)
                if not self._watching and self.store.mirror is not None:
                    self._watching = True
                    self._spawn(self._watch_homes())
            else:  # the handshake gave up waiting: let home know this connection is not coming
                relay._put(_json(b'D', {'id': relay.connection_id, 'lease': relay.lease, 'code': 1006,
                                        'end': False}))
        elif kind == b'N':
            future = self._waiting.get(body['ticket'])
            if future is not None and not future.done():
                future.set_result(body['reason'])
        elif kind == b'P':
            relay = self.relays.get(body['id'])
            if relay is not None and relay.lease == body['lease']:
                relay._put(_json(b'Q', body))
        elif kind in (b'X', b'Y'):
            relay = self.relays.get(body['id'])
            if relay is None or relay.lease != body['lease']:
                return
            if kind == b'Y':
                del self.relays[body['id']]
                relay.ended = True
                if relay.outbox is not None:
                    relay.outbox.supersede()
            elif relay.outbox is not None:
                relay.outbox.close_soon(body['code'], body['reason'])
        else:
            self._home_message(kind, body)

    async def _watch_homes(self) -> None:
        """With Redis: drop the connections carried for a home that died, so their clients resume.

        The resume then finds the home gone and adopts the session (``panther.session_adoption``).
        Dropped without a close frame: a close frame would end the session for the client.
        """
        adoptions = self.store.adoptions
        try:
            while self.relays:
                await asyncio.sleep(1.0)
                for home in {relay.home for relay in self.relays.values()}:
                    try:
                        if not await adoptions.gone(home):
                            continue
                    except Exception:
                        continue  # Redis unreachable: nothing can be adopted now anyway
                    for relay in [r for r in self.relays.values() if r.home == home]:
                        logger.warning('session %s: its worker %s is gone; connection dropped so it resumes',
                                       relay.connection_id, home)
                        if relay.outbox is not None:
                            relay.outbox.abandon()
        finally:
            self._watching = False

    # -- as home -----------------------------------------------------------------------

    def _holder(self, session: Session, body: dict[str, Any]) -> RemoteHolder | None:
        holder = session.outbox
        if isinstance(holder, RemoteHolder) and holder.lease == body['lease']:
            return holder
        return None

    def _resume_request(self, body: dict[str, Any]) -> None:
        store = self.store
        requester = body['from']
        connection_id = body['id']

        def refuse(reason: str) -> None:
            self.sender(requester).put(_json(b'N', {'ticket': body['ticket'], 'reason': reason}))

        session = store.sessions.get(connection_id)
        if session is None:
            refuse(store.ending(connection_id) or EXPIRED)
            return
        reason = store.check(session, body['nonce'], body['seq'], body['path'], body['user'])
        if reason is not None:
            logger.info('resume of session %s on worker %s refused: %s', connection_id, requester, reason)
            refuse(reason)
            return
        store.renew(session, body['nonce'])
        old = session.outbox
        if old is not None:
            old.supersede()
        session.stop_clock()
        session.lease += 1
        holder = RemoteHolder(self, session, requester, session.lease)
        session.outbox = holder
        from panther.websocket import carry_over

        carry_over(session.handler, holder)  # type: ignore[arg-type]
        groups = sorted(self.runtime.registry.groups_of(connection_id))
        holder._put(_json(b'W', {'ticket': body['ticket'], 'id': connection_id, 'home': self.runtime.worker_id,
                                 'lease': holder.lease, 'groups': groups,
                                 'welcome': session.welcome_text(True, None, body['seq'])}))
        for frame in session.after(body['seq']):
            holder.push_wire(frame)
        server = session.server
        if server is not None:
            self.inbox(session).put(lambda: server.run_resumed(session))

    def inbox(self, session: Session) -> SessionInbox:
        """The queue of user code to run for ``session``, made on first use."""
        inbox = session.inbox
        if inbox is None:
            inbox = session.inbox = SessionInbox()
        return inbox

    def _inbound(self, connection_id: str, lease: int, data: str | bytes) -> None:
        session = self.store.sessions.get(connection_id)
        if session is None or session.server is None:
            return
        holder = session.outbox
        if not isinstance(holder, RemoteHolder) or holder.lease != lease:
            return  # sent on a connection that a newer one replaced: at most once, as on any connection
        holder.answered = True
        server = session.server

        async def receive() -> None:
            if not session.ended:
                await server.run_relayed(session, data)

        self.inbox(session).put(receive)

    def _home_message(self, kind: bytes, body: dict[str, Any]) -> None:
        session = self.store.sessions.get(body['id'])
        holder = None if session is None else self._holder(session, body)
        if holder is None:
            return  # about an earlier connection of the session, or one that has ended
        holder.answered = True
        if kind == b'A':
            if session.previous is not None:
                session.forget_previous()
            if body['seq'] >= 0:
                session.ack(body['seq'])
        elif kind == b'D':
            if body['end']:
                store, code = self.store, body['code']
                # After the messages still queued for the handler, as a local connection's
                # disconnect() comes after its last receive().
                self.inbox(session).put(lambda: store.end(session, code, None))
            else:
                session.detach(body['code'])
        elif kind == b'J':
            if body['join']:
                self._spawn(self.runtime.join(body['name'], session.connection_id))
            else:
                self._spawn(self.runtime.leave(body['name'], session.connection_id))

    # -- groups of a relayed session -------------------------------------------------------

    def join(self, relay: Relay, name: str, join: bool) -> None:
        (relay.groups.add if join else relay.groups.discard)(name)
        relay._put(_json(b'J', {'id': relay.connection_id, 'lease': relay.lease, 'name': name, 'join': join}))

