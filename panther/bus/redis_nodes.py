"""Where the Redis bus's own connections go: one Redis, or the masters of a Redis Cluster.

The bus's writer and reader drive connections they open themselves (no pool, no
retries behind their back), so they see every reconnect. ``Nodes`` answers the
three questions they ask: which node serves a key (``node_of``), which nodes
serve any key (``masters``), and how to open a connection to a node
(``connection``). ``refresh`` re-reads a cluster's slot map after a failover or
a ``MOVED`` reply. Node names are ``host:port``; a single Redis is the node ``''``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)

#: Errors that mean "Redis (or the node serving a key) is not reachable right now".
UNREACHABLE = (RedisError, RedisClusterException, OSError)
#: Replies of a cluster in motion (a slot moved, a failover under way), or of a node that lost the
#: bus's script (flushed, or a replica promoted): reconnect (which loads it again) and retry.
#: (``MovedError`` is an ``AskError``; ``MasterDownError`` a ``ClusterDownError``.)
RETRY_LATER = (AskError, TryAgainError, ClusterDownError, ReadOnlyError, NoScriptError)


class Nodes:
    """A single Redis: one node, named ``''``."""

    cluster = False

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def refresh(self) -> None:
        """Re-read which node serves which key (nothing to read on a single Redis)."""

    def masters(self) -> list[str]:
        return ['']

    def node_of(self, key: bytes) -> str:
        return ''

    def connection(self, node: str) -> Connection:
        """A new, not yet connected, connection to ``node``, owned by the caller."""
        return self._client.connection_pool.make_connection()


class ClusterNodes(Nodes):
    """The masters of a Redis Cluster, found through ``client``'s slot map."""

    cluster = True

    def __init__(self, client: RedisCluster) -> None:  # type: ignore[override]
        self._cluster = client
        self._lock = asyncio.Lock()
        self._owners: dict[bytes, str] = {}  # key -> name of the master serving it, until the next refresh

    async def refresh(self) -> None:
        async with self._lock:
            self._owners = {}
            await self._cluster.nodes_manager.initialize()

    def masters(self) -> list[str]:
        return sorted({node.name for node in self._cluster.get_primaries()})

    def node_of(self, key: bytes) -> str:
        owner = self._owners.get(key)
        if owner is None:
            owner = self._owners[key] = self._cluster.nodes_manager.get_node_from_slot(key_slot(key)).name
        return owner

    def connection(self, node: str) -> Connection:
        found = self._cluster.get_node(node_name=node)
        if found is None:
            raise RedisClusterException(f'node {node} is no longer in the cluster')
        return found.connection_class(**found.connection_kwargs)


def nodes_for(client: Any) -> Nodes:
    return ClusterNodes(client) if isinstance(client, RedisCluster) else Nodes(client)
