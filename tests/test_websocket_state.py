"""The connection state machine and the per-connection outbox.

Illegal steps fail loudly in the developer's code and never reach the server;
sends from inside and outside stay in order whatever is in flight.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from panther import status
from panther.test import WebsocketClient
from panther.websocket import GenericWebsocket
from panther.websocket_state import WebsocketState, WebsocketStateError, check
from tests.ws_helpers import make_app

# -- the checker itself -----------------------------------------------------------------


def test_state_error_is_a_runtime_error_naming_step_and_state():
    with pytest.raises(WebsocketStateError) as info:
        check('send()', WebsocketState.CONNECTING, (WebsocketState.CONNECTED,))
    assert isinstance(info.value, RuntimeError)
    assert 'send()' in str(info.value)
    assert 'CONNECTING' in str(info.value)
    assert 'accept()' in str(info.value)  # says what to do


def test_allowed_step_passes():
    check('close()', WebsocketState.CONNECTED, (WebsocketState.CONNECTING, WebsocketState.CONNECTED))


# -- illegal steps in user code ---------------------------------------------------------------


def _run_steps(steps):
    """Run ``steps`` inside connect(); returns (transcript, the errors raised, violations)."""
    errors: list[BaseException] = []

    class Stepper(GenericWebsocket):
        async def connect(self, **kwargs):
            for step in steps:
                try:
                    await step(self)
                except WebsocketStateError as exc:
                    errors.append(exc)

    app = make_app({'ws': Stepper})

    async def go():
        session = WebsocketClient(app).session('/ws')
        await session.start()
        await session.close()
        return session

    session = asyncio.run(go())
    assert len(app.runtime.registry) == 0
    return session.transcript, errors, session.violations


def _accept(ws):
    return ws.accept()


def _send(ws):
    return ws.send('x')


def _close(ws):
    return ws.close()


def _join(ws):
    return ws.join_group('g')


@pytest.mark.parametrize(('steps', 'step', 'state', 'sent'), [
    ([_send, _accept], 'send()', 'CONNECTING', ['websocket.accept']),
    ([_join, _accept], 'join_group()', 'CONNECTING', ['websocket.accept']),
    ([_accept, _accept], 'accept()', 'CONNECTED', ['websocket.accept']),
    ([_accept, _close, _close], 'close()', 'CLOSED', ['websocket.accept', 'websocket.close']),
    ([_accept, _close, _send], 'send()', 'CLOSED', ['websocket.accept', 'websocket.close']),
    ([_close, _accept], 'accept()', 'CLOSED', ['websocket.close']),
    ([_close, _send], 'send()', 'CLOSED', ['websocket.close']),
])
def test_illegal_steps_raise_and_never_reach_the_server(steps, step, state, sent):
    messages, errors, violations = _run_steps(steps)
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert step in str(errors[0]) and state in str(errors[0])
    assert [m['type'] for m in messages] == sent
    assert violations == []


async def test_uncaught_state_error_is_a_crash_without_protocol_violation(caplog):
    class Careless(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()

        async def receive(self, data):
            await self.close()
            await self.send('after close')

    with caplog.at_level(logging.ERROR, logger='panther'):
        async with WebsocketClient(make_app({'ws': Careless})).session('/ws') as ws:
            await ws.send('go')
            assert await ws.receive() == {'type': 'websocket.close', 'code': 1000, 'reason': ''}
            await ws.wait_closed()
    assert 'cannot send()' in caplog.text
    assert ws.violations == []


async def test_steps_after_the_peer_left_are_quiet():
    results = []
    left = asyncio.Event()

    class Late(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()

        async def disconnect(self, code):
            # The peer is gone: a send is dropped and close is a no-op, not an error.
            await self.send('too late')
            await self.close()
            results.append((code, self.state))
            left.set()

    async with WebsocketClient(make_app({'ws': Late})).session('/ws') as ws:
        await ws.close(1001)
        await asyncio.wait_for(left.wait(), 2)
    assert results == [(1001, WebsocketState.CLOSED)]
    assert [m['type'] for m in ws.transcript] == ['websocket.accept']
    assert ws.violations == []


async def test_send_after_an_outside_close_is_dropped_not_raised(caplog):
    release = asyncio.Event()
    errors = []

    class Streamer(GenericWebsocket):
        async def connect(self, **kwargs):
            await self.accept()

        async def receive(self, data):
            await release.wait()
            try:
                await self.send('after outside close')
            except Exception as exc:  # pragma: no cover - the failure being tested for
                errors.append(exc)

    from panther.websocket import close_websocket_connection

    app = make_app({'ws': Streamer})
    async with WebsocketClient(app).session('/ws') as ws:
        await ws.send('start')
        await asyncio.sleep(0)
        connection_id = next(iter(app.runtime.registry.connections))
        await close_websocket_connection(connection_id, 4001, 'bye')
        assert await ws.receive() == {'type': 'websocket.close', 'code': 4001, 'reason': 'bye'}
        release.set()
        await ws.wait_closed()
    assert errors == []
    assert [m['type'] for m in ws.transcript] == ['websocket.accept', 'websocket.close']


# -- the outbox, with a server whose writes we control ---------------------------------------


class Wire:
    """An ASGI ``send`` that can be held, to have a write in flight, or made to fail."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: BaseException | None = None
        self.in_flight = 0

    async def __call__(self, message: dict) -> None:
        self.in_flight += 1
        try:
            await self.gate.wait()
            if self.fail is not None and message['type'] != 'websocket.accept':
                raise self.fail
            if self.sent and self.sent[-1]['type'] == 'websocket.close':
                raise AssertionError(f'message after close: {message}')
            self.sent.append(message)
        finally:
            self.in_flight -= 1

    def frames(self) -> list:
        return [m.get('text', m.get('bytes')) if m['type'] == 'websocket.send' else (m['type'], m.get('code'))
                for m in self.sent]


async def _connection(**settings) -> tuple[GenericWebsocket, Wire]:
    app = make_app({'ws': GenericWebsocket}, **settings)
    await app.runtime.start()
    wire = Wire()
    connection = GenericWebsocket()
    scope = {'type': 'websocket', 'path': '/ws', 'headers': [], 'query_string': b''}
    connection._setup(scope, wire, app.runtime)
    await connection.accept()
    return connection, wire


async def _settle(connection: GenericWebsocket) -> None:
    for _ in range(50):
        if connection._writer is None and not connection._writing:
            return
        await asyncio.sleep(0)
    raise AssertionError('the writer did not finish')


async def test_push_while_a_direct_write_is_in_flight_keeps_order():
    connection, wire = await _connection()
    wire.gate.clear()
    direct = asyncio.ensure_future(connection.send('a'))
    await asyncio.sleep(0)
    assert wire.in_flight == 1
    connection._push('b')
    connection._push('c')
    own = asyncio.ensure_future(connection.send('d'))  # queues behind, returns at once
    await asyncio.sleep(0)
    assert own.done()
    wire.gate.set()
    await direct
    await _settle(connection)
    assert wire.frames()[1:] == ['a', 'b', 'c', 'd']


async def test_close_is_ordered_after_queued_sends():
    connection, wire = await _connection()
    wire.gate.clear()
    first = asyncio.ensure_future(connection.send('1'))
    await asyncio.sleep(0)
    connection._push('2')
    await connection.send('3')
    await connection.close(4000, 'done')
    assert connection.state is WebsocketState.CLOSED
    with pytest.raises(WebsocketStateError):
        await connection.send('4')
    wire.gate.set()
    await first
    await _settle(connection)
    assert wire.frames()[1:] == ['1', '2', '3', ('websocket.close', 4000)]


async def test_outside_close_is_ordered_after_queued_sends():
    connection, wire = await _connection()
    wire.gate.clear()
    first = asyncio.ensure_future(connection.send('1'))
    await asyncio.sleep(0)
    connection._push('2')
    connection._close_from_outside(1008, 'kicked')
    connection._push('3')  # after the close: dropped
    await connection.send('4')  # dropped quietly, not an error
    wire.gate.set()
    await first
    await _settle(connection)
    assert wire.frames()[1:] == ['1', '2', ('websocket.close', 1008)]


async def test_direct_write_to_a_departed_peer_ends_quietly():
    connection, wire = await _connection()
    wire.fail = OSError('gone')
    await connection.send('x')  # no exception
    assert connection.state is WebsocketState.CLOSED
    await connection.send('y')  # dropped
    await connection.close()  # no-op
    connection._push('z')
    assert wire.in_flight == 0 and connection._writer is None
    assert wire.frames() == [('websocket.accept', None)]


async def test_writer_failure_from_a_departed_peer_clears_the_outbox():
    connection, wire = await _connection()
    wire.gate.clear()
    first = asyncio.ensure_future(connection.send('1'))
    await asyncio.sleep(0)
    for i in range(5):
        connection._push(str(i))
    wire.fail = OSError('gone')
    wire.gate.set()
    await first
    await _settle(connection)
    assert connection.state is WebsocketState.CLOSED
    assert not connection._outbox
    assert wire.frames() == [('websocket.accept', None)]


@pytest.mark.parametrize('in_flight', ['direct write', 'writer task'])
async def test_overflow_closes_1013_after_the_write_in_flight(caplog, in_flight):
    connection, wire = await _connection(WS_SEND_QUEUE_SIZE=3)
    wire.gate.clear()
    if in_flight == 'direct write':
        first = asyncio.ensure_future(connection.send('stuck'))
    else:
        connection._push('stuck')
        first = asyncio.ensure_future(asyncio.sleep(0))
    await asyncio.sleep(0)
    assert wire.in_flight == 1
    with caplog.at_level(logging.WARNING, logger='panther'):
        for i in range(10):
            connection._push(str(i))
    assert 'WS_SEND_QUEUE_SIZE' in caplog.text
    assert connection.state is WebsocketState.CLOSED
    await connection.send('ignored')  # closed by a limit: dropped, not an error
    wire.gate.set()
    await first
    await _settle(connection)
    assert wire.frames()[1:] == ['stuck', ('websocket.close', status.WS_1013_TRY_AGAIN_LATER)]


async def test_finish_cancels_a_stuck_writer():
    from panther.websocket_endpoint import WebsocketEndpoint

    connection, wire = await _connection()
    wire.gate.clear()
    first = asyncio.ensure_future(connection.send('a'))
    await asyncio.sleep(0)
    connection._push('b')
    first.cancel()  # the connection's task goes away mid-write
    with pytest.raises(asyncio.CancelledError):
        await first
    writer = connection._writer
    assert writer is not None
    endpoint = WebsocketEndpoint(GenericWebsocket, (), None)
    await endpoint._finish(connection, 1006)
    await asyncio.sleep(0)
    assert writer.cancelled() or writer.done()
    assert connection.connection_id not in connection._runtime.registry.connections
    wire.gate.set()
    await asyncio.sleep(0)
    assert wire.frames() == [('websocket.accept', None)]


async def test_many_interleaved_senders_keep_per_connection_order():
    connection, wire = await _connection()

    async def own():
        for i in range(200):
            await connection.send(f'own-{i}')
            if i % 7 == 0:
                await asyncio.sleep(0)

    async def outside():
        for i in range(200):
            connection._push(f'out-{i}')
            if i % 5 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(own(), outside())
    await _settle(connection)
    frames = wire.frames()[1:]
    assert len(frames) == 400
    assert [f for f in frames if f.startswith('own')] == [f'own-{i}' for i in range(200)]
    assert [f for f in frames if f.startswith('out')] == [f'out-{i}' for i in range(200)]
