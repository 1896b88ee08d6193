"""``redis``: the app's shared ``redis.asyncio.Redis`` client, built from ``config.REDIS``.

``REDIS`` is a dict of ``redis.asyncio.Redis`` keyword arguments; every key but
``url``, ``class`` and ``cluster`` goes to redis-py unchanged::

    REDIS = {
        'host': '127.0.0.1', 'port': 6379, 'db': 0, 'password': None,  # any redis-py option
        'url': 'redis://user:pass@host:6379/0',  # optional, instead of host/port/db
        'class': 'myapp.MyRedis',                 # optional Redis subclass to build
    }

With ``'cluster': True``, ``host``/``port`` (or ``url``) name one start-up node of a
Redis or Valkey Cluster and ``redis`` is a ``redis.asyncio.cluster.RedisCluster``;
every other key goes to it (``panther.redis_cluster``; ``class`` may name a
``RedisCluster`` subclass)::

    REDIS = {'cluster': True, 'host': '10.0.0.5', 'port': 7000, 'password': '...'}

A dead pooled connection (Redis restarted, a proxy dropped it) is retried
transparently: unless ``REDIS`` says otherwise, the client retries a command up
to 3 times with exponential backoff (10 ms to 0.5 s) on redis-py's
``ConnectionError`` and ``TimeoutError``, on a fresh connection, and checks a
connection idle for more than 15 s with a PING before using it. Keys given in
``REDIS`` (``retry``, ``retry_on_error``, ``health_check_interval``) win.

``redis`` is a proxy: attribute access goes to the current client, which is built
from ``config.REDIS`` on first use and rebuilt when that setting changes (or when
used from a different event loop, as between tests)::

    from panther.db.connections import redis

    await redis.connect()        # build and PING; ConfigError('REDIS', ...) if unreachable
    redis.is_connected           # True once a PING succeeded
    await redis.set('key', 'value')
    await redis.close()

Using ``redis`` while ``REDIS`` is not set raises ``ConfigError('REDIS', ...)``.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from panther.config_loader import import_string
from panther.configs import config
from panther.db.connection import close_database, close_database_sync
from panther.exceptions import ConfigError
from panther.redis_cluster import build_cluster, is_cluster

__all__ = ['RedisConnection', 'close_database', 'close_database_sync', 'redis']

_PROXY_PATHS = ('panther.db.connections.RedisConnection', 'panther.db.connection.RedisConnection')


def _not_configured() -> ConfigError:
    return ConfigError(
        'REDIS', "is not set; add REDIS = {'host': ..., 'port': ...} to your configs to use redis"
    )


def _client_class(value: Any) -> type[Redis]:
    if value is None or value in _PROXY_PATHS or value is RedisConnection:
        return Redis
    target = import_string(value, 'REDIS') if isinstance(value, str) else value
    if isinstance(target, type) and issubclass(target, Redis):
        return target
    raise ConfigError('REDIS', f"'class' must name a redis.asyncio.Redis subclass, got {value!r}")


def _address(options: dict[str, Any]) -> str:
    if 'url' in options:
        parts = urlsplit(str(options['url']))
        if parts.scheme == 'unix':
            return parts.path
        return f'{parts.hostname or "localhost"}:{parts.port or 6379}'
    if options.get('unix_socket_path'):
        return str(options['unix_socket_path'])
    return f'{options.get("host", "localhost")}:{options.get("port", 6379)}'


def _resilience() -> dict[str, Any]:
    """Retries on a fresh connection for a dead pooled one; a fresh ``Retry`` per client."""
    return {
        'retry': Retry(ExponentialBackoff(cap=0.5, base=0.01), 3),
        'retry_on_error': [RedisConnectionError, RedisTimeoutError],
        'health_check_interval': 15,
    }


def _cluster_class(value: Any) -> type[RedisCluster]:
    if value is None or value in _PROXY_PATHS or value is RedisConnection:
        return RedisCluster
    target = import_string(value, 'REDIS') if isinstance(value, str) else value
    if isinstance(target, type) and issubclass(target, RedisCluster):
        return target
    raise ConfigError('REDIS', f"'class' must name a redis.asyncio.cluster.RedisCluster subclass "
                               f"when 'cluster' is set, got {value!r}")


def build_client(settings: dict[str, Any], **overrides: Any) -> Redis | RedisCluster:
    """Build (without connecting) a client from a ``REDIS`` dict; options are checked.

    With ``'cluster': True`` the client is a ``RedisCluster`` (``panther.redis_cluster``).
    ``settings`` win over panther's retry defaults (see the module docstring), ``overrides`` over both.
    Raises ``ConfigError('REDIS', ...)`` for an option redis-py refuses.
    """
    options = {**_resilience(), **settings}
    if is_cluster(options):
        return build_cluster({**options, **overrides}, _cluster_class(options.get('class')))
    cls = _client_class(options.pop('class', None))
    url = options.pop('url', None)
    options.update(overrides)
    try:
        return cls.from_url(url, **options) if url is not None else cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError('REDIS', f'invalid option ({exc})') from None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class RedisConnection:
    """A proxy to the ``redis.asyncio.Redis`` client that ``config.REDIS`` describes."""

    def __init__(self) -> None:
        self._client: Redis | RedisCluster | None = None
        self._source: dict[str, Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = False
        self._closing: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        if config.REDIS is None:
            return '<RedisConnection not configured>'
        state = 'connected' if self.is_connected else 'not connected'
        return f'<RedisConnection {_address(config.REDIS)} {state}>'

    @property
    def is_connected(self) -> bool:
        """True once ``connect()`` reached Redis for the current ``REDIS`` setting.

        It stays True if Redis goes away later; commands then raise redis-py errors.
        """
        return self._connected and self._client is not None and config.REDIS == self._source

    @property
    def client(self) -> Redis | RedisCluster:
        """The underlying ``redis.asyncio.Redis`` (or ``RedisCluster``) client, built from config if needed."""
        raw = config.REDIS
        if raw is None:
            raise _not_configured()
        loop = _running_loop()
        stale_loop = loop is not None and self._loop is not None and loop is not self._loop
        if self._client is None or raw != self._source or stale_loop:
            self._replace(build_client(raw), raw)
        if self._loop is None:
            self._loop = loop
        assert self._client is not None
        return self._client

    def _replace(self, client: Redis | RedisCluster | None, source: dict[str, Any] | None) -> None:
        old, old_loop = self._client, self._loop
        self._client, self._source, self._loop = client, dict(source) if source else None, None
        self._connected = False
        if old is not None and old_loop is not None and old_loop is _running_loop():
            task = old_loop.create_task(old.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def connect(self) -> Redis | RedisCluster:
        """Build the client from ``config.REDIS`` and PING it; return the client.

        Raises ``ConfigError('REDIS', 'cannot connect to redis at host:port (reason)')``
        at once (no retries) when Redis does not answer.
        """
        raw = config.REDIS
        if raw is None:
            raise _not_configured()
        probe = build_client(raw, retry=Retry(NoBackoff(), 0))
        try:
            await probe.ping()
        except (RedisError, RedisClusterException, OSError) as exc:
            reason = ' '.join(str(exc).split()) or type(exc).__name__
            problem = f'cannot connect to redis at {_address(raw)} ({reason})'
            raise ConfigError('REDIS', problem) from None
        finally:
            await probe.aclose()
        self._replace(build_client(raw), raw)
        self._loop = _running_loop()
        self._connected = True
        assert self._client is not None
        return self._client

    async def close(self) -> None:
        """Close the client's connections; the next use builds a new client."""
        client, loop = self._client, self._loop
        self._client, self._source, self._loop, self._connected = None, None, None, False
        if client is not None and (loop is None or loop is _running_loop()):
            await client.aclose()
        pending = [task for task in self._closing if task.get_loop() is _running_loop()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def __getattr__(self, name: str) -> Any:
        if name.startswith('_'):
            raise AttributeError(name)
        return getattr(self.client, name)


redis = RedisConnection()
"""The shared client proxy; see the module docstring."""
