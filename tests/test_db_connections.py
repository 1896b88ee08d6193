import socket
import time

import pytest
import redis.asyncio as redis_asyncio

from panther.configs import config
from panther.db import connections
from panther.db.connections import RedisConnection, build_client, redis
from panther.exceptions import ConfigError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class TaggedRedis(redis_asyncio.Redis):
    tag = 'custom'


@pytest.fixture
async def no_redis():
    previous = config.REDIS
    config.REDIS = None
    yield
    await redis.close()
    config.REDIS = previous


def test_redis_server_fixture_answers(redis_server):
    with socket.create_connection(('127.0.0.1', redis_server), timeout=2) as sock:
        sock.sendall(b'PING\r\n')
        assert sock.recv(16) == b'+PONG\r\n'


async def test_not_configured_is_a_clear_error(no_redis):
    assert redis.is_connected is False
    with pytest.raises(ConfigError, match=r'^REDIS: is not set'):
        await redis.set('k', 'v')
    with pytest.raises(ConfigError, match=r'^REDIS: is not set'):
        await redis.connect()
    assert 'not configured' in repr(redis)


async def test_connect_and_delegate(redis_config):
    assert redis.is_connected is False
    client = await redis.connect()
    assert isinstance(client, redis_asyncio.Redis)
    assert redis.client is client
    assert redis.is_connected is True
    assert await redis.set('greeting', 'hello')
    assert await redis.get('greeting') == b'hello'
    async with redis.pipeline() as pipe:
        await pipe.incr('n').incr('n').execute()
    assert await redis.get('n') == b'2'
    assert 'connected' in repr(redis)


async def test_use_without_connect_builds_the_client_lazily(redis_config):
    await redis.set('lazy', '1')
    assert await redis.get('lazy') == b'1'
    assert redis.is_connected is False  # no connect() was called


async def test_a_new_event_loop_gets_a_new_client(redis_config):
    # Runs after the tests above, on a fresh event loop: the proxy must not reuse
    # the previous loop's client.
    await redis.connect()
    assert await redis.ping()


async def test_extra_keys_go_to_redis_py(redis_config):
    extra = {'db': 3, 'decode_responses': True, 'client_name': 'panther-test'}
    config.REDIS = {**redis_config, **extra}
    await redis.connect()
    await redis.set('k', 'v')
    assert await redis.get('k') == 'v'
    assert await redis.client_getname() == 'panther-test'
    assert redis.client.connection_pool.connection_kwargs['db'] == 3


async def test_url_key(redis_config):
    config.REDIS = {'url': f'redis://127.0.0.1:{redis_config["port"]}/2'}
    await redis.connect()
    assert redis.client.connection_pool.connection_kwargs['db'] == 2
    assert await redis.ping()


@pytest.mark.parametrize(
    'value',
    [None, 'panther.db.connections.RedisConnection', RedisConnection],
)
async def test_class_key_naming_the_proxy_is_ignored(redis_config, value):
    config.REDIS = {**redis_config, 'class': value}
    client = await redis.connect()
    assert type(client) is redis_asyncio.Redis


async def test_class_key_naming_a_redis_subclass_is_used(redis_config):
    config.REDIS = {**redis_config, 'class': f'{__name__}.TaggedRedis'}
    client = await redis.connect()
    assert isinstance(client, TaggedRedis) and redis.tag == 'custom'


@pytest.mark.parametrize(
    ('settings', 'message'),
    [
        ({'class': 'builtins.dict'}, "'class' must name a redis.asyncio.Redis subclass"),
        ({'class': 'nowhere.Redis'}, "cannot import 'nowhere.Redis'"),
        ({'colour': 'blue'}, 'invalid option'),
    ],
)
def test_bad_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError) as info:
        build_client(settings)
    assert info.value.key == 'REDIS'
    assert message in str(info.value)


async def test_unreachable_redis_fails_fast_with_one_line(no_redis):
    port = _free_port()
    config.REDIS = {'host': '127.0.0.1', 'port': port}
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        await redis.connect()
    assert time.monotonic() - started < 2
    message = str(info.value)
    assert message.startswith(f'REDIS: cannot connect to redis at 127.0.0.1:{port} (')
    assert '\n' not in message
    assert redis.is_connected is False


async def test_wrong_password_is_reported(redis_config):
    config.REDIS = {**redis_config, 'username': 'ghost', 'password': 'nope'}
    expected = r'^REDIS: cannot connect to redis at 127\.0\.0\.1:\d+ \(invalid username'
    with pytest.raises(ConfigError, match=expected):
        await redis.connect()


async def test_changed_config_rebuilds_the_client(redis_config):
    first = await redis.connect()
    config.REDIS = {**redis_config, 'db': 1}
    assert redis.is_connected is False  # connected to the old settings only
    second = redis.client
    assert second is not first
    assert second.connection_pool.connection_kwargs['db'] == 1
    await redis.connect()
    assert redis.is_connected


async def test_close_resets(redis_config):
    client = await redis.connect()
    await redis.close()
    assert redis.is_connected is False
    assert connections.redis._client is None
    assert redis.client is not client  # the next use builds a new client
    await redis.close()
    await redis.close()


def test_private_attributes_are_not_delegated():
    with pytest.raises(AttributeError):
        _ = redis._nonexistent
