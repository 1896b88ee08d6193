"""Helpers for tests that talk to several workers of tests/apps/cluster."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

from tests.servers import Server, serve

APP_DIR = Path(__file__).parent / 'apps' / 'cluster'
WORKERS = 3


@contextlib.contextmanager
def cluster(launcher: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """tests/apps/cluster under gunicorn --preload or panther run, with WORKERS workers."""
    env = {'PANTHER_LOG_LEVEL': 'INFO', **(env or {})}
    if launcher == 'gunicorn':
        args = ['--preload', '-w', str(WORKERS), '-k', 'panther.workers.UvicornWorker', '--graceful-timeout', '3']
        with serve('main:app', APP_DIR, server='gunicorn', args=args, env=env) as server:
            yield server
    elif launcher == 'panther':
        with serve('main:app', APP_DIR, server='panther', args=['--workers', str(WORKERS)], env=env) as server:
            yield server
    else:
        raise ValueError(launcher)


@dataclass
class Client:
    ws: Any
    id: str
    worker: str
    pid: int

    async def ask(self, **op: Any) -> Any:
        """Send a command and return the next message, decoded."""
        await self.ws.send(orjson.dumps(op).decode())
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), 10))

    async def recv(self, timeout: float = 10) -> Any:
        return await asyncio.wait_for(self.ws.recv(), timeout)

    async def recv_json(self, timeout: float = 10) -> Any:
        return orjson.loads(await self.recv(timeout))

    async def quiet(self, wait: float = 0.3) -> bool:
        """True if nothing more arrives within ``wait`` seconds."""
        try:
            extra = await asyncio.wait_for(self.ws.recv(), wait)
        except TimeoutError:
            return True
        raise AssertionError(f'unexpected message {extra!r}')

    async def close(self) -> None:
        await self.ws.close()


async def open_client(server: Server, path: str = '/ws/') -> Client:
    ws = await websockets.connect(server.ws + path, max_size=None, ping_interval=None)
    hello = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    return Client(ws, hello['hello'], hello['worker'], hello['pid'])


async def spread(server: Server, per_worker: int = 2, workers: int = WORKERS,
                 limit: int = 150) -> dict[str, list[Client]]:
    """Open connections until every worker has at least ``per_worker`` of them."""
    by_worker: dict[str, list[Client]] = {}
    extra: list[Client] = []
    for _ in range(limit):
        batch = await asyncio.gather(*(open_client(server) for _ in range(workers)))
        for client in batch:
            owned = by_worker.setdefault(client.worker, [])
            (owned if len(owned) < per_worker else extra).append(client)
        if len(by_worker) >= workers and all(len(c) >= per_worker for c in by_worker.values()):
            break
        if len(by_worker) < workers:
            # A worker may still be starting (or being restarted after a kill): give it a moment.
            await asyncio.sleep(0.05)
    await asyncio.gather(*(c.close() for c in extra))
    assert len(by_worker) == workers, f'connections reached only {len(by_worker)} workers'
    assert all(len(c) >= per_worker for c in by_worker.values()), {w: len(c) for w, c in by_worker.items()}
    return by_worker


async def close_all(by_worker: dict[str, list[Client]]) -> None:
    clients = [c for cs in by_worker.values() for c in cs]
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def http(server: Server) -> httpx.AsyncClient:
    # A new TCP connection per request lets the kernel hand requests to different workers.
    return httpx.AsyncClient(base_url=server.http, timeout=20, headers={'Connection': 'close'},
                             limits=httpx.Limits(max_keepalive_connections=0))


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
