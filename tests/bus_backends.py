"""The bus backends the contract suites run against.

Two registries, one entry per backend; a new backend (Redis Cluster, ...) is one
entry in each:

- ``BACKENDS``: buses inside the test process (``tests/test_bus_contract.py``, through
  the ``bus_backend`` fixture). Each ``Backend.worker()`` starts one more bus
  standing for one worker.
- ``CLUSTERS``: real multi-worker servers of ``tests/apps/cluster``
  (``tests/test_bus_contract_servers.py``, through the ``bus_cluster`` fixture).

The Redis Cluster entries run on a real cluster of 3 masters and 3 replicas
(``tests.redis_cluster``, the session fixture ``redis_cluster_server``).

A factory gets the pytest ``request`` (to ask for fixtures such as ``redis_server``
only when it needs them) and a scratch directory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from panther.bus import Bus, LocalBus, SharedBus
from panther.connection_ids import new_connection_id, new_worker_id
from tests.cluster import cluster
from tests.redis_cluster import RedisCluster
from tests.servers import Server


@dataclass
class Worker:
    """One started bus and what reached it."""

    id: str
    bus: Bus
    got: list[bytes] = field(default_factory=list)
    groups: dict[str, set[str]] = field(default_factory=dict)  # as the registry keeps them

    def new_connection(self) -> str:
        return new_connection_id(self.id)

    async def join(self, name: str, connection_id: str) -> None:
        self.groups.setdefault(name, set()).add(connection_id)
        await self.bus.group_add(name, connection_id)

    async def leave(self, name: str, connection_id: str) -> None:
        members = self.groups.get(name, set())
        members.discard(connection_id)
        if not members:
            self.groups.pop(name, None)
        await self.bus.group_discard(name, connection_id)


class Backend:
    """Starts buses of one kind, one per worker, and stops whatever is still running at the end."""

    def __init__(self, name: str, make: Callable[[], Bus], shares: bool = True) -> None:
        self.name = name
        self.shares = shares  # False: each bus is alone, like the in-process one
        self.make = make  # builds one bus, not started
        self._running: list[Worker] = []

    async def worker(self, deliver: Callable[[bytes], None] | None = None) -> Worker:
        """A started bus with a fresh worker id; ``deliver`` replaces appending to ``got``."""
        worker = Worker(new_worker_id(), self.make())
        await worker.bus.start(worker.id, deliver or worker.got.append, worker.groups)
        self._running.append(worker)
        return worker

    async def stop(self, worker: Worker) -> None:
        self._running.remove(worker)
        await worker.bus.stop()

    async def close(self) -> None:
        for worker in list(self._running):
            await self.stop(worker)


def _flushed_redis(request: pytest.FixtureRequest) -> int:
    import redis as redis_py

    port = request.getfixturevalue('redis_server')
    with redis_py.Redis(host='127.0.0.1', port=port) as client:
        client.flushall()
    return port


def _local(request: pytest.FixtureRequest, scratch: Path) -> Backend:
    return Backend('local', LocalBus, shares=False)


def _shared(request: pytest.FixtureRequest, scratch: Path) -> Backend:
    return Backend('shared', lambda: SharedBus(scratch / 'bus'))


def _redis(request: pytest.FixtureRequest, scratch: Path) -> Backend:
    from panther.bus.redis import RedisBus

    port = _flushed_redis(request)
    return Backend('redis', lambda: RedisBus({'host': '127.0.0.1', 'port': port}, liveness_ttl=2.0))


def _flushed_redis_cluster(request: pytest.FixtureRequest) -> RedisCluster:
    cluster = request.getfixturevalue('redis_cluster_server')
    cluster.flush()
    return cluster


def _redis_cluster_bus(request: pytest.FixtureRequest, scratch: Path) -> Backend:
    from panther.bus.redis import RedisBus

    config = _flushed_redis_cluster(request).config()
    return Backend('redis-cluster', lambda: RedisBus(config, liveness_ttl=2.0))


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Backend]] = {
    'local': _local,
    'shared': _shared,
    'redis': _redis,
    'redis-cluster': _redis_cluster_bus,
}

#: BUS_LIVENESS_TTL of the Redis clusters: a killed worker's members go within it.
CLUSTER_TTL = 2.0


@contextlib.contextmanager
def _redis_cluster(request: pytest.FixtureRequest, launcher: str) -> Iterator[Server]:
    port = _flushed_redis(request)  # nothing left from an earlier cluster's killed workers
    with cluster(launcher, {'TEST_REDIS_PORT': str(port), 'TEST_BUS_TTL': str(CLUSTER_TTL)}) as server:
        yield server


@contextlib.contextmanager
def _on_redis_cluster(request: pytest.FixtureRequest, launcher: str) -> Iterator[Server]:
    port = _flushed_redis_cluster(request).port
    env = {'TEST_REDIS_PORT': str(port), 'TEST_REDIS_CLUSTER': '1', 'TEST_BUS_TTL': str(CLUSTER_TTL)}
    with cluster(launcher, env) as server:
        yield server


CLUSTERS: dict[str, Callable[[pytest.FixtureRequest], contextlib.AbstractContextManager[Server]]] = {
    'shared-gunicorn': lambda request: cluster('gunicorn'),
    'shared-panther': lambda request: cluster('panther'),
    'redis-gunicorn': lambda request: _redis_cluster(request, 'gunicorn'),
    'redis-panther': lambda request: _redis_cluster(request, 'panther'),
    'redis-cluster-panther': lambda request: _on_redis_cluster(request, 'panther'),
}


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> bool:
    """Wait until ``condition()`` is true (polling); return its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return bool(condition())
        await asyncio.sleep(0.01)
    return True
