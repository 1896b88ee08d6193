"""Resuming a session on another worker (panther.session_handover), over every bus backend.

Two runtimes, each on one bus of ``tests.bus_backends``: ``home`` holds a
detached session, ``holder`` asks for it as a resume landing there would. With a
backend that shares (shared-local, Redis) the session's frames reach the holder
once and in order, sends from anywhere reach it through home, acknowledgements
and the end of the connection reach home. The in-process bus has no other
worker: the resume is refused as ``unavailable``.
"""

from __future__ import annotations

import asyncio
import json

from panther import session_handover
from panther.configs import Config
from panther.connection_ids import new_connection_id
from panther.limits import Limits
from panther.runtime import Runtime
from panther.session_handover import Relay
from panther.sessions import REPLAYED, UNAVAILABLE
from tests.bus_backends import Backend, until


class Handler:
    def __init__(self) -> None:
        self.codes: list[int] = []
        self._final_groups = None

    async def disconnect(self, code: int) -> None:
        self.codes.append(code)


class Carrier:
    """Stands for the holder's SessionOutbox: records what the relay writes."""

    close_code = None

    def __init__(self) -> None:
        self.frames: list[str | bytes] = []

    def push_all(self, payloads) -> None:
        self.frames.extend(payloads)

    def push_wire(self, payload) -> None:
        self.frames.append(payload)


async def _runtime(backend: Backend, window: float = 30.0) -> Runtime:
    config = Config()
    config.WS_RESUME_WINDOW = window
    runtime = Runtime(Limits.from_config(config), config)
    worker = await backend.worker(deliver=lambda raw: runtime.deliver(raw))
    runtime.worker_id, runtime.bus = worker.id, worker.bus
    return runtime


async def test_a_resume_on_another_worker_is_relayed_through_home(bus_backend: Backend, monkeypatch):
    monkeypatch.setattr(session_handover, 'ANSWER_TIMEOUT', 0.5 if not bus_backend.shares else 5.0)
    home, holder = await _runtime(bus_backend), await _runtime(bus_backend)
    connection_id = new_connection_id(home.worker_id)
    handler = Handler()
    session = home.sessions.open(connection_id, '/ws/', '', handler)  # type: ignore[arg-type]
    home.registry.add(connection_id, session)
    home.registry.join('room', connection_id)
    session.detach(1006)
    session.push('a')
    session.push(b'b')

    refused = await holder.sessions.handover.request(home.worker_id, connection_id, 'f' * 32, 0, '/ws/', None)
    if not bus_backend.shares:
        assert refused == UNAVAILABLE
        session.stop_clock()
        return
    assert refused == REPLAYED

    relay = await holder.sessions.handover.request(home.worker_id, connection_id, session.nonce, 0, '/ws/', None)
    assert isinstance(relay, Relay) and relay.groups == {'room'}
    welcome = json.loads(relay.welcome)
    assert (welcome['connection_id'], welcome['resumed'], welcome['seq']) == (connection_id, True, 0)
    carrier = Carrier()
    await until(lambda: len(relay.early) == 2)
    relay.attach(carrier)  # type: ignore[arg-type]
    assert carrier.frames == [relay.welcome, '1:a', b'\x00' * 7 + b'\x02b']

    await home.send(connection_id, 'c')  # from the home worker
    await relay.send(carrier, 'd')  # type: ignore[arg-type]  # the holder's handler: numbered at home
    await until(lambda: len(carrier.frames) == 5)  # (two senders: each keeps its own order, not each other's)
    home._deliver_group('room', 'e', ())  # a group message at home
    await until(lambda: len(carrier.frames) == 6)
    assert carrier.frames[3:] == ['3:c', '4:d', '5:e']

    relay.heard(carrier)  # type: ignore[arg-type]
    relay.ack(4)
    await until(lambda: list(session.kept) == ['e'])
    assert session.previous is None

    await relay.connection_ended(carrier, 1006, False)  # type: ignore[arg-type]
    await until(lambda: session.outbox is None and session.timer is not None)
    assert not holder.sessions.relays
    await home.sessions.end(session, 1000, None)
    assert handler.codes == [1000]


async def test_a_holder_that_dies_silently_is_taken_for_gone(bus_backend: Backend, monkeypatch):
    monkeypatch.setattr(session_handover, 'ANSWER_TIMEOUT', 0.5 if not bus_backend.shares else 5.0)
    home, holder = await _runtime(bus_backend, window=3.0), await _runtime(bus_backend, window=3.0)
    connection_id = new_connection_id(home.worker_id)
    session = home.sessions.open(connection_id, '/ws/', '', Handler())  # type: ignore[arg-type]
    session.detach(1006)
    relay = await holder.sessions.handover.request(home.worker_id, connection_id, session.nonce, 0, '/ws/', None)
    if not bus_backend.shares:
        assert relay == UNAVAILABLE
        session.stop_clock()
        return
    assert isinstance(relay, Relay)
    await until(lambda: session.timer is None and session.outbox is not None)
    await asyncio.sleep(1.5)
    assert session.outbox is not None  # a live holder answers the probes
    holder.sessions.relays.clear()  # the holder no longer knows the session: as if it had died
    assert await until(lambda: session.outbox is None, timeout=6.0)
    assert session.timer is not None  # detached: the window runs from here
    session.stop_clock()
    await home.sessions.end(session, 1000, None)
    assert home.sessions.sessions.get(connection_id) is None
