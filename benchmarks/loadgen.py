"""WebSocket load generator driven by ``run.py``: one process, one event loop, picows.

Runs in ``benchmarks/.venv-load`` (picows, uvloop).  It talks to the runner with
JSON lines on stdout:

- ``{"event": "start"}`` / ``{"event": "end"}`` bracket the measured window, so
  the runner can read the server's CPU time at the same moments;
- ``{"event": "pause", "name": ...}`` means "sample the server now", and the
  load generator waits for one line on stdin before it goes on;
- the last line is ``{"event": "result", ...}`` (or ``{"event": "result",
  "error": ...}``).

Every phase is bounded in time; nothing here waits forever.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from picows import WSListener, WSMsgType, ws_connect

CONNECT_TIMEOUT = 30.0
#: ``--session``: every connection offers ``panther.v1`` and speaks it (docs/protocol.md).
SESSION = False
ACK_EVERY = 64  # a session client acknowledges after this many messages
DRAIN_TIMEOUT = 10.0
PAUSE_TIMEOUT = 120.0


def emit(event: str, **fields) -> None:
    print(json.dumps({'event': event, **fields}), flush=True)


def raise_fd_limit() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def latency_summary(samples_ns: list[int]) -> dict:
    """Percentiles in milliseconds, plus a 101-point curve for plots."""
    if not samples_ns:
        return {'count': 0}
    ordered = sorted(samples_ns)
    last = len(ordered) - 1

    def pct(p: float) -> float:
        return ordered[min(last, round(p / 100 * last))] / 1e6

    return {
        'count': len(ordered),
        'mean_ms': sum(ordered) / len(ordered) / 1e6,
        'p50_ms': pct(50),
        'p90_ms': pct(90),
        'p99_ms': pct(99),
        'p999_ms': pct(99.9),
        'max_ms': ordered[-1] / 1e6,
        'curve_ms': [pct(p) for p in range(101)],
    }


class CpuWindow:
    """This process's CPU use (user + system) over a wall-clock window."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = self._cpu_now()

    @staticmethod
    def _cpu_now() -> float:
        times = os.times()
        return times.user + times.system

    def stop(self) -> dict:
        wall = time.perf_counter() - self._wall
        cpu = self._cpu_now() - self._cpu
        return {'wall_s': wall, 'cpu_s': cpu, 'cpu_percent': 100 * cpu / wall if wall else 0.0}


def _mark_retrieved(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class Deflate:
    """permessage-deflate (RFC 7692) for one client connection, as browsers negotiate it.

    picows has no extensions of its own; this is the client half with zlib: raw
    deflate, sync flush without its 4-byte tail, RSV1 set on compressed frames,
    context kept between messages unless the server asked for
    ``client_no_context_takeover``.
    """

    OFFER = 'permessage-deflate'

    def __init__(self, response_header: str) -> None:
        params = {p.strip().split('=')[0] for p in response_header.split(';')[1:]}
        self.reset_each_message = 'client_no_context_takeover' in params
        self._compressor = zlib.compressobj(wbits=-15)
        self._decompressor = zlib.decompressobj(wbits=-15)

    def compress(self, payload: bytes) -> bytes:
        data = self._compressor.compress(payload) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if self.reset_each_message:
            self._compressor = zlib.compressobj(wbits=-15)
        return data[:-4]  # the sync flush's 00 00 ff ff, which the receiver adds back

    def decompress(self, payload: bytes) -> bytes:
        return self._decompressor.decompress(payload + b'\x00\x00\xff\xff')


class Conn(WSListener):
    """One client connection; the first data frame resolves ``first``."""

    def __init__(self) -> None:
        self.deflate: Deflate | None = None
        self.transport = None
        self.first: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.on_message: Callable[[Conn, bytes], None] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent_at = 0
        self.first.add_done_callback(_mark_retrieved)
        self.session = SESSION
        self.seq = 0

    def on_ws_connected(self, transport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport, frame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            payload = frame.get_payload_as_bytes()
            if frame.rsv1:
                payload = self.deflate.decompress(payload)
            if self.session:
                if kind is WSMsgType.TEXT:
                    if payload[:1] == b'{':
                        return  # the welcome: a control frame
                    payload = payload[payload.index(b':') + 1:]
                else:
                    payload = payload[8:]
                self.seq += 1
                if self.seq % ACK_EVERY == 0:
                    transport.send(WSMsgType.TEXT, b'A%d' % self.seq)
            self.deliver(payload)
        elif kind is WSMsgType.CLOSE and not transport.is_close_frame_sent:
            # Reply and let the server drop TCP first (RFC 6455 section 7.1.1), so the
            # TIME_WAIT sockets stay on the server side and client ports stay free.
            transport.send_close(frame.get_close_code())

    def deliver(self, payload: bytes) -> None:
        """One application message: to ``on_message``, or the first one to ``first``."""
        if self.on_message is not None:
            self.on_message(self, payload)
        elif not self.first.done():
            self.first.set_result(payload)

    def on_ws_disconnected(self, transport) -> None:
        if not self.first.done():
            self.first.set_exception(ConnectionError('closed before the first message'))
        if not self.closed.done():
            self.closed.set_result(None)

    def send_text(self, payload: bytes) -> None:
        if self.session:
            payload = b'D' + payload
        if self.deflate is None:
            self.transport.send(WSMsgType.TEXT, payload)
        else:
            self.transport.send(WSMsgType.TEXT, self.deflate.compress(payload), rsv1=True)


class SocketIOConn(Conn):
    """Socket.IO (protocol v5) over Engine.IO v4 on the WebSocket transport alone (no long-polling first).

    Opens ``/socket.io/?EIO=4&transport=websocket``; on the Engine.IO open
    packet (``0{...}``) it sends the Socket.IO connect to the default namespace
    with ``{"route": <route>}`` as its auth payload, which tells the server app
    what this connection is for (the last segment of the plain-WebSocket URL:
    ``echo``, ``relay``, ``listen``, ``shout``); ``connected`` resolves on the
    server's ``40{...}``.  Every application message goes out as the event named
    after the route, ``42["<route>",<data>]`` (a payload that is a JSON object is
    sent as that object, anything else as a string), and every event the server
    emits, ``42["<name>",<data>]``, is delivered as ``<data>``.  Engine.IO pings
    (``2``) are answered with pongs (``3``) at once.
    """

    def __init__(self, route: str) -> None:
        super().__init__()
        self.route = route
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.connected.add_done_callback(_mark_retrieved)
        self._prefix = b'42' + json.dumps([route]).encode()[:-1] + b','
        self._frames: dict[bytes, bytes] = {}

    def on_ws_frame(self, transport, frame) -> None:
        kind = frame.msg_type
        if kind is not WSMsgType.TEXT:
            super().on_ws_frame(transport, frame)
            return
        packet = frame.get_payload_as_bytes()
        if packet.startswith(b'42'):
            data = json.loads(packet[2:])[1]
            self.deliver(data.encode() if isinstance(data, str) else json.dumps(data).encode())
        elif packet == b'2':
            transport.send(WSMsgType.TEXT, b'3')
        elif packet.startswith(b'0'):
            auth = json.dumps({'route': self.route}).encode()
            transport.send(WSMsgType.TEXT, b'40' + auth)
        elif packet.startswith(b'40'):
            if not self.connected.done():
                self.connected.set_result(None)
        elif packet.startswith(b'44') and not self.connected.done():
            self.connected.set_exception(ConnectionError(f'Socket.IO connect refused: {packet[:80]!r}'))

    def on_ws_disconnected(self, transport) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError('closed before the Socket.IO connect'))
        super().on_ws_disconnected(transport)

    def send_text(self, payload: bytes) -> None:
        frame = self._frames.get(payload)
        if frame is None:
            data = payload if payload.startswith(b'{') else json.dumps(payload.decode()).encode()
            frame = self._frames[payload] = self._prefix + data + b']'
        self.transport.send(WSMsgType.TEXT, frame)


def _source_addresses(count: int):
    """Cycle client source addresses over 127.0.1.1 .. so 4-tuples rarely repeat.

    At hundreds of handshakes per second one client address soon reuses ports
    whose previous connection is still in TIME_WAIT on the server; Linux then
    delays the new SYN.  Every address here is loopback.
    """
    return itertools.cycle(f'127.0.{1 + i // 254}.{1 + i % 254}' for i in range(max(1, count)))


SOURCES = _source_addresses(64)


# 'ws' (plain WebSocket, the URL's path picks the endpoint) or 'socketio' (set by --protocol)
PROTOCOL = 'ws'


async def open_socketio(url: str) -> SocketIOConn:
    """A Socket.IO connection for the endpoint ``url`` names (see SocketIOConn)."""
    split = urlsplit(url)
    route = split.path.rstrip('/').rsplit('/', 1)[-1]
    endpoint = urlunsplit((split.scheme, split.netloc, '/socket.io/', 'EIO=4&transport=websocket', ''))
    transport, conn = await ws_connect(
        lambda: SocketIOConn(route),
        endpoint,
        websocket_handshake_timeout=CONNECT_TIMEOUT,
        local_addr=(next(SOURCES), 0),
    )
    try:
        await asyncio.wait_for(asyncio.shield(conn.connected), CONNECT_TIMEOUT)
    except BaseException:
        transport.disconnect(graceful=False)
        raise
    return conn


async def open_one(url: str, deflate: bool = False) -> Conn:
    if PROTOCOL == 'socketio':
        if deflate:
            raise RuntimeError('--deflate is not supported with --protocol socketio')
        return await open_socketio(url)
    transport, conn = await ws_connect(
        Conn,
        url,
        websocket_handshake_timeout=CONNECT_TIMEOUT,
        local_addr=(next(SOURCES), 0),
        extra_headers={**({'Sec-WebSocket-Extensions': Deflate.OFFER} if deflate else {}),
                       **({'Sec-WebSocket-Protocol': 'panther.v1'} if SESSION else {})} or None,
    )
    if SESSION and transport.response.headers.get('Sec-WebSocket-Protocol') != 'panther.v1':
        transport.disconnect()
        raise RuntimeError('the server did not choose the panther.v1 subprotocol')
    if deflate:
        accepted = transport.response.headers.get('Sec-WebSocket-Extensions', '')
        if not accepted.startswith('permessage-deflate'):
            transport.disconnect()
            raise RuntimeError(f'the server did not accept permessage-deflate (answered {accepted!r})')
        conn.deflate = Deflate(accepted)
    return conn


async def open_many(url: str, count: int, concurrency: int, deflate: bool = False) -> list[Conn]:
    gate = asyncio.Semaphore(concurrency)

    async def guarded() -> Conn:
        async with gate:
            return await open_one(url, deflate)

    return list(await asyncio.gather(*(guarded() for _ in range(count))))


async def first_messages(conns: list[Conn]) -> list[bytes]:
    return list(await asyncio.wait_for(asyncio.gather(*(c.first for c in conns)), CONNECT_TIMEOUT))


async def close_all(conns: list[Conn]) -> None:
    for conn in conns:
        if conn.transport is not None and not conn.closed.done():
            with contextlib.suppress(Exception):
                conn.transport.send_close()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in conns)), DRAIN_TIMEOUT)
    for conn in conns:
        if not conn.closed.done():
            conn.transport.disconnect(graceful=False)


async def pause(name: str) -> None:
    emit('pause', name=name)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), PAUSE_TIMEOUT)


async def closed_loop(
    senders: list[Conn],
    receivers: list[Conn],
    payloads: list[bytes],
    warmup: float,
    duration: float,
    marks: bool = True,
) -> dict:
    """Each sender sends, waits until its receiver got the message, sends again.

    ``receivers[i]`` gets what ``senders[i]`` sends (the same connection for echo).
    Latencies are recorded only inside the measured window. ``marks=False``
    leaves the start/end events to a caller that measures several loops as one window.
    """
    measuring = False
    stopping = False
    samples: list[int] = []
    in_flight = len(senders)
    drained = asyncio.get_running_loop().create_future()
    partner = {id(r): (s, p) for s, r, p in zip(senders, receivers, payloads, strict=True)}

    def on_message(receiver: Conn, _payload: bytes) -> None:
        nonlocal in_flight
        now = time.perf_counter_ns()
        sender, payload = partner[id(receiver)]
        if measuring:
            samples.append(now - sender.sent_at)
        if stopping:
            in_flight -= 1
            if in_flight == 0 and not drained.done():
                drained.set_result(None)
            return
        sender.sent_at = time.perf_counter_ns()
        sender.send_text(payload)

    for receiver in receivers:
        receiver.on_message = on_message
    for sender, payload in zip(senders, payloads, strict=True):
        sender.sent_at = time.perf_counter_ns()
        sender.send_text(payload)

    await asyncio.sleep(warmup)
    measuring = True
    if marks:
        emit('start')
    cpu = CpuWindow()
    await asyncio.sleep(duration)
    measuring = False
    window = cpu.stop()
    if marks:
        emit('end')
    stopping = True
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(drained, DRAIN_TIMEOUT)
    return {
        'messages': len(samples),
        'msgs_per_s': len(samples) / window['wall_s'],
        'latency': latency_summary(samples),
        'loadgen_cpu': window,
    }


async def scenario_echo(args) -> dict:
    conns = await open_many(args.url, args.connections, args.concurrency, args.deflate)
    payload = b'x' * args.size
    conns[0].send_text(payload)  # one checked round trip first: the codec and the echo work
    echoed = await asyncio.wait_for(conns[0].first, CONNECT_TIMEOUT)
    if echoed != payload:
        raise RuntimeError(f'the echo answered {echoed[:60]!r} to {payload[:60]!r}')
    result = await closed_loop(conns, conns, [payload] * len(conns), args.warmup, args.duration)
    await close_all(conns)
    return {'connections': len(conns), 'size': args.size, 'deflate': args.deflate, **result}


async def scenario_relay(args) -> dict:
    conns = await open_many(args.url, 2 * args.pairs, args.concurrency)
    ids = [raw.decode() for raw in await first_messages(conns)]
    senders, receivers = conns[: args.pairs], conns[args.pairs :]
    body = 'x' * args.size
    payloads = [
        json.dumps({'to': ids[args.pairs + i], 'data': body}).encode() for i in range(args.pairs)
    ]
    result = await closed_loop(senders, receivers, payloads, args.warmup, args.duration)
    await close_all(conns)
    return {'pairs': args.pairs, 'size': args.size, **result}


async def scenario_echo_relay(args) -> dict:
    """Echo and relay phases taking turns against one server process.

    Both loops run on the same server, connections and moment, so their ratio is
    free of the run-to-run noise two separate scenario runs carry. The order
    alternates every round (echo, relay, relay, echo, ...) so a drift over the
    run favours neither. ``url`` is the server root; it serves ``/ws/echo`` and
    ``/ws/relay`` (first frame: the connection id).
    """
    echo = await open_many(f'{args.url}/ws/echo', args.connections, args.concurrency)
    relay = await open_many(f'{args.url}/ws/relay', 2 * args.pairs, args.concurrency)
    ids = [raw.decode() for raw in await first_messages(relay)]
    senders, receivers = relay[: args.pairs], relay[args.pairs :]
    body = 'x' * args.size
    relay_payloads = [
        json.dumps({'to': ids[args.pairs + i], 'data': body}).encode() for i in range(args.pairs)
    ]
    loops = {
        'echo': (echo, echo, [body.encode()] * len(echo)),
        'relay': (senders, receivers, relay_payloads),
    }
    phases: dict[str, list[dict]] = {'echo': [], 'relay': []}
    emit('start')
    cpu = CpuWindow()
    for round_no in range(args.rounds):
        for name in ('echo', 'relay') if round_no % 2 == 0 else ('relay', 'echo'):
            result = await closed_loop(*loops[name], args.warmup, args.duration, marks=False)
            phases[name].append(
                {'msgs_per_s': result['msgs_per_s'], 'p50_ms': result['latency'].get('p50_ms')}
            )
    window = cpu.stop()
    emit('end')
    await close_all(echo + relay)
    echo_rates = [p['msgs_per_s'] for p in phases['echo']]
    relay_rates = [p['msgs_per_s'] for p in phases['relay']]
    echo_rate, relay_rate = statistics.median(echo_rates), statistics.median(relay_rates)
    return {
        'connections': len(echo),
        'pairs': args.pairs,
        'size': args.size,
        'phase_s': args.duration,
        'rounds': args.rounds,
        'phases': phases,
        'echo_msgs_per_s': echo_rate,
        'relay_msgs_per_s': relay_rate,
        'relay_vs_echo': relay_rate / echo_rate if echo_rate else None,
        'round_ratios': [r / e for r, e in zip(relay_rates, echo_rates, strict=True) if e],
        'loadgen_cpu': window,
    }


async def open_across_workers(args) -> tuple[list[Conn], list[Conn], list[str], dict]:
    """Pairs whose sender and receiver live on different server workers, in a ring over ``args.workers``.

    Each connection's first frame is ``<worker pid> <connection id>``.  The
    kernel decides which worker accepts a connection, so connections are opened
    in batches until ``args.workers`` workers hold enough each (at most
    ``max_connections``).  Pair i sends from the i-th of those workers (modulo
    their count) to the next one, so every worker sends and receives; with one
    worker both ends live on it.  Connections not needed are closed before the
    measurement.
    """
    ring = args.workers
    by_worker: dict[str, list[tuple[Conn, str]]] = {}
    opened: list[Conn] = []
    # each worker is the sender of ceil(pairs / ring) pairs and the receiver of as many
    needed = 2 * -(-args.pairs // ring)

    def busiest() -> list[str]:
        return sorted(by_worker, key=lambda w: len(by_worker[w]), reverse=True)[:ring]

    while True:
        batch = await open_many(args.url, args.pairs, args.concurrency)
        opened += batch
        for conn, raw in zip(batch, await first_messages(batch), strict=True):
            worker, _, connection_id = raw.decode().partition(' ')
            if not connection_id:
                raise RuntimeError(f'first frame {raw[:60]!r} is not "<worker> <connection id>"')
            by_worker.setdefault(worker, []).append((conn, connection_id))
        top = busiest()
        if len(top) == ring and all(len(by_worker[w]) >= needed for w in top):
            break
        if len(opened) >= args.max_connections:
            counts = {w: len(c) for w, c in by_worker.items()}
            raise RuntimeError(
                f'{len(opened)} connections opened, per worker {counts}: '
                f'not {needed} on each of {ring} worker(s)'
            )
    workers = busiest()
    spare = {w: iter(by_worker[w]) for w in workers}
    senders, receivers, ids, used = [], [], [], set()
    for i in range(args.pairs):
        sender, _ = next(spare[workers[i % ring]])
        receiver, receiver_id = next(spare[workers[(i + 1) % ring]])
        senders.append(sender)
        receivers.append(receiver)
        ids.append(receiver_id)
        used.update((id(sender), id(receiver)))
    await close_all([c for c in opened if id(c) not in used])
    layout = {
        'connections_opened': len(opened),
        'per_worker_opened': {w: len(c) for w, c in by_worker.items()},
        'pair_workers': workers,
    }
    return senders, receivers, ids, layout


async def scenario_relay_workers(args) -> dict:
    senders, receivers, ids, layout = await open_across_workers(args)
    body = 'x' * args.size
    payloads = [json.dumps({'to': to, 'data': body}).encode() for to in ids]
    result = await closed_loop(senders, receivers, payloads, args.warmup, args.duration)
    await close_all([*senders, *receivers])
    return {'pairs': args.pairs, 'size': args.size, 'cross_worker': args.workers > 1, **layout, **result}


async def scenario_broadcast(args) -> dict:
    listen_url = args.url.rstrip('/') + '/ws/listen'
    shout_url = args.url.rstrip('/') + '/ws/shout'
    if args.pauses:
        await pause('joining')
    listeners = await open_many(listen_url, args.receivers, args.concurrency)
    readies = await first_messages(listeners)
    if any(not r.startswith(b'ready') for r in readies):
        raise RuntimeError('a receiver did not get "ready" first')
    if args.pauses:
        await pause('joined')
    # 'ready <worker pid>' (apps/panther_scaling.py) tells how the kernel spread the receivers
    per_worker: dict[str, int] = {}
    for ready in readies:
        worker = ready[6:].decode() or '?'
        per_worker[worker] = per_worker.get(worker, 0) + 1
    shouter = await open_one(shout_url)

    expected = b''
    arrivals: list[int] = []
    round_done: asyncio.Future[None] | None = None

    def on_message(_conn: Conn, payload: bytes) -> None:
        if payload == expected:
            arrivals.append(time.perf_counter_ns())
            if len(arrivals) == len(listeners) and round_done is not None:
                if not round_done.done():
                    round_done.set_result(None)

    for conn in listeners:
        conn.on_message = on_message

    rounds: list[dict] = []
    complete_ns: list[int] = []
    cpu = None
    error = None
    budget_ends = None
    for number in range(args.warmup_rounds + args.rounds):
        if number == args.warmup_rounds:
            if args.pauses:  # unlike start/end, a pause is answered before the first measured send
                await pause('rounds-start')
            emit('start')
            cpu = CpuWindow()
            budget_ends = time.monotonic() + args.budget
        elif budget_ends is not None and time.monotonic() > budget_ends and len(rounds) >= 3:
            break
        expected = f'round-{number:06d}'.ljust(args.size, '.').encode()
        arrivals = []
        round_done = asyncio.get_running_loop().create_future()
        started = time.perf_counter_ns()
        shouter.send_text(expected)
        try:
            await asyncio.wait_for(round_done, args.round_timeout)
        except TimeoutError:
            error = (
                f'round {number}: {len(arrivals)} of {len(listeners)} receivers '
                f'got the message within {args.round_timeout}s'
            )
            break
        if number >= args.warmup_rounds:
            spread = [t - started for t in arrivals]
            complete_ns.append(spread[-1])
            rounds.append(
                {
                    'first_ms': spread[0] / 1e6,
                    'median_ms': spread[len(spread) // 2] / 1e6,
                    'last_ms': spread[-1] / 1e6,
                }
            )
        await asyncio.sleep(args.gap)
    window = cpu.stop() if cpu else None
    emit('end')
    if args.pauses and cpu:
        await pause('rounds-end')
    presence = await presence_queries(shouter, args.presence_queries) if args.presence_queries and not error else None
    await close_all([shouter])
    await close_all(listeners)
    if args.pauses:
        await asyncio.sleep(1)  # the leaves reach Redis after the close frames
        await pause('left')
    result = {
        'receivers': len(listeners),
        'receivers_per_worker': per_worker,
        'presence': presence,
        'rounds_done': len(rounds),
        'round_complete': latency_summary(complete_ns),
        'rounds': rounds,
        'loadgen_cpu': window,
    }
    if rounds:
        last = sorted(r['last_ms'] for r in rounds)
        result['deliveries_per_s'] = len(listeners) / (last[len(last) // 2] / 1e3)
    if error:
        result['error'] = error
    return result


async def presence_queries(shouter: Conn, count: int) -> dict:
    """``count`` presence queries, one after the other: the app answers ``members?`` with the group's size."""
    answered: asyncio.Future[bytes] | None = None

    def on_message(_conn: Conn, payload: bytes) -> None:
        if answered is not None and not answered.done():
            answered.set_result(payload)

    shouter.on_message = on_message
    samples, sizes = [], set()
    await pause('presence-start')
    for _ in range(count):
        answered = asyncio.get_running_loop().create_future()
        started = time.perf_counter_ns()
        shouter.send_text(b'members?')
        sizes.add(int(await asyncio.wait_for(answered, CONNECT_TIMEOUT)))
        samples.append(time.perf_counter_ns() - started)
    await pause('presence-end')
    return {'queries': count, 'members_seen': sorted(sizes), 'latency': latency_summary(samples)}


async def scenario_idle(args) -> dict:
    warm = await open_many(args.url, 10, 10)
    await echo_once(warm)
    await close_all(warm)
    await asyncio.sleep(1)
    await pause('baseline')
    started = time.perf_counter()
    conns = await open_many(args.url, args.connections, args.concurrency)
    await echo_once(conns)
    opened_s = time.perf_counter() - started
    await asyncio.sleep(args.settle)
    await pause('loaded')
    if args.detach:
        # Drop every TCP connection without a close frame: the server keeps each session detached.
        for conn in conns:
            conn.transport.disconnect(graceful=False)
        await asyncio.sleep(args.settle)
        await pause('detached')
        return {'connections': len(conns), 'open_seconds': opened_s}
    await close_all(conns)
    return {'connections': len(conns), 'open_seconds': opened_s}


async def echo_once(conns: list[Conn]) -> None:
    for conn in conns:
        conn.send_text(b'hello')
    await first_messages(conns)


async def scenario_handshakes(args) -> dict:
    measuring = False
    stop = False
    samples: list[int] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while not stop:
            started = time.perf_counter_ns()
            try:
                conn = await open_one(args.url)
            except Exception:
                failures += 1
                await asyncio.sleep(0.01)
                continue
            if measuring:
                samples.append(time.perf_counter_ns() - started)
            conn.transport.send_close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(conn.closed, DRAIN_TIMEOUT)
            if not conn.closed.done():
                conn.transport.disconnect(graceful=False)

    workers = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
    await asyncio.sleep(args.warmup)
    measuring = True
    emit('start')
    cpu = CpuWindow()
    await asyncio.sleep(args.duration)
    measuring = False
    window = cpu.stop()
    emit('end')
    stop = True
    await asyncio.wait_for(asyncio.gather(*workers), CONNECT_TIMEOUT + DRAIN_TIMEOUT)
    return {
        'concurrency': args.concurrency,
        'handshakes': len(samples),
        'handshakes_per_s': len(samples) / window['wall_s'],
        'failures': failures,
        'latency': latency_summary(samples),
        'loadgen_cpu': window,
    }


SCENARIOS = {
    'echo': scenario_echo,
    'relay': scenario_relay,
    'relay-workers': scenario_relay_workers,
    'echo-relay': scenario_echo_relay,
    'broadcast': scenario_broadcast,
    'idle': scenario_idle,
    'handshakes': scenario_handshakes,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('scenario', choices=sorted(SCENARIOS))
    parser.add_argument('url', help='ws:// URL (for broadcast: the server root)')
    parser.add_argument('--connections', type=int, default=50)
    parser.add_argument('--pairs', type=int, default=25)
    parser.add_argument(
        '--max-connections', type=int, default=500, help='relay-workers: give up after this many'
    )
    parser.add_argument('--receivers', type=int, default=1000)
    parser.add_argument('--workers', type=int, default=2,
                        help='relay-workers: pairs form a ring over this many workers (1: same worker)')
    parser.add_argument('--pauses', action='store_true',
                        help='broadcast: pause before and after the receivers join, around the measured rounds, '
                             'and after the receivers left')
    parser.add_argument('--presence-queries', type=int, default=0,
                        help='broadcast: then ask the shout endpoint for the group size this many times')
    parser.add_argument('--size', type=int, default=32, help='message size in bytes')
    parser.add_argument('--warmup', type=float, default=2.0)
    parser.add_argument('--duration', type=float, default=10.0)
    parser.add_argument('--rounds', type=int, default=20)
    parser.add_argument('--warmup-rounds', type=int, default=2)
    parser.add_argument('--round-timeout', type=float, default=30.0)
    parser.add_argument(
        '--budget', type=float, default=60.0, help='broadcast: no new round after this (s)'
    )
    parser.add_argument('--gap', type=float, default=0.05, help='pause between rounds (s)')
    parser.add_argument('--settle', type=float, default=2.0)
    parser.add_argument('--concurrency', type=int, default=100)
    parser.add_argument('--session', action='store_true', help='offer and speak panther.v1 (resumable sessions)')
    parser.add_argument('--detach', action='store_true',
                        help='idle: drop the connections after the loaded sample and sample again')
    parser.add_argument(
        '--deflate', action='store_true', help='echo: negotiate permessage-deflate, as browsers do'
    )
    parser.add_argument(
        '--protocol',
        choices=['ws', 'socketio'],
        default='ws',
        help='socketio: speak Socket.IO v5 over Engine.IO v4 (python-socketio servers)',
    )
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> dict:
    global SESSION
    SESSION = args.session
    return await SCENARIOS[args.scenario](args)


def main() -> None:
    global PROTOCOL
    args = parse_args()
    PROTOCOL = args.protocol
    fd_limit = raise_fd_limit()
    try:
        import uvloop

        runner = uvloop.run
        loop_name = 'uvloop'
    except ImportError:
        runner = asyncio.run
        loop_name = 'asyncio'
    try:
        result = runner(amain(args))
    except Exception as exc:
        emit('result', error=f'{type(exc).__name__}: {exc}')
        sys.exit(1)
    emit('result', loop=loop_name, fd_limit=fd_limit, **result)


if __name__ == '__main__':
    main()
