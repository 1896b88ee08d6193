"""The session modules on their own: credentials, numbering, acknowledgements, refusals, endings,
the session outbox and the session receive side (panther.sessions, panther.resume_credentials,
panther.session_outbox). Real servers: tests/test_sessions_server.py.
"""

from __future__ import annotations

import asyncio
import json
import types
from types import SimpleNamespace

import pytest

from panther.config_loader import load_config
from panther.exceptions import ConfigError
from panther.frames import FRAMES_EXTENSION
from panther.resume_credentials import issue, new_nonce, read
from panther.session_outbox import SessionOutbox, SessionReceive
from panther.sessions import (
    INVALID,
    OTHER_USER,
    OVERFLOW,
    REPLAYED,
    SessionStore,
    identity,
    numbered,
)
from tests.test_outbox import Sink, Wire

ID = 'a' * 12 + 'b' * 20


class Handler:
    def __init__(self) -> None:
        self.codes: list[int] = []
        self._final_groups = None

    async def disconnect(self, code: int) -> None:
        self.codes.append(code)


def _store(window: float = 30.0, buffer: int = 5, secret: str | None = 'k') -> tuple[SessionStore, list[str]]:
    forgotten: list[str] = []

    async def forget(connection_id: str) -> list[str]:
        forgotten.append(connection_id)
        return ['room']

    runtime = SimpleNamespace(limits=SimpleNamespace(resume_window=window, resume_buffer=buffer),
                              settings=SimpleNamespace(SECRET_KEY=secret), forget=forget, bus=None,
                              worker_id='a' * 12)
    return SessionStore(runtime), forgotten  # type: ignore[arg-type]


# -- credentials ----------------------------------------------------------------------------------


def test_credentials_round_trip_and_refuse_forgeries():
    nonce = new_nonce()
    credential = issue(b'secret', ID, nonce)
    assert read(b'secret', credential) == (ID, nonce)
    connection_id, _, mac = credential.split('.')
    assert read(b'secret', f'{connection_id}.{new_nonce()}.{mac}') is None  # another nonce, same mac
    assert read(b'other key', credential) is None
    assert read(b'secret', credential + 'x') is None
    assert read(b'secret', 'not.a.credential') is None
    assert read(b'secret', ID) is None


def test_frames_carry_their_number():
    assert numbered(17, '{"a":1}') == '17:{"a":1}'
    assert numbered(1, '') == '1:'
    assert numbered(258, b'\x00x') == b'\x00\x00\x00\x00\x00\x00\x01\x02\x00x'


def test_identity_is_type_and_id():
    assert identity(None) == ''
    assert identity({'id': 'alice'}) == identity({'id': 'alice', 'name': 'A'})
    assert identity({'id': 'alice'}) != identity({'id': 'bob'})
    assert identity(SimpleNamespace(id=3)) != identity({'id': 3})


# -- numbering, acknowledgements, refusals -------------------------------------------------------------


async def test_numbering_keeps_until_acknowledged():
    store, _ = _store(buffer=5)
    session = store.open(ID, '/ws/', 'u', Handler())  # type: ignore[arg-type]
    session.outbox = object()  # attached
    assert [session.number(f'm{i}') for i in range(1, 4)] == ['1:m1', '2:m2', '3:m3']
    session.ack(2)
    assert list(session.kept) == ['m3'] and session.first == 3
    assert session.after(2) == ['3:m3'] and session.after(3) == []
    session.ack(99)  # more than was sent: everything known is acknowledged, nothing breaks
    assert not session.kept


async def test_attached_overflow_drops_the_oldest_and_a_resume_needing_it_is_refused():
    store, _ = _store(buffer=3)
    session = store.open(ID, '/ws/', 'u', Handler())  # type: ignore[arg-type]
    session.outbox = object()
    for i in range(5):
        session.number(f'm{i}')
    assert list(session.kept) == ['m2', 'm3', 'm4'] and session.first == 3
    assert store.check(session, session.nonce, 2, '/ws/', 'u') is None
    assert store.check(session, session.nonce, 1, '/ws/', 'u') == OVERFLOW


async def test_check_names_each_reason():
    store, _ = _store()
    session = store.open(ID, '/ws/', 'u', Handler())  # type: ignore[arg-type]
    session.number('x')
    assert store.check(session, session.nonce, 1, '/ws/', 'u') is None
    assert store.check(session, session.nonce, 1, '/other/', 'u') == INVALID
    assert store.check(session, new_nonce(), 1, '/ws/', 'u') == REPLAYED
    assert store.check(session, session.nonce, 1, '/ws/', 'v') == OTHER_USER
    assert store.check(session, session.nonce, 2, '/ws/', 'u') == INVALID  # more than was ever sent


async def test_a_renewed_credential_keeps_the_old_one_until_the_client_speaks():
    store, _ = _store()
    session = store.open(ID, '/ws/', 'u', Handler())  # type: ignore[arg-type]
    outbox = session.outbox = object()
    first = session.nonce
    store.renew(session, first)
    assert session.nonce != first
    assert store.check(session, first, 0, '/ws/', 'u') is None  # the welcome may have been lost
    session.heard(outbox)  # type: ignore[arg-type]
    assert store.check(session, first, 0, '/ws/', 'u') == REPLAYED


async def test_a_detached_session_ends_once_when_its_window_runs_out():
    store, forgotten = _store(window=0.05)
    handler = Handler()
    session = store.open(ID, '/ws/', 'u', handler)  # type: ignore[arg-type]
    session.detach(1006)
    await asyncio.sleep(0.2)
    assert handler.codes == [1006] and forgotten == [ID]
    assert session.ended and ID not in store.sessions
    assert store.ending(ID) == 'expired'
    await store.end(session, 1000, None)  # a second ending does nothing
    assert handler.codes == [1006]


async def test_a_detached_session_ends_at_once_when_its_buffer_overflows():
    store, _ = _store(buffer=2)
    handler = Handler()
    session = store.open(ID, '/ws/', 'u', handler)  # type: ignore[arg-type]
    session.detach(1006)
    for i in range(3):
        session.push(f'm{i}')
    await asyncio.sleep(0.05)
    assert handler.codes == [1006]
    assert store.ending(ID) == OVERFLOW
    session.push('late')  # an ended session drops what still comes
    assert not session.kept


# -- the session outbox and receive side -------------------------------------------------------------


async def _session_outbox(sink: bool) -> tuple[SessionOutbox, Wire, SessionStore]:
    store, _ = _store()
    wire = Wire()
    extensions = {FRAMES_EXTENSION: Sink(wire)} if sink else {}
    outbox = SessionOutbox(wire, {'extensions': extensions}, 1024, 5.0, True, store)
    outbox.connection_id = ID
    outbox.pending = ('/ws/', 'u', Handler(), None)  # type: ignore[assignment]
    assert await outbox.accept('panther.v1', [])
    return outbox, wire, store


@pytest.mark.parametrize('sink', [True, False])
async def test_session_outbox_sends_welcome_then_numbered_frames(sink):
    outbox, wire, store = await _session_outbox(sink)
    session = store.sessions[ID]
    assert outbox.registered() is session
    if not outbox.write_now('a'):
        await outbox.send('a')
    await outbox.send(b'b')
    session.push('c')  # a send from outside, through the registry
    await asyncio.sleep(0)
    sent = wire.frames()
    assert sent[0] == ('websocket.accept', None)
    welcome = json.loads(sent[1])
    assert welcome['connection_id'] == ID and welcome['resumed'] is False and welcome['buffer'] == 5
    assert read(store.key, welcome['resume']) == (ID, session.nonce)
    assert sent[2:] == ['1:a', b'\x00' * 7 + b'\x02b', '3:c']


async def test_session_outbox_without_panther_v1_is_plain():
    store, _ = _store()
    wire = Wire()
    outbox = SessionOutbox(wire, {'extensions': {}}, 1024, 5.0, True, store)
    outbox.connection_id = ID
    outbox.pending = ('/ws/', 'u', Handler(), None)  # type: ignore[assignment]
    assert await outbox.accept('chat', [])
    await outbox.send('a')
    assert outbox.session is None and outbox.registered() is outbox
    assert wire.frames()[1:] == ['a'] and not store.sessions


async def test_a_dropped_connection_keeps_the_handlers_sends_for_the_resume():
    outbox, _wire, store = await _session_outbox(False)
    session = store.sessions[ID]
    outbox.ended(1006)
    session.detach(1006)
    await outbox.send('while away')
    assert session.after(0) == ['1:while away']
    session.stop_clock()


async def test_session_receive_reads_messages_and_acknowledgements():
    outbox, _, store = await _session_outbox(False)
    session = store.sessions[ID]
    for i in range(3):
        session.number(f'm{i}')
    incoming = [{'type': 'websocket.receive', 'text': 'A2'}, {'type': 'websocket.receive', 'text': 'Ax'},
                {'type': 'websocket.receive', 'text': 'Zreserved'}, {'type': 'websocket.receive', 'text': 'Dhi'},
                {'type': 'websocket.receive', 'bytes': b'D'}, {'type': 'websocket.disconnect', 'code': 1006}]

    async def receive() -> dict:
        return incoming.pop(0)

    reader = SessionReceive(receive, outbox)
    assert await reader() == {'type': 'websocket.receive', 'text': 'hi'}
    assert list(session.kept) == ['m2']  # A2 acknowledged 1 and 2; 'Ax' and 'Z...' were ignored
    assert await reader() == {'type': 'websocket.receive', 'bytes': b'D'}
    assert (await reader())['type'] == 'websocket.disconnect'


# -- configuration -------------------------------------------------------------------------------------


def _configs(**values) -> types.ModuleType:
    module = types.ModuleType('session_configs')
    module.URLS = {}
    for key, value in values.items():
        setattr(module, key, value)
    return module


def test_resume_keys_are_validated():
    loaded = load_config(_configs())
    assert (loaded.WS_RESUME_WINDOW, loaded.WS_RESUME_BUFFER) == (30.0, 1000)
    assert load_config(_configs(WS_RESUME_WINDOW=0)).WS_RESUME_WINDOW == 0
    for key, value in [('WS_RESUME_WINDOW', -1), ('WS_RESUME_WINDOW', 'long'), ('WS_RESUME_WINDOW', True),
                       ('WS_RESUME_BUFFER', 0), ('WS_RESUME_BUFFER', 2.5)]:
        with pytest.raises(ConfigError, match=key):
            load_config(_configs(**{key: value}))


# -- in process: who gets a session -------------------------------------------------------------------


def _app(window: float, subprotocol: str | None = None):
    from panther import Panther
    from panther.websocket import GenericWebsocket

    class Echo(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept(subprotocol)

        async def receive(self, data):
            await self.send(data)

    module = _configs(WS_RESUME_WINDOW=window, URLS={'ws/': Echo})
    return Panther('session_configs', configs=module)


@pytest.mark.parametrize(('window', 'chosen', 'offered', 'session'), [
    (30, None, ['panther.v1'], True),
    (0, None, ['panther.v1'], True),  # resuming off: still its framing (browsers need the subprotocol), window 0
    (30, 'chat', ['chat', 'panther.v1'], False),  # the handler chose its own subprotocol
    (30, None, [], False),  # a plain client
])
async def test_who_gets_a_session(window, chosen, offered, session):
    from panther.test import WebsocketClient

    async with WebsocketClient(_app(window, chosen)).session('/ws/', subprotocols=offered) as ws:
        accept = ws.transcript[0]
        assert accept['subprotocol'] == ('panther.v1' if session else chosen)
        if session:
            welcome = json.loads(await ws.receive_text())
            assert welcome['type'] == 'welcome' and welcome['window'] == window
            await ws.send('Dhi')
            assert await ws.receive_text() == '1:hi'
        else:
            await ws.send('hi')
            assert await ws.receive_text() == 'hi'


def test_a_sync_resumed_hook_is_a_start_up_error():
    from panther import Panther
    from panther.websocket import GenericWebsocket

    class Sync(GenericWebsocket):
        def resumed(self):
            pass

    with pytest.raises(ConfigError, match=r'Sync.resumed\(\) must be "async def"'):
        Panther('session_configs', configs=_configs(URLS={'ws/': Sync}))
