"""The ``scaling`` scenario: how the cost of a message grows with workers and with the Redis topology.

For each backend (one ``redis-server``; a Redis Cluster of 3 masters and 3
replicas) and each worker count (1, 2, 4 by default) it starts one Redis, one
``uvicorn --workers N`` serving ``apps/panther_scaling.py``, and measures in turn:

1. idle: what Redis does with no load (heartbeats, blocked reads), to subtract;
2. relay: closed-loop targeted sends in a ring over the N workers (sender on one
   worker, receiver on the next; with one worker both ends share it, and the
   send never reaches Redis), with many messages in flight, then with one per
   worker (which the bus's writer cannot batch);
3. broadcast to each group size: joins, rounds of one group send, presence
   queries (``group_members``), leaves.

Around every window it reads ``INFO all`` of every Redis node and the workers'
CPU time, so each figure comes out per message: Redis commands (by command),
Redis CPU, bytes on Redis's sockets, workers' CPU. Then, per backend, 20,000
idle connections over 4 workers for the memory per connection.

Every process of the server side (workers, Redis nodes) shares CPU 0 and the load
generators CPU 1: four workers on one core measure what a message costs, not
how fast four cores would go. CPU-seconds per message are the figures that
carry over to a bigger machine.

``scaling-doc`` turns ``results/scaling.json`` into ``docs/scaling.md`` and the
README's table (between its ``scaling`` markers), without running anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import run as bench

APP = 'panther_scaling'
COMMANDS = ('scaling', 'scaling-doc')
RESULTS_NAME = 'scaling.json'
ROOT = bench.BENCH_DIR.parent
# One load generator holds at most this many connections (the open-files limit is 20,000).
PER_LOADGEN = 10_000


# --------------------------------------------------------------------------- measuring Redis


_INFO = b'*2\r\n$4\r\nINFO\r\n$3\r\nall\r\n'


class RedisNode:
    """One Redis node read with ``INFO all`` over a socket of its own.

    One command per reading, whose exact size on the wire is known, so what the
    readings themselves cost Redis can be taken off: their bytes (counted here)
    and the time Redis spent in INFO (its ``cmdstat_info``).
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((bench.HOST, port), timeout=10)
        self.file = self.sock.makefile('rb')
        # Bytes of readings Redis had counted when it answered the last one: all the commands
        # so far, and the replies to all but the last (that one is written after the count).
        self.asked = self.answered = 0
        self._pending_reply = 0
        self.master = self.info().get('role') == 'master'

    def info(self) -> dict[str, str]:
        self.sock.sendall(_INFO)
        self.asked += len(_INFO)
        self.answered += self._pending_reply
        header = self.file.readline()
        if not header.startswith(b'$'):
            raise RuntimeError(f'INFO answered {header[:80]!r}')
        body = self.file.read(int(header[1:]) + 2)
        self._pending_reply = len(header) + len(body)
        return dict(line.split(':', 1) for line in body.decode().splitlines() if ':' in line)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _calls(stats: str) -> tuple[int, int]:
    """(calls, usec) of one ``cmdstat_<name>`` line's value."""
    parts = dict(item.split('=') for item in stats.split(','))
    return int(parts['calls']), int(parts['usec'])


class RedisProbe:
    """Counters of a Redis deployment and of the server's workers, read at one moment.

    Commands, bytes and memory are summed over the masters (replicas only apply
    what their master already counted); CPU time comes from Redis's own rusage
    (to the microsecond; /proc counts 10 ms ticks), masters and replicas apart.
    """

    def __init__(self, ports: list[int], server: bench.Server) -> None:
        self.server = server
        nodes = [RedisNode(port) for port in ports]
        self.masters = [n for n in nodes if n.master]
        self.replicas = [n for n in nodes if not n.master]

    def __call__(self) -> dict:
        reading: dict = {'time': time.monotonic()}
        for role, nodes in (('redis', self.masters), ('replica', self.replicas)):
            for node in nodes:
                fields = node.info()
                info_usec = 0
                if role == 'redis':
                    for name, value in fields.items():
                        if name.startswith('cmdstat_'):
                            calls, usec = _calls(value)
                            command = name.removeprefix('cmdstat_')
                            if command == 'info':
                                info_usec = usec
                            else:
                                _add(reading, f'cmd:{command}', calls)
                    for key, field in (('net_in', 'total_net_input_bytes'), ('net_out', 'total_net_output_bytes'),
                                       ('repl_out', 'total_net_repl_output_bytes'), ('used_memory', 'used_memory')):
                        _add(reading, key, int(fields.get(field, 0)))
                    _add(reading, 'probe_in', node.asked)
                    _add(reading, 'probe_out', node.answered)
                    _add(reading, 'info_cpu_s', info_usec / 1e6)
                cpu = float(fields['used_cpu_user']) + float(fields['used_cpu_sys'])
                _add(reading, f'{role}_cpu_s', cpu)
        reading['workers_cpu_s'] = bench.cpu_seconds(self.server.pid)
        reading['workers'] = _workers(self.server.pid)
        return reading

    def close(self) -> None:
        for node in self.masters + self.replicas:
            node.close()


def _add(reading: dict, key: str, value: float) -> None:
    reading[key] = reading.get(key, 0) + value


def _workers(root: int) -> dict[str, dict]:
    """RSS and open sockets of each process of the server (the supervisor too, when there is one)."""
    found = {}
    for pid in bench._proc_tree(root):
        with contextlib.suppress(OSError):
            fds = os.listdir(f'/proc/{pid}/fd')
            sockets = sum(1 for fd in fds if os.readlink(f'/proc/{pid}/fd/{fd}').startswith('socket:'))
            found[str(pid)] = {'rss_kib': bench.rss_kib(pid), 'sockets': sockets}
    return found


def _window(before: dict, after: dict) -> dict:
    """How much each counter moved between two readings, less what the readings themselves cost."""
    delta = {key: value - before.get(key, 0) for key, value in after.items()
             if isinstance(value, int | float) and key != 'time'}
    # the readings' own bytes (RedisNode counts them) and time (Redis counts it as cmdstat_info)
    delta['net_out'] = delta.get('net_out', 0) - delta.pop('probe_out', 0)
    delta['net_in'] = delta.get('net_in', 0) - delta.pop('probe_in', 0)
    delta['redis_cpu_s'] = delta.get('redis_cpu_s', 0) - delta.pop('info_cpu_s', 0)
    return delta


def idle_rates(probe: RedisProbe, seconds: float) -> dict:
    """Redis's counters per second with no load: the heartbeats and the blocked reads' time-outs."""
    before = probe()
    time.sleep(seconds)
    after = probe()
    wall = after['time'] - before['time']
    return {key: value / wall for key, value in _window(before, after).items()}


def per_event(before: dict, after: dict, count: int, idle: dict) -> dict:
    """What happened between two readings, less what the idle rates account for, per one of ``count`` events."""
    wall = after['time'] - before['time']
    out: dict = {'events': count, 'wall_s': wall}
    if not count:
        return out
    commands = {}
    for key, value in _window(before, after).items():
        if key == 'used_memory':  # memory is a level, not a rate: nothing idle to take off
            out['used_memory_bytes'] = value / count
            continue
        net = max(0.0, value - idle.get(key, 0.0) * wall) / count
        if key.startswith('cmd:'):
            if net:
                commands[key[4:]] = net
        else:
            out[key] = net
    out['commands'] = dict(sorted(commands.items(), key=lambda item: -item[1]))
    out['commands_total'] = sum(commands.values())
    return out


# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def redis_backend(kind: str):
    """(environment for the app, the port of every Redis node) for ``redis`` or ``cluster``."""
    if kind == 'redis':
        with bench.RedisServer() as server:
            yield {'BENCH_REDIS_PORT': str(server.port)}, [server.port]
    else:
        with bench._redis_cluster() as cluster:
            yield ({'BENCH_REDIS_PORT': str(cluster.port), 'BENCH_REDIS_CLUSTER': '1'},
                   [node.port for node in cluster.nodes])


def _loadgen(server: bench.Server, args: list[str], timeout: float, probe: RedisProbe) -> dict:
    raw = bench.run_loadgen(server, args, timeout, probe=probe)
    raw['loadgen_args'] = args
    if raw.get('error'):
        raise RuntimeError(raw['error'])
    return raw


def measure_relay(server: bench.Server, opts, workers: int, pairs: int, probe: RedisProbe, idle: dict) -> dict:
    args = ['relay-workers', f'{server.url}/ws/relay', '--workers', str(workers), '--pairs', str(pairs),
            '--size', str(opts.size), '--warmup', str(opts.warmup), '--duration', str(opts.duration),
            '--max-connections', str(opts.max_connections)]
    raw = _loadgen(server, args, 180 + opts.warmup + opts.duration, probe)
    probes = raw['probes']
    messages = raw['messages']
    cost = per_event(probes['start'], probes['end'], messages, idle)
    return {
        'same_worker': workers == 1,
        'in_flight': pairs,
        'msgs_per_s': raw['msgs_per_s'],
        'p50_ms': raw['latency'].get('p50_ms'),
        'p99_ms': raw['latency'].get('p99_ms'),
        'workers_cpu_s_per_msg': raw['server_cpu']['cpu_s'] / messages if messages else None,
        'redis': cost,
        'background_cpu_percent': raw.get('background_cpu_percent'),
        'raw': _trim(raw),
    }


def measure_broadcast(server: bench.Server, opts, receivers: int, probe: RedisProbe, idle: dict) -> dict:
    args = ['broadcast', server.url, '--receivers', str(receivers), '--size', str(opts.size),
            '--rounds', str(opts.rounds), '--warmup-rounds', str(opts.warmup_rounds),
            '--round-timeout', str(opts.round_timeout), '--budget', str(opts.budget),
            '--pauses', '--presence-queries', str(opts.presence_queries)]
    timeout = 300 + (opts.warmup_rounds + 2) * opts.round_timeout + opts.budget
    raw = _loadgen(server, args, timeout, probe)
    probes = raw['probes']
    rounds = raw['rounds_done']
    presence = raw.get('presence') or {}
    left_from = probes.get('presence-end', probes['rounds-end'])
    # between two pauses, which the load generator waits on: start/end marks come a moment late
    rounds_cost = per_event(probes['rounds-start'], probes['rounds-end'], rounds, idle)
    return {
        'receivers': receivers,
        'receivers_per_worker': raw.get('receivers_per_worker'),
        'rounds': rounds,
        'p50_ms': raw['round_complete'].get('p50_ms'),
        'p99_ms': raw['round_complete'].get('p99_ms'),
        'workers_cpu_s_per_delivery': rounds_cost['workers_cpu_s'] / receivers if rounds else None,
        'redis': rounds_cost,
        'join': per_event(probes['joining'], probes['joined'], receivers, idle),
        'leave': per_event(left_from, probes['left'], receivers, idle),
        'presence': {
            'p50_ms': (presence.get('latency') or {}).get('p50_ms'),
            'members_seen': presence.get('members_seen'),
            'redis': per_event(probes['presence-start'], probes['presence-end'], presence.get('queries', 0), idle)
            if 'presence-start' in probes else None,
        },
        'background_cpu_percent': raw.get('background_cpu_percent'),
        'raw': _trim(raw),
    }


def _trim(raw: dict) -> dict:
    """The load generator's result without the bulky per-window readings (kept summarised elsewhere)."""
    raw = dict(raw)
    raw['probes'] = {name: {k: v for k, v in reading.items() if not k.startswith('cmd:')}
                     for name, reading in raw.get('probes', {}).items()}
    return raw


def measure_memory(kind: str, opts) -> dict:
    """``opts.memory_connections`` idle connections over ``opts.memory_workers`` workers: tree RSS per connection."""
    target = bench.TARGETS['ours']
    shares = [min(PER_LOADGEN, opts.memory_connections - i) for i in range(0, opts.memory_connections, PER_LOADGEN)]
    with redis_backend(kind) as (env, nodes), bench.Server(
            target, APP, keep_logs=opts.keep_logs, workers=opts.memory_workers, env=env) as server:
        probe = RedisProbe(nodes, server)
        try:
            arg_lists = [['idle', f'{server.url}/ws/echo', '--connections', str(n), '--settle', str(opts.settle)]
                         for n in shares]
            results, shared = bench.run_loadgens(server, arg_lists, 300 + 2 * opts.settle, probe=probe)
        finally:
            probe.close()
    for result in results:
        if result.get('error'):
            raise RuntimeError(result['error'])
    memory, probes = shared['server_memory'], shared['probes']
    connections = sum(r['connections'] for r in results)
    before, after = memory['baseline']['tree_rss_kib'], memory['loaded']['tree_rss_kib']
    return {
        'connections': connections,
        'workers': opts.memory_workers,
        'tree_rss_before_mib': before / 1024,
        'tree_rss_loaded_mib': after / 1024,
        'kib_per_connection': (after - before) / connections,
        'per_process_loaded': probes['loaded']['workers'],
        'redis_used_memory_delta_bytes': probes['loaded']['used_memory'] - probes['baseline']['used_memory'],
        'open_seconds': max(r['open_seconds'] for r in results),
    }


def measure_combination(kind: str, workers: int, opts) -> dict:
    target = bench.TARGETS['ours']
    busy = bench.wait_for_quiet_machine(opts.max_wait_idle)
    print(f'[scaling {kind}, {workers} worker(s)] starting (machine {busy:.0f}% busy beforehand)', flush=True)
    entry: dict = {'backend': kind, 'workers': workers, 'machine_busy_before_percent': busy}
    with redis_backend(kind) as (env, nodes), bench.Server(
            target, APP, keep_logs=opts.keep_logs, workers=workers, env=env) as server:
        probe = RedisProbe(nodes, server)
        try:
            entry['server_command'] = ' '.join(server.command())
            entry['redis_masters'] = len(probe.masters)
            entry['idle_per_s'] = idle = idle_rates(probe, opts.idle_seconds)
            # many messages in flight (the writer batches them) and one per worker (it cannot)
            for key, pairs in (('relay', opts.pairs), ('relay_lone', workers)):
                try:
                    entry[key] = measure_relay(server, opts, workers, pairs, probe, idle)
                except Exception as exc:  # one failed load must not lose the others
                    entry[key] = {'error': str(exc), 'in_flight': pairs}
            entry['broadcast'] = {}
            for receivers in opts.receivers:
                try:
                    entry['broadcast'][str(receivers)] = measure_broadcast(server, opts, receivers, probe, idle)
                except Exception as exc:
                    entry['broadcast'][str(receivers)] = {'error': str(exc)}
        finally:
            probe.close()
    entry['panther_git'] = bench.git_describe(ROOT / 'panther')
    return entry


def run_scaling(opts) -> dict:
    bench.ensure_venv(bench.LOAD_VENV, bench.LOAD_REQUIREMENTS)
    started = time.monotonic()
    report = {
        'scenario': 'scaling',
        'note': opts.note,
        'options': {k: v for k, v in vars(opts).items() if k != 'func'},
        'machine': bench.machine_info([bench.TARGETS['ours']]),
        'combinations': [],
        'memory': {},
    }
    print(f'== scaling ==  workers and Redis on CPU {bench.SERVER_CPU}, load on CPU {bench.LOAD_CPU}')
    for kind in opts.backends:
        for workers in opts.workers:
            try:
                entry = measure_combination(kind, workers, opts)
            except Exception as exc:
                entry = {'backend': kind, 'workers': workers, 'error': str(exc)}
            report['combinations'].append(entry)
            print_combination(entry)
    for kind in opts.backends:
        if not opts.memory_connections:
            break
        print(f'[scaling memory {kind}] {opts.memory_connections:,} idle connections over '
              f'{opts.memory_workers} workers ...', flush=True)
        bench.wait_for_quiet_machine(opts.max_wait_idle)
        try:
            report['memory'][kind] = measure_memory(kind, opts)
        except Exception as exc:
            report['memory'][kind] = {'error': str(exc)}
    report['duration_s'] = time.monotonic() - started
    print(text_tables(report))
    return report


# --------------------------------------------------------------------------- tables


def _f(value, digits: int = 1, scale: float = 1.0) -> str:
    if value is None:
        return '-'
    value *= scale
    return f'{value:,.{digits}f}'


def _us(seconds) -> str:
    return _f(seconds, 1, 1e6)


BACKEND_NAMES = {'redis': 'one Redis', 'cluster': 'cluster, 3 masters'}


def redis_bytes(cost: dict) -> float:
    """Bytes through Redis's sockets: clients in and out, and replication to replicas."""
    return (cost.get('net_in') or 0) + (cost.get('net_out') or 0) + (cost.get('repl_out') or 0)


def _relay_cells(relay: dict) -> list[str]:
    if 'error' in relay:
        return ['failed: ' + relay['error'][:60], *['-'] * 6]
    redis = relay['redis']
    return [
        _f(relay['msgs_per_s'], 0) + (' (same worker)' if relay['same_worker'] else ''),
        f'{_f(relay["p50_ms"], 2)} / {_f(relay["p99_ms"], 2)}',
        _us(relay['workers_cpu_s_per_msg']),
        _f(redis.get('commands_total'), 2),
        _us(redis.get('redis_cpu_s')),
        _f(redis_bytes(redis), 0),
        _f(relay.get('background_cpu_percent'), 0),
    ]


def _broadcast_cells(cast: dict | None) -> list[str]:
    if not cast or 'error' in cast:
        return ['failed: ' + (cast or {}).get('error', 'not run')[:60], *['-'] * 5]
    redis = cast['redis']
    return [
        f'{_f(cast["p50_ms"])} / {_f(cast["p99_ms"])}',
        _us(cast['workers_cpu_s_per_delivery']),
        _f(redis.get('commands_total'), 1),
        _us(redis.get('redis_cpu_s')),
        _f(redis_bytes(redis), 0),
        _f(cast['join'].get('commands_total'), 2),
    ]


RELAY_HEAD = ['relay msgs/s', 'p50 / p99 ms', 'workers CPU-us/msg', 'Redis cmds/msg', 'Redis CPU-us/msg',
              'Redis bytes/msg', 'other CPU%']
CAST_HEAD = ['p50 / p99 ms', 'workers CPU-us/delivery', 'Redis cmds/send', 'Redis CPU-us/send',
             'Redis bytes/send', 'Redis cmds/join']


def print_combination(entry: dict) -> None:
    if 'error' in entry:
        print(f'  {entry["backend"]}, {entry["workers"]} worker(s): failed: {entry["error"]}')
        return
    for key in ('relay', 'relay_lone'):
        relay = entry[key]
        if 'error' in relay:
            print(f'  {key} failed: {relay["error"]}')
            continue
        same = ' (1 worker: sender and receiver share it; the send never reaches Redis)' if relay['same_worker'] else ''
        print(f'  relay, {relay["in_flight"]} in flight: {relay["msgs_per_s"]:,.0f} msgs/s{same}, Redis commands/msg '
              f'{relay["redis"].get("commands_total", 0):.2f} {relay["redis"].get("commands", {})}')
    for size, cast in entry['broadcast'].items():
        if 'error' in cast:
            print(f'  broadcast {size}: failed: {cast["error"]}')
        else:
            print(f'  broadcast {size}: p50 {cast["p50_ms"]:.1f} ms over {cast["receivers_per_worker"]}; Redis '
                  f'commands/send {cast["redis"].get("commands_total", 0):.1f} {cast["redis"].get("commands", {})}')


def _rows(report: dict) -> list[tuple[str, int, dict]]:
    return [(BACKEND_NAMES.get(e['backend'], e['backend']), e['workers'], e) for e in report['combinations']]


def markdown_tables(report: dict) -> str:
    """The scaling figures as Markdown tables (the README's and the top of docs/scaling.md)."""
    sizes = report['options']['receivers']
    lines = ['| Redis | workers | in flight | ' + ' | '.join(RELAY_HEAD) + ' |',
             '|' + ' --- |' * (3 + len(RELAY_HEAD))]
    for key in ('relay', 'relay_lone'):
        for name, workers, entry in _rows(report):
            relay = entry.get(key, {'error': entry.get('error', 'not run')})
            lines.append(f'| {name} | {workers} | {relay.get("in_flight", "-")} | '
                         + ' | '.join(_relay_cells(relay)) + ' |')
    for size in sizes:
        lines += ['', f'Group send to {size:,} members spread over the workers (one `send_message_to_group`):', '',
                  '| Redis | workers | ' + ' | '.join(CAST_HEAD) + ' |', '|' + ' --- |' * (2 + len(CAST_HEAD))]
        for name, workers, entry in _rows(report):
            cast = entry.get('broadcast', {}).get(str(size), {'error': entry.get('error', 'not run')})
            lines.append(f'| {name} | {workers} | ' + ' | '.join(_broadcast_cells(cast)) + ' |')
    memory = report.get('memory') or {}
    if memory:
        lines += ['', '| Redis | idle connections | workers | KiB per connection (server tree RSS) | open s |',
                  '| --- | --- | --- | --- | --- |']
        for kind, m in memory.items():
            if 'error' in m:
                lines.append(f'| {BACKEND_NAMES.get(kind, kind)} | failed: {m["error"][:80]} | | | |')
            else:
                lines.append(f'| {BACKEND_NAMES.get(kind, kind)} | {m["connections"]:,} | {m["workers"]} '
                             f'| {m["kib_per_connection"]:.1f} | {m["open_seconds"]:.1f} |')
    return '\n'.join(lines)


def text_tables(report: dict) -> str:
    return '\nscaling (figures per message are net of what Redis does idle)\n' + markdown_tables(report) + '\n'


# --------------------------------------------------------------------------- CLI


def add_parsers(sub) -> None:
    p = sub.add_parser('scaling', help='issue 17: relay, broadcast and memory against 1/2/4 workers, '
                                       'one Redis and a 3-master cluster, in one run (~10 min)')
    p.add_argument('--out-dir', type=Path, default=bench.RESULTS_DIR)
    p.add_argument('--keep-logs', action='store_true', help="keep each server's scratch dir with its log")
    p.add_argument('--max-wait-idle', type=float, default=60.0,
                   help='before each server start wait up to this many seconds for a quiet machine')
    ints = lambda text: [int(x) for x in text.split(',')]  # noqa: E731
    p.add_argument('--workers', type=ints, default=[1, 2, 4], help='worker counts (default 1,2,4)')
    p.add_argument('--backends', type=lambda t: t.split(','), default=['redis', 'cluster'],
                   help='redis (one redis-server), cluster (3 masters + 3 replicas); default both')
    p.add_argument('--receivers', type=ints, default=[1000, 10000], help='group sizes (default 1000,10000)')
    p.add_argument('--pairs', type=int, default=48, help='relay sender/receiver pairs (default 48)')
    p.add_argument('--size', type=int, default=32, help='message bytes (default 32)')
    p.add_argument('--duration', type=float, default=8.0, help='relay: measured seconds (default 8)')
    p.add_argument('--warmup', type=float, default=2.0, help='relay: seconds before measuring (default 2)')
    p.add_argument('--max-connections', type=int, default=4000,
                   help='relay: connections opened at most to find enough on every worker')
    p.add_argument('--rounds', type=int, default=40, help='broadcast rounds at most (default 40)')
    p.add_argument('--warmup-rounds', type=int, default=2)
    p.add_argument('--round-timeout', type=float, default=60.0)
    p.add_argument('--budget', type=float, default=15.0, help='broadcast: measured seconds at most (default 15)')
    p.add_argument('--presence-queries', type=int, default=20, help='group_members calls per group size')
    p.add_argument('--idle-seconds', type=float, default=6.0, help='Redis with no load, to subtract (default 6)')
    p.add_argument('--memory-connections', type=int, default=20000, help='idle connections (0: skip; default 20000)')
    p.add_argument('--memory-workers', type=int, default=4)
    p.add_argument('--settle', type=float, default=3.0)
    p.add_argument('--note', default='', help='saved with the results (say whether the machine was quiet)')

    p = sub.add_parser('scaling-doc', help='docs/scaling.md and the README table from results/scaling.json')
    p.add_argument('--out-dir', type=Path, default=bench.RESULTS_DIR)
    p.add_argument('--doc', type=Path, default=ROOT / 'docs' / 'scaling.md')
    p.add_argument('--readme', type=Path, default=ROOT / 'README.md')


def main(opts: argparse.Namespace) -> None:
    if opts.command == 'scaling':
        report = run_scaling(opts)
        opts.out_dir.mkdir(parents=True, exist_ok=True)
        path = opts.out_dir / RESULTS_NAME
        path.write_text(json.dumps(report, indent=2, default=str) + '\n')
        print(f'saved {path}')
        plot(path)
        return
    import scaling_doc

    report = json.loads((opts.out_dir / RESULTS_NAME).read_text())
    opts.doc.write_text(scaling_doc.page(report))
    print(f'wrote {opts.doc}')
    scaling_doc.update_readme(opts.readme, markdown_tables(report), report)
    print(f'updated {opts.readme} (between its scaling markers)')


def plot(path: Path) -> None:
    done = subprocess.run([str(bench._venv_python(bench.LOAD_VENV)), str(bench.PLOT), str(path),
                           str(path.with_suffix('.png'))], capture_output=True, text=True, timeout=120)
    print(f'plot failed: {done.stderr.strip().splitlines()[-1:]}' if done.returncode else
          f'saved {path.with_suffix(".png")}')


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares line ``a + b x`` through ``points``: how a cost grows with the worker count."""
    n = len(points)
    if n == 1:
        return points[0][1], 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - b * mx, b
