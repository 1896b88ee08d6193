"""METRICS_PATH and HEALTH_PATH on real servers with two workers (``panther run --workers 2``).

Every number is read by scraping the server over HTTP, and each test checks that
the scrape follows real traffic on *both* workers: a scrape answered by one
worker reports the whole machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from panther.metrics_export import SNAPSHOT_INTERVAL
from tests.servers import ROOT, Server, run_redis, serve

APP_DIR = Path(__file__).parent / 'apps' / 'metrics_app'
DASHBOARD = ROOT / 'docs' / 'grafana-dashboard.json'
ROUTES = {'/ws/echo', '/ws/room/<room>', '/ws/number/<number>', '/ws/authed', '/ws/forbidden', '/ws/shy'}


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of one scrape."""
    response = httpx.get(server.http + '/metrics', timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers['content-type'].startswith('text/plain; version=0.0.4')
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def settled(server: Server) -> dict:
    """A scrape that includes everything done before it: the other worker's snapshot is up to a second old."""
    time.sleep(SNAPSHOT_INTERVAL + 0.3)
    return scrape(server)


def until(server: Server, check: Callable[[dict], bool], timeout: float = 10.0) -> dict:
    """Scrape until ``check(samples)`` holds (other workers' numbers are up to a second old)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(server)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            interesting = {k: v for k, v in samples.items() if not k[0].startswith('panther_bus_delivery_seconds_b')}
            raise AssertionError(f'scrape never matched; last one: {interesting}\n{server.log()[-3000:]}')
        time.sleep(0.2)


async def open_on_both_workers(url: str, at_least: int) -> tuple[list, dict]:
    """At least ``at_least`` connections to ``url``, spread over both workers; returns them and {ws: pid}."""
    sockets, pids = [], {}
    while len(sockets) < at_least or len(set(pids.values())) < 2:
        assert len(sockets) < 200, 'the connections never reached a second worker'
        ws = await websockets.connect(url)
        await ws.send('pid')
        pids[ws] = int(await ws.recv())
        sockets.append(ws)
    return sockets, pids


@pytest.fixture(scope='module')
def server():
    with serve('main:app', APP_DIR, args=['--workers', '2']) as running:
        until(running, lambda s: value(s, 'panther_workers') == 2, timeout=20)
        yield running


def test_connections_messages_and_closes_follow_traffic_on_both_workers(server):
    before = settled(server)

    async def traffic() -> tuple[int, int, int, int]:
        sockets, pids = await open_on_both_workers(server.ws + '/ws/echo', at_least=10)
        count = len(sockets)
        messages = payload_bytes = 0
        for index, ws in enumerate(sockets):
            for n in range(index % 3 + 1):
                text = f'message {n} from {index} ü'  # not ASCII: bytes are UTF-8 bytes, not characters
                await ws.send(text)
                assert await ws.recv() == text
                messages += 1
                payload_bytes += len(text.encode())
            await ws.send(b'\x00' * 100)
            assert await ws.recv() == b'\x00' * 100
            messages += 1
            payload_bytes += 100
        # 'pid' and its answer were one message each way too.
        messages += count
        received_bytes = payload_bytes + 3 * count
        sent_bytes = payload_bytes + sum(len(str(pid)) for pid in pids.values())
        samples = until(server, lambda s: value(s, 'panther_websocket_connections', route='/ws/echo') == count)
        assert value(samples, 'panther_workers') == 2
        assert value(samples, 'panther_websocket_handshakes_total', result='accepted') - value(
            before, 'panther_websocket_handshakes_total', result='accepted') == count

        def delta(s, name):
            return value(s, name, route='/ws/echo') - value(before, name, route='/ws/echo')

        samples = until(server, lambda s: delta(s, 'panther_websocket_messages_received_total') == messages
                        and delta(s, 'panther_websocket_messages_sent_total') == messages)
        assert delta(samples, 'panther_websocket_received_bytes_total') == received_bytes
        assert delta(samples, 'panther_websocket_sent_bytes_total') == sent_bytes

        # Half close from the client side with 1000 or a private code; the other half asks the server to close.
        half = count // 2
        for ws in sockets[:half]:
            await ws.close(1000 if sockets.index(ws) % 2 else 4001)
        for ws in sockets[half:]:
            await ws.send('close:3007')
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            await ws.wait_closed()
        by_client_1000 = sum(1 for i in range(half) if i % 2)
        return count, half, by_client_1000, count - half

    count, half, normal, server_closed = asyncio.run(traffic())

    def closes(s, code):
        return value(s, 'panther_websocket_closes_total', code=code) - value(before, 'panther_websocket_closes_total',
                                                                             code=code)

    samples = until(server, lambda s: value(s, 'panther_websocket_connections', route='/ws/echo') == 0
                    and closes(s, '3xxx') == server_closed)
    assert closes(samples, '1000') == normal
    assert closes(samples, '4xxx') == half - normal  # a client's private code is reported by its range
    # The gauge counted every connection once and returned to zero.
    assert value(samples, 'panther_websocket_handshakes_total', result='accepted') - value(
        before, 'panther_websocket_handshakes_total', result='accepted') == count


def test_refused_handshakes_are_counted_by_reason(server):
    before = settled(server)
    expected = {'no_route': 3, 'path_variable': 2, 'authentication': 4, 'permission': 1, 'not_accepted': 2}
    paths = {'no_route': '/ws/nowhere/', 'path_variable': '/ws/number/seven/', 'authentication': '/ws/authed/',
             'permission': '/ws/forbidden/', 'not_accepted': '/ws/shy/'}

    async def refuse():
        for reason, times in expected.items():
            for _ in range(times):
                with pytest.raises(InvalidStatus):
                    await websockets.connect(server.ws + paths[reason])
        async with websockets.connect(server.ws + '/ws/authed/?token=good'):
            pass

    asyncio.run(refuse())

    def delta(s, result):
        return value(s, 'panther_websocket_handshakes_total', result=result) - value(
            before, 'panther_websocket_handshakes_total', result=result)

    samples = until(server, lambda s: all(delta(s, r) == n for r, n in expected.items()))
    assert delta(samples, 'accepted') == 1
    assert {r for r in expected} <= {dict(labels)['result'] for name, labels in samples
                                     if name == 'panther_websocket_handshakes_total'}


def test_labels_stay_bounded_whatever_paths_clients_use(server):
    tokens = [uuid.uuid4().hex[:12] for _ in range(40)]

    async def many_paths():
        for token in tokens[:20]:
            async with websockets.connect(f'{server.ws}/ws/room/{token}/') as ws:
                await ws.send('pid')
                await ws.recv()
        for token in tokens[20:30]:
            with pytest.raises(InvalidStatus):
                await websockets.connect(f'{server.ws}/ws/{token}/')
        for token in tokens[30:]:
            async with websockets.connect(f'{server.ws}/ws/echo') as ws:
                await ws.close(4000 + int(token[:3], 16) % 999)  # many distinct close codes

    asyncio.run(many_paths())
    text = httpx.get(server.http + '/metrics').text
    for token in tokens:
        assert token not in text
    samples = scrape(server)
    routes = {dict(labels)['route'] for _, labels in samples if dict(labels).get('route')}
    assert routes == ROUTES
    codes = {dict(labels)['code'] for name, labels in samples if name == 'panther_websocket_closes_total'}
    assert codes <= {'1000', '1001', '1005', '1006', '1011', '1012', '3xxx', '4xxx', 'other'}, codes


def test_group_sends_cross_workers_through_the_bus_and_are_timed(server):
    before = settled(server)

    async def room():
        sockets, pids = await open_on_both_workers(server.ws + '/ws/room/lobby/', at_least=6)
        workers = set(pids.values())
        sender = sockets[0]
        for n in range(5):
            await sender.send(f'hello {n}')
            for ws in sockets:
                assert await ws.recv() == f'hello {n}'
        for ws in sockets:
            await ws.close()
        return len(sockets), len(workers)

    members, workers = asyncio.run(room())  # every member got 5 messages and its 'pid' answer
    assert workers == 2

    def delta(s, name, **labels):
        return value(s, name, **labels) - value(before, name, **labels)

    # Each group send is handed to the bus once by the sender's worker and delivered once in the other.
    samples = until(server, lambda s: delta(s, 'panther_bus_messages_total', direction='received') >= 5
                    and delta(s, 'panther_bus_messages_total', direction='sent') >= 5
                    and delta(s, 'panther_bus_delivery_seconds_count') >= 5
                    and delta(s, 'panther_websocket_messages_sent_total', route='/ws/room/<room>') == 6 * members)
    assert delta(samples, 'panther_bus_delivery_seconds_sum') > 0
    assert value(samples, 'panther_bus_delivery_seconds_bucket', le='+Inf') == value(
        samples, 'panther_bus_delivery_seconds_count')


def test_health_is_ready_on_the_shared_bus(server):
    response = httpx.get(server.http + '/health')
    assert response.status_code == 200
    assert response.json() == {'status': 'ok', 'bus': 'shared-local'}
    assert value(scrape(server), 'panther_bus_connected') == 1


def test_grafana_dashboard_queries_only_exported_metrics(server):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target['expr'] for panel in dashboard['panels'] for target in panel.get('targets', [])]
    assert len(exprs) >= 8
    exported = {name for name, _ in scrape(server)}
    used = {name for expr in exprs for name in re.findall(r'\bpanther_[a-z_]+', expr)}
    assert used, exprs
    missing = used - exported
    assert not missing, f'the dashboard queries metrics no scrape exports: {sorted(missing)}'


def test_a_killed_workers_connections_leave_the_gauge_but_its_counts_stay(server):
    async def scenario():
        sockets, pids = await open_on_both_workers(server.ws + '/ws/echo', at_least=6)
        victim = pids[sockets[0]]
        survivors = [ws for ws in sockets if pids[ws] != victim]
        samples = until(server, lambda s: value(s, 'panther_websocket_connections', route='/ws/echo') == len(sockets))
        accepted = value(samples, 'panther_websocket_handshakes_total', result='accepted')
        os.kill(victim, signal.SIGKILL)
        # uvicorn's supervisor may start a replacement worker meanwhile; it has no connections.
        samples = until(server, lambda s: value(s, 'panther_websocket_connections', route='/ws/echo')
                        == len(survivors), timeout=15)
        assert value(samples, 'panther_websocket_handshakes_total', result='accepted') >= accepted
        for ws in sockets:
            await ws.close()

    asyncio.run(scenario())


def test_readiness_follows_redis_and_the_outage_buffer_is_reported():
    with run_redis() as redis, serve('main:app', APP_DIR, args=['--workers', '2'],
                                     env={'METRICS_TEST_REDIS': redis.url}) as running:
        until(running, lambda s: value(s, 'panther_workers') == 2, timeout=20)
        response = httpx.get(running.http + '/health')
        assert response.status_code == 200
        assert response.json() == {'status': 'ok', 'bus': 'redis'}

        async def during_outage():
            http = httpx.AsyncClient(timeout=10)
            sockets, _ = await open_on_both_workers(running.ws + '/ws/room/outage/', at_least=4)
            redis.stop()
            deadline = time.monotonic() + 15
            while True:
                response = await http.get(running.http + '/health')
                if response.status_code == 503:
                    break
                assert time.monotonic() < deadline, 'readiness never turned 503 with Redis down'
                await asyncio.sleep(0.2)
            body = response.json()
            assert body['status'] == 'unavailable'
            assert 'redis' in body['detail'] and str(redis.port) in body['detail']
            for n in range(3):
                await sockets[0].send(f'while down {n}')
            samples = until(running, lambda s: value(s, 'panther_bus_buffered_messages') >= 1
                            and value(s, 'panther_bus_connected') == 0)
            assert value(samples, 'panther_bus_connected') == 0
            await asyncio.sleep(1.0)  # the outage lasts at least this long after the sends
            redis.start()
            deadline = time.monotonic() + 20
            while (await http.get(running.http + '/health')).status_code != 200:
                assert time.monotonic() < deadline, 'readiness never came back with Redis'
                await asyncio.sleep(0.2)
            samples = until(running, lambda s: value(s, 'panther_bus_buffered_messages') == 0
                            and value(s, 'panther_bus_reconnects_total') >= 1
                            and value(s, 'panther_bus_connected') == 1, timeout=20)
            # What was sent during the outage reached every member, on both workers, once and in order.
            for ws in sockets:
                got = [await asyncio.wait_for(ws.recv(), 10) for _ in range(3)]
                assert got == [f'while down {n}' for n in range(3)]
            # Its delivery time, stamped at the send, includes the outage.
            samples = until(running, lambda s: value(s, 'panther_bus_delivery_seconds_count') >= 3)
            assert value(samples, 'panther_bus_delivery_seconds_bucket', le='1.0') == 0, samples
            for ws in sockets:
                await ws.close()
            await http.aclose()

        asyncio.run(during_outage())


def _metrics_directory(server: Server) -> Path:
    found = re.search(r'workers meet in (\S+)\)', server.log())
    assert found, server.log()
    return Path(found.group(1))


@pytest.mark.parametrize(('launcher', 'args', 'workers'), [
    ('gunicorn', ['-w', '2', '-k', 'panther.workers.UvicornWorker', '--preload'], 2),
    ('panther', ['--workers', '2'], 2),
    ('panther', [], 1),
])
def test_the_metrics_directory_is_shared_by_the_workers_and_removed_at_exit(launcher, args, workers):
    with serve('main:app', APP_DIR, server=launcher, args=args) as running:
        until(running, lambda s: value(s, 'panther_workers') == workers, timeout=20)

        async def one_each():
            if workers == 2:
                sockets, _ = await open_on_both_workers(running.ws + '/ws/echo', at_least=2)
            else:
                sockets = [await websockets.connect(running.ws + '/ws/echo')]
            return len(sockets), sockets

        async def scenario():
            count, sockets = await one_each()
            samples = until(running, lambda s: value(s, 'panther_websocket_connections', route='/ws/echo') == count)
            assert value(samples, 'panther_workers') == workers
            for ws in sockets:
                await ws.close()

        asyncio.run(scenario())
        directory = _metrics_directory(running)
        assert directory.is_dir() and len(list(directory.glob('*.json'))) == workers
        running.stop()
    assert not directory.exists(), f'{directory} was left behind'
