"""The bus contract on real servers: every multi-worker backend in ``tests.bus_backends.CLUSTERS``.

Each backend runs tests/apps/cluster with 3 workers (gunicorn --preload and
panther run --workers); the tests talk to it through real WebSocket and HTTP
clients. Tests that SIGKILL a worker come last, as they leave the server one
worker short.
"""

import asyncio
import itertools

import orjson
import pytest
import websockets

from tests.bus_backends import CLUSTER_TTL
from tests.cluster import Client, close_all, http, kill, open_client, spread


async def test_backend_is_the_one_configured(bus_cluster):
    async with http(bus_cluster) as api:
        kind = (await api.get('/api/whoami/')).json()['bus']
    assert kind == {'shared': 'shared-local'}.get(bus_cluster.backend.split('-')[0], bus_cluster.backend.split('-')[0])
    assert 'NOT shared' not in bus_cluster.log()


async def test_every_worker_reaches_every_worker(bus_cluster):
    server = bus_cluster
    by_worker = await spread(server, per_worker=2)
    try:
        assert len({c.pid for cs in by_worker.values() for c in cs}) == len(by_worker)
        # A connection's command sends from its worker to a connection on each other worker.
        for a, b in itertools.permutations(by_worker, 2):
            sender, target = by_worker[a][0], by_worker[b][1]
            assert await sender.ask(op='send', to=target.id, data=f'{a}->{b}') == {'sent': 1}
            assert await target.recv() == f'{a}->{b}'
        # str, bytes and JSON payloads cross workers intact, from an API served by any worker.
        async with http(server) as api:
            for clients in by_worker.values():
                target = clients[0]
                for payload, expected in (('text', 'text'), (b'\x00\xff', None), ({'k': [1, None]}, '{"k":[1,null]}')):
                    body = {'to': target.id, 'binary': True} if expected is None else {'to': target.id,
                                                                                        'data': payload}
                    assert (await api.post('/api/send/', json=body)).status_code == 200
                    got = await target.recv()
                    assert got == (b'\x00\x00\x00\x00' if expected is None else expected)
    finally:
        await close_all(by_worker)


async def test_api_closes_connections_on_other_workers(bus_cluster):
    server = bus_cluster
    by_worker = await spread(server, per_worker=1)
    try:
        served_by = set()
        async with http(server) as api:
            for clients in by_worker.values():
                target = clients[0]
                answer = await api.post('/api/close/', json={'to': target.id, 'code': 4001, 'reason': 'bye'})
                served_by.add(answer.json()['worker'])
                try:
                    extra = await target.recv()
                    raise AssertionError(f'expected a close, got {extra!r}')
                except websockets.ConnectionClosed as closed:
                    assert closed.rcvd is not None
                    assert (closed.rcvd.code, closed.rcvd.reason) == (4001, 'bye')
        assert served_by  # at least one close crossed workers unless every request hit its owner
    finally:
        await close_all(by_worker)


async def test_thousand_messages_in_order(bus_cluster):
    server = bus_cluster
    by_worker = await spread(server, per_worker=1)
    try:
        (a, b) = list(by_worker)[:2]
        sender, target = by_worker[a][0], by_worker[b][0]
        await sender.ws.send(orjson.dumps({'op': 'send', 'to': target.id, 'count': 1000}).decode())
        got = [await target.recv() for _ in range(1000)]
        assert got == [str(i) for i in range(1000)]
        assert await sender.recv_json() == {'sent': 1000}
        # Binary frames too, from an API on whichever worker.
        async with http(server) as api:
            assert (await api.post('/api/send/', json={'to': target.id, 'count': 1000, 'binary': True})).is_success
        got = [await target.recv() for _ in range(1000)]
        assert got == [i.to_bytes(4, 'big') for i in range(1000)]
        assert await target.quiet()
    finally:
        await close_all(by_worker)


async def test_targeted_send_is_handled_by_exactly_one_worker(bus_cluster):
    server = bus_cluster
    by_worker = await spread(server, per_worker=1)
    try:
        workers = list(by_worker)

        async def counts() -> dict[str, int]:
            answers = [await by_worker[w][0].ask(op='stats') for w in workers]
            return {a['stats']['worker']: a['stats']['deliveries'] for a in answers}

        for sender_worker, owner in itertools.permutations(workers, 2):
            before = await counts()
            target = by_worker[owner][0]
            assert await by_worker[sender_worker][0].ask(op='send', to=target.id, count=25) == {'sent': 25}
            for i in range(25):
                assert await target.recv() == str(i)
            after = await counts()
            delta = {w: after[w] - before[w] for w in workers}
            assert delta[owner] == 25, delta
            assert all(delta[w] == 0 for w in workers if w != owner), delta
    finally:
        await close_all(by_worker)


async def test_stale_ids_do_not_break_the_listener(bus_cluster):
    server = bus_cluster
    by_worker = await spread(server, per_worker=2)
    try:
        (a, b) = list(by_worker)[:2]
        sender, gone, alive = by_worker[a][0], by_worker[b][0], by_worker[b][1]
        await gone.close()
        await asyncio.sleep(0.2)
        # To the id of a closed connection, then to a made-up id on the same live worker.
        assert await sender.ask(op='send', to=gone.id, data='lost') == {'sent': 1}
        assert await sender.ask(op='send', to=b + 'f' * 20, data='lost') == {'sent': 1}
        for i in range(3):
            assert await sender.ask(op='send', to=alive.id, data=f'after {i}') == {'sent': 1}
            assert await alive.recv() == f'after {i}'
        assert await alive.quiet()
    finally:
        await close_all(by_worker)


async def _members_everywhere(by_worker, name):
    answers = [await clients[0].ask(op='members', name=name) for clients in by_worker.values()]
    return [sorted(a['members']) for a in answers]


async def _eventually_members(by_worker, name, expected, timeout):
    expected = sorted(expected)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seen = await _members_everywhere(by_worker, name)
        if all(s == expected for s in seen) or asyncio.get_running_loop().time() > deadline:
            return seen
        await asyncio.sleep(0.1)


async def test_group_send_membership_and_exclude_across_workers(bus_cluster):
    server = bus_cluster
    by_worker = await spread(server, per_worker=3)
    try:
        members = [c for clients in by_worker.values() for c in clients[:2]]
        outsiders = [clients[2] for clients in by_worker.values()]
        for client in members:
            assert await client.ask(op='join', name='room') == {'joined': 'room'}
        ids = sorted(c.id for c in members)
        assert await _members_everywhere(by_worker, 'room') == [ids] * 3
        async with http(server) as api:
            assert (await api.get('/api/members/room/')).json()['members'] == ids

        # Exactly once on every worker, the sender excluded; one bus message per other worker.
        sender = members[0]
        stats = {w: (await cs[2].ask(op='stats'))['stats']['deliveries'] for w, cs in by_worker.items()}
        assert await sender.ask(op='group', name='room', data='hello', exclude=sender.id) == {'grouped': 'room'}
        for client in members[1:]:
            assert await client.recv() == 'hello'
        after = {w: (await cs[2].ask(op='stats'))['stats']['deliveries'] for w, cs in by_worker.items()}
        assert {w: after[w] - stats[w] for w in stats} == {w: 0 if w == sender.worker else 1 for w in stats}

        # From an API on any worker, several excluded, bytes intact.
        async with http(server) as api:
            excluded = [members[1].id, members[2].id]
            response = await api.post('/api/group/', json={'name': 'room', 'data': 'all', 'exclude': excluded})
            assert response.status_code == 200
        for client in members:
            if client.id not in excluded:
                assert await client.recv() == 'all'
        for client in members + outsiders:
            assert await client.quiet(0.3)

        # Leave and disconnect.
        leaver, closer = members[1], members[3]
        assert await leaver.ask(op='leave', name='room') == {'left': 'room'}
        await closer.close()
        remaining = sorted(set(ids) - {leaver.id, closer.id})
        assert await _eventually_members(by_worker, 'room', remaining, 3) == [remaining] * 3
        async with http(server) as api:
            await api.post('/api/group/', json={'name': 'room', 'data': 'after'})
        for client in members:
            if client.id in remaining:
                assert await client.recv() == 'after'
        assert await leaver.quiet(0.3)
    finally:
        await close_all(by_worker)


async def test_members_of_a_killed_worker_disappear(bus_cluster):
    server = bus_cluster
    by_worker = await spread(server, per_worker=2)
    try:
        for clients in by_worker.values():
            for client in clients:
                assert await client.ask(op='join', name='lobby') == {'joined': 'lobby'}
        victim, *survivors = list(by_worker)
        kill(by_worker[victim][0].pid)
        for client in by_worker[victim]:
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await client.recv(timeout=10)
        alive = {w: by_worker[w] for w in survivors}
        expected = sorted(c.id for w in survivors for c in by_worker[w])
        # Shared-local: at the next query (the dead socket refuses); Redis: within BUS_LIVENESS_TTL.
        limit = 1.0 if server.backend.startswith('shared') else CLUSTER_TTL + 1.5
        started = asyncio.get_running_loop().time()
        assert await _eventually_members(alive, 'lobby', expected, limit) == [expected] * len(survivors)
        assert asyncio.get_running_loop().time() - started <= limit + 1
        for a, b in itertools.permutations(survivors, 2):
            sender = alive[a][0]
            assert await sender.ask(op='group', name='lobby', data=f'from {a}', exclude=sender.id)
            for client in alive[a][1:] + alive[b]:
                assert await client.recv() == f'from {a}'
    finally:
        await close_all(by_worker)


async def test_sigkill_one_worker(bus_cluster):
    """Kill one worker: its clients drop, every other worker's clients keep working."""
    server = bus_cluster
    by_worker = await spread(server, per_worker=2)
    try:
        victim, *survivors = list(by_worker)
        kill(by_worker[victim][0].pid)
        for client in by_worker[victim]:
            try:
                while True:
                    await client.recv(timeout=10)
            except websockets.ConnectionClosed:
                pass
        for a, b in itertools.permutations(survivors, 2):
            sender, target = by_worker[a][0], by_worker[b][1]
            assert await sender.ask(op='echo', data='still here') == {'echo': 'still here'}
            assert await sender.ask(op='send', to=target.id, data=f'{a}->{b}') == {'sent': 1}
            assert await target.recv() == f'{a}->{b}'
            # Sending to the dead worker's connections is dropped quietly.
            assert await sender.ask(op='send', to=by_worker[victim][0].id, data='x') == {'sent': 1}
        fresh: Client = await open_client(server)
        assert fresh.worker != victim
        await fresh.close()
    finally:
        await close_all(by_worker)
