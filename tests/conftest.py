"""Fixtures shared by the whole test suite.

- ``redis_server`` (session): a throwaway ``redis-server`` on a free loopback port;
  yields the port. The one every test uses unless it stops or restarts Redis
  (those start their own with ``tests.servers.run_redis``).
- ``redis_cluster_server`` (session): a real Redis Cluster of 3 masters and 3
  replicas (``tests.redis_cluster``); yields it (``.config()`` is its ``REDIS`` dict).
- ``redis_config``: points ``config.REDIS`` at that server, flushes it first and
  closes ``panther.db.connections.redis`` afterwards; yields the ``REDIS`` dict.
- ``database``: points ``config.DATABASE`` at a fresh SQLite file in ``tmp_path``;
  yields the ``DATABASE`` dict.
- ``bus_backend``: parametrized over ``tests.bus_backends.BACKENDS`` (in-process,
  shared-local, Redis); yields a ``Backend`` that starts buses, one per worker,
  and stops them afterwards.
- ``bus_cluster`` (module): parametrized over ``tests.bus_backends.CLUSTERS``; a
  real multi-worker server of ``tests/apps/cluster``, its name in ``.backend``.
- After every test the database engine is closed, so no engine thread (or file
  handle) leaks from one test, or one app, to the next.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from panther.configs import config
from panther.db.connection import close_database_sync
from tests import bus_backends
from tests.redis_cluster import RedisCluster, run_redis_cluster
from tests.servers import Server, run_redis


@pytest.fixture(scope='session')
def redis_server() -> Iterator[int]:
    """A real ``redis-server`` on a free 127.0.0.1 port for the session; yields the port."""
    with run_redis() as server:
        yield server.port


@pytest.fixture(scope='session')
def redis_cluster_server() -> Iterator[RedisCluster]:
    """A real Redis Cluster (3 masters, 3 replicas) for the session; see ``tests.redis_cluster``."""
    with run_redis_cluster() as cluster:
        yield cluster


@pytest.fixture
async def redis_config(redis_server: int) -> AsyncIterator[dict[str, Any]]:
    """Set ``config.REDIS`` to the test server (flushed); restore it afterwards."""
    import redis as redis_py

    from panther.db.connections import redis

    with redis_py.Redis(host='127.0.0.1', port=redis_server) as client:
        client.flushall()
    previous = config.REDIS
    config.REDIS = {'host': '127.0.0.1', 'port': redis_server}
    try:
        yield config.REDIS
    finally:
        await redis.close()
        config.REDIS = previous


@pytest.fixture(params=list(bus_backends.BACKENDS))
async def bus_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[bus_backends.Backend]:
    """Started buses of one backend (see ``tests.bus_backends``); all stopped afterwards."""
    backend = bus_backends.BACKENDS[request.param](request, tmp_path)
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture(scope='module', params=list(bus_backends.CLUSTERS))
def bus_cluster(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A running multi-worker server of one backend; ``.backend`` names it."""
    with bus_backends.CLUSTERS[request.param](request) as server:
        server.backend = request.param  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def database(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Set ``config.DATABASE`` to a fresh file in ``tmp_path``; restore it afterwards."""
    previous = config.DATABASE
    config.DATABASE = {'path': str(tmp_path / 'test.sqlite3')}
    try:
        yield config.DATABASE
    finally:
        close_database_sync()
        config.DATABASE = previous


@pytest.fixture(autouse=True)
def _close_database_engine() -> Iterator[None]:
    yield
    close_database_sync()
