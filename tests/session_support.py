"""Helpers for the resumable-session tests: the test app's log, a burst, and reading it through drops."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from panther.client import Client
from tests.tcp_proxy import TcpProxy

APP = 'tests.apps.sessions_app:app'


def expected_burst(count: int) -> list[str]:
    return [f'g{i}' if i % 2 else f'd{i}' for i in range(count)]


def log_lines(log: Path, kind: str, connection_id: str) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split() for line in log.read_text().splitlines() if line.startswith(f'{kind} {connection_id}')]


def wait_for_lines(log: Path, kind: str, connection_id: str, count: int = 1, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(log, kind, connection_id)
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    return log_lines(log, kind, connection_id)


async def start_burst(http: str, connection_id: str, count: int = 1000, pause: float = 0.002) -> asyncio.Task:
    client = httpx.AsyncClient(timeout=60)

    async def post() -> dict:
        async with client:
            response = await client.post(f'{http}/burst/?id={connection_id}&n={count}&pause={pause}')
            response.raise_for_status()
            return response.json()

    return asyncio.get_running_loop().create_task(post())


async def read_burst(ws: Client, proxy: TcpProxy, count: int, cut_at: set[int],
                     pids: list[int] | None = None) -> list[str]:
    """Read ``count`` burst messages, cutting the TCP connection after each count in ``cut_at``.

    After each cut the client is asked for the pid of the worker it landed on (``pids``
    gets the answers); those replies are left out of what is returned.
    """
    got: list[str] = []
    ask_after: int | None = None  # ask for the pid once the client has resumed past this count
    while len(got) < count:
        message = await asyncio.wait_for(ws.recv(), 15)
        if ask_after is not None and ws.resumes > ask_after:
            ask_after = None
            await ws.send('pid')  # a message written to a connection that then breaks may be lost
        if isinstance(message, str) and message.startswith('pid:'):
            if pids is not None:
                pids.append(int(message[4:]))
            continue
        got.append(message)
        if len(got) in cut_at:
            proxy.cut()
            if pids is not None:
                ask_after = ws.resumes
    return got
