"""Groups across 3 workers: shared-local (gunicorn --preload) and Redis (panther run --workers 3)."""

import asyncio
import itertools

import pytest
import websockets

from tests.cluster import close_all, cluster, http, kill, spread
from tests.servers import run_redis

TTL = 2.0  # BUS_LIVENESS_TTL of the Redis cluster


@pytest.fixture(scope='module', params=['shared', 'redis'])
def server(request):
    if request.param == 'shared':
        with cluster('gunicorn') as running:
            running.backend = 'shared'
            yield running
    else:
        with run_redis() as redis, cluster('panther', {'TEST_REDIS_PORT': str(redis.port),
                                                       'TEST_BUS_TTL': str(TTL)}) as running:
            running.backend = 'redis'
            yield running


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


async def test_group_send_membership_and_exclude_across_workers(server):
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


async def test_members_of_a_killed_worker_disappear(server):
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
        limit = 1.0 if server.backend == 'shared' else TTL + 1.5
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
