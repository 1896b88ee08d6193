"""The connection state machine as user code sees it.

Illegal steps fail loudly in the developer's code and never reach the server
(the outbox itself: tests/test_outbox.py).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

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
    check('close()', WebsocketState.OPEN, (WebsocketState.CONNECTING, WebsocketState.OPEN))


def test_connected_is_the_earlier_name_of_open():
    assert WebsocketState.CONNECTED is WebsocketState.OPEN


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
    ([_accept, _accept], 'accept()', 'OPEN', ['websocket.accept']),
    ([_accept, _close, _close], 'close()', 'CLOSING', ['websocket.accept', 'websocket.close']),
    ([_accept, _close, _send], 'send()', 'CLOSING', ['websocket.accept', 'websocket.close']),
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
