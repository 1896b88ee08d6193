"""Micro-benchmark: the app's own CPU per echoed message and per handshake, no server.

A stand-in server drives each app with plain ASGI coroutines (as granian,
hypercorn and daphne do: no frame sink), so what is measured is the Python the
app runs between the server's ``receive`` and ``send``, not the server's work:

- ``echo``: one accepted connection, then messages of 32 characters, each
  answered by one send;
- ``handshake``: connect, accept, disconnect, with a fresh scope each time;
- ``handshake-jwt``: the same with ``?authorization=<token>`` on
  ``apps/panther_auth_echo.py`` (the token cache warm, as under load).

Apps: ``bare`` (``apps/bare_echo.py``), ``panther`` (``apps/panther_echo.py``),
``panther-jwt`` (``apps/panther_auth_echo.py``). Cases are interleaved round by
round and the median round is reported, in µs of this process's CPU time
(``time.process_time_ns``) per operation, with each app's difference from bare.

    python3 benchmarks/micro_ws_path.py [--src DIR] [--rounds 7] [--ops 20000]

``--src`` puts another checkout's panther first on ``sys.path`` (A/B runs).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / 'benchmarks' / 'apps'


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f'bench_{name}', APPS / f'{name}.py')
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.app


async def _noop_send(message: dict[str, Any]) -> None:
    return None


def _scope(query: bytes = b'') -> dict[str, Any]:
    # What a server builds per handshake (uvicorn's keys).
    return {
        'type': 'websocket', 'asgi': {'version': '3.0', 'spec_version': '2.4'}, 'http_version': '1.1',
        'scheme': 'ws', 'server': ('127.0.0.1', 8000), 'client': ('127.0.0.1', 50000), 'root_path': '',
        'path': '/ws/echo', 'raw_path': b'/ws/echo', 'query_string': query,
        'headers': [(b'host', b'127.0.0.1:8000'), (b'upgrade', b'websocket'), (b'connection', b'Upgrade'),
                    (b'sec-websocket-key', b'dGhlIHNhbXBsZSBub25jZQ=='), (b'sec-websocket-version', b'13')],
        'subprotocols': [], 'state': {}, 'extensions': {'websocket.http.response': {}},
    }


async def _echo(app: Any, ops: int) -> int:
    connect = {'type': 'websocket.connect'}
    message = {'type': 'websocket.receive', 'text': 'x' * 32}
    left = ops

    async def receive() -> dict[str, Any]:
        nonlocal left
        if left == ops + 1:
            left -= 1
            return connect
        if left > 0:
            left -= 1
            return message
        return {'type': 'websocket.disconnect', 'code': 1000}

    left = ops + 1
    start = time.process_time_ns()
    await app(_scope(), receive, _noop_send)
    return time.process_time_ns() - start


async def _handshakes(app: Any, ops: int, query: bytes) -> int:
    accepted = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal accepted
        if message['type'] == 'websocket.accept':
            accepted += 1

    start = time.process_time_ns()
    for _ in range(ops):
        queue = [{'type': 'websocket.disconnect', 'code': 1000}, {'type': 'websocket.connect'}]

        async def receive(pop: Any = queue.pop) -> dict[str, Any]:
            return pop()

        await app(_scope(query), receive, send)
    spent = time.process_time_ns() - start
    assert accepted == ops, f'{accepted} of {ops} handshakes accepted'
    return spent


async def _lifespan(app: Any) -> None:
    messages = [{'type': 'lifespan.startup'}]
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()
        return {}

    async def send(message: dict[str, Any]) -> None:
        done.set()

    asyncio.get_running_loop().create_task(app({'type': 'lifespan'}, receive, send))
    await done.wait()


async def _token() -> bytes:
    from panther.authentications import JWTAuthentication
    from panther.db.models import BaseUser

    user = await BaseUser.insert_one(username='bench', password='x')
    return b'authorization=' + (await JWTAuthentication.login(user))['access_token'].encode()


async def measure(opts: argparse.Namespace) -> None:
    import panther

    bare = _load('bare_echo')
    plain = _load('panther_echo')
    jwt_app = _load('panther_auth_echo')  # built last: the current app, whose config holds
    await _lifespan(jwt_app)
    query = await _token()
    cases = {
        ('echo', 'bare'): lambda: _echo(bare, opts.ops),
        ('echo', 'panther'): lambda: _echo(plain, opts.ops),
        ('handshake', 'bare'): lambda: _handshakes(bare, opts.ops // 10, b''),
        ('handshake', 'panther'): lambda: _handshakes(plain, opts.ops // 10, b''),
        ('handshake', 'panther-jwt'): lambda: _handshakes(jwt_app, opts.ops // 10, query),
    }
    for run in cases.values():  # warm-up (token cache, imports)
        await run()
    results: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
    for _ in range(opts.rounds):
        for key, run in cases.items():
            ops = opts.ops if key[0] == 'echo' else opts.ops // 10
            results[key].append(await run() / ops / 1000)
    print(f'panther from {Path(panther.__file__).parent}')
    for (kind, app), values in results.items():
        median = statistics.median(values)
        floor = statistics.median(results[(kind, 'bare')])
        print(f'{kind:10} {app:12} {median:8.2f} µs/op  (+{median - floor:6.2f} over bare)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--src', default=str(ROOT), help='the checkout whose panther to measure (default: this one)')
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--ops', type=int, default=20000)
    opts = parser.parse_args()
    sys.path.insert(0, str(Path(opts.src).resolve()))
    os.chdir(tempfile.mkdtemp(prefix='micro-ws-'))  # the embedded database's file, if any
    asyncio.run(measure(opts))


if __name__ == '__main__':
    main()
