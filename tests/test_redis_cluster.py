"""What a Redis Cluster adds: configuration, the app's client, JWT revocation, and a master killed mid-stream.

The bus contract itself runs against the cluster in test_bus_contract*.py (one entry in
tests/bus_backends.py). Tests that kill a master start a cluster of their own.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio.cluster import RedisCluster as RedisClusterClient

from panther import Panther, redis_keys
from panther.authentications import JWTAuthentication
from panther.bus.redis import RedisBus
from panther.configs import config
from panther.db.models import BaseUser
from panther.exceptions import ConfigError
from panther.test import WebsocketClient
from panther.token_cache import verified_tokens
from tests import auth_app
from tests.auth_support import configs_module
from tests.bus_backends import until
from tests.cluster import APP_DIR, close_all, cluster, spread
from tests.redis_cluster import run_redis_cluster
from tests.servers import serve


@pytest.fixture
async def cluster_config(redis_cluster_server):
    from panther.db.connections import redis

    redis_cluster_server.flush()
    previous = config.REDIS
    config.REDIS = redis_cluster_server.config()
    try:
        yield config.REDIS
    finally:
        await redis.close()
        config.REDIS = previous


# -- configuration ------------------------------------------------------------------


async def test_a_key_redis_cluster_does_not_take_is_one_config_error_naming_it(redis_cluster_server):
    bus = RedisBus({**redis_cluster_server.config(), 'no_such_option': 1})
    with pytest.raises(ConfigError) as error:
        await bus.start('a' * 12, lambda raw: None)
    assert error.value.key == 'REDIS' and "'no_such_option'" in str(error.value)


async def test_a_bad_key_stops_server_start_with_one_line(redis_cluster_server):
    env = {'TEST_REDIS_PORT': str(redis_cluster_server.port), 'TEST_REDIS_CLUSTER': '1',
           'TEST_REDIS_EXTRA': json.dumps({'db_number': 3})}
    with pytest.raises(RuntimeError) as error, serve('main:app', APP_DIR, server='panther', env=env):
        pass
    lines = [line for line in str(error.value).splitlines() if 'REDIS' in line]
    assert len(lines) == 1 and "'db_number'" in lines[0], str(error.value)
    assert 'Traceback' not in str(error.value)


async def test_a_cluster_node_configured_as_a_single_redis_says_to_set_cluster(redis_cluster_server):
    from panther.connection_ids import new_worker_id

    port = redis_cluster_server.port
    # A worker whose keys another master serves: the node answers MOVED.
    worker = next(w for w in iter(new_worker_id, None)
                  if redis_cluster_server.master_of(redis_keys.key('bus:alive', w)).port != port)
    bus = RedisBus({'host': '127.0.0.1', 'port': port})
    with pytest.raises(ConfigError) as error:
        await bus.start(worker, lambda raw: None)
    assert error.value.key == 'REDIS' and "add 'cluster': True to REDIS" in str(error.value)


async def test_unreachable_cluster_at_start_is_one_config_error():
    from tests.servers import free_port

    bus = RedisBus({'cluster': True, 'host': '127.0.0.1', 'port': free_port()})
    with pytest.raises(ConfigError) as error:
        await bus.start('a' * 12, lambda raw: None)
    assert error.value.key == 'REDIS' and 'cannot reach Redis at the Redis Cluster of 127.0.0.1:' in str(error.value)


# -- the app's client and JWT revocation ---------------------------------------------


async def test_the_apps_redis_is_a_cluster_client(cluster_config):
    from panther.db.connections import redis

    client = await redis.connect()
    assert isinstance(client, RedisClusterClient)
    keys = [f'panther-test-{i}' for i in range(20)]  # spread over several masters
    for key in keys:
        await redis.set(key, key)
    assert [await redis.get(key) for key in keys] == [key.encode() for key in keys]
    assert await redis.exists(*keys, 'missing') == 20  # redis-py splits a multi-key EXISTS per slot
    assert len({client.keyslot(key) for key in keys}) > 1


async def test_jwt_logout_is_refused_on_a_cluster(cluster_config, tmp_path):
    verified_tokens.clear()
    settings = {'SECRET_KEY': auth_app.SECRET, 'DATABASE': {'path': str(tmp_path / 'db.sqlite3')},
                'URLS': auth_app.URLS, 'AUTH_CACHE_TTL': 60, 'REDIS': cluster_config}
    app = Panther('cluster_jwt_tests', configs=configs_module(**settings))

    async def accepted(token: str) -> bool:
        transcript = await WebsocketClient(app).aconnect('/ws/query/', query_params={'authorization': token})
        return transcript[0]['type'] == 'websocket.accept'

    user = await BaseUser.create_user('ali', 'a passphrase')
    tokens = [(await JWTAuthentication.login(user))['access_token'] for _ in range(8)]
    for token in tokens:
        assert await accepted(token)
    for token in tokens[::2]:
        await JWTAuthentication.logout(token)
    assert [await accepted(token) for token in tokens] == [False, True] * 4
    verified_tokens.clear()
    assert [await accepted(token) for token in tokens] == [False, True] * 4


def test_keys_of_one_worker_or_one_group_share_a_hash_tag():
    from redis.crc import key_slot

    for about in ('0123456789ab', 'room', 'a}b', '{x}', '', 'ünï'):
        slots = {key_slot(redis_keys.key(kind, about).encode()) for kind in ('bus:members', 'bus:workers')}
        assert len(slots) == 1, about
    assert redis_keys.key('bus:stream', 'w1') == 'panther:bus:stream:{w1}'
    assert key_slot(redis_keys.key('bus:stream', 'w1').encode()) == key_slot(redis_keys.key('bus:alive', 'w1').encode())
    assert redis_keys.key('bus:members', 'a}b') != redis_keys.key('bus:members', 'a}c')


# -- a master killed under a stream ----------------------------------------------------


@pytest.fixture(scope='module')
def own_cluster():
    """A Redis Cluster of this module's own: its failover test kills one of its masters."""
    with run_redis_cluster() as redis_cluster:
        yield redis_cluster


async def test_a_master_killed_under_a_stream_loses_duplicates_and_reorders_nothing(own_cluster):
    env = {'TEST_REDIS_PORT': str(own_cluster.port), 'TEST_REDIS_CLUSTER': '1', 'TEST_BUS_TTL': '2'}
    with cluster('panther', env) as server:
        by_worker = await spread(server, per_worker=1)
        try:
            (a, b) = list(by_worker)[:2]
            sender, target = by_worker[a][0], by_worker[b][0]
            victim = own_cluster.master_of(redis_keys.key('bus:stream', b))
            total = 10_000
            # About 5 s of steady sending (20 messages every 10 ms) from worker a to a connection on worker b.
            assert await sender.ask(op='stream', to=target.id, count=total, every=20, pause=0.01) == \
                {'streaming': total}
            got: list[str] = []

            async def collect():
                while len(got) < total:
                    got.append(await target.recv(timeout=60))

            collector = asyncio.create_task(collect())
            await asyncio.sleep(1.0)
            before = len(got)
            victim.kill()
            try:
                await asyncio.wait_for(collector, 90)
            except TimeoutError:
                missing = sorted(set(range(total)) - {int(x) for x in got})
                raise AssertionError(f'{len(got)} of {total} arrived; first missing {missing[:10]}\n'
                                     f'{server.log()[-3000:]}') from None
            assert 0 < before < total
            assert got == [str(i) for i in range(total)]  # none lost, none twice, in order
            assert await target.quiet(0.5)
            # The replica took over: the cluster is whole again without the killed node.
            await asyncio.to_thread(own_cluster.wait_ok)
            assert own_cluster.master_of(redis_keys.key('bus:stream', b)) is not victim
            assert 'failed over; resending' in server.log() and 'Traceback' not in server.log()
            # And the deployment goes on: a group message reaches every other worker's member once.
            for clients in by_worker.values():
                assert await clients[0].ask(op='join', name='after') == {'joined': 'after'}
            assert await sender.ask(op='group', name='after', data='whole', exclude=sender.id) == \
                {'grouped': 'after'}
            for w, clients in by_worker.items():
                if w != a:
                    assert await clients[0].recv() == 'whole'
        finally:
            await close_all(by_worker)


async def own_cluster_master_changed(redis_cluster, victim, room: str) -> bool:
    await asyncio.to_thread(redis_cluster.wait_ok)
    return redis_cluster.master_of(redis_keys.key('bus:workers', room)) is not victim


def _master_with_a_replica(redis_cluster) -> int:
    """The port of a live master that has a live, in-sync replica (one may have been killed already)."""
    nodes = redis_cluster.cli(redis_cluster.port, 'CLUSTER', 'NODES').splitlines()
    masters = {p[0]: int(p[1].split(':')[1].split('@')[0]) for p in map(str.split, nodes)
               if 'master' in p[2] and 'fail' not in p[2]}
    for parts in map(str.split, nodes):
        if 'slave' in parts[2] and 'fail' not in parts[2] and parts[3] in masters:
            return masters[parts[3]]
    raise LookupError('no master has a live replica')


async def test_group_and_targeted_messages_cross_a_failover_exactly_once(own_cluster, caplog):
    from panther.connection_ids import new_connection_id, new_worker_id

    await asyncio.to_thread(own_cluster.wait_ok)
    port = _master_with_a_replica(own_cluster)
    victim = next(n for n in own_cluster.nodes if n.port == port)
    # A receiving worker and a group whose keys both live on the master that will die.
    receiver_id = next(w for w in iter(new_worker_id, None)
                       if own_cluster.master_of(redis_keys.key('bus:stream', w)) is victim)
    room = next(f'room-{i}' for i in range(1000)
                if own_cluster.master_of(redis_keys.key('bus:workers', f'room-{i}')) is victim)
    options = own_cluster.config()
    # The receiver's alive key (on the dying master) expires before the failover completes: a
    # live worker must not be taken for gone then.
    sender, receiver = RedisBus(options, liveness_ttl=2.0), RedisBus(options, liveness_ttl=1.0)
    got: list[bytes] = []
    member = new_connection_id(receiver_id)
    await sender.start(new_worker_id(), lambda raw: None, {})
    await receiver.start(receiver_id, got.append, {room: {member}})
    try:
        await receiver.group_add(room, member)
        total = 4000
        expected = [b'G%d' % i if i % 2 == 0 else b'T%d' % i for i in range(total)]

        async def produce() -> None:
            for i, message in enumerate(expected):
                if i % 2 == 0:
                    await sender.group_send(room, message)
                else:
                    await sender.send(receiver_id, message)
                if i % 20 == 19:
                    await asyncio.sleep(0.01)

        producer = asyncio.create_task(produce())
        await asyncio.sleep(0.5)
        victim.kill()
        await asyncio.wait_for(producer, 60)
        assert await until(lambda: len(got) >= total, 60)
        await asyncio.sleep(0.3)
        assert len(got) == total and got == expected, (len(got), sorted(set(expected) - set(got))[:5])
        assert any('failed over; resending' in r.getMessage() for r in caplog.records)
        assert await own_cluster_master_changed(own_cluster, victim, room)
    finally:
        await sender.stop()
        await receiver.stop()
