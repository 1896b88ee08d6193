"""``REDIS = {'cluster': True, 'host': ..., 'port': ...}``: a Redis or Valkey Cluster.

``host`` and ``port`` (or ``url``) name one start-up node; the client finds the
others. Every other key goes to redis-py's ``redis.asyncio.cluster.RedisCluster``
unchanged (``password``, ``ssl``, ``read_from_replicas``, ...); a key it does not
take stops start-up with one ``ConfigError('REDIS', ...)`` line naming the key.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

from redis.asyncio.cluster import RedisCluster

from panther.exceptions import ConfigError


def is_cluster(options: dict[str, Any] | None) -> bool:
    """Whether a ``REDIS`` dict names a cluster."""
    return bool(options and options.get('cluster'))


@cache
def _accepted(cls: type[RedisCluster]) -> frozenset[str]:
    return frozenset(inspect.signature(cls.__init__).parameters) - {'self', 'startup_nodes'}


def build_cluster(options: dict[str, Any], cls: type[RedisCluster] = RedisCluster) -> RedisCluster:
    """A ``cls`` client (not yet connected) from ``options``, a ``REDIS`` dict with or without 'cluster'.

    Raises ``ConfigError('REDIS', ...)`` naming the first key ``cls`` does not take, or
    quoting redis-py when it refuses a value.
    """
    options = {k: v for k, v in options.items() if k not in ('cluster', 'class')}
    url = options.pop('url', None)
    for name in options:
        if name not in _accepted(cls):
            raise ConfigError('REDIS', f"{name!r} is not an option of redis-py's RedisCluster "
                                       f"(REDIS has 'cluster': True)")
    try:
        return cls.from_url(url, **options) if url is not None else cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError('REDIS', f'invalid option for a Redis Cluster ({exc})') from None
