"""The Redis bus: any number of workers on any number of machines.

Keys (one Redis database is one panther deployment), named by ``panther.redis_keys``::

    panther:bus:stream:{<worker>}   a Stream per worker: its inbox (XADD by senders, XREAD by its owner)
    panther:bus:alive:{<worker>}    set by the owner's heartbeat, expires after BUS_LIVENESS_TTL
    panther:bus:members:{<group>}   set of the group's connection ids (ids start with their worker id)
    panther:bus:workers:{<group>}   hash: each worker with members of the group -> its join epoch

The braces are hash tags: on a Redis Cluster (``REDIS = {'cluster': True, ...}``)
a worker's keys share a slot, and so do a group's, and no command or script
touches keys of two tags. The writer sends each command to the master serving
its tag (``redis_nodes``), one pipelined write per master per batch.

Targeted routing: a connection id names its worker, so a send goes to that worker's
stream only; no other worker sees it. What one writer batch holds for one worker is a
single stream entry (layout in ``redis_wire``), so a burst costs Redis one XADD per
batch, not one per message. A group send costs one XADD per worker of
``workers:<group>`` (never one per member) and drops workers whose ``alive`` key
has expired. On a single Redis it is one server-side script (``group_send.lua``,
one round trip). On a cluster that script cannot run (it builds other workers'
keys), so the writer reads ``workers:<group>`` once per batch (``HGETALL``), then
runs ``group_copy.lua`` once per worker on that worker's slot: one more round
trip per batch holding group sends (``benchmarks/micro_redis_group_send.py``).

Why Streams rather than pub/sub: a stream keeps what was written while its reader
was reconnecting, and the reader resumes from the last entry id it handled.

Sending never waits for Redis. ``send`` puts the message in an ordered buffer of at
most ``BUS_BUFFER_SIZE`` messages; one writer task ships it in pipelined batches.
While Redis is up, a sender that finds the buffer full waits for room; while Redis
is unreachable the buffer keeps what is sent, in order, and a send that finds it
full raises ``BusError``. The writer retries a failed batch after reconnecting.

Exactly once, in order, across a Redis restart: every message carries the sender's
worker id and a sequence number, and a reader skips what it has already seen, so
retrying a batch that partly reached Redis never duplicates. Messages Redis
acknowledged but that a reader had not read yet vanish with a restarted (non
persistent) Redis, or with a cluster master whose replica took over before it had
them; the writer keeps the last second of acknowledged messages and, when it finds
a master it wrote to replaced (its ``run_id`` is no longer among the masters'
after reconnecting), sends them again (readers drop the ones they had) and
registers this worker's memberships again. On a cluster, a master the writer has
not written to for half a second gets a PING with the next batch, so a dead one
is noticed before the last second it acknowledged is forgotten.

Group messages reach only the connections that were members when they were sent,
resent or not. Each worker numbers the joins of its connections (the join epoch,
one counter per worker) and publishes its latest join to a group in
``workers:<group>``; the group-send script copies that epoch into each worker's
entry, and the receiving worker leaves out its members that joined later (on a
cluster, the epochs read once by ``HGETALL`` and kept if the batch is retried). A resent
group message goes only to the workers it first reached, with the epochs they had
then (the script returns them), never to the group as it is after the restart.

Liveness: the heartbeat refreshes ``alive:<worker>`` every third of
``BUS_LIVENESS_TTL`` (default 5 s). A killed worker's members are left out of
``group_members`` and group sends once its key expires, i.e. within the TTL, and
are cleaned from the sets then. Streams expire 60 s after their last write. When
the heartbeat finds its own ``alive`` key missing (Redis restarted, or this worker
stalled past the TTL), it registers the worker's memberships again.

Start-up with Redis unreachable fails at once with one ``ConfigError('REDIS', ...)``
line; the bus does not retry at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MovedError, ResponseError

from panther import envelope, redis_keys
from panther.bus import redis_wire
from panther.bus.base import Bus, BusError, Deliver, LocalGroups
from panther.bus.redis_nodes import RETRY_LATER, UNREACHABLE, Nodes, nodes_for
from panther.bus.redis_ops import GroupCopy, GroupSend, Join, Leave, Operation, Resend, Send, Sent
from panther.bus.redis_wire import pack
from panther.connection_ids import WORKER_ID_LENGTH
from panther.exceptions import ConfigError
from panther.redis_cluster import build_cluster, is_cluster

logger = logging.getLogger('panther')

PREFIX = redis_keys.PREFIX + 'bus:'
STREAM_TTL_MS = 60_000
TTL_REFRESH_S = 1.0  # how often a sender re-sets a target stream's TTL
RESEND_WINDOW = 1.0  # seconds of acknowledged messages kept for a Redis restart
_BATCH = 512  # operations per round trip
_GATHER_PASSES = 16  # loop passes the writer waits at most while its queue still grows
_ENTRY_BYTES = 1 << 20  # the entries being filled are closed once together they hold this much

# Server-side scripts (see the files for their keys and arguments): on a single Redis, one
# per group send; on a cluster, one per worker a group send reaches.
_GROUP_SEND = resources.files('panther.bus').joinpath('group_send.lua').read_bytes()
_GROUP_COPY = resources.files('panther.bus').joinpath('group_copy.lua').read_bytes()
_GROUP_COPY_SHA = hashlib.sha1(_GROUP_COPY).hexdigest().encode()
# The sessions' copies (panther.session_mirror): one script per batch on a single Redis.
_SESSION_WRITE = resources.files('panther.bus').joinpath('session_write.lua').read_bytes()
#: What each verb of ``session_ops`` is as a command of its own (on a cluster).
_SESSION_VERBS = {b'R': (b'RPUSH', 1), b'T': (b'LTRIM', 1), b'E': (b'PEXPIRE', 1), b'D': (b'DEL', 0),
                  b'H': (b'HSET', 2), b'S': (b'SET', 1)}
#: Seconds the sessions' copies wait before the writer ships them, so they go many per round trip.
SESSION_WRITE_DELAY = 0.005


_PING = pack((b'PING',))


def _run_id(info: Any) -> str:
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith('run_id:'):
            return line[7:].strip()
    return ''


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: ``deliver(entry id, sender worker id, sender's sequence number, message)`` of :meth:`RedisBus.follow`.
FollowDeliver = Callable[[bytes, bytes, int, bytes], None]


def entry_order(entry_id: bytes) -> tuple[int, int]:
    """A stream entry id (``b'<ms>-<n>'``) as something that sorts like Redis orders entries."""
    ms, _, n = entry_id.partition(b'-')
    return int(ms), int(n or 0)



def _stream(worker_id: str) -> str:
    return redis_keys.key('bus:stream', worker_id)


def _alive(worker_id: str) -> str:
    return redis_keys.key('bus:alive', worker_id)


def _members(name: str) -> str:
    return redis_keys.key('bus:members', name)


def _workers(name: str) -> str:
    return redis_keys.key('bus:workers', name)



#: Seconds stop() gives Redis for its clean-up (removing this worker's keys) and the clients' close.
_STOP_CLEANUP_TIMEOUT = 2.0


def _cancelled_as_timeout() -> None:
    """Re-raise a cancellation that reached a retry loop as a timeout (``TimeoutError`` is an ``OSError``).

    A loop that retried it would never end, and stop() would wait on it for ever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError

async def _xread(conn: Connection, key: bytes, last: bytes, block: bytes, wait: float) -> Any:
    """One blocked ``XREAD`` of up to 64 entries of ``key`` after ``last``, on ``conn`` driven directly.

    Raises ``TimeoutError`` when Redis has not answered within ``wait`` seconds (``block`` plus slack).
    """
    async with asyncio.timeout(wait):
        await conn.send_packed_command(
            pack((b'XREAD', b'COUNT', b'64', b'BLOCK', block, b'STREAMS', key, last)), check_health=False)
        return await conn.read_response()


class RedisBus(Bus):
    kind = 'redis'
    mirrors_sessions = True

    def __init__(
        self,
        options: dict[str, Any],
        buffer_size: int = 10_000,
        liveness_ttl: float = 5.0,
        max_stream_length: int = 100_000,
    ) -> None:
        # 'class' may name a client class for the user-facing connection; the bus builds its own.
        self.cluster = is_cluster(options)
        self.options = {k: v for k, v in options.items() if k not in ('class', 'cluster')}
        self.buffer_size = buffer_size
        self.liveness_ttl = liveness_ttl
        self.max_stream_length = max_stream_length
        self.worker_id = ''
        self.connected = False
        self._groups: LocalGroups = {}
        self._queue: deque[Operation] = deque()  # in send order
        self._recent: deque[tuple[float, Sent]] = deque()  # (when Redis acknowledged it, message)
        self._epoch = 0  # joins of this worker's connections so far (see the module docstring)
        # group -> {member: its join epoch}, in join order, so epochs increase along each dict
        self._joined: dict[str, dict[str, int]] = {}
        # When this writer last set each target stream's TTL; cleared on every reconnect.
        self._ttl_set_at: dict[str, float] = {}
        self._waiters: dict[int, asyncio.Future[None]] = {}  # op serial -> set when that op reached Redis
        self._serial = 0  # operations enqueued so far
        self._done = 0  # operations that reached Redis so far
        self._seq = 0
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._writer_fresh = True  # the writer must (re)connect and check the run_ids first
        self._conns: dict[str, Connection] = {}  # the writer's own connection to each master (by node name)
        self._run_ids: set[str] = set()  # run_ids of the masters that acknowledged what ``_recent`` holds
        # Cluster: the workers (and epochs) each queued group send goes to, read once (by id of the op)
        # and kept until it is shipped, so a retried send goes to the members it had when first read.
        self._resolved: dict[int, list[tuple[str, int]]] = {}
        self._answered: dict[str, float] = {}  # cluster: when each master last answered the writer
        self._stale: list[tuple[str, str]] = []  # (group, worker) whose alive key had expired: HDEL next batch
        # Single Redis: one script per group send (one round trip); see benchmarks/micro_redis_group_send.py.
        self.script_group_send = not self.cluster
        #: Where the reader notes the last entry it delivered (set once this worker keeps sessions in Redis).
        self.read_position_key: bytes | None = None
        #: The sessions' writes, four arguments each (``session_write.lua``), shipped with the next batch.
        self.session_ops: list[bytes] = []
        self._session_due = 0.0  # loop time when they are due
        self._followers: dict[str, asyncio.Task[None]] = {}  # dead worker -> the task reading its stream
        self._follow_at: dict[str, bytes] = {}  # dead worker -> the last entry read from its stream

    @classmethod
    def from_settings(cls, settings: Any) -> RedisBus:
        options = settings.REDIS
        ttl = getattr(settings, 'BUS_LIVENESS_TTL', 5.0)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise ConfigError('BUS_LIVENESS_TTL', f'expected a positive number of seconds, got {ttl!r}')
        return cls(options, buffer_size=settings.BUS_BUFFER_SIZE, liveness_ttl=float(ttl))

    @property
    def where(self) -> str:
        if 'url' in self.options:
            return str(self.options['url'])
        address = f"{self.options.get('host', 'localhost')}:{self.options.get('port', 6379)}"
        return f'the Redis Cluster of {address}' if self.cluster else address

    def _client(self, retry: Retry, **overrides: Any) -> Any:
        # The bus deals in bytes whatever the user's client decodes, and chooses its own retries.
        options = {'socket_connect_timeout': 2.0, 'socket_timeout': 5.0, **self.options, **overrides,
                   'decode_responses': False, 'retry': retry}
        if self.cluster:
            return build_cluster(options)
        url = options.pop('url', None)
        if url is not None:
            return aioredis.Redis.from_url(url, **options)
        return aioredis.Redis(**options)

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, worker_id: str, deliver: Deliver, groups: LocalGroups | None = None) -> None:
        self.worker_id = worker_id
        self._worker_bytes = worker_id.encode()
        self._deliver = deliver
        self._groups = groups if groups is not None else {}
        # Heartbeats, membership queries and registrations are idempotent: after a Redis
        # restart the pool's dead connections are retried on fresh ones instead of failing.
        self._redis = self._client(Retry(ExponentialBackoff(cap=0.25, base=0.01), 3))
        # The writer's and the reader's connections are opened and timed by the bus
        # itself (one asyncio.timeout per round trip): redis-py's per-call socket
        # timeout would wrap every write in a task of its own.
        self._timeout = float(self.options.get('socket_timeout') or 5.0)
        # The writer decides itself when to resend (and readers dedup), so redis-py must not
        # retry behind it on these connections. (On a cluster, ``_raw`` only keeps the slot map.)
        self._raw = self._client(Retry(NoBackoff(), 0), socket_timeout=None)
        self._nodes: Nodes = nodes_for(self._raw)
        self._reader_conn: Connection | None = None
        try:
            await self._reconnect_writer()
            await self._beat()
        except UNREACHABLE as exc:
            await self._close_clients()
            if isinstance(exc, MovedError):
                raise ConfigError('REDIS', f"{self.where} is a node of a Redis Cluster: add 'cluster': True "
                                           f'to REDIS ({exc})') from None
            raise ConfigError('REDIS', f'cannot reach Redis at {self.where} ({exc})') from None
        self.connected = True
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_loop(), name='panther-bus-reader'),
            loop.create_task(self._write_loop(), name='panther-bus-writer'),
            loop.create_task(self._heartbeat_loop(), name='panther-bus-heartbeat'),
        ]

    async def stop(self) -> None:
        deadline = time.monotonic() + 2.0
        while self._queue and self.connected and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._queue:
            logger.warning('redis bus: %d message(s) not delivered at shutdown (Redis unreachable)', len(self._queue))
        followers = list(self._followers.values())
        self._followers.clear()
        await self._cancel_tasks(followers)
        for waiter in self._waiters.values():
            waiter.cancel()
        self._waiters.clear()
        # Bounded: a Redis that accepts but never answers must not hold up the worker's exit.
        with contextlib.suppress(*UNREACHABLE):
            async with asyncio.timeout(_STOP_CLEANUP_TIMEOUT), self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(_alive(self.worker_id), _stream(self.worker_id))
                for name, members in self._groups.items():
                    if members:
                        pipe.srem(_members(name), *members)
                    pipe.hdel(_workers(name), self.worker_id)
                await pipe.execute()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_STOP_CLEANUP_TIMEOUT):
                await self._close_clients()

    async def _cancel_tasks(self, extra: list[asyncio.Task[None]]) -> None:
        """Cancel the reader, writer, heartbeat and ``extra`` (followers of dead workers' streams); wait, bounded.

        A cancellation can reach a loop disguised as the timeout of a Redis call
        deep inside redis-py; a loop that took it for a network error would go
        round again. Cancelling again each half second ends it at its next await.
        """
        pending = {*self._tasks, *extra}
        deadline = time.monotonic() + _STOP_CLEANUP_TIMEOUT
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.5)
            if pending and time.monotonic() >= deadline:
                logger.warning('redis bus: %d task(s) did not end when cancelled; leaving them', len(pending))
                break
        self._tasks = []

    async def _close_clients(self) -> None:
        for conn in [*self._conns.values(), getattr(self, '_reader_conn', None)]:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.disconnect()
        for client in (getattr(self, '_redis', None), getattr(self, '_raw', None)):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    # -- connection state ---------------------------------------------------------

    def _lost(self, exc: BaseException) -> None:
        if self.connected:
            self.connected = False
            logger.warning('redis bus: lost Redis at %s (%s); buffering up to %d messages until it is back',
                           self.where, exc, self.buffer_size)
            self._progress.set()  # senders waiting for room must now fail instead

    def buffered(self) -> int:
        return len(self._queue)

    def _back(self) -> None:
        if not self.connected:
            self.connected = True
            self.reconnects += 1
            logger.warning('redis bus: Redis at %s is back; %d buffered message(s) being delivered',
                           self.where, len(self._queue))

    # -- sending -----------------------------------------------------------------

    def _data(self, message: bytes) -> bytes:
        self._seq += 1
        return redis_wire.record(self._seq, message)

    async def _room(self) -> None:
        while len(self._queue) >= self.buffer_size:
            if not self.connected:
                raise BusError(
                    f'Redis at {self.where} is unreachable and the bus buffer is full '
                    f'({self.buffer_size} messages, BUS_BUFFER_SIZE); message not sent')
            self._progress.clear()
            await self._progress.wait()

    def _push(self, op: Operation) -> int:
        self._queue.append(op)
        self._serial += 1
        self._wakeup.set()
        return self._serial

    async def send(self, worker_id: str, message: bytes) -> None:
        if len(self._queue) >= self.buffer_size:
            await self._room()
        self._push(Send(worker_id, self._data(message)))

    async def group_send(self, name: str, message: bytes) -> None:
        if len(self._queue) >= self.buffer_size:
            await self._room()
        self._push(GroupSend(name, self._data(message)))

    async def group_add(self, name: str, connection_id: str) -> None:
        self._epoch += 1
        joined = self._joined.setdefault(name, {})
        joined.pop(connection_id, None)  # a re-join moves to the end, keeping epochs in order
        joined[connection_id] = self._epoch
        await self._membership(Join(name, connection_id, self._epoch))

    async def group_discard(self, name: str, connection_id: str) -> None:
        joined = self._joined.get(name)
        if joined is not None:
            joined.pop(connection_id, None)
            if not joined:
                del self._joined[name]
        await self._membership(Leave(name, connection_id, not self._groups.get(name)))

    async def _membership(self, op: Join | Leave) -> None:
        """Queue a membership change in order with sends; wait (bounded) until Redis has it.

        Waiting makes ``join_group`` visible to every worker once it returns. During
        an outage the change stays queued and the caller goes on after one second.
        """
        if len(self._queue) >= self.buffer_size:
            await self._room()
        serial = self._push(op)
        if not self.connected:
            return
        waiter = self._waiters[serial] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), 1.0)
        except TimeoutError:
            pass
        finally:
            self._waiters.pop(serial, None)

    async def _write_loop(self) -> None:
        queue = self._queue
        session_ops = self.session_ops
        backoff = 0.05
        loop = asyncio.get_running_loop()
        while True:
            if not queue and (not session_ops or loop.time() < self._session_due):
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch: list[Operation] = []
            reached: dict[int, list[tuple[str, int]]] = {}
            try:
                await self._gather()
                if self._writer_fresh:
                    await self._reconnect_writer()  # may put resends at the front of the queue
                batch = [queue[i] for i in range(min(len(queue), _BATCH))]
                if not self.script_group_send:
                    await self._resolve_groups(batch)
                shipped = len(session_ops)
                reached = await self._ship(batch, session_ops[:shipped])
                del session_ops[:shipped]
                if session_ops:  # written meanwhile: they wait their delay too
                    self._session_wait()
            except asyncio.CancelledError:
                raise
            except UNREACHABLE as exc:
                _cancelled_as_timeout()
                self._writer_fresh = True
                await self._disconnect_writer()
                self._lost(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            except Exception:
                logger.exception('redis bus: a batch of %d message(s) could not be sent; dropped', len(batch))
            backoff = 0.05
            self._back()
            now = time.monotonic()
            recent = self._recent
            done = 0
            for index in range(len(batch)):
                op = queue.popleft()
                if type(op) is Resend:
                    recent.append((now, op.message))
                    continue  # not an operation any caller waits for
                if type(op) is Send or type(op) is Join or type(op) is Leave:
                    recent.append((now, op))
                elif type(op) is GroupSend:
                    self._resolved.pop(id(op), None)
                    for worker, epoch in reached.get(index, ()):
                        recent.append((now, GroupCopy(worker, op.data, epoch)))
                done += 1
            while recent and (now - recent[0][0] > RESEND_WINDOW or len(recent) > self.buffer_size):
                recent.popleft()
            self._done += done
            if self._waiters:
                for serial in [s for s in self._waiters if s <= self._done]:
                    waiter = self._waiters.pop(serial)
                    if not waiter.done():
                        waiter.set_result(None)
            self._progress.set()

    async def _gather(self) -> None:
        """Give sends already under way a few loop passes to join the batch.

        A frame read from a client reaches ``send`` only after several task hops
        (protocol, ASGI receive, handler), so the writer, woken by the first send,
        would ship a batch of one or two while the rest of the same read burst is
        a pass or two behind. Waiting while the queue still grows (never once it
        stops, so a lone send costs one pass) makes round trips, and the context
        switches to and from Redis they cost on a shared core, several times rarer.
        """
        queue = self._queue
        size = len(queue)
        for _ in range(_GATHER_PASSES):
            if size >= _BATCH:
                return
            await asyncio.sleep(0)
            if len(queue) == size:
                return
            size = len(queue)

    async def _disconnect_writer(self) -> None:
        for conn in self._conns.values():
            with contextlib.suppress(Exception):
                await conn.disconnect()
        self._conns = {}

    async def _reconnect_writer(self) -> None:
        """(Re)open the writer's connections, one per master; resend what a replaced master may have lost.

        The writer keeps connections it opens itself (a pooled one would reconnect
        silently), so every reconnect is seen here. Each master's ``run_id`` is
        compared with those of the masters that acknowledged the last second of
        messages: one missing means that master restarted, or (cluster) was
        replaced by its replica, which may lack its last writes. Those messages
        are then sent again (readers drop the ones they had), and this worker's
        memberships registered again.
        """
        await self._disconnect_writer()
        self._ttl_set_at.clear()  # streams recreated after a restart have no TTL yet
        await self._nodes.refresh()
        conns: dict[str, Connection] = {}
        run_ids: set[str] = set()
        try:
            for node in self._nodes.masters():
                conn = conns[node] = self._nodes.connection(node)
                async with asyncio.timeout(self._timeout):
                    await conn.connect()
                    await conn.send_command('INFO', 'server')
                    run_ids.add(_run_id(await conn.read_response()))
                    await conn.send_command('SCRIPT', 'LOAD', _GROUP_COPY)  # for EVALSHA (NOSCRIPT: reconnect)
                    await conn.read_response()
        except BaseException:
            for conn in conns.values():
                with contextlib.suppress(Exception):
                    await conn.disconnect()
            raise
        self._conns = conns
        self._answered = dict.fromkeys(conns, time.monotonic())
        replaced = bool(self._run_ids - run_ids)
        if replaced:
            await self._register_groups()
        self._writer_fresh = False
        self._run_ids = run_ids
        if replaced and self._recent:
            what = 'a Redis Cluster master restarted or failed over' if self._nodes.cluster else 'Redis restarted'
            logger.warning('redis bus: %s; resending the last %d acknowledged message(s) '
                           '(receivers drop the ones they had)', what, len(self._recent))
            self._queue.extendleft(Resend(op) for _, op in reversed(self._recent))
            self._recent.clear()

    async def _exchange(self, commands: list[bytes], keys: list[bytes] | None) -> list[Any]:
        """Send packed ``commands`` pipelined and return their replies, in order.

        ``keys`` (on a cluster) names the key each command is about; commands go to
        the master serving it, in order per master. A reply refusing a command comes
        back as its ``ResponseError``; a reply of a cluster in motion (``MOVED``,
        ``CLUSTERDOWN``, ...) raises, so the caller reconnects and retries.
        """
        replies: list[Any] = [None] * len(commands)
        pings: list[str] = []
        plan: dict[str, Sequence[int]]
        if keys is None:
            plan = {'': range(len(commands))}
        else:
            node_of = self._nodes.node_of
            by_node: dict[str, list[int]] = {}
            for position, key in enumerate(keys):
                by_node.setdefault(node_of(key), []).append(position)
            plan = by_node
            # A master this batch does not write to still answers a PING every half resend window,
            # so a dead one is noticed before ``_recent`` forgets what it acknowledged last.
            now = time.monotonic()
            pings = [node for node in self._conns
                     if node not in plan and now - self._answered.get(node, 0.0) > RESEND_WINDOW / 2]
        async with asyncio.timeout(self._timeout):
            for node, positions in plan.items():
                conn = self._conns.get(node)
                if conn is None:  # the slot map changed since the writer connected
                    raise RedisConnectionError(f'no connection to node {node!r} yet')
                await conn.send_packed_command(
                    b''.join(commands if keys is None else [commands[i] for i in positions]), check_health=False)
            for node in pings:
                await self._conns[node].send_packed_command(_PING, check_health=False)
            for node, positions in plan.items():
                conn = self._conns[node]
                for position in positions:
                    try:
                        replies[position] = await conn.read_response()
                    except RETRY_LATER:
                        raise
                    except ResponseError as exc:
                        replies[position] = exc
            for node in pings:
                await self._conns[node].read_response()
        if keys is not None:
            now = time.monotonic()
            for node in (*plan, *pings):
                self._answered[node] = now
        return replies

    async def _resolve_groups(self, batch: list[Operation]) -> None:
        """Cluster: read once, for each group send of ``batch`` not read yet, the workers it goes to."""
        sends = [op for op in batch if type(op) is GroupSend and id(op) not in self._resolved]
        if not sends:
            return
        names = list(dict.fromkeys(op.group for op in sends))
        keys = [_workers(name).encode() for name in names]
        replies = await self._exchange([pack((b'HGETALL', key)) for key in keys], keys)
        own = self.worker_id
        found: dict[str, list[tuple[str, int]]] = {}
        for name, reply in zip(names, replies, strict=True):
            if isinstance(reply, ResponseError):
                logger.error('redis bus: Redis refused reading group %r: %s', name, reply)
                reply = []
            pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=False)
            found[name] = [(_text(w), int(e)) for w, e in pairs if _text(w) != own]
        for op in sends:
            self._resolved[id(op)] = found[op.group]

    async def _ship(self, batch: list[Operation], session_ops: list[bytes] | None = None
                    ) -> dict[int, list[tuple[str, int]]]:
        """Send ``batch`` as one pipelined write (one per master on a cluster) and read every reply.

        Consecutive sends to one worker become one stream entry (see
        ``redis_wire``); anything else (a group send, a membership change) first
        flushes what is pending, so each stream still sees the order of ``batch``.
        Every command touches the keys of one worker or of one group only, so on
        a cluster each goes whole to the master of that hash tag. Returns, for
        each group send (by its index in ``batch``), the workers it reached and
        their join epochs.
        """
        maxlen, own = b'%d' % self.max_stream_length, self._worker_bytes
        ttl = b'%d' % STREAM_TTL_MS
        commands: list[bytes] = []
        keys: list[bytes] | None = [] if self._nodes.cluster else None
        pending: dict[str, list[bytes]] = {}  # target worker -> its records, in order
        size = 0
        group_sends: dict[int, int] = {}  # position of the EVAL in commands -> index of its op in batch
        copies: dict[int, tuple[int, str, int]] = {}  # position of a cluster copy -> (op index, worker, epoch)

        def add(command: bytes, key: bytes) -> None:
            commands.append(command)
            if keys is not None:
                keys.append(key)

        def flush() -> None:
            for target, records in pending.items():
                stream = _stream(target).encode()
                add(pack((b'XADD', stream, b'MAXLEN', b'~', maxlen, b'*', b'd', own + b''.join(records))), stream)
            pending.clear()

        for group, worker in self._stale:
            add(pack((b'HDEL', _workers(group).encode(), worker.encode())), _workers(group).encode())
        self._stale = []
        for index, op in enumerate(batch):
            if type(op) is Resend:
                op = op.message
            if type(op) is Send:
                records = pending.get(op.worker)
                if records is None:
                    records = pending[op.worker] = []
                records.append(op.data)
                size += len(op.data)
                if size >= _ENTRY_BYTES:
                    flush()
                    size = 0
                continue
            flush()
            size = 0
            if type(op) is GroupSend:
                if self.script_group_send:
                    group_sends[len(commands)] = index
                    workers = _workers(op.group).encode()
                    add(pack((b'EVAL', _GROUP_SEND, b'1', workers, own, own + op.data, maxlen, ttl,
                              PREFIX.encode())), workers)
                    continue
                for worker, epoch in self._resolved[id(op)]:
                    copies[len(commands)] = (index, worker, epoch)
                    stream = _stream(worker).encode()
                    add(pack((b'EVALSHA', _GROUP_COPY_SHA, b'2', stream, _alive(worker).encode(), own + op.data,
                              b'%d' % epoch, maxlen, ttl)), stream)
            elif type(op) is GroupCopy:
                stream = _stream(op.worker).encode()
                add(pack((b'XADD', stream, b'MAXLEN', b'~', maxlen, b'*', b'd', own + op.data,
                          b'j', b'%d' % op.epoch)), stream)
            elif type(op) is Join:
                add(pack((b'SADD', _members(op.group).encode(), op.connection_id.encode())),
                    _members(op.group).encode())
                add(pack((b'HSET', _workers(op.group).encode(), own, b'%d' % op.epoch)), _workers(op.group).encode())
            elif type(op) is Leave:
                add(pack((b'SREM', _members(op.group).encode(), op.connection_id.encode())),
                    _members(op.group).encode())
                if op.last:
                    add(pack((b'HDEL', _workers(op.group).encode(), own)), _workers(op.group).encode())
        flush()
        if session_ops:
            if keys is None:
                add(pack((b'EVAL', _SESSION_WRITE, b'0', *session_ops)), b'')
            else:
                for i in range(0, len(session_ops), 4):
                    verb, key, a, b = session_ops[i:i + 4]
                    name, count = _SESSION_VERBS[verb]
                    if verb == b'S':
                        add(pack((name, key, a, b'PX', b)), key)
                    else:
                        add(pack((name, key, *(a, b)[:count], *((b'-1',) if verb == b'T' else ()))), key)
        # The TTL only has to outlive a dead owner's stream, and the owner refreshes it
        # itself: once a second per target is plenty, instead of a command per message.
        now, set_at = time.monotonic(), self._ttl_set_at
        targets = {op.worker for op in batch if type(op) is Send}
        targets.update(op.message.worker for op in batch if type(op) is Resend and type(op.message) is Send)
        for target in targets:
            if now - set_at.get(target, -TTL_REFRESH_S) >= TTL_REFRESH_S:
                set_at[target] = now
                stream = _stream(target).encode()
                add(pack((b'PEXPIRE', stream, ttl)), stream)
        replies = await self._exchange(commands, keys)
        reached: dict[int, list[tuple[str, int]]] = {}
        for position, reply in enumerate(replies):
            if isinstance(reply, ResponseError):
                logger.error('redis bus: Redis refused a command: %s', reply)
            elif position in group_sends:
                reached[group_sends[position]] = [
                    (_text(reply[i]), int(reply[i + 1])) for i in range(0, len(reply) - 1, 2)]
            elif position in copies:
                index, worker, epoch = copies[position]
                if reply == 1:
                    reached.setdefault(index, []).append((worker, epoch))
                else:
                    group = batch[index].group  # type: ignore[union-attr]
                    self._stale.append((group, worker))
        return reached

    # -- receiving ---------------------------------------------------------------

    async def _read_loop(self) -> None:
        """Deliver what other workers put in this worker's stream, in order, each message once.

        A connection of its own, driven directly (``redis_wire.pack``): the reply is
        one entry per sending worker's batch, split here (``redis_wire``).
        """
        key = _stream(self.worker_id).encode()
        last = b'0-0'
        seen: dict[bytes, int] = {}  # sender worker id -> highest sequence number delivered
        block = b'%d' % int(self.liveness_ttl * 1000)
        wait = self.liveness_ttl + self._timeout  # Redis answers a blocked XREAD within `block`
        backoff = 0.05
        deliver = self._deliver
        nodes = self._nodes
        conn = self._reader_conn = nodes.connection(nodes.node_of(key))
        while True:
            try:
                if conn is None:  # the node serving this stream may have changed (a cluster failover)
                    await nodes.refresh()
                    conn = self._reader_conn = nodes.connection(nodes.node_of(key))
                response = await _xread(conn, key, last, block, wait)
            except asyncio.CancelledError:
                raise
            except UNREACHABLE as exc:
                _cancelled_as_timeout()
                logger.debug('redis bus: reader lost Redis (%s); retrying', exc)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.disconnect()
                    if nodes.cluster:
                        conn = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            for entry_id, data, epoch in redis_wire.xread_entries(response):
                last = entry_id
                try:
                    sender, records = redis_wire.split_entry(data)
                    newest = seen.get(sender, 0)
                    for seq, message in records:
                        if seq <= newest:
                            continue  # a retried or resent copy
                        newest = seen[sender] = seq
                        try:
                            if epoch is not None and self._joined:
                                message = self._without_later_members(message, epoch)
                            deliver(message)
                        except Exception:
                            logger.exception('redis bus: a message could not be delivered; going on')
                except redis_wire.EntryError as exc:
                    logger.error('redis bus: skipped a malformed entry %s in %s: %s', entry_id, key, exc)
            position = self.read_position_key
            if position is not None and response:
                # After whatever delivering these entries wrote to the sessions' copies, in the same
                # list: on one Redis a position that arrived means the copies arrived before it.
                self.write_session(b'S', position, last, b'%d' % STREAM_TTL_MS)

    def _without_later_members(self, message: bytes, epoch: int) -> bytes:
        """The group envelope ``message``, excluding this worker's members that joined after ``epoch``."""
        joined = self._joined.get(envelope.group_name(message) or '')
        if not joined or next(reversed(joined.values())) <= epoch:
            return message
        later = []
        for connection_id, joined_at in reversed(joined.items()):
            if joined_at <= epoch:
                break
            later.append(connection_id)
        return envelope.exclude_more(message, later)

    # -- what sessions kept in Redis need (panther.session_mirror) ----------------------

    def write_session(self, verb: bytes, key: bytes, a: bytes = b'', b: bytes = b'') -> None:
        """Queue one write of a session's copy (a verb of ``session_write.lua``); never waits.

        The writes go in order, with the batch the writer ships at most ``SESSION_WRITE_DELAY``
        seconds later: a burst of them costs Redis one round trip, not one each.
        """
        ops = self.session_ops
        if not ops:
            self._session_wait()
        ops += (verb, key, a, b)

    def _session_wait(self) -> None:
        loop = asyncio.get_running_loop()
        self._session_due = loop.time() + SESSION_WRITE_DELAY
        loop.call_later(SESSION_WRITE_DELAY, self._wakeup.set)

    async def command(self, *args: bytes | str | int) -> Any:
        """Run one command now (a read, or a script on one hash slot) and return its reply."""
        name = args[0].decode() if isinstance(args[0], bytes) else args[0]  # the cluster client routes by a str
        try:
            return await self._redis.execute_command(name, *args[1:])
        except UNREACHABLE as exc:
            raise BusError(f'Redis at {self.where} is unreachable ({exc})') from None

    async def alive_for(self, worker_id: str) -> float:
        """Seconds left on ``worker_id``'s liveness key (0 when it has expired: the worker is gone)."""
        left = await self.command(b'PTTL', _alive(worker_id))
        return max(int(left), 0) / 1000

    def follow(self, worker_id: str, after: bytes, deliver: FollowDeliver) -> None:
        """Read the stream of the dead worker ``worker_id`` from entry ``after`` on, until :meth:`unfollow`.

        ``deliver(entry id, sender, sequence number, message)`` gets each message in stream
        order; a batch retried after an outage may come again with the same sender and number.
        Asked again for an earlier ``after``, it reads again from there. While it follows, this
        worker keeps the dead one's liveness key set, so group sends still reach that stream.
        """
        current = self._followers.get(worker_id)
        if current is not None:
            if entry_order(after) >= entry_order(self._follow_at[worker_id]):
                return
            current.cancel()
        self._follow_at[worker_id] = after
        self._followers[worker_id] = asyncio.get_running_loop().create_task(
            self._follow_loop(worker_id, after, deliver), name=f'panther-bus-follow-{worker_id}')

    def unfollow(self, worker_id: str) -> None:
        task = self._followers.pop(worker_id, None)
        self._follow_at.pop(worker_id, None)
        if task is not None:
            task.cancel()

    async def _follow_loop(self, worker_id: str, last: bytes, deliver: FollowDeliver) -> None:
        key = _stream(worker_id).encode()
        alive = _alive(worker_id)
        block = b'%d' % max(int(self.liveness_ttl * 1000 / 3), 1)
        nodes = self._nodes
        conn: Connection | None = None
        beat_at = 0.0
        try:
            while True:
                try:
                    now = time.monotonic()
                    if now - beat_at >= self.liveness_ttl / 3:
                        await self._redis.set(alive, b'1', px=int(self.liveness_ttl * 1000))
                        beat_at = now
                    if conn is None:
                        conn = nodes.connection(nodes.node_of(key))
                    response = await _xread(conn, key, last, block, self.liveness_ttl + self._timeout)
                except asyncio.CancelledError:
                    raise
                except UNREACHABLE as exc:
                    _cancelled_as_timeout()
                    logger.debug('redis bus: following %s lost Redis (%s); retrying', worker_id, exc)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.disconnect()
                        conn = None
                    await asyncio.sleep(0.1)
                    continue
                for entry_id, data, _epoch in redis_wire.xread_entries(response):
                    last = self._follow_at[worker_id] = entry_id
                    try:
                        sender, records = redis_wire.split_entry(data)
                        for seq, message in records:
                            try:
                                deliver(entry_id, sender, seq, message)
                            except Exception:
                                logger.exception('redis bus: a followed message could not be delivered')
                    except redis_wire.EntryError as exc:
                        logger.error('redis bus: skipped a malformed entry %s in %s: %s', entry_id, key, exc)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.disconnect()

    # -- liveness ----------------------------------------------------------------

    async def _beat(self) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(_alive(self.worker_id), b'1', px=int(self.liveness_ttl * 1000), get=True)
            pipe.pexpire(_stream(self.worker_id), STREAM_TTL_MS)
            previous, _ = await pipe.execute()
        if previous is None:
            await self._register_groups()

    async def _register_groups(self) -> None:
        """Write every local membership (after start, a Redis restart, or a stall past the TTL)."""
        groups = [(name, tuple(members)) for name, members in self._groups.items() if members]
        if not groups:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, members in groups:
                for i in range(0, len(members), 1000):
                    pipe.sadd(_members(name), *members[i:i + 1000])
                # Every current member joined by now: later group messages reach them all.
                pipe.hset(_workers(name), self.worker_id, self._epoch)
            await pipe.execute()
        logger.info('redis bus: registered %d group membership(s) of worker %s',
                    sum(len(m) for _, m in groups), self.worker_id)

    async def _heartbeat_loop(self) -> None:
        interval = self.liveness_ttl / 3
        while True:
            await asyncio.sleep(interval if self.connected else min(interval, 0.2))
            try:
                await self._beat()
                # On a cluster the heartbeat's master may be up while the writer's is not: then
                # the writer, not the heartbeat, says when Redis is back.
                if not (self._nodes.cluster and self._writer_fresh and self._queue):
                    self._back()
            except asyncio.CancelledError:
                raise
            except UNREACHABLE as exc:
                _cancelled_as_timeout()
                self._lost(exc)
            except Exception:
                logger.exception('redis bus: heartbeat failed; going on')

    # -- membership queries ----------------------------------------------------------

    async def group_members(self, name: str) -> list[str]:
        try:
            raw = await self._redis.smembers(_members(name))
            own = self._worker_bytes
            ids = [i for i in raw if not i.startswith(own)]
            workers = sorted({i[:WORKER_ID_LENGTH] for i in ids})
            if not workers:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for worker in workers:
                    pipe.exists(_alive(worker.decode()))
                alive = await pipe.execute()
        except UNREACHABLE as exc:
            raise BusError(f'group_members({name!r}) needs Redis at {self.where}, which is unreachable ({exc})') \
                from None
        dead = {w for w, flag in zip(workers, alive, strict=True) if not flag}
        if dead:
            gone = [i for i in ids if i[:WORKER_ID_LENGTH] in dead]
            with contextlib.suppress(*UNREACHABLE):
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.srem(_members(name), *gone)
                    pipe.hdel(_workers(name), *dead)
                    await pipe.execute()
        return [i.decode() for i in ids if i[:WORKER_ID_LENGTH] not in dead]
