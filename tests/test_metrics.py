"""The metrics' parts without a server: labels, envelope stamps, config, snapshots, the in-process app."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from panther import Panther, envelope
from panther.exceptions import ConfigError
from panther.metrics import DELIVERY_BUCKETS, Metrics, close_label, payload_size
from panther.metrics_export import ENV_DIR, Reporter
from panther.outbox import Outbox
from panther.test import APIClient, WebsocketClient
from panther.websocket import GenericWebsocket


class Echo(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()

    async def receive(self, data):
        await self.send(data)


def build(**settings):
    module = type(sys)('metrics_test_configs')
    module.URLS = {'ws/echo/<room>/': Echo}
    for key, setting in settings.items():
        setattr(module, key, setting)
    sys.modules[module.__name__] = module
    return Panther(__name__, configs=module.__name__)


def samples_of(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.parametrize(('code', 'label'), [
    (1000, '1000'), (1011, '1011'), (3000, '3xxx'), (3999, '3xxx'), (4000, '4xxx'), (4999, '4xxx'),
    (1004, 'other'), (2000, 'other'), (5000, 'other'), (0, 'other'),
])
def test_close_codes_map_to_a_bounded_label_set(code, label):
    assert close_label(code) == label


def test_payload_size_is_utf8_bytes():
    assert payload_size('abc') == 3
    assert payload_size('ü') == 2
    assert payload_size(b'\x00' * 7) == 7


def test_stamped_envelopes_decode_and_keep_group_operations():
    raw = envelope.encode_group('room', 'hi', ('a' * 32,))
    stamped = envelope.stamp(raw, 1234.5)
    message = envelope.decode(stamped)
    assert (message.target, message.payload, message.exclude, message.sent_at) == ('room', 'hi', ('a' * 32,), 1234.5)
    assert envelope.decode(raw).sent_at is None
    assert envelope.group_name(stamped) == 'room'
    more = envelope.decode(envelope.exclude_more(stamped, ['b' * 32]))
    assert set(more.exclude) == {'a' * 32, 'b' * 32} and more.sent_at == 1234.5 and more.payload == 'hi'
    assert envelope.decode(envelope.stamp(envelope.encode_send('c' * 32, b'\x01'), 1.0)).payload == b'\x01'


@pytest.mark.parametrize('key', ['METRICS_PATH', 'HEALTH_PATH'])
@pytest.mark.parametrize('bad', ['metrics', '/', 5, '/a b', '/x?y'])
def test_a_bad_path_is_a_config_error_naming_the_key(key, bad):
    with pytest.raises(ConfigError) as error:
        build(**{key: bad})
    assert key in str(error.value)


def test_paths_may_not_clash_with_routes_or_each_other():
    with pytest.raises(ConfigError, match='HEALTH_PATH'):
        build(METRICS_PATH='/ops', HEALTH_PATH='/ops')
    with pytest.raises(ConfigError, match='METRICS_PATH'):
        build(METRICS_PATH='/ws/echo/x')


def test_with_metrics_off_nothing_is_counted_and_the_paths_are_plain_404s():
    app = build()
    assert app.runtime.metrics is None and app.metrics_reporter is None
    endpoint = app.router.routes[0].endpoint
    assert endpoint.metrics is None
    messages = WebsocketClient(app).connect('/ws/echo/a/')
    assert messages[0]['type'] == 'websocket.accept'
    assert APIClient(app).get('/metrics').status_code == 404
    assert APIClient(app).get('/health').status_code == 404


def test_building_an_app_exports_no_directory_to_other_processes(monkeypatch):
    monkeypatch.delenv(ENV_DIR, raising=False)
    first, second = build(METRICS_PATH='/metrics'), build(METRICS_PATH='/metrics')
    assert ENV_DIR not in os.environ  # servers a test suite starts later must not share it
    assert first.metrics_reporter.directory != second.metrics_reporter.directory
    assert first.metrics_reporter.directory.is_dir()


def test_outbox_without_metrics_has_none():
    assert Outbox(lambda m: None, {}, 4, 1.0).metrics is None


async def test_in_process_app_counts_and_scrapes():
    app = build(METRICS_PATH='/metrics', HEALTH_PATH='/health/')
    client = WebsocketClient(app)
    async with client.session('/ws/echo/one/') as ws:
        await ws.send('héllo')
        assert await ws.receive_text() == 'héllo'
        await ws.send(b'12345')
        assert await ws.receive_bytes() == b'12345'
    response = await APIClient(app).get('/metrics/')
    assert response.status_code == 200
    samples = samples_of(response.data if isinstance(response.data, str) else response.data.decode())
    route = (('route', '/ws/echo/<room>'),)
    assert samples['panther_websocket_messages_received_total', route] == 2
    assert samples['panther_websocket_received_bytes_total', route] == 6 + 5
    assert samples['panther_websocket_messages_sent_total', route] == 2
    assert samples['panther_websocket_sent_bytes_total', route] == 11
    assert samples['panther_websocket_connections', route] == 0
    assert samples['panther_websocket_handshakes_total', (('result', 'accepted'),)] == 1
    health = await APIClient(app).get('/health')
    assert (health.status_code, health.data) == (200, {'status': 'ok', 'bus': 'in-process'})
    await app.runtime.stop()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, '-c', 'pass'])
    process.wait()
    return process.pid


async def test_snapshots_sum_counters_of_all_workers_and_gauges_of_live_ones(tmp_path, dead_pid):
    metrics = Metrics()
    route = metrics.route('/ws')
    route.open, route.received, route.high_water = 2, 10, 3
    metrics.delivered(0.003)
    metrics.delivered(100.0)
    reporter = Reporter(metrics, str(tmp_path))

    # A worker that died (its pid no longer runs) and one that stopped cleanly.
    for name, pid, live in (('dead', dead_pid, True), ('stopped', os.getpid(), False)):
        snapshot = reporter.snapshot(live)
        snapshot['pid'] = pid
        snapshot['routes']['/ws'].update(open=5, received=7, high_water=50)
        (tmp_path / f'{name}.json').write_text(json.dumps(snapshot))

    class FakeRuntime:
        worker_id = 'w' * 8
        bus = None

    reporter.start(FakeRuntime())  # type: ignore[arg-type]
    try:
        samples = samples_of(reporter.render().decode())
    finally:
        reporter.stop()
    route_label = (('route', '/ws'),)
    assert samples['panther_workers', ()] == 1
    assert samples['panther_websocket_connections', route_label] == 2  # only the live worker's
    assert samples['panther_websocket_send_queue_high_water', route_label] == 3
    assert samples['panther_websocket_messages_received_total', route_label] == 10 + 7 + 7
    buckets = {dict(labels)['le']: v for (name, labels), v in samples.items()
               if name == 'panther_bus_delivery_seconds_bucket'}
    assert buckets['0.0025'] == 0 and buckets['0.005'] == 3 and buckets['10.0'] == 3 and buckets['+Inf'] == 6
    assert samples['panther_bus_delivery_seconds_count', ()] == 6
    assert len(buckets) == len(DELIVERY_BUCKETS) + 1
    # Stopped: this worker's gauges no longer count, its counters still do.
    samples = samples_of(reporter.render().decode())
    assert samples['panther_workers', ()] == 0
    assert samples['panther_websocket_connections', route_label] == 0
    assert samples['panther_websocket_messages_received_total', route_label] == 24


class HeldWire:
    """An ASGI send that accepts the handshake and then never finishes a write (a client that does not read)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def __call__(self, message: dict) -> None:
        if message['type'] != 'websocket.accept':
            await self.gate.wait()


async def test_the_outbox_counts_sends_the_queue_high_water_and_a_slow_consumer_cut_off():
    metrics = Metrics()
    route = metrics.route('/ws')
    wire = HeldWire()
    outbox = Outbox(wire, {}, 3, 5.0, metrics=route)
    await outbox.accept(None, [])
    assert (route.open, metrics.handshakes['accepted']) == (1, 1)
    for n in range(4):  # 1 in flight, 3 queued, the 5th overflows
        outbox.push(f'message {n}')
    assert route.high_water == 3 and route.sent == 4
    outbox.push('one too many')
    assert metrics.limit_closes['send_queue'] == 1
    assert route.sent == 4  # the connection is closing: the last one was not handed to it
    outbox.finish()
    outbox.finish()
    assert route.open == 0  # counted down once


async def test_rate_size_and_idle_limits_are_counted():
    app = build(METRICS_PATH='/metrics', WS_RATE_LIMIT=1, WS_RATE_LIMIT_BURST=1, WS_MAX_MESSAGE_SIZE=10)
    metrics = app.runtime.metrics
    client = WebsocketClient(app)
    async with client.session('/ws/echo/a/') as ws:
        await ws.send('x' * 11)
        await ws.wait_closed()
    async with client.session('/ws/echo/b/') as ws:
        await ws.send('one')
        await ws.send('two')
        await ws.wait_closed()
    assert metrics.limit_closes['message_size'] == 1 and metrics.limit_closes['rate'] == 1
    assert metrics.closes['1009'] == 1 and metrics.closes['1008'] == 1
    await app.runtime.stop()

    app = build(METRICS_PATH='/metrics', WS_IDLE_TIMEOUT=0.1)
    async with WebsocketClient(app).session('/ws/echo/c/') as ws:
        await ws.wait_closed()
    assert app.runtime.metrics.limit_closes['idle'] == 1
    await app.runtime.stop()


async def test_a_runtime_started_again_does_not_count_twice():
    app = build(METRICS_PATH='/metrics')
    client = WebsocketClient(app)
    for _ in range(2):  # start, connect once, stop; twice
        async with client.session('/ws/echo/a/') as ws:
            await ws.send('hi')
            assert await ws.receive_text() == 'hi'
        await app.runtime.stop()
    samples = samples_of(app.metrics_reporter.render().decode())
    assert samples['panther_websocket_messages_received_total', (('route', '/ws/echo/<room>'),)] == 2
    assert samples['panther_websocket_handshakes_total', (('result', 'accepted'),)] == 2
