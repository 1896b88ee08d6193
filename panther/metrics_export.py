"""``METRICS_PATH``: every worker's counters, summed over the machine, in Prometheus text format.

Each worker keeps plain counters (:mod:`panther.metrics`) and writes a snapshot of
them, once a second and when it stops, to a file of its own in the deployment's
metrics directory. A scrape, whichever worker answers it, writes its own snapshot
fresh and adds up every file there, so it reports the whole machine (the other
workers' numbers being at most ``SNAPSHOT_INTERVAL`` seconds old).

- Counters are summed over every snapshot, those of workers that have died or
  stopped included, so totals never go backwards when a worker goes away.
- Gauges (live connections, the outage buffer, the bus's state, the send-queue
  high-water mark) come only from live workers: a worker that stopped marks its
  snapshot so, and one that died without a word (SIGKILL) is recognised by its
  pid being gone.

Where the directory comes from: ``PANTHER_METRICS_DIR`` if the environment names
one, else the process that builds the app creates one and removes it when it exits.
gunicorn's workers, forked after ``--preload``, have the app and its directory
already; ``panther run --workers N`` exports it (``share_with_workers``) before
uvicorn spawns the workers, which build the app again. Set the variable yourself to
share one directory between workers started otherwise (plain ``uvicorn --workers N``);
panther then leaves it in place. Nothing is exported otherwise, so a process that
builds apps and starts servers (a test suite) does not hand its directory to them.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from panther.metrics import DELIVERY_BUCKETS, Metrics

if TYPE_CHECKING:
    from panther.runtime import Runtime

logger = logging.getLogger('panther')

ENV_DIR = 'PANTHER_METRICS_DIR'
#: Seconds between two snapshots of a worker (how stale another worker's numbers may be in a scrape).
SNAPSHOT_INTERVAL = 1.0
CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

def metrics_directory() -> str:
    """The metrics directory of the deployment this process belongs to (created if needed)."""
    directory = os.environ.get(ENV_DIR)
    if directory:
        Path(directory).mkdir(mode=0o700, parents=True, exist_ok=True)
        return directory
    directory = tempfile.mkdtemp(prefix='panther-metrics-')
    creator = os.getpid()

    def remove() -> None:
        # Forked workers inherit this hook: only the process that created the directory removes it.
        if os.getpid() == creator:
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)
    return directory


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a killed worker its supervisor has not reaped yet is a zombie: not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f'/proc/{pid}/stat', 'rb') as stat:
            return stat.read().rpartition(b')')[2][1:2] != b'Z'
    except OSError:
        return True  # no /proc: trust kill()


class Reporter:
    """Writes one worker's snapshot while its runtime runs, and renders scrapes for the whole machine."""

    content_type = CONTENT_TYPE

    def __init__(self, metrics: Metrics, directory: str) -> None:
        self.metrics = metrics
        self.directory = Path(directory)
        self._runtime: Runtime | None = None
        self._path: Path | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._warned = False
        # With the pid, names this worker's file: a runtime started again in the same process (tests)
        # goes on in its own file, whose counters it carries, instead of counting them twice.
        self._token = secrets.token_hex(4)

    def share_with_workers(self) -> None:
        """Export the directory to the worker processes about to be spawned (``panther run``)."""
        os.environ[ENV_DIR] = str(self.directory)

    # -- the runtime's hooks ---------------------------------------------------------

    def start(self, runtime: Runtime) -> None:
        """Begin writing snapshots for ``runtime`` (called when it has started)."""
        self._runtime = runtime
        self._path = self.directory / f'{os.getpid()}-{self._token}.json'
        self._loop = asyncio.get_running_loop()
        self._tick()

    def stop(self) -> None:
        """Write the last snapshot, marked as no longer live (its gauges no longer count)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._path is not None:
            self._write_or_warn(live=False)
        self._runtime = None
        self._path = None

    def _tick(self) -> None:
        self._write_or_warn(live=True)
        # A timer rather than a task: nothing is left pending if the loop ends without a shutdown.
        self._timer = self._loop.call_later(SNAPSHOT_INTERVAL, self._tick)

    def _write_or_warn(self, live: bool) -> None:
        try:
            self.write(live)
        except OSError as exc:
            if not self._warned:  # once: the directory does not come back by itself
                self._warned = True
                logger.warning('metrics: cannot write this worker\'s snapshot in %s (%s); scrapes will '
                               'not see its numbers', self.directory, exc)
        else:
            self._warned = False

    # -- snapshots -----------------------------------------------------------------------

    def snapshot(self, live: bool) -> dict[str, Any]:
        """This worker's numbers as they are now."""
        metrics = self.metrics
        bus = self._runtime.bus if self._runtime is not None else None
        return {
            'pid': os.getpid(),
            'live': live,
            'routes': {
                route: {'open': r.open, 'received': r.received, 'received_bytes': r.received_bytes,
                        'sent': r.sent, 'sent_bytes': r.sent_bytes, 'high_water': r.high_water}
                for route, r in metrics.routes.items()
            },
            'handshakes': dict(metrics.handshakes),
            'closes': dict(metrics.closes),
            'limit_closes': dict(metrics.limit_closes),
            'bus': {
                'sent': metrics.bus_sent,
                'received': metrics.bus_received,
                'reconnects': bus.reconnects if bus is not None else 0,
                'buffered': bus.buffered() if bus is not None else 0,
                'connected': 1 if bus is not None and bus.connected else 0,
            },
            'delivery': {'counts': list(metrics.delivery_counts), 'sum': metrics.delivery_sum},
        }

    def write(self, live: bool) -> None:
        """Replace this worker's snapshot file (atomically: a scrape never reads half of one)."""
        if self._path is None:
            return
        staging = self._path.with_suffix('.tmp')
        staging.write_text(json.dumps(self.snapshot(live)))
        os.replace(staging, self._path)

    def read_all(self) -> list[dict[str, Any]]:
        """Every worker's snapshot, this worker's written fresh first; ``live`` is False for dead workers."""
        with contextlib.suppress(OSError):
            self.write(live=True)
        found = []
        for path in sorted(self.directory.glob('*.json')):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # removed meanwhile, or not ours
            if data.get('live') and not _alive(int(data.get('pid', 0))):
                data['live'] = False
            found.append(data)
        return found

    def render(self) -> bytes:
        """The Prometheus text exposition of the whole machine."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self.read_all(), list(self.metrics.routes)))
        return generate_latest(registry)


class _Collector:
    """Sums snapshots into metric families (counters over all, gauges over live workers)."""

    def __init__(self, snapshots: list[dict[str, Any]], routes: list[str]) -> None:
        self.snapshots = snapshots
        self.routes = routes

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        snapshots = self.snapshots
        live = [s for s in snapshots if s.get('live')]
        routes = sorted({*self.routes, *(r for s in snapshots for r in s['routes'])})

        def route_sum(items: list[dict[str, Any]], key: str) -> list[tuple[str, float]]:
            return [(route, sum(s['routes'].get(route, {}).get(key, 0) for s in items)) for route in routes]

        def labelled(name: str, doc: str, label: str, values: list[tuple[str, float]],
                     kind: type = CounterMetricFamily) -> Metric:
            family = kind(name, doc, labels=[label])
            for value_label, value in values:
                family.add_metric([value_label], value)
            return family

        def keyed_sum(section: str) -> list[tuple[str, float]]:
            keys = sorted({k for s in snapshots for k in s[section]})
            return [(k, sum(s[section].get(k, 0) for s in snapshots)) for k in keys]

        yield GaugeMetricFamily('panther_workers', 'Workers of this machine reporting metrics', value=len(live))
        yield labelled('panther_websocket_connections', 'Open WebSocket connections', 'route',
                       route_sum(live, 'open'), GaugeMetricFamily)
        yield labelled('panther_websocket_handshakes', 'WebSocket handshakes by result (accepted, or why not)',
                       'result', keyed_sum('handshakes'))
        yield labelled('panther_websocket_messages_received', 'Messages received from clients', 'route',
                       route_sum(snapshots, 'received'))
        yield labelled('panther_websocket_received_bytes', 'Payload bytes received from clients', 'route',
                       route_sum(snapshots, 'received_bytes'))
        yield labelled('panther_websocket_messages_sent', 'Messages handed to open connections', 'route',
                       route_sum(snapshots, 'sent'))
        yield labelled('panther_websocket_sent_bytes', 'Payload bytes handed to open connections', 'route',
                       route_sum(snapshots, 'sent_bytes'))
        yield labelled('panther_websocket_closes', 'Accepted connections that ended, by close code', 'code',
                       keyed_sum('closes'))
        yield labelled('panther_websocket_limit_closes', 'Connections closed by a limit', 'limit',
                       keyed_sum('limit_closes'))
        yield labelled('panther_websocket_send_queue_high_water',
                       'Most messages that waited at once in one connection\'s send queue (live workers)', 'route',
                       [(route, max((s['routes'].get(route, {}).get('high_water', 0) for s in live), default=0))
                        for route in routes], GaugeMetricFamily)
        yield labelled('panther_bus_messages', 'Envelopes handed to the bus (sent) and delivered by it (received)',
                       'direction', [(d, sum(s['bus'][d] for s in snapshots)) for d in ('sent', 'received')])
        yield CounterMetricFamily('panther_bus_reconnects', 'Times a worker\'s bus got its service back',
                                  value=sum(s['bus']['reconnects'] for s in snapshots))
        yield GaugeMetricFamily('panther_bus_buffered_messages', 'Messages waiting in the bus outage buffers',
                                value=sum(s['bus']['buffered'] for s in live))
        yield GaugeMetricFamily('panther_bus_connected', '1 if every live worker\'s bus is connected, else 0',
                                value=min((s['bus']['connected'] for s in live), default=0))
        yield _delivery(snapshots)


def _delivery(snapshots: list[dict[str, Any]]) -> Metric:
    counts = [0] * (len(DELIVERY_BUCKETS) + 1)
    total = 0.0
    for s in snapshots:
        for index, count in enumerate(s['delivery']['counts']):
            counts[index] += count
        total += s['delivery']['sum']
    buckets = []
    running = 0
    for bound, count in zip([*(repr(b) for b in DELIVERY_BUCKETS), '+Inf'], counts, strict=True):
        running += count
        buckets.append((bound, running))
    return HistogramMetricFamily('panther_bus_delivery_seconds',
                                 'Seconds from a send to its delivery in the owning worker',
                                 buckets=buckets, sum_value=total)
