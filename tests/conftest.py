"""Fixtures shared by the whole test suite.

- ``redis_server`` (session): a throwaway ``redis-server`` on a free loopback port;
  yields the port. Skips the test when the binary is missing.
- ``redis_config``: points ``config.REDIS`` at that server, flushes it first and
  closes ``panther.db.connections.redis`` afterwards; yields the ``REDIS`` dict.
- ``database``: points ``config.DATABASE`` at a fresh SQLite file in ``tmp_path``;
  yields the ``DATABASE`` dict.
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
from tests.servers import run_redis


@pytest.fixture(scope='session')
def redis_server() -> Iterator[int]:
    """A real ``redis-server`` on a free 127.0.0.1 port for the session; yields the port."""
    with run_redis() as server:
        yield server.port


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
