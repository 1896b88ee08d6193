"""A session's copy in Redis, so that it outlives its worker (the Redis bus only).

With the Redis bus, every ``panther.v1`` session writes what a resume needs
through to Redis: its kept messages, numbered, trimmed as the client
acknowledges them, and its state. The writes never wait: they join the bus
writer's next batch at most ``SESSION_WRITE_DELAY`` (5 ms) later, all of a
batch in one script call on a single Redis (``bus/session_write.lua``), one
command each, to its key's master, on a cluster. The worker's bus reader also notes, after each batch it delivered, the
last stream entry it read, so a worker that adopts a session of a dead one
knows where to go on reading (``panther.session_adoption``). Keys (each
command touches one hash slot; on a single Redis, one batch lands in order)::

    panther:session:state:{<connection id>}  hash: path, user, nonce, previous, seq, home, groups, pos
    panther:session:kept:{<connection id>}   list: the kept messages, oldest first (seq + kind + payload)
    panther:session:read:{<worker id>}       the last entry of its stream that worker delivered

They expire ``WS_RESUME_WINDOW`` plus two refresh periods after the home's last
refresh, so a session of a dead worker can be resumed for the window. Plain
clients, and the other buses, never reach this module.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson

from panther import redis_keys

if TYPE_CHECKING:
    from panther.bus.redis import RedisBus
    from panther.sessions import Session, SessionStore

_CLAIM = resources.files('panther').joinpath('session_claim.lua').read_bytes()


def state_key(connection_id: str) -> bytes:
    return redis_keys.key('session:state', connection_id).encode()


def kept_key(connection_id: str) -> bytes:
    return redis_keys.key('session:kept', connection_id).encode()


def read_key(worker_id: str) -> bytes:
    return redis_keys.key('session:read', worker_id).encode()


def element(seq: int, payload: str | bytes) -> bytes:
    """A kept message as stored: 8 bytes of seq, ``T`` or ``B``, the payload."""
    if type(payload) is str:
        return seq.to_bytes(8, 'big') + b'T' + payload.encode()  # type: ignore[union-attr]
    return seq.to_bytes(8, 'big') + b'B' + payload  # type: ignore[operator]


def parse_element(raw: bytes) -> tuple[int, str | bytes]:
    seq = int.from_bytes(raw[:8], 'big')
    return seq, (raw[9:].decode() if raw[8:9] == b'T' else bytes(raw[9:]))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Stored:
    """A session as Redis holds it."""

    path: str
    user_key: str
    nonce: str
    previous: str | None
    seq: int
    home: str
    groups: list[str]
    position: bytes | None  # the last entry of its origin's stream delivered to it by an adopter
    kept: list[str | bytes]


class SessionMirror:
    """Writes this worker's sessions through to Redis and reads them back."""

    def __init__(self, bus: RedisBus, store: SessionStore) -> None:
        self.bus = bus
        self.store = store
        self.worker_id = store.runtime.worker_id
        self.interval = max(1.0, min(10.0, store.window / 3))
        self.ttl = b'%d' % int((store.window + 2 * self.interval) * 1000)
        bus.read_position_key = read_key(self.worker_id)
        self._names: dict[str, tuple[bytes, bytes]] = {}  # connection id -> its two keys
        self._task = asyncio.get_running_loop().create_task(self._refresh_loop(), name='panther-session-mirror')

    def _keys(self, connection_id: str) -> tuple[bytes, bytes]:
        keys = self._names.get(connection_id)
        if keys is None:
            keys = self._names[connection_id] = state_key(connection_id), kept_key(connection_id)
        return keys

    # -- writes (shipped by the bus writer, a few milliseconds later, in order) ---------------

    def opened(self, session: Session, groups: list[str]) -> None:
        """A session now lives here (new, or adopted): its whole state."""
        write, (key, _) = self.bus.write_session, self._keys(session.connection_id)
        for field, value in ((b'path', session.path.encode()), (b'user', session.user_key.encode()),
                             (b'nonce', session.nonce.encode()), (b'previous', (session.previous or '').encode()),
                             (b'seq', b'%d' % session.seq), (b'home', self.worker_id.encode()),
                             (b'groups', orjson.dumps(groups))):
            write(b'H', key, field, value)
        write(b'E', key, self.ttl)

    def kept(self, session: Session, payload: str | bytes, dropped: bool) -> None:
        """``session`` numbered ``payload`` (``dropped``: its oldest kept message went, over the buffer)."""
        write, (_, key) = self.bus.write_session, self._keys(session.connection_id)
        write(b'R', key, element(session.seq, payload))
        if dropped:
            write(b'T', key, b'%d' % -len(session.kept))
        elif len(session.kept) == 1:
            write(b'E', key, self.ttl)  # a list made again after an acknowledgement emptied it

    def acked(self, session: Session) -> None:
        """The client acknowledged messages: keep only what ``session`` still keeps."""
        write, (state, key) = self.bus.write_session, self._keys(session.connection_id)
        if session.kept:
            write(b'T', key, b'%d' % -len(session.kept))
        else:
            write(b'D', key)
            write(b'H', state, b'seq', b'%d' % session.seq)

    def credentials(self, session: Session) -> None:
        write, (key, _) = self.bus.write_session, self._keys(session.connection_id)
        write(b'H', key, b'nonce', session.nonce.encode())
        write(b'H', key, b'previous', (session.previous or '').encode())

    def groups(self, connection_id: str, names: list[str]) -> None:
        self.bus.write_session(b'H', self._keys(connection_id)[0], b'groups', orjson.dumps(sorted(names)))

    def position(self, connection_id: str, entry_id: bytes) -> None:
        self.bus.write_session(b'H', self._keys(connection_id)[0], b'pos', entry_id)

    def ended(self, connection_id: str) -> None:
        state, kept = self._keys(connection_id)
        del self._names[connection_id]
        self.bus.write_session(b'D', state)
        self.bus.write_session(b'D', kept)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            write = self.bus.write_session
            for connection_id in list(self.store.sessions):
                state, kept = self._keys(connection_id)
                write(b'E', state, self.ttl)
                write(b'E', kept, self.ttl)

    def stop(self) -> None:
        self._task.cancel()

    # -- reads -------------------------------------------------------------------

    async def home_of(self, connection_id: str) -> str | None:
        """The worker the session lives on, or None when Redis holds no copy of it."""
        home = await self.bus.command(b'HGET', state_key(connection_id), b'home')
        return None if home is None else _text(home)

    async def read_position(self, worker_id: str) -> bytes | None:
        position = await self.bus.command(b'GET', read_key(worker_id))
        return None if position is None else bytes(position)

    async def claim(self, connection_id: str, home: str) -> Stored | None:
        """Make this worker the session's home if it still is ``home``; the session, or None."""
        reply = await self.bus.command(b'EVAL', _CLAIM, 2, state_key(connection_id), kept_key(connection_id),
                                       home.encode(), self.worker_id.encode())
        if not reply:
            return None
        fields, elements = reply
        state = {_text(fields[i]): fields[i + 1] for i in range(0, len(fields), 2)}
        seq = int(state.get('seq') or 0)
        kept: list[str | bytes] = []
        for raw in elements:
            number, payload = parse_element(raw)
            if number != seq + len(kept) + 1 and not kept:
                seq = number - 1  # acknowledged messages are trimmed: the list starts after them
            if number == seq + len(kept) + 1:
                kept.append(payload)
        previous = _text(state.get('previous') or b'')
        position = state.get('pos')
        return Stored(path=_text(state['path']), user_key=_text(state['user']), nonce=_text(state['nonce']),
                      previous=previous or None, seq=seq + len(kept), home=_text(state['home']),
                      groups=orjson.loads(state.get('groups') or b'[]'),
                      position=bytes(position) if position else None, kept=kept)
