"""Adopting a session whose home worker died (the Redis bus only).

With Redis every session keeps a copy of itself there (``panther.session_mirror``).
When a resume lands on a worker and the session's home does not answer and its
liveness key says it is gone, this worker claims the session (one atomic script:
only one adopter wins), restores its kept messages, numbering and groups from
Redis, and becomes its home. The handler is a new instance of the route's class
(the one that ran ``connect()`` died with its process): ``resumed()`` runs on it.

Messages sent to the session's id still go where its id points, the dead
worker's stream, and so do group messages, because the adopter keeps the dead
worker's liveness key set and its place in the groups the session is in. The
adopter reads that stream (``RedisBus.follow``) from the last entry the dead
worker delivered (or a previous adopter; both noted in Redis) and hands the
adopted sessions what is theirs, in stream order: one stream, so direct and
group messages keep the order in which each sender sent them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from panther import envelope, redis_keys
from panther.bus.redis import entry_order
from panther.connection_ids import owner_of
from panther.sessions import EXPIRED, UNAVAILABLE, Session

if TYPE_CHECKING:
    from panther.session_mirror import SessionMirror, Stored
    from panther.sessions import SessionServer, SessionStore
    from panther.websocket import GenericWebsocket

logger = logging.getLogger('panther')

#: Seconds an adopter waits for the dead worker's stream to be read up to where it ended.
CATCH_UP_TIMEOUT = 5.0


class Adopted:
    """One adopted session: where it reads from, and what it has had from there."""

    __slots__ = ('caught_up', 'groups', 'origin', 'seen', 'session', 'start')

    def __init__(self, session: Session, origin: str, start: bytes, groups: list[str]) -> None:
        self.session = session
        self.origin = origin  # the worker its id names: the stream its messages go to
        self.start = entry_order(start)  # entries up to here were delivered before
        self.seen: dict[bytes, int] = {}  # sender -> its newest message delivered (a rewound read skips them)
        self.groups = set(groups)
        self.caught_up: Any = None  # set while the adoption waits to have read up to the stream's end


class Adoptions:
    """This worker's adopted sessions, by connection id."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.runtime = store.runtime
        self.sessions: dict[str, Adopted] = {}

    def stopped(self) -> None:
        self.sessions.clear()

    @property
    def _mirror(self) -> SessionMirror:
        mirror = self.store.use_mirror()
        assert mirror is not None
        return mirror

    async def gone(self, worker_id: str) -> bool:
        """Whether ``worker_id`` missed two heartbeats (its liveness key is about to expire, or has)."""
        bus: Any = self.runtime.bus
        return await bus.alive_for(worker_id) < bus.liveness_ttl / 3

    async def adopt(self, connection_id: str, home: str, handler: GenericWebsocket, server: SessionServer,
                    nonce: str, seq: int, path: str, user_key: str) -> Session | str:
        """Claim the session of the dead ``home``; the session, now this worker's, or why not."""
        mirror = self._mirror
        stored = await mirror.claim(connection_id, home)
        if stored is None:
            return EXPIRED if await mirror.home_of(connection_id) is None else UNAVAILABLE
        logger.warning('session %s: its worker %s is gone; adopted here', connection_id, home)
        session = self._restore(stored, connection_id, handler, server)
        origin = owner_of(connection_id) or home
        start = stored.position or await mirror.read_position(origin) or b'0-0'
        adopted = self.sessions[connection_id] = Adopted(session, origin, start, stored.groups)
        await self._rejoin(connection_id, origin, stored.groups)
        mirror.opened(session, stored.groups)
        bus: Any = self.runtime.bus
        end = await bus.command(b'XREVRANGE', redis_keys.key('bus:stream', origin), b'+', b'-', b'COUNT', b'1')
        if end and entry_order(bytes(end[0][0])) > adopted.start:
            adopted.caught_up = (entry_order(bytes(end[0][0])), asyncio.get_running_loop().create_future())
        bus.follow(origin, start, self._deliver_for(origin))
        if adopted.caught_up is not None:
            try:
                async with asyncio.timeout(CATCH_UP_TIMEOUT):
                    await adopted.caught_up[1]
            except TimeoutError:
                logger.warning('session %s: the stream of %s was not read to its end in time', connection_id,
                               origin)
            adopted.caught_up = None
        if seq > session.seq:
            # The client had messages the dead worker numbered but had not written to Redis yet
            # (docs/sessions.md, "what the death of a home can lose"): go on after them.
            logger.warning('session %s: the client has up to %d, Redis up to %d', connection_id, seq, session.seq)
            session.kept.clear()
            session.seq = seq
        reason = self.store.check(session, nonce, seq, path, user_key)
        if reason is not None:
            await self.store.end(session, session.drop_code, reason)
            return reason
        return session

    def _restore(self, stored: Stored, connection_id: str, handler: GenericWebsocket,
                 server: SessionServer) -> Session:
        store = self.store
        session = Session(store, connection_id, stored.path, stored.user_key, handler, seq=stored.seq,
                          kept=deque(stored.kept), server=server)
        session.nonce = stored.nonce
        session.previous = stored.previous
        store.adopt(session)
        return session

    async def _rejoin(self, connection_id: str, origin: str, groups: list[str]) -> None:
        """Keep the session in its groups under its id's worker (a group send may have dropped that worker)."""
        bus: Any = self.runtime.bus
        for name in groups:
            await bus.command(b'SADD', redis_keys.key('bus:members', name), connection_id)
            await bus.command(b'HSETNX', redis_keys.key('bus:workers', name), origin, 0)

    def _deliver_for(self, origin: str) -> Any:
        def deliver(entry_id: bytes, sender: bytes, number: int, raw: bytes) -> None:
            order = entry_order(entry_id)
            try:
                message = envelope.decode(raw)
            except Exception:
                return
            kind = message.kind
            group = kind in (envelope.GROUP_TEXT, envelope.GROUP_BYTES)
            mirror = self.store.mirror
            for connection_id, adopted in list(self.sessions.items()):
                if adopted.origin != origin:
                    continue
                if order > adopted.start and adopted.seen.get(sender, 0) < number:
                    adopted.seen[sender] = number
                    session = adopted.session
                    if group:
                        if message.target in adopted.groups and connection_id not in message.exclude:
                            session.push(message.payload)
                    elif message.target == connection_id:
                        if kind == envelope.CLOSE:
                            session.close_soon(message.code, message.payload)  # type: ignore[arg-type]
                        else:
                            session.push(message.payload)
                    if mirror is not None:
                        mirror.position(connection_id, entry_id)
                waiting = adopted.caught_up
                if waiting is not None and order >= waiting[0] and not waiting[1].done():
                    waiting[1].set_result(None)

        return deliver

    async def join(self, connection_id: str, name: str, join: bool) -> None:
        adopted = self.sessions[connection_id]
        bus: Any = self.runtime.bus
        if join:
            adopted.groups.add(name)
            await self._rejoin(connection_id, adopted.origin, [name])
        else:
            adopted.groups.discard(name)
            await bus.command(b'SREM', redis_keys.key('bus:members', name), connection_id)
        mirror = self.store.mirror
        if mirror is not None:
            mirror.groups(connection_id, list(adopted.groups))

    async def forget(self, connection_id: str) -> list[str]:
        """The adopted session ended: out of its groups, and its origin's stream no longer read for it."""
        adopted = self.sessions.pop(connection_id)
        bus: Any = self.runtime.bus
        names = sorted(adopted.groups)
        for name in names:
            try:
                await bus.command(b'SREM', redis_keys.key('bus:members', name), connection_id)
            except Exception:
                logger.exception('could not leave group %r for %s', name, connection_id)
        if not any(a.origin == adopted.origin for a in self.sessions.values()):
            bus.unfollow(adopted.origin)  # the dead worker's liveness key then expires
        return names
