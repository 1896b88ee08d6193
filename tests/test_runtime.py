"""panther.runtime: delivery to local outboxes, bus envelopes, group fan-out, leaving groups at the end."""

from __future__ import annotations

import asyncio

from panther import envelope
from panther.outbox import Outbox
from tests.ws_helpers import make_app


class Sent(list):
    async def __call__(self, message):
        self.append(message)


async def _runtime_with(*ids: str):
    app = make_app({})
    runtime = app.runtime
    await runtime.start()
    wires = {}
    for connection_id in ids:
        wire = Sent()
        outbox = Outbox(wire, {}, 100, 5.0)
        await outbox.accept(None, [])
        outbox.connection_id = connection_id
        runtime.registry.add(connection_id, outbox)
        wires[connection_id] = wire
    return runtime, wires


async def _stop(runtime) -> None:
    for connection_id in list(runtime.registry.connections):
        runtime.registry.remove(connection_id)  # these fake connections have no endpoint to end them
    await runtime.stop()


def _texts(wire: Sent) -> list:
    return [m.get('text', m.get('bytes')) for m in wire if m['type'] == 'websocket.send']


async def test_send_to_a_local_id_reaches_its_outbox_and_unknown_ids_are_dropped():
    runtime, wires = await _runtime_with('a' * 32)
    await runtime.send('a' * 32, {'n': 1})
    await runtime.send(runtime.worker_id + '0' * 20, 'nobody')  # this worker, no such connection
    await runtime.send('not-an-id', 'nobody')
    await asyncio.sleep(0)
    assert _texts(wires['a' * 32]) == ['{"n":1}']
    await _stop(runtime)


async def test_group_send_shares_one_message_and_honours_exclude():
    a, b, c = 'a' * 32, 'b' * 32, 'c' * 32
    runtime, wires = await _runtime_with(a, b, c)
    for connection_id in (a, b, c):
        await runtime.join('room', connection_id)
    await runtime.group_send('room', 'hi', exclude=(b,))
    await asyncio.sleep(0)
    assert _texts(wires[a]) == ['hi'] and _texts(wires[c]) == ['hi'] and _texts(wires[b]) == []
    assert wires[a][-1] is wires[c][-1]  # one ASGI message for every member
    await _stop(runtime)


async def test_bus_envelopes_are_delivered_and_bad_ones_dropped():
    a = 'a' * 32
    runtime, wires = await _runtime_with(a)
    await runtime.join('room', a)
    runtime.deliver(envelope.encode_send(a, 'direct'))
    runtime.deliver(envelope.encode_group('room', b'\x00group', ()))
    runtime.deliver(b'\xffnot an envelope')
    runtime.deliver(envelope.encode_close(a, 4001, 'bye'))
    await asyncio.sleep(0.01)
    assert _texts(wires[a]) == ['direct', b'\x00group']
    assert wires[a][-1] == {'type': 'websocket.close', 'code': 4001, 'reason': 'bye'}
    assert runtime.deliveries == 4
    await _stop(runtime)


async def test_forget_leaves_every_group_and_returns_them():
    a, b = 'a' * 32, 'b' * 32
    runtime, _ = await _runtime_with(a, b)
    await runtime.join('room', a)
    await runtime.join('room', b)
    await runtime.join('solo', a)
    assert sorted(await runtime.forget(a)) == ['room', 'solo']
    assert await runtime.group_members('room') == [b]
    assert await runtime.group_members('solo') == []
    await _stop(runtime)
