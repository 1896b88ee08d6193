"""When workers share the shared-local bus, and when they cannot (and say so).

The bus contract shared with the other backends is in test_bus_contract*.py.
"""

import asyncio

import pytest

from tests.cluster import http, open_client


@pytest.mark.parametrize('launcher,args', [
    ('uvicorn', ['--workers', '2']),
    ('gunicorn', ['-w', '2', '-k', 'panther.workers.UvicornWorker']),
])
async def test_unshareable_launch_warns_once_per_worker(launcher, args):
    from tests.cluster import APP_DIR
    from tests.servers import serve

    with serve('main:app', APP_DIR, server=launcher, args=args) as running:
        client = await open_client(running)
        await client.close()
        async with http(running) as api:
            assert (await api.get('/api/whoami/')).json()['bus'] == 'in-process'
        for _ in range(50):
            if running.log().count('NOT shared') >= 2:
                break
            await asyncio.sleep(0.1)
        log = running.log()
    warnings = [line for line in log.splitlines() if 'NOT shared' in line]
    assert len(warnings) == 2, log
    assert '--preload' in warnings[0] and 'panther run main:app --workers N' in warnings[0]


async def test_single_uvicorn_worker_does_not_warn():
    from tests.cluster import APP_DIR
    from tests.servers import serve

    with serve('main:app', APP_DIR, server='uvicorn') as running:
        client = await open_client(running)
        await client.close()
        log = running.log()
    assert 'NOT shared' not in log and 'websocket backend: in-process' in log


async def test_panther_bus_dir_shares_plain_uvicorn_workers(tmp_path):
    from tests.cluster import APP_DIR, spread
    from tests.servers import serve

    env = {'PANTHER_BUS_DIR': str(tmp_path / 'bus')}
    with serve('main:app', APP_DIR, server='uvicorn', args=['--workers', '2'], env=env) as running:
        by_worker = await spread(running, per_worker=1, workers=2)
        (a, b) = list(by_worker)
        assert await by_worker[a][0].ask(op='send', to=by_worker[b][0].id, data='across') == {'sent': 1}
        assert await by_worker[b][0].recv() == 'across'
        for clients in by_worker.values():
            await clients[0].close()
        assert 'NOT shared' not in running.log()
