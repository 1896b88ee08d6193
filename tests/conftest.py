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

import shutil
import socket
import subprocess
import sys
import time
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

# ``panther/__init__.py`` imports ``panther.main``; until that module exists in this
# tree, a placeholder lets the database tests import the package.
if not (Path(__file__).resolve().parent.parent / 'panther' / 'main.py').exists():
    _placeholder = types.ModuleType('panther.main')
    _placeholder.Panther = None  # type: ignore[attr-defined]
    sys.modules.setdefault('panther.main', _placeholder)

from panther.configs import config
from panther.db.connection import close_database_sync

REDIS_START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.5) as sock:
            sock.sendall(b'PING\r\n')
            return sock.recv(64).startswith(b'+PONG')
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope='session')
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Run ``redis-server`` on a free 127.0.0.1 port for the session; yield the port."""
    binary = shutil.which('redis-server')
    if binary is None:
        pytest.skip('redis-server is not installed')
    workdir = tmp_path_factory.mktemp('redis')
    log_path = workdir / 'redis.log'
    # A free port can be taken between choosing and binding it: try a few.
    for _attempt in range(5):
        port = _free_port()
        with log_path.open('ab') as log:
            process = subprocess.Popen(
                [binary, '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                 '--appendonly', 'no', '--dir', str(workdir), '--protected-mode', 'no'],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _answers_ping(port):
                break
            time.sleep(0.05)
        else:
            _stop(process)
            continue
        break
    else:
        tail = log_path.read_text(errors='replace')[-2000:]
        pytest.fail(f'redis-server did not start within {REDIS_START_TIMEOUT}s:\n{tail}')
    try:
        yield port
    finally:
        _stop(process)


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
