"""Micro-benchmark: the Redis bus's two ways of sending to a group, side by side on one Redis.

- ``script``: one ``EVAL`` of ``group_send.lua`` per group send; it reads the group's
  workers and XADDs to each in Redis, one round trip. It builds other workers' keys
  inside the script, so it cannot run on a Redis Cluster.
- ``per-worker``: what a cluster needs (``RedisBus.script_group_send = False``): one
  ``HGETALL`` of the group's workers per batch, then one ``EVALSHA`` of
  ``group_copy.lua`` per worker reached (both keys declared, one slot), two round trips.

Four buses in this process stand for four workers: one sends, three each have one
member of the group. A case sends ``count`` group messages in bursts of ``burst``
(a lone send is a burst of 1) and waits until every receiver has them all; the
time is wall-clock, so run it on a quiet machine. Modes are interleaved round by
round and the median round is reported, in microseconds per group message.

    python3 benchmarks/micro_redis_group_send.py [--rounds 5] [--count 2000]

Needs ``redis-server`` (a throw-away one on a free port is started).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's panther, not an installed one

from tests.servers import run_redis  # noqa: E402

from panther.bus.redis import RedisBus  # noqa: E402
from panther.connection_ids import new_connection_id, new_worker_id  # noqa: E402

RECEIVERS = 3


async def _one(port: int, script: bool, count: int, burst: int) -> float:
    options = {'host': '127.0.0.1', 'port': port}
    got: list[list[bytes]] = [[] for _ in range(RECEIVERS)]
    sender = RedisBus(options)
    sender.script_group_send = script
    receivers = [RedisBus(options) for _ in range(RECEIVERS)]
    await sender.start(new_worker_id(), lambda raw: None, {})
    for bus, inbox in zip(receivers, got, strict=True):
        worker = new_worker_id()
        member = new_connection_id(worker)
        await bus.start(worker, inbox.append, {'room': {member}})
        await bus.group_add('room', member)
    try:
        started = time.perf_counter()
        for i in range(0, count, burst):
            for j in range(i, min(i + burst, count)):
                await sender.group_send('room', b'%d' % j)
            await asyncio.sleep(0)
            if burst == 1:  # a lone send: wait for it, as a chat message would go
                while any(len(inbox) <= i for inbox in got):  # noqa: ASYNC110 (polling is what is timed)
                    await asyncio.sleep(0.0001)
        deadline = time.perf_counter() + 60
        while any(len(inbox) < count for inbox in got):
            if time.perf_counter() > deadline:
                raise TimeoutError(f'only {[len(inbox) for inbox in got]} of {count} arrived')
            await asyncio.sleep(0.0005)
        elapsed = time.perf_counter() - started
        assert all(inbox == [b'%d' % j for j in range(count)] for inbox in got)
        return elapsed / count * 1e6
    finally:
        for bus in (sender, *receivers):
            await bus.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--count', type=int, default=2000)
    args = parser.parse_args()
    cases = {'lone sends': 1, 'bursts of 64': 64}
    results: dict[tuple[str, str], list[float]] = {}
    with run_redis() as redis:
        for _ in range(args.rounds):
            for case, burst in cases.items():
                count = args.count // 4 if burst == 1 else args.count
                for mode, script in (('script', True), ('per-worker', False)):
                    results.setdefault((case, mode), []).append(
                        asyncio.run(_one(redis.port, script, count, burst)))
    print(f'group send to {RECEIVERS} other workers, one Redis, median of {args.rounds} rounds (us per message)')
    for case in cases:
        script, per_worker = (statistics.median(results[(case, m)]) for m in ('script', 'per-worker'))
        print(f'  {case:14} script {script:8.1f}   per-worker {per_worker:8.1f}   ratio {per_worker / script:.2f}x')


if __name__ == '__main__':
    main()
