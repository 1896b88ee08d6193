"""gunicorn worker classes (SPEC 2.6): panther's own and uvicorn's deprecated one.

``gunicorn -w 2 -k <worker> main:app --preload`` must serve WebSockets shared across
its workers without Redis; panther's worker also runs uvicorn with the app's limits.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson
import pytest
import websockets

from panther.workers import UvicornWorker, limit_settings
from tests.cluster import APP_DIR, close_all, http, open_client, spread
from tests.servers import serve

PANTHER_WORKER = 'panther.workers.UvicornWorker'
UVICORN_WORKER = 'uvicorn.workers.UvicornWorker'
# Above uvicorn's own default ws_max_size (16 MiB), below WS_MAX_MESSAGE_SIZE of the app under test.
BIG = 17 * 1024 * 1024


def _gunicorn(worker: str, env: dict[str, str] | None = None):
    args = ['-w', '2', '-k', worker, '--preload', '--graceful-timeout', '3']
    return serve('main:app', APP_DIR, server='gunicorn', args=args, env=env)


@pytest.mark.parametrize('worker', [PANTHER_WORKER, UVICORN_WORKER])
async def test_websockets_are_shared_across_gunicorn_workers(worker):
    with _gunicorn(worker) as server:
        async with http(server) as api:
            assert (await api.get('/api/whoami/')).json()['bus'] == 'shared-local'
        by_worker = await spread(server, per_worker=1, workers=2)
        a, b = (clients[0] for clients in by_worker.values())
        assert a.worker != b.worker and a.pid != b.pid
        assert await a.ask(op='send', to=b.id, data='from the other worker') == {'sent': 1}
        assert await b.recv() == 'from the other worker'
        assert await b.ask(op='send', to=a.id, data='and back') == {'sent': 1}
        assert await a.recv() == 'and back'
        await close_all(by_worker)
        log = server.log()
    assert 'NOT shared' not in log
    assert log.count('websocket backend: shared-local') == 2, log
    # panther's worker selects panther's protocol (direct frames); uvicorn's does not.
    expected = 'writes: direct frames' if worker == PANTHER_WORKER else 'writes: ASGI sends (the server offers no'
    assert log.count(expected) == 2, log


async def _echo_big(server) -> int | str:
    client = await open_client(server)
    try:
        await client.ws.send(orjson.dumps({'op': 'echo', 'data': 'x' * BIG}).decode())
        reply = orjson.loads(await asyncio.wait_for(client.ws.recv(), 30))
        return len(reply['echo'])
    except websockets.ConnectionClosed as exc:
        return f'closed {exc.rcvd.code if exc.rcvd else None}'
    finally:
        await client.close()


async def test_panther_worker_runs_uvicorn_with_the_apps_message_size():
    env = {'TEST_WS_MAX_MESSAGE_SIZE': str(20 * 1024 * 1024)}
    with _gunicorn(PANTHER_WORKER, env) as server:
        assert await _echo_big(server) == BIG


async def test_uvicorns_worker_keeps_uvicorns_default_message_size():
    # The contrast that shows the setting above is panther's worker's doing.
    env = {'TEST_WS_MAX_MESSAGE_SIZE': str(20 * 1024 * 1024)}
    with _gunicorn(UVICORN_WORKER, env) as server:
        assert await _echo_big(server) == 'closed 1009'


def test_limit_settings_follow_panther_run():
    class App:
        limits = SimpleNamespace(max_message_size=4096, ping_interval=7.0, ping_timeout=3.0, shutdown_timeout=2.5)

    assert limit_settings(App()) == {'ws_max_size': 4096, 'timeout_graceful_shutdown': 3,
                                     'ws_ping_interval': 7.0, 'ws_ping_timeout': 3.0}
    assert limit_settings(object()) == {}
    App.limits.ping_interval = App.limits.ping_timeout = None  # off: uvicorn's own defaults stay
    assert limit_settings(App()) == {'ws_max_size': 4096, 'timeout_graceful_shutdown': 3}


def test_config_kwargs_is_the_one_place_to_choose_uvicorns_classes():
    assert UvicornWorker.CONFIG_KWARGS == {'loop': 'auto', 'http': 'panther.servers.uvicorn:PantherHttpToolsProtocol',
                                           'ws': 'panther.servers.uvicorn:PantherWebSocketProtocol'}
