"""The shared Redis client retries a command whose pooled connection died (issue 15, item 4).

A proxy in front of the session's redis-server stands for a connection that dies:
it cuts the first connection when an EXISTS passes, without an answer, which is
what a pooled connection to a restarted Redis can give ("Connection closed by server.").
redis-py 8 retries such a command by default; redis-py 5 (which pyproject allows) did not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from panther.db.connections import build_client


class DroppingProxy:
    """Forwards to Redis; cuts the connection that carries the first EXISTS, mid-command."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.connections = 0
        self.dropped = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream_reader, upstream = await asyncio.open_connection('127.0.0.1', self.redis_port)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, watch: bool) -> None:
            try:
                while data := await source.read(65536):
                    if watch and not self.dropped and b'EXISTS' in data:
                        self.dropped = True
                        writer.close()
                        upstream.close()
                        return
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, upstream, True), pump(upstream_reader, writer, False))


@pytest.fixture
async def dying(redis_server: int) -> AsyncIterator[tuple[DroppingProxy, int]]:
    proxy = DroppingProxy(redis_server)
    server = await asyncio.start_server(proxy.handle, '127.0.0.1', 0)
    try:
        yield proxy, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


async def test_a_command_on_a_connection_that_dies_is_retried_on_a_fresh_one(dying):
    fake, port = dying
    client = build_client({'host': '127.0.0.1', 'port': port})
    try:
        assert await client.exists('panther:revoked-token:x') == 0
        assert fake.dropped and fake.connections == 2
    finally:
        await client.aclose()


async def test_the_users_retry_setting_wins(dying):
    fake, port = dying
    client = build_client({'host': '127.0.0.1', 'port': port, 'retry': Retry(NoBackoff(), 0)})
    try:
        with pytest.raises(RedisConnectionError):
            await client.exists('panther:revoked-token:x')
        assert fake.connections == 1
    finally:
        await client.aclose()


def test_defaults_and_user_keys():
    client = build_client({'host': '127.0.0.1', 'port': 1})
    options = client.connection_pool.connection_kwargs
    assert options['health_check_interval'] == 15
    assert {RedisConnectionError, RedisTimeoutError} <= set(options['retry_on_error'])
    mine = build_client({'host': '127.0.0.1', 'port': 1, 'health_check_interval': 0})
    assert mine.connection_pool.connection_kwargs['health_check_interval'] == 0
