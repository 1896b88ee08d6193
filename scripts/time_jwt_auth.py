"""Time one ``QueryParamJWTAuthentication`` call in-process: cold (full checks) and warm (cached).

    python3 scripts/time_jwt_auth.py [--redis-port PORT] [--rounds 5] [--calls 2000]

Cold clears the cache before each call, so it pays PyJWT and the SQLite lookup;
warm answers from ``panther.token_cache``. With ``--redis-port`` both also ask
Redis (revocation, user-change marks). A quick look, not a benchmark: on a busy
machine read the range of the rounds, not one figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panther import Panther
from panther.authentications import JWTAuthentication, QueryParamJWTAuthentication
from panther.db.connection import close_database
from panther.db.models import BaseUser
from panther.token_cache import verified_tokens


class _Handshake:
    def __init__(self, token: str) -> None:
        self.query_params = {'authorization': token}


async def _per_call_us(auth, request, calls: int, *, cold: bool) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        if cold:
            verified_tokens.clear()
        user = await auth(request)
    elapsed = time.perf_counter() - started
    assert user.username == 'timing'
    return elapsed / calls * 1e6


async def main(opts: argparse.Namespace) -> None:
    workdir = tempfile.mkdtemp(prefix='time-jwt-')
    configs = types.ModuleType('time_jwt_configs')
    configs.SECRET_KEY = 'timing-secret-key-0123456789abcdef0123'
    configs.DATABASE = {'path': os.path.join(workdir, 'timing.sqlite3')}
    configs.URLS = {}
    if opts.redis_port:
        configs.REDIS = {'host': '127.0.0.1', 'port': opts.redis_port}
    Panther('timing', configs=configs)
    user = await BaseUser.create_user('timing', 'a passphrase')
    request = _Handshake(JWTAuthentication.encode_token(user.id))
    auth = QueryParamJWTAuthentication()
    await auth(request)
    rows = {'cold': [], 'warm': []}
    for _ in range(opts.rounds):
        rows['cold'].append(await _per_call_us(auth, request, opts.calls // 4, cold=True))
        rows['warm'].append(await _per_call_us(auth, request, opts.calls, cold=False))
    for name, values in rows.items():
        print(f'{name}: median {statistics.median(values):7.1f} µs/call, '
              f'range {min(values):.1f}-{max(values):.1f} over {opts.rounds} rounds')
    await close_database()


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--redis-port', type=int, default=0)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--calls', type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
