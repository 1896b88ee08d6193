"""What only the Redis bus has: outages and restarts of Redis, its stream entries, its client options.

The bus contract shared with the other backends is in test_bus_contract*.py. Tests that stop or
restart Redis start their own redis-server; the others use the session's ``redis_server``.
"""

import asyncio
import logging

import orjson
import pytest
import websockets

from panther import redis_keys
from panther.bus import BusError
from panther.bus.redis import RedisBus
from panther.exceptions import ConfigError
from tests.cluster import close_all, cluster, open_client, spread
from tests.servers import free_port, run_redis


@pytest.fixture(scope='module')
def own_redis():
    """A redis-server of this module's own, for tests that stop and restart it."""
    with run_redis() as redis:
        yield redis


@pytest.fixture(scope='module', params=['gunicorn', 'panther'])
def server(request, own_redis):
    env = {'TEST_REDIS_PORT': str(own_redis.port), 'TEST_BUS_TTL': '2'}
    with cluster(request.param, env) as running:
        yield running


async def test_redis_restart_loses_and_duplicates_nothing(server, own_redis):
    by_worker = await spread(server, per_worker=1)
    try:
        (a, b) = list(by_worker)[:2]
        sender, target = by_worker[a][0], by_worker[b][0]
        total = 10_000
        # About 5 s of steady sending (20 messages every 10 ms) from worker a to a connection on worker b.
        answer = await sender.ask(op='stream', to=target.id, count=total, every=20, pause=0.01)
        assert answer == {'streaming': total}
        got: list[str] = []

        async def collect():
            while len(got) < total:
                got.append(await target.recv(timeout=60))

        collector = asyncio.create_task(collect())
        await asyncio.sleep(1.0)
        before_outage = len(got)
        own_redis.stop()
        await asyncio.sleep(1.0)
        during_outage = len(got)
        await asyncio.to_thread(own_redis.start)
        try:
            await asyncio.wait_for(collector, 60)
        except TimeoutError:
            missing = sorted(set(range(total)) - {int(x) for x in got})
            raise AssertionError(f'{len(got)} of {total} arrived; missing {missing[:20]}... '
                                 f'(outage began after {before_outage})\n{server.log()[-3000:]}') from None
        assert 0 < before_outage < total and during_outage < total
        assert got == [str(i) for i in range(total)]
        assert await target.quiet(0.5)
        log = server.log()
        assert 'lost Redis' in log and 'is back' in log
    finally:
        await close_all(by_worker)


async def _members_seen_from(client, name, expected, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        members = (await client.ask(op='members', name=name))['members']
        if members == sorted(expected) or asyncio.get_running_loop().time() > deadline:
            return members
        await asyncio.sleep(0.1)


async def test_a_group_message_resent_after_a_restart_skips_later_members(server, own_redis):
    """Issue 15: a resent group message reached connections that joined after it was first sent."""
    by_worker = await spread(server, per_worker=1)
    try:
        (x, y, z) = list(by_worker)
        early, late, sender = by_worker[x][0], by_worker[y][0], by_worker[z][0]
        assert await early.ask(op='join', name='restart-room') == {'joined': 'restart-room'}
        # Worker y has no member yet, so the message goes to worker x only.
        assert await sender.ask(op='group', name='restart-room', data='before') == {'grouped': 'restart-room'}
        assert await early.recv() == 'before'
        assert await late.ask(op='join', name='restart-room') == {'joined': 'restart-room'}
        own_redis.stop()
        await asyncio.to_thread(own_redis.start)
        # Both workers registered their members in the new Redis before the resend.
        assert await _members_seen_from(sender, 'restart-room', [early.id, late.id]) == sorted([early.id, late.id])
        # The sender's next write finds the new Redis and resends its last acknowledged messages first.
        assert await sender.ask(op='group', name='restart-room', data='after') == {'grouped': 'restart-room'}
        assert await late.recv() == 'after'
        assert await early.recv() == 'after'  # 'before' exactly once
        assert await late.quiet(0.5) and await early.quiet(0.1)
        assert 'Redis restarted; resending' in server.log()
    finally:
        await close_all(by_worker)


# -- the bus alone, against the same redis-server --------------------------------------


def _options(port):
    return {'host': '127.0.0.1', 'port': port, 'class': 'ignored.by.the.Bus'}


async def test_unreachable_redis_at_start_is_one_config_error():
    bus = RedisBus(_options(free_port()))
    with pytest.raises(ConfigError) as error:
        await bus.start('a' * 12, lambda raw: None)
    assert error.value.key == 'REDIS' and 'cannot reach Redis at 127.0.0.1:' in str(error.value)


async def test_unreachable_redis_stops_server_start_with_one_line():
    from tests.cluster import APP_DIR
    from tests.servers import serve

    port = free_port()
    with pytest.raises(RuntimeError) as error, serve('main:app', APP_DIR, server='uvicorn',
                                                      env={'TEST_REDIS_PORT': str(port)}):
        pass
    lines = [line for line in str(error.value).splitlines() if 'REDIS' in line]
    assert len(lines) == 1 and f'127.0.0.1:{port}' in lines[0]
    assert 'Traceback' not in str(error.value)


async def test_outage_buffer_is_bounded_and_flushed_in_order(own_redis):
    got: list[bytes] = []
    sender, receiver = RedisBus(_options(own_redis.port), buffer_size=50), RedisBus(_options(own_redis.port))
    await sender.start('a' * 12, lambda raw: None)
    await receiver.start('b' * 12, got.append)
    try:
        await sender.send('b' * 12, b'before')
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.01)
        own_redis.stop()
        await sender.send('b' * 12, b'probe')  # the writer finds out Redis is gone
        for _ in range(300):
            if not sender.connected:
                break
            await asyncio.sleep(0.01)
        assert not sender.connected
        for i in range(49):
            await sender.send('b' * 12, f'{i}'.encode())
        with pytest.raises(BusError, match='BUS_BUFFER_SIZE'):
            await sender.send('b' * 12, b'one too many')
        await asyncio.to_thread(own_redis.start)
        expected = [b'before', b'probe', *(f'{i}'.encode() for i in range(49))]
        for _ in range(500):
            if len(got) >= len(expected):
                break
            await asyncio.sleep(0.02)
        assert got == expected
    finally:
        await sender.stop()
        await receiver.stop()


async def test_typed_messages_over_redis(server):
    async with websockets.connect(server.ws + '/ws/typed/') as ws:
        await ws.send(orjson.dumps({'item': 'tea', 'quantity': 2}).decode())
        assert orjson.loads(await ws.recv()) == {'item': 'tea', 'total': 4}
        await ws.send('{"item": "tea", "quantity": "many"}')
        detail = orjson.loads(await ws.recv())['detail']
        assert detail[0]['loc'] == ['quantity'] and detail[0]['type'] == 'int_parsing'
        await ws.send('{"item": "tea", "quantity": 3}')  # still open
        assert orjson.loads(await ws.recv()) == {'item': 'tea', 'total': 6}


async def test_sigterm_shutdown_closes_the_bus_cleanly(redis_server):
    import signal

    from tests.cluster import APP_DIR
    from tests.servers import serve

    env = {'TEST_REDIS_PORT': str(redis_server), 'PYTHONASYNCIODEBUG': '1'}
    with serve('main:app', APP_DIR, server='uvicorn', env=env) as running:
        client = await open_client(running)
        assert await client.ask(op='join', name='bye') == {'joined': 'bye'}
        running.stop(signal.SIGTERM)  # uvicorn re-raises the signal, so its exit status says -15
        log = running.log()
    assert 'Task was destroyed' not in log and 'never retrieved' not in log and 'Traceback' not in log, log
    assert 'Application shutdown complete' in log


async def _until(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)


async def test_a_burst_to_one_worker_is_few_entries_in_order_with_group_sends(redis_server):
    import redis.asyncio as aioredis

    got: list[bytes] = []
    sender, receiver = RedisBus(_options(redis_server)), RedisBus(_options(redis_server))
    groups = {'room': {'h' * 12 + 'conn'}}
    await sender.start('g' * 12, lambda raw: None)
    await receiver.start('h' * 12, got.append, groups)
    client = aioredis.Redis(host='127.0.0.1', port=redis_server)
    try:
        await receiver.group_add('room', 'h' * 12 + 'conn')
        expected = []
        for i in range(2_000):  # sent without yielding: the writer ships them in large batches
            message = f'{i}'.encode()
            if i % 500 == 250:
                await sender.group_send('room', b'group ' + message)
                expected.append(b'group ' + message)
            else:
                await sender.send('h' * 12, message)
                expected.append(message)
        big = [bytes([i]) * 700_000 for i in range(3)]  # over the 1 MiB an entry is closed at
        for message in big:
            await sender.send('h' * 12, message)
        expected.extend(big)
        await _until(lambda: len(got) >= len(expected))
        assert got == expected
        entries = await client.xlen(redis_keys.key('bus:stream', 'h' * 12))
        # 4 group sends are entries of their own; 2,000 targeted sends need a few batches of 512
        assert entries < 20, entries
        assert entries >= 4 + 2  # the three big messages did not all go into one entry
    finally:
        await client.aclose()
        await sender.stop()
        await receiver.stop()


async def test_malformed_entries_are_skipped_and_logged(redis_server, caplog):
    import redis.asyncio as aioredis

    from panther.bus import redis_wire

    got: list[bytes] = []
    sender, receiver = RedisBus(_options(redis_server)), RedisBus(_options(redis_server))
    await sender.start('i' * 12, lambda raw: None)
    await receiver.start('j' * 12, got.append)
    client = aioredis.Redis(host='127.0.0.1', port=redis_server)
    stream = redis_keys.key('bus:stream', 'j' * 12)
    try:
        await client.xadd(stream, {'d': b'short'})
        await client.xadd(stream, {'other': b'field'})
        damaged = b'k' * 12 + redis_wire.record(1, b'intact') + redis_wire.record(2, b'cut short')[:-3]
        await client.xadd(stream, {'d': damaged})
        await sender.send('j' * 12, b'after')
        await _until(lambda: b'after' in got)
        assert got == [b'intact', b'after']
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 3 and all('malformed entry' in e for e in errors), errors
    finally:
        await client.aclose()
        await sender.stop()
        await receiver.stop()


async def test_resp3_and_decoded_responses_in_the_users_options(redis_server):
    # REDIS is also the user's own client config: the bus must work whatever it asks for.
    options = {**_options(redis_server), 'protocol': 3, 'decode_responses': True}
    got: list[bytes] = []
    sender, receiver = RedisBus(options), RedisBus(options)
    await sender.start('m' * 12, lambda raw: None)
    await receiver.start('n' * 12, got.append, {'room': {'n' * 12 + 'conn'}})
    try:
        await receiver.group_add('room', 'n' * 12 + 'conn')
        await sender.send('n' * 12, b'\xff\x00 not utf-8')
        await sender.group_send('room', b'to the group')
        await _until(lambda: len(got) == 2)
        assert got == [b'\xff\x00 not utf-8', b'to the group']
        assert await sender.group_members('room') == ['n' * 12 + 'conn']
    finally:
        await sender.stop()
        await receiver.stop()


async def test_a_group_entry_reaches_only_the_members_that_had_joined_by_its_epoch(redis_server):
    """The receiving side of issue 15's fix: an entry's join epoch leaves out later local members."""
    import redis.asyncio as aioredis

    from panther import envelope
    from panther.bus import redis_wire

    sender_id, own = 'o' * 12, 'p' * 12
    early, later, latest = (own + f'{i:020d}' for i in range(3))
    got: list[bytes] = []
    groups: dict[str, set[str]] = {}
    receiver = RedisBus(_options(redis_server))
    await receiver.start(own, got.append, groups)
    client = aioredis.Redis(host='127.0.0.1', port=redis_server)
    try:
        for member in (early, later, latest):  # join epochs 1, 2, 3
            groups.setdefault('room', set()).add(member)
            await receiver.group_add('room', member)
        assert await client.hget(redis_keys.key('bus:workers', 'room'), own) == b'3'
        stream = redis_keys.key('bus:stream', own)
        # As the group-send script writes them: sent when this worker's epoch was 1, then 3.
        old = sender_id.encode() + redis_wire.record(1, envelope.encode_group('room', 'old'))
        new = sender_id.encode() + redis_wire.record(2, envelope.encode_group('room', 'new', (early,)))
        await client.xadd(stream, {'d': old, 'j': b'1'})
        await client.xadd(stream, {'d': new, 'j': b'3'})
        await _until(lambda: len(got) == 2)
        first, second = (envelope.decode(raw) for raw in got)
        assert (first.payload, sorted(first.exclude)) == ('old', sorted([later, latest]))
        assert (second.payload, second.exclude) == ('new', (early,))
    finally:
        await client.aclose()
        await receiver.stop()
