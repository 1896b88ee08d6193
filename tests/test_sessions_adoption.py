"""A session outlives the SIGKILL of its home worker, with Redis (panther.session_adoption).

Two ``panther run`` processes and a third that only sends, all on one real Redis;
the client goes through a TCP proxy. While the sender sends 1,000 messages
(direct and group, alternately), the TCP connection is cut and the worker whose
id the connection id carries is killed; the client resumes on the other
process, which adopts the session from Redis: every message arrives once and
in order, with the same connection id, and ``disconnect`` runs once, at the end,
on the adopting worker.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from panther.client import connect
from tests.servers import ROOT, serve
from tests.session_support import APP, expected_burst, log_lines, read_burst, start_burst, wait_for_lines
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(120)


def _env(log: Path, redis_port: int) -> dict[str, str]:
    return {'PANTHER_TEST_SESSION_LOG': str(log), 'PANTHER_TEST_REDIS': str(redis_port)}


@pytest.mark.parametrize('cluster', [False, True], ids=['redis', 'redis-cluster'])
async def test_the_session_survives_sigkill_of_its_home(tmp_path, request, cluster):
    log = tmp_path / 'hooks.log'
    if cluster:  # every command on one hash slot, the copies written one command each
        env = {**_env(log, request.getfixturevalue('redis_cluster_server').port), 'PANTHER_TEST_REDIS_CLUSTER': '1'}
    else:
        env = _env(log, request.getfixturevalue('redis_server'))
    with serve(APP, cwd=ROOT, env=env) as home, serve(APP, cwd=ROOT, env=env) as other, \
            serve(APP, cwd=ROOT, env=env) as sender:
        async with TcpProxy([home.port, other.port]) as proxy:
            proxy.choose = lambda n: home.port if n == 0 else other.port
            async with connect(proxy.url('ws/s/?user=dave')) as ws:
                first_id = ws.connection_id
                burst = await start_burst(sender.http, first_id, pause=0.04)
                got = await read_burst(ws, proxy, 300, set())
                home.stop(signal.SIGKILL)  # the worker the connection id names, holding the session
                proxy.cut()
                got += await read_burst(ws, proxy, 700, set())
                assert (await burst)['sent'] == 1000
                assert got == expected_burst(1000)
                assert ws.connection_id == first_id and ws.resumes == 1
                await ws.send('groups')  # the adopted session is still in its group
                assert await ws.recv() == 'groups:room'
        disconnects = wait_for_lines(log, 'disconnect', first_id)
    assert [line[2:] for line in disconnects] == [['1000', str(other.process.pid)]]
    assert [line[2] for line in log_lines(log, 'connect', first_id)] == [str(home.process.pid)]
    # A new instance on the adopting worker: the one connect() made died with its process.
    assert [line[2] for line in log_lines(log, 'resumed', first_id)] == [str(other.process.pid)]


async def test_the_session_survives_sigkill_of_its_home_while_another_worker_carries_it(tmp_path, redis_server):
    log = tmp_path / 'hooks.log'
    env = _env(log, redis_server)
    with serve(APP, cwd=ROOT, env=env) as home, serve(APP, cwd=ROOT, env=env) as other, \
            serve(APP, cwd=ROOT, env=env) as sender:
        async with TcpProxy([home.port, other.port]) as proxy:
            proxy.choose = lambda n: home.port if n == 0 else other.port
            async with connect(proxy.url('ws/s/?user=erin')) as ws:
                first_id = ws.connection_id
                burst = await start_burst(sender.http, first_id, pause=0.04)
                got = await read_burst(ws, proxy, 150, {100})  # resumed on `other`, relayed for `home`
                assert ws.resumes == 1
                home.stop(signal.SIGKILL)
                # `other` notices, drops the connection; the client resumes there, and it adopts.
                got += await read_burst(ws, proxy, 850, set())
                await burst
                assert got == expected_burst(1000)
                assert ws.connection_id == first_id and ws.resumes == 2
        disconnects = wait_for_lines(log, 'disconnect', first_id)
    assert [line[2:] for line in disconnects] == [['1000', str(other.process.pid)]]
    assert [line[2] for line in log_lines(log, 'resumed', first_id)] == [str(home.process.pid),
                                                                        str(other.process.pid)]


async def _keys(redis_port: int) -> list[bytes]:
    import redis.asyncio as aioredis

    async with aioredis.Redis(port=redis_port) as client:
        return sorted(await client.keys('panther:session:*'))


async def test_the_copy_in_redis_follows_the_session_and_plain_clients_write_none(tmp_path, redis_server):
    import json

    import redis.asyncio as aioredis
    import websockets

    log = tmp_path / 'hooks.log'
    with serve(APP, cwd=ROOT, env=_env(log, redis_server)) as server:
        async with aioredis.Redis(port=redis_server) as client:
            await client.flushall()
            async with websockets.connect(f'{server.ws}/ws/s/?user=plain') as plain:
                for i in range(20):
                    await plain.send(f'p{i}')
                    assert await plain.recv() == f'p{i}'
                await asyncio.sleep(0.1)
                assert await _keys(redis_server) == []  # a plain client costs Redis nothing

            async with websockets.connect(f'{server.ws}/ws/s/?user=fay', subprotocols=['panther.v1']) as ws:
                welcome = json.loads(await ws.recv())
                cid = welcome['connection_id']
                for i in range(5):
                    await ws.send(f'Dm{i}')
                    assert await ws.recv() == f'{i + 1}:m{i}'
                await asyncio.sleep(0.1)  # the copies are written behind (5 ms)
                state = f'panther:session:state:{{{cid}}}'
                kept = f'panther:session:kept:{{{cid}}}'
                assert await client.hget(state, 'path') == b'/ws/s/'
                assert await client.hget(state, 'user') == b"dict:'fay'"
                assert [e[9:] for e in await client.lrange(kept, 0, -1)] == [b'm0', b'm1', b'm2', b'm3', b'm4']
                assert 0 < await client.pttl(kept) and 0 < await client.pttl(state)
                await ws.send('A3')  # acknowledged up to 3: only 4 and 5 stay kept
                await asyncio.sleep(0.1)
                assert [e[9:] for e in await client.lrange(kept, 0, -1)] == [b'm3', b'm4']
                await ws.send('A5')
                await asyncio.sleep(0.1)
                assert await client.exists(kept) == 0 and await client.hget(state, 'seq') == b'5'
            wait_for_lines(log, 'disconnect', cid)
            await asyncio.sleep(0.1)
            # A deliberate close removes the session's copy.
            assert await client.exists(state, kept) == 0
