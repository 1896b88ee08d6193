"""Micro-benchmark: packing the Redis bus's commands into RESP, side by side.

Packers compared, on the commands the bus actually sends (``RedisBus._ship`` and
``_read_loop``), at the sizes it sends them:

- ``hand``: the hand-written packer the bus used until this benchmark was
  written (kept below, ``hand_command``), joined into the bytes the bus writes;
- ``redis-py``: ``redis.asyncio`` ``Connection.pack_command`` / ``pack_commands``,
  the packer of the connection class the bus uses (pure Python);
- ``hiredis``: ``hiredis.pack_command``, the C packer redis-py's synchronous
  connections use when hiredis is installed (``HiredisRespSerializer``), and
  what ``panther.bus.redis_wire.pack`` is now.

Each case packs a command (or a whole pipelined batch, as one write) many times;
cases and packers are interleaved round by round so a change in machine load hits
every packer alike, and the median round is reported. Times are this process's
CPU time (``time.process_time_ns``), so time spent descheduled on a busy machine
does not count; cache and frequency effects of other load still do.

    python3 benchmarks/micro_redis_pack.py [--rounds 7] [--budget 0.05]

No server, no network; one core for a few seconds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's panther, not an installed one

import hiredis  # noqa: E402
import redis  # noqa: E402
from redis.asyncio.connection import Connection  # noqa: E402

from panther import redis_keys  # noqa: E402
from panther.bus import redis_wire  # noqa: E402
from panther.bus.redis import _GROUP_SEND, PREFIX, STREAM_TTL_MS  # noqa: E402

WORKER = b'w' * 12
STREAM = redis_keys.key('bus:stream', WORKER.decode()).encode()
MAXLEN = b'100000'


def _entry(count: int, size: int) -> bytes:
    """What one XADD carries: the sender's id and ``count`` records of ``size``-byte messages."""
    return WORKER + b''.join(redis_wire.record(i + 1, b'm' * size) for i in range(count))


def _xadd(count: int, size: int) -> tuple[bytes, ...]:
    return (b'XADD', STREAM, b'MAXLEN', b'~', MAXLEN, b'*', b'd', _entry(count, size))


def _eval(size: int) -> tuple[bytes, ...]:
    return (b'EVAL', _GROUP_SEND, b'1', redis_keys.key('bus:workers', 'room').encode(), WORKER, _entry(1, size), MAXLEN,
            b'%d' % STREAM_TTL_MS, PREFIX.encode())


SINGLE: dict[str, tuple[bytes, ...]] = {
    'XADD 1 x 64 B (a lone send)': _xadd(1, 64),
    'XADD 64 x 100 B (a burst)': _xadd(64, 100),
    'XADD 512 x 100 B (a full batch)': _xadd(512, 100),
    'EVAL group send, 100 B': _eval(100),
    'SADD (join)': (b'SADD', redis_keys.key('bus:members', 'room').encode(), b'c' * 32),
    'PEXPIRE': (b'PEXPIRE', STREAM, b'%d' % STREAM_TTL_MS),
    'XREAD (the reader, each round trip)': (b'XREAD', b'COUNT', b'64', b'BLOCK', b'5000', b'STREAMS', STREAM,
                                            b'1700000000000-0'),
}

# Whole pipelined writes as _ship builds them: each is packed into what goes to the socket.
BATCHES: dict[str, list[tuple[bytes, ...]]] = {
    'batch: 3 targets x 20 sends + PEXPIREs': [
        *(_xadd(20, 100) for _ in range(3)),
        *((b'PEXPIRE', STREAM, b'%d' % STREAM_TTL_MS) for _ in range(3)),
    ],
    'batch: 64 group sends (broadcast)': [_eval(100) for _ in range(64)],
    'batch: 32 joins': [cmd for _ in range(32) for cmd in (
        (b'SADD', redis_keys.key('bus:members', 'room').encode(), b'c' * 32),
        (b'SADD', redis_keys.key('bus:workers', 'room').encode(), WORKER))],
}

_connection = Connection()


def hand_command(*args: bytes) -> bytes:
    """The replaced packer: an array of bulk strings, one join per command."""
    parts = [b'*%d\r\n' % len(args)]
    for arg in args:
        parts.append(b'$%d\r\n' % len(arg))
        parts.append(arg)
        parts.append(b'\r\n')
    return b''.join(parts)


def hand_one(args: tuple[bytes, ...]) -> bytes:
    return hand_command(*args)


def redis_py_one(args: tuple[bytes, ...]) -> bytes:
    return b''.join(_connection.pack_command(*args))


def hiredis_one(args: tuple[bytes, ...]) -> bytes:
    return redis_wire.pack(args)


def hand_batch(commands: list[tuple[bytes, ...]]) -> bytes:
    return b''.join([hand_command(*args) for args in commands])


def redis_py_batch(commands: list[tuple[bytes, ...]]) -> list[bytes]:
    # What a redis-py pipeline hands to send_packed_command: chunks it writes with writelines.
    return _connection.pack_commands(commands)


def hiredis_batch(commands: list[tuple[bytes, ...]]) -> bytes:
    return b''.join([redis_wire.pack(args) for args in commands])


PACKERS: dict[str, tuple[Callable, Callable]] = {
    'hand': (hand_one, hand_batch),
    'redis-py': (redis_py_one, redis_py_batch),
    'hiredis': (hiredis_one, hiredis_batch),
}


def _check() -> None:
    """Every packer gives the same bytes, or the comparison means nothing."""
    assert redis_wire.pack is hiredis.pack_command, 'the bus does not use hiredis here'
    for args in SINGLE.values():
        expected = hand_one(args)
        assert redis_py_one(args) == expected and hiredis_one(args) == expected
    for commands in BATCHES.values():
        expected = hand_batch(commands)
        assert b''.join(redis_py_batch(commands)) == expected and hiredis_batch(commands) == expected


def _time(function: Callable, argument: object, commands: int, budget: float) -> float:
    """CPU ns per command, over as many calls as fit in about ``budget`` seconds."""
    calls = 1
    while True:
        start = time.process_time_ns()
        for _ in range(calls):
            function(argument)
        elapsed = time.process_time_ns() - start
        if elapsed >= budget * 1e9:
            return elapsed / (calls * commands)
        calls *= 2 if elapsed < budget * 1e8 else 4


def machine_note() -> str:
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    return (f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} '
            f'{platform.release()}, Python {platform.python_version()}, redis-py {redis.__version__}, '
            f'hiredis {hiredis.__version__}; load average {load}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rounds', type=int, default=7, help='interleaved rounds; the median is shown')
    parser.add_argument('--budget', type=float, default=0.05, help='CPU seconds per case, packer and round')
    options = parser.parse_args()
    _check()
    cases: list[tuple[str, object, int, int]] = [(name, args, 1, 0) for name, args in SINGLE.items()]
    cases += [(name, commands, len(commands), 1) for name, commands in BATCHES.items()]
    results: dict[tuple[str, str], list[float]] = {}
    packers = list(PACKERS)
    for round_number in range(options.rounds):
        order = packers[round_number % len(packers):] + packers[:round_number % len(packers)]
        for name, argument, commands, which in cases:
            for packer in order:
                function = PACKERS[packer][which]
                results.setdefault((name, packer), []).append(_time(function, argument, commands, options.budget))
    print(f'machine: {machine_note()}')
    print(f'{options.rounds} interleaved rounds, median CPU ns per command (lower is better)\n')
    width = max(len(name) for name, *_ in cases)
    print(f'{"command":<{width}}  ' + '  '.join(f'{p:>9}' for p in packers) + '   redis-py/hand  hiredis/hand')
    for name, *_ in cases:
        medians = {p: statistics.median(results[(name, p)]) for p in packers}
        row = '  '.join(f'{medians[p]:>9.0f}' for p in packers)
        print(f'{name:<{width}}  {row}   {medians["redis-py"] / medians["hand"]:>13.2f}  '
              f'{medians["hiredis"] / medians["hand"]:>12.2f}')


if __name__ == '__main__':
    main()
