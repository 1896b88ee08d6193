"""The one outgoing path of a connection (panther.outbox), against an ASGI send we control.

Sends from inside and outside stay in order whatever is in flight; the frame
sink is used only when nothing is queued or in flight; closes wait behind
queued frames; the queue is bounded; a close that cannot finish is given up.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from panther import status
from panther.frames import FRAMES_EXTENSION, frame_payload
from panther.outbox import Outbox, refuse_handshake
from panther.websocket_state import WebsocketState, WebsocketStateError


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


class Sink:
    """A frame sink (panther.frames.FrameSink) that records frames and can refuse, as a full buffer does."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.accepting = True
        self.aborted = False

    def write_frame(self, frame: bytes) -> bool:
        if not self.accepting:
            return False
        is_text, payload = frame_payload(frame)
        self.wire.sent.append({'type': 'websocket.send', **({'text': payload.decode()} if is_text
                                                             else {'bytes': payload})})
        return True

    def abort_connection(self) -> None:
        self.aborted = True


async def _outbox(queue_size: int = 1024, close_timeout: float = 5.0, sink: bool = False,
                  http_response: bool = False) -> tuple[Outbox, Wire, Sink | None]:
    wire = Wire()
    extensions: dict = {}
    fake = Sink(wire) if sink else None
    if fake is not None:
        extensions[FRAMES_EXTENSION] = fake
    if http_response:
        extensions['websocket.http.response'] = {}
    outbox = Outbox(wire, {'extensions': extensions}, queue_size, close_timeout)
    assert outbox.fast_path is sink
    assert await outbox.accept(None, [])
    outbox.connection_id = 'test'
    return outbox, wire, fake


async def _settle(outbox: Outbox) -> None:
    for _ in range(100):
        if outbox.queued == 0 and outbox._writer is None:
            return
        await asyncio.sleep(0)
    raise AssertionError('the writer did not finish')


async def test_states_from_accept_to_closed():
    wire = Wire()
    outbox = Outbox(wire, {}, 10, 5.0)
    assert outbox.state is WebsocketState.CONNECTING
    await outbox.accept('chat', [(b'x-a', b'1')])
    assert outbox.state is WebsocketState.OPEN
    assert wire.sent == [{'type': 'websocket.accept', 'subprotocol': 'chat', 'headers': [(b'x-a', b'1')]}]
    await outbox.close(4000, 'bye', by_handler=True)
    assert outbox.state is WebsocketState.CLOSING
    assert outbox.ended(1000) == 4000  # disconnect() hears the code this side closed with
    assert outbox.state is WebsocketState.CLOSED


async def test_peer_close_code_is_reported_when_nobody_here_closed():
    outbox, _, _ = await _outbox()
    assert outbox.ended(4321) == 4321


async def test_push_while_an_own_send_is_in_flight_keeps_order():
    outbox, wire, _ = await _outbox()
    wire.gate.clear()
    own = asyncio.ensure_future(outbox.send('a'))
    await asyncio.sleep(0)
    assert wire.in_flight == 1
    outbox.push('b')
    outbox.push('c')
    second = asyncio.ensure_future(outbox.send('d'))  # queues behind, returns at once
    await asyncio.sleep(0)
    assert second.done()
    wire.gate.set()
    await own
    await _settle(outbox)
    assert wire.frames()[1:] == ['a', 'b', 'c', 'd']


async def test_the_sink_takes_frames_only_while_nothing_waits():
    outbox, wire, sink = await _outbox(sink=True)
    await outbox.send('direct-1')
    outbox.push(b'direct-2')
    assert wire.in_flight == 0 and outbox._writer is None  # no ASGI send, no task
    sink.accepting = False  # the transport's buffer is full: the ASGI send must wait
    wire.gate.clear()
    outbox.push('queued-1')
    sink.accepting = True
    outbox.push('queued-2')  # the sink accepts again, but a frame waits: it must queue behind
    await outbox.send('queued-3')
    assert outbox.queued >= 2
    wire.gate.set()
    await _settle(outbox)
    await outbox.send('direct-3')
    assert wire.frames()[1:] == ['direct-1', b'direct-2', 'queued-1', 'queued-2', 'queued-3', 'direct-3']


async def test_close_is_ordered_after_queued_sends():
    outbox, wire, _ = await _outbox()
    wire.gate.clear()
    first = asyncio.ensure_future(outbox.send('1'))
    await asyncio.sleep(0)
    outbox.push('2')
    await outbox.send('3')
    await outbox.close(4000, 'done', by_handler=True)
    assert outbox.state is WebsocketState.CLOSING
    with pytest.raises(WebsocketStateError):
        await outbox.send('4')  # the handler's own send after its own close is a bug
    with pytest.raises(WebsocketStateError):
        await outbox.close(1000, '', by_handler=True)
    wire.gate.set()
    await first
    await _settle(outbox)
    assert wire.frames()[1:] == ['1', '2', '3', ('websocket.close', 4000)]


async def test_outside_close_is_ordered_after_queued_sends_and_later_sends_are_dropped():
    outbox, wire, _ = await _outbox()
    wire.gate.clear()
    first = asyncio.ensure_future(outbox.send('1'))
    await asyncio.sleep(0)
    outbox.push('2')
    outbox.close_soon(1008, 'kicked')
    outbox.push('3')  # after the close: dropped
    await outbox.send('4')  # dropped quietly, not an error
    await outbox.close(1000, '')  # the framework's close after an outside one: nothing to do
    wire.gate.set()
    await first
    await _settle(outbox)
    assert wire.frames()[1:] == ['1', '2', ('websocket.close', 1008)]


async def test_write_to_a_departed_peer_ends_quietly():
    outbox, wire, _ = await _outbox()
    wire.fail = OSError('gone')
    await outbox.send('x')  # no exception
    assert outbox.state is WebsocketState.CLOSED
    await outbox.send('y')
    await outbox.close(1000, '', by_handler=True)  # no-op: the peer went first
    outbox.push('z')
    assert wire.in_flight == 0 and outbox._writer is None
    assert wire.frames() == [('websocket.accept', None)]


async def test_a_server_error_while_writing_is_logged_and_ends_the_connection(caplog):
    outbox, wire, _ = await _outbox()
    wire.fail = RuntimeError('server broke')
    with caplog.at_level(logging.ERROR, logger='panther'):
        outbox.push('x')
        await _settle(outbox)
    assert 'server broke' in caplog.text
    assert outbox.state is WebsocketState.CLOSED


async def test_writer_failure_clears_the_queue():
    outbox, wire, _ = await _outbox()
    wire.gate.clear()
    first = asyncio.ensure_future(outbox.send('1'))
    await asyncio.sleep(0)
    for i in range(5):
        outbox.push(str(i))
    wire.fail = OSError('gone')
    wire.gate.set()
    await first
    await _settle(outbox)
    assert outbox.state is WebsocketState.CLOSED
    assert outbox.queued == 0
    assert wire.frames() == [('websocket.accept', None)]


@pytest.mark.parametrize('in_flight', ['own send', 'writer task'])
async def test_overflow_closes_1013_after_the_write_in_flight(caplog, in_flight):
    outbox, wire, _ = await _outbox(queue_size=3)
    wire.gate.clear()
    if in_flight == 'own send':
        first = asyncio.ensure_future(outbox.send('stuck'))
    else:
        outbox.push('stuck')
        first = asyncio.ensure_future(asyncio.sleep(0))
    await asyncio.sleep(0)
    assert wire.in_flight == 1
    with caplog.at_level(logging.WARNING, logger='panther'):
        for i in range(10):
            outbox.push(str(i))
    assert 'WS_SEND_QUEUE_SIZE' in caplog.text
    assert outbox.state is WebsocketState.CLOSING
    assert outbox.close_code == status.WS_1013_TRY_AGAIN_LATER
    await outbox.send('ignored')  # closed by a limit: dropped, not an error
    wire.gate.set()
    await first
    await _settle(outbox)
    assert wire.frames()[1:] == ['stuck', ('websocket.close', status.WS_1013_TRY_AGAIN_LATER)]


async def test_finish_cancels_a_stuck_writer():
    outbox, wire, _ = await _outbox()
    wire.gate.clear()
    outbox.push('a')
    await asyncio.sleep(0)
    writer = outbox._writer
    assert writer is not None and wire.in_flight == 1
    outbox.finish()
    await asyncio.sleep(0)
    assert writer.cancelled() or writer.done()
    assert outbox.state is WebsocketState.CLOSED
    wire.gate.set()
    await asyncio.sleep(0)
    assert wire.frames() == [('websocket.accept', None)]


async def test_a_close_that_cannot_finish_aborts_through_the_sink(caplog):
    outbox, wire, sink = await _outbox(sink=True, close_timeout=0.05)
    sink.accepting = False
    wire.gate.clear()  # the peer does not read: the close waits behind a write forever
    outbox.push('stuck')
    outbox.close_soon(1000, '')
    with caplog.at_level(logging.INFO, logger='panther'):
        await asyncio.sleep(0.15)
    assert sink.aborted
    assert 'WS_CLOSE_TIMEOUT' in caplog.text


async def test_a_close_that_cannot_finish_without_a_sink_cancels_the_connection_task():
    wire = Wire()
    outbox = Outbox(wire, {}, 10, 0.05)
    cancelled = asyncio.Event()

    async def connection_task():
        await outbox.accept(None, [])
        wire.gate.clear()
        outbox.push('stuck')
        outbox.close_soon(1000, '')
        try:
            await asyncio.sleep(10)  # stands for the receive loop waiting for a disconnect
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.ensure_future(connection_task())
    await asyncio.wait_for(cancelled.wait(), 2)
    assert outbox.abandoned
    assert outbox.state is WebsocketState.CLOSED
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_close_that_finishes_in_time_stops_the_clock():
    outbox, _, sink = await _outbox(sink=True, close_timeout=0.05)
    outbox.close_soon(1000, '')
    await _settle(outbox)
    outbox.ended(1000)
    await asyncio.sleep(0.1)
    assert not sink.aborted and not outbox.abandoned


async def test_many_interleaved_senders_keep_per_connection_order():
    outbox, wire, _ = await _outbox()

    async def own():
        for i in range(200):
            await outbox.send(f'own-{i}')
            if i % 7 == 0:
                await asyncio.sleep(0)

    async def outside():
        for i in range(200):
            outbox.push(f'out-{i}')
            if i % 5 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(own(), outside())
    await _settle(outbox)
    frames = wire.frames()[1:]
    assert len(frames) == 400
    assert [f for f in frames if f.startswith('own')] == [f'own-{i}' for i in range(200)]
    assert [f for f in frames if f.startswith('out')] == [f'out-{i}' for i in range(200)]


async def test_group_message_is_shared_and_sink_gets_the_ready_frame():
    from panther.frames import wire_frame
    from panther.outbox import text_or_bytes_message

    outbox, wire, _ = await _outbox(sink=True)
    message = text_or_bytes_message('all')
    outbox.push_message(message, wire_frame('all'))
    assert wire.frames()[1:] == ['all']


@pytest.mark.parametrize(('http_response', 'expected'), [
    (False, [{'type': 'websocket.close', 'code': 1000, 'reason': ''}]),
    (True, [{'type': 'websocket.http.response.start', 'status': 401,
             'headers': [(b'content-type', b'application/json'), (b'content-length', b'26')]},
            {'type': 'websocket.http.response.body', 'body': b'{"detail":"Token expired"}'}]),
])
async def test_refusals_with_and_without_the_http_response_extension(http_response, expected):
    wire = Wire()
    scope = {'extensions': {'websocket.http.response': {}} if http_response else {}}
    await refuse_handshake(wire, scope, 401, 'Token expired')
    assert wire.sent == expected
