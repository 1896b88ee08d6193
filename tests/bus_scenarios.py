"""Scenarios every multi-worker backend must pass; test_bus_shared/test_bus_redis run them."""

from __future__ import annotations

import asyncio
import itertools

import orjson
import websockets

from tests.cluster import Client, close_all, http, kill, open_client, spread
from tests.servers import Server


async def every_worker_reaches_every_worker(server: Server) -> None:
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


async def api_closes_connections_on_other_workers(server: Server) -> None:
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


async def thousand_messages_in_order(server: Server) -> None:
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


async def targeted_send_is_handled_by_exactly_one_worker(server: Server) -> None:
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


async def stale_ids_do_not_break_the_listener(server: Server) -> None:
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


async def sigkill_one_worker(server: Server) -> str:
    """Kill one worker: its clients drop, every other worker's clients keep working. Returns its id."""
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
        return victim
    finally:
        await close_all(by_worker)
