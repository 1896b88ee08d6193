"""The per-process state of a running app: worker id, live connections, message bus.

It starts with the ASGI lifespan (or on the first connection when the server runs
no lifespan). With ``gunicorn --preload`` the app is built once in the master and
forked; each worker then starts its own runtime, so every worker gets its own id.
The public helpers in ``panther.websocket`` talk to the runtime of the app built
last in this process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from typing import TYPE_CHECKING, Any, Protocol

from panther import envelope
from panther.bus import Bus, choose_bus
from panther.connection_ids import new_worker_id, owner_of
from panther.frames import wire_frame
from panther.metrics import Metrics, payload_size
from panther.outbox import text_or_bytes_message
from panther.registry import Registry
from panther.serialization import encode_payload
from panther.sessions import SessionStore

if TYPE_CHECKING:
    from panther.idle import IdleSweeper
    from panther.limits import Limits

logger = logging.getLogger('panther')

_current: Runtime | None = None


class Reporter(Protocol):
    """Publishes a worker's metrics while its runtime runs (``panther.metrics_export``)."""

    def start(self, runtime: Runtime) -> None: ...

    def stop(self) -> None: ...


def current() -> Runtime:
    if _current is None:
        raise RuntimeError('no panther app has been built in this process: create Panther(...) first')
    return _current


class Runtime:
    def __init__(self, limits: Limits, settings: Any, metrics: Metrics | None = None,
                 reporter: Reporter | None = None) -> None:
        """``metrics``/``reporter``: what this worker counts and who publishes it (``METRICS_PATH``; else None)."""
        self.limits = limits
        self.metrics = metrics
        self.reporter = reporter
        self.settings = settings
        self.registry = Registry()
        self.worker_id = ''
        self.bus: Bus | None = None
        self._started: asyncio.Event | None = None
        # Handshakes past the WS_MAX_CONNECTIONS check and not yet finished (panther.websocket_endpoint).
        self.admitted = 0
        # Started with the first connection under WS_IDLE_TIMEOUT (panther.idle).
        self.idle: IdleSweeper | None = None
        #: Envelopes the bus handed to this worker (diagnostics; tests count targeted routing with it).
        self.deliveries = 0
        # Where the app was built: workers forked from here (gunicorn --preload) share a bus.
        self.built_pid = os.getpid()
        self.share_token = secrets.token_hex(4)
        #: This worker's ``panther.v1`` sessions (panther.sessions).
        self.sessions = SessionStore(self)

    @property
    def started(self) -> bool:
        """True once the bus is running (the lifespan or the first connection started it)."""
        return bool(self.worker_id) and self._started is not None and self._started.is_set()

    def make_current(self) -> None:
        global _current
        _current = self

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        if self.worker_id:
            if self._started is not None:
                await self._started.wait()
            return
        # Set synchronously so concurrent first connections start it only once.
        self.worker_id = new_worker_id()
        self._started = asyncio.Event()
        self.bus = choose_bus(self.settings, self.built_pid, self.share_token)
        try:
            await self.bus.start(self.worker_id, self.deliver, self.registry.groups)
        except BaseException:
            self.worker_id = ''
            self.bus = None
            raise
        finally:
            self._started.set()
        if self.reporter is not None:
            self.reporter.start(self)

    async def stop(self, code: int = 1001, reason: str = 'server shutting down') -> None:
        """Close every live connection, wait (at most WS_SHUTDOWN_TIMEOUT) for them to end, then stop the bus.

        Under uvicorn (also as gunicorn's worker) the server has already closed
        every connection with 1012 before the app hears of the shutdown, and the
        ``disconnect`` hooks have run; this covers servers that leave it to the app.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.shutdown_timeout
        if self.idle is not None:
            await self.idle.stop()
            self.idle = None
        for outbox in list(self.registry.connections.values()):
            outbox.close_soon(code, reason)  # a detached session (panther.sessions) ends here
        for relay in list(self.sessions.relays.values()):
            if relay.outbox is not None:
                relay.outbox.close_soon(code, reason)
        # Polling keeps the registry free of shutdown bookkeeping on the hot path.
        while self.registry.connections and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if self.registry.connections:
            # Peers that do not read their close frame: cut them off so their disconnect() still runs.
            stuck = list(self.registry.connections.values())
            logger.warning('%d connection(s) still open after WS_SHUTDOWN_TIMEOUT (%s s): aborting them',
                           len(stuck), self.limits.shutdown_timeout)
            for outbox in stuck:
                outbox.abandon()
            grace = loop.time() + 0.5
            while self.registry.connections and loop.time() < grace:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        if self.reporter is not None:
            self.reporter.stop()  # after the closes above, so the last snapshot counts them
        if self.bus is not None:
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 1.0)):
                    await self.bus.stop()
            except TimeoutError:
                logger.warning('the %s bus did not stop within WS_SHUTDOWN_TIMEOUT', self.bus.kind)
        self.sessions.stopped()
        self.bus = None
        self.worker_id = ''
        self._started = None

    # -- delivery ----------------------------------------------------------------

    async def send(self, connection_id: str, data: Any) -> None:
        payload = encode_payload(data)
        # Ids are unique across workers: a live local connection is found without parsing the id.
        if type(connection_id) is str:
            outbox = self.registry.connections.get(connection_id)
            if outbox is not None:
                outbox.push(payload)
                return
        owner = owner_of(connection_id)
        if owner == self.worker_id:
            logger.debug('send to %s dropped: no such live connection', connection_id)
        elif owner is None:
            logger.debug('send to %r dropped: not a panther connection id', connection_id)
        else:
            await self._to_bus(owner, envelope.encode_send(connection_id, payload))

    async def close(self, connection_id: str, code: int, reason: str) -> None:
        owner = owner_of(connection_id)
        if owner == self.worker_id:
            outbox = self.registry.connections.get(connection_id)
            if outbox is None:
                logger.debug('close of %s dropped: no such live connection', connection_id)
            else:
                outbox.close_soon(code, reason)
        elif owner is None:
            logger.debug('close of %r dropped: not a panther connection id', connection_id)
        else:
            await self._to_bus(owner, envelope.encode_close(connection_id, code, reason))

    async def group_send(self, name: str, data: Any, exclude: tuple[str, ...] = ()) -> None:
        payload = encode_payload(data)
        self._deliver_group(name, payload, exclude)
        raw = envelope.encode_group(name, payload, exclude)
        metrics = self.metrics
        if metrics is not None:
            metrics.bus_sent += 1
            raw = envelope.stamp(raw, time.time())
        await self._bus().group_send(name, raw)

    async def _to_bus(self, owner: str, raw: bytes) -> None:
        metrics = self.metrics
        if metrics is not None:
            metrics.bus_sent += 1
            raw = envelope.stamp(raw, time.time())
        await self._bus().send(owner, raw)

    async def group_members(self, name: str) -> list[str]:
        return self.registry.members(name) + await self._bus().group_members(name)

    async def join(self, name: str, connection_id: str) -> None:
        sessions = self.sessions
        relays = sessions.relays
        if relays and connection_id in relays:
            sessions.handover.join(relays[connection_id], name, True)  # memberships live at its home
        elif sessions.adoptions.sessions and connection_id in sessions.adoptions.sessions:
            await sessions.adoptions.join(connection_id, name, True)
        elif self.registry.join(name, connection_id):
            await self._bus().group_add(name, connection_id)
            self._mirror_groups(connection_id)

    async def leave(self, name: str, connection_id: str) -> None:
        sessions = self.sessions
        relays = sessions.relays
        if relays and connection_id in relays:
            sessions.handover.join(relays[connection_id], name, False)
        elif sessions.adoptions.sessions and connection_id in sessions.adoptions.sessions:
            await sessions.adoptions.join(connection_id, name, False)
        elif self.registry.discard(name, connection_id):
            await self._bus().group_discard(name, connection_id)
            self._mirror_groups(connection_id)

    def _mirror_groups(self, connection_id: str) -> None:
        mirror = self.sessions.mirror
        if mirror is not None and connection_id in self.sessions.sessions:
            mirror.groups(connection_id, list(self.registry.groups_of(connection_id)))

    def groups_of(self, connection_id: str) -> frozenset[str]:
        sessions = self.sessions
        relays = sessions.relays
        if relays and connection_id in relays:
            return frozenset(relays[connection_id].groups)
        adopted = sessions.adoptions.sessions
        if adopted and connection_id in adopted:
            return frozenset(adopted[connection_id].groups)
        return self.registry.groups_of(connection_id)

    async def forget(self, connection_id: str) -> list[str]:
        """A connection ended: drop it and its memberships here and on the bus; returns its groups."""
        adopted = self.sessions.adoptions.sessions
        if adopted and connection_id in adopted:
            return await self.sessions.adoptions.forget(connection_id)
        names = self.registry.remove(connection_id)
        for name in names:
            try:
                await self._bus().group_discard(name, connection_id)
            except Exception:
                logger.exception('could not leave group %r for %s', name, connection_id)
        return names

    def deliver(self, raw: bytes) -> None:
        """Called by the bus in the owning worker; never raises into the bus listener."""
        self.deliveries += 1
        try:
            message = envelope.decode(raw)
        except Exception:
            logger.exception('undecodable bus message dropped')
            return
        metrics = self.metrics
        if metrics is not None:
            metrics.bus_received += 1
            if message.sent_at is not None:
                metrics.delivered(max(time.time() - message.sent_at, 0.0))
        kind = message.kind
        if kind in (envelope.GROUP_TEXT, envelope.GROUP_BYTES):
            self._deliver_group(message.target, message.payload, message.exclude)
            return
        outbox = self.registry.connections.get(message.target)
        if outbox is None:
            if kind == envelope.SESSION:  # its target is '': never a live connection
                self.sessions.handover.deliver(envelope.unstamped(raw))
                return
            logger.debug('bus message for %s dropped: no such live connection', message.target)
        elif kind == envelope.CLOSE:
            outbox.close_soon(message.code, message.payload)  # type: ignore[arg-type]
        else:
            outbox.push(message.payload)

    def _deliver_group(self, name: str, payload: str | bytes, exclude: tuple[str, ...]) -> None:
        members = self.registry.groups.get(name)
        if not members:
            return
        connections = self.registry.connections
        message = text_or_bytes_message(payload)  # one ASGI message and one wire frame shared by every member
        frame = wire_frame(payload)
        size = payload_size(payload) if self.metrics is not None else None
        for connection_id in tuple(members):
            if connection_id in exclude:
                continue
            outbox = connections.get(connection_id)
            if outbox is not None:
                outbox.push_message(message, frame, size)

    def _bus(self) -> Bus:
        if self.bus is None:
            raise RuntimeError('the panther runtime is not started (no lifespan and no connection yet)')
        return self.bus
