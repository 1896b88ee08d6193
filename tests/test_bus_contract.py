"""The bus contract (``panther.bus.base.Bus``), against every backend in ``tests.bus_backends``.

Each ``bus_backend.worker()`` is one started bus standing for one worker. The
in-process bus has no other worker by design: wherever a message would cross
workers, it asserts that bus's documented behaviour instead (nothing arrives,
nothing raises, no other worker's members).
"""

from __future__ import annotations

import asyncio
import logging

from panther.bus.base import Bus
from tests.bus_backends import Backend, until


async def _nothing_more(*workers, wait: float = 0.2) -> None:
    counts = [len(w.got) for w in workers]
    await asyncio.sleep(wait)
    assert [len(w.got) for w in workers] == counts, [w.got[c:] for w, c in zip(workers, counts, strict=True)]


def test_every_backend_names_its_kind(bus_backend: Backend):
    kinds = {'local': 'in-process', 'shared': 'shared-local', 'redis': 'redis', 'redis-cluster': 'redis'}
    assert bus_backend.name in kinds  # a new backend adds its banner name here
    assert isinstance(bus_backend.make(), Bus)
    assert bus_backend.make().kind == kinds[bus_backend.name]


async def test_targeted_sends_arrive_once_in_order_and_intact(bus_backend: Backend):
    a, b = await bus_backend.worker(), await bus_backend.worker()
    messages = [b'S' + str(i).encode() for i in range(1000)]
    messages += [bytes(range(256)), b'', b'\x00' * 1_000_000]
    for message in messages:
        await a.bus.send(b.id, message)
    if bus_backend.shares:
        assert await until(lambda: len(b.got) >= len(messages))
        assert b.got == messages
    await _nothing_more(a, b)
    assert a.got == []  # never back to the sender
    if not bus_backend.shares:
        assert b.got == []  # documented: only this worker exists, a message for another is dropped


async def test_sends_from_two_workers_keep_each_senders_order(bus_backend: Backend):
    a, b, target = await bus_backend.worker(), await bus_backend.worker(), await bus_backend.worker()

    async def burst(sender, tag):
        for i in range(300):
            await sender.bus.send(target.id, b'%s%d' % (tag, i))
            if i % 50 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(burst(a, b'a'), burst(b, b'b'))
    expected = 600 if bus_backend.shares else 0
    assert await until(lambda: len(target.got) >= expected)
    await _nothing_more(target)
    for tag in (b'a', b'b'):
        mine = [m for m in target.got if m[:1] == tag]
        assert mine == ([b'%s%d' % (tag, i) for i in range(300)] if bus_backend.shares else [])


async def test_group_membership_is_visible_once_join_and_leave_return(bus_backend: Backend):
    a, b, c = await bus_backend.worker(), await bus_backend.worker(), await bus_backend.worker()
    b1, b2, c1 = b.new_connection(), b.new_connection(), c.new_connection()
    await b.join('room', b1)
    await b.join('room', b2)
    await c.join('room', c1)
    if bus_backend.shares:
        assert sorted(await a.bus.group_members('room')) == sorted([b1, b2, c1])
        assert sorted(await b.bus.group_members('room')) == [c1]  # only *other* workers' members
    else:
        assert await a.bus.group_members('room') == []
        assert await b.bus.group_members('room') == []
    assert await a.bus.group_members('nobody') == []

    await b.leave('room', b1)
    expected = sorted([b2, c1]) if bus_backend.shares else []
    assert sorted(await a.bus.group_members('room')) == expected
    await b.leave('room', b2)
    await c.leave('room', c1)
    assert await a.bus.group_members('room') == []


async def test_group_send_reaches_each_other_worker_with_members_once(bus_backend: Backend):
    a, b, c, outsider = [await bus_backend.worker() for _ in range(4)]
    await a.join('room', a.new_connection())  # the sender's own members are served without the bus
    await b.join('room', b.new_connection())
    await b.join('room', b.new_connection())  # two members, still one message to worker b
    await c.join('room', c.new_connection())
    await a.bus.group_send('room', b'G1')
    await a.bus.group_send('room', b'G2')
    if bus_backend.shares:
        assert await until(lambda: len(b.got) >= 2 and len(c.got) >= 2)
    await _nothing_more(a, b, c, outsider)
    expected = [b'G1', b'G2'] if bus_backend.shares else []
    assert (a.got, b.got, c.got, outsider.got) == ([], expected, expected, [])

    # Once its last member leaves, a worker no longer gets the group's messages.
    for member in list(b.groups['room']):
        await b.leave('room', member)
    await a.bus.group_send('room', b'G3')
    if bus_backend.shares:
        assert await until(lambda: len(c.got) >= 3)
    await _nothing_more(b, c)
    assert b.got == expected and c.got == ([*expected, b'G3'] if bus_backend.shares else [])


async def test_targeted_and_group_sends_keep_their_order(bus_backend: Backend):
    a, b = await bus_backend.worker(), await bus_backend.worker()
    await b.join('room', b.new_connection())
    expected = []
    for i in range(200):
        if i % 20 == 10:
            await a.bus.group_send('room', b'group %d' % i)
            expected.append(b'group %d' % i)
        else:
            await a.bus.send(b.id, b'%d' % i)
            expected.append(b'%d' % i)
    if bus_backend.shares:
        assert await until(lambda: len(b.got) >= len(expected))
    await _nothing_more(b)
    assert b.got == (expected if bus_backend.shares else [])


async def test_a_send_to_a_stopped_or_unknown_worker_is_dropped(bus_backend: Backend):
    a, gone, alive = [await bus_backend.worker() for _ in range(3)]
    await gone.join('room', gone.new_connection())
    await bus_backend.stop(gone)
    await a.bus.send(gone.id, b'lost')
    await a.bus.send('f' * 12, b'lost too')  # a worker that never existed
    await a.bus.group_send('room', b'nobody left')
    assert await a.bus.group_members('room') == []
    await a.bus.send(alive.id, b'still works')
    if bus_backend.shares:
        assert await until(lambda: alive.got == [b'still works'])
    await _nothing_more(a, gone, alive)
    assert gone.got == [] and a.got == []
    assert alive.got == ([b'still works'] if bus_backend.shares else [])


async def test_a_failing_delivery_does_not_stop_the_listener(bus_backend: Backend, caplog):
    got = []

    def deliver(raw: bytes) -> None:
        if raw == b'boom':
            raise ValueError('boom')
        got.append(raw)

    a, b = await bus_backend.worker(), await bus_backend.worker(deliver)
    for message in (b'one', b'boom', b'two'):
        await a.bus.send(b.id, message)
    expected = [b'one', b'two'] if bus_backend.shares else []
    assert await until(lambda: got == expected)
    await asyncio.sleep(0.1)
    assert got == expected
    if bus_backend.shares:
        assert any('could not be delivered' in r.getMessage() for r in caplog.records)


async def test_stop_leaves_no_tasks_and_no_warnings(bus_backend: Backend, caplog):
    before = asyncio.all_tasks()
    a, b = await bus_backend.worker(), await bus_backend.worker()
    member = b.new_connection()
    await b.join('room', member)
    await a.bus.send(b.id, b'x')
    await a.bus.group_send('room', b'y')
    await a.bus.group_members('room')
    if bus_backend.shares:
        assert await until(lambda: len(b.got) == 2)
    await b.leave('room', member)
    await bus_backend.stop(a)
    await bus_backend.stop(b)
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert left == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == 'panther']


async def test_a_stopped_worker_leaves_no_members_behind(bus_backend: Backend):
    a, b = await bus_backend.worker(), await bus_backend.worker()
    await b.join('room', b.new_connection())
    await bus_backend.stop(b)  # stopping without leaving, as at shutdown
    assert await a.bus.group_members('room') == []
    await a.bus.group_send('room', b'after')
    await _nothing_more(a, b)
    assert b.got == []
