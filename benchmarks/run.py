"""Benchmark runner: panther vs a bare ASGI app vs the reference panther 5.5.0.

Every measurement starts its server as a fresh uvicorn subprocess pinned to CPU
0 on a free loopback port, waits until it accepts connections, runs the load
generator (``loadgen.py``, picows) pinned to CPU 1, and stops the server.
Results go to ``benchmarks/results/<scenario>.json`` and ``.png``.

Run ``python3 benchmarks/run.py --help``; the README explains each scenario.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import queue
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
APPS_DIR = BENCH_DIR / 'apps'
RESULTS_DIR = BENCH_DIR / 'results'
LOADGEN = BENCH_DIR / 'loadgen.py'
PLOT = BENCH_DIR / 'plot.py'
REFERENCE_VENV = BENCH_DIR / '.venv-reference'
LOAD_VENV = BENCH_DIR / '.venv-load'

SERVER_CPU = '0'
LOAD_CPU = '1'
HOST = '127.0.0.1'
# A run during which the rest of the machine used more CPU than this (percent of
# one core) counts as disturbed: it is retried (--retry-disturbed) and, when
# undisturbed repeats exist, left out of the median.
DISTURBED_PERCENT = 20

# python-jose: panther 5.5.0's JWT backend (its `full` extra), for `handshakes --auth jwt`;
# redis: what 5.5.0 needs for REDIS (relay-redis)
REFERENCE_REQUIREMENTS = ['panther==5.5.0', 'uvicorn[standard]', 'python-jose', 'redis']
LOAD_REQUIREMENTS = ['picows', 'uvloop', 'matplotlib']

# What users would pick instead of panther (issue #19), each in a venv of its own with
# pinned versions; uvicorn and its protocol libraries at the versions the global
# interpreter (ours, bare) has, so every target runs the same server code.
# Django 5.2 is the newest Django for Python 3.11.
PEER_SERVER = ['uvicorn==0.54.0', 'uvloop==0.23.0', 'httptools==0.9.0', 'websockets==17.4']
PEER_REQUIREMENTS = {
    'fastapi': ['fastapi==0.163.2', 'starlette==1.10.0', 'broadcaster==0.3.1', 'redis==8.1.0'],
    'channels': ['channels==4.3.2', 'channels-redis==4.3.0', 'django==5.2.19', 'redis==8.1.0'],
    'socketio': ['python-socketio==5.18.1', 'python-engineio==4.15.1', 'redis==8.1.0'],
    'litestar': ['litestar==2.25.0', 'redis==8.1.0'],
}

UVICORN_OPTIONS = [
    '--loop', 'uvloop',
    '--http', 'httptools',
    '--log-level', 'warning',
    '--no-access-log',
]  # fmt: skip
# uvicorn's WebSocket protocol for every target (its default since 0.50), except that ours runs on
# panther's subclass of it, as `panther run` and panther's gunicorn worker select.
UVICORN_WS = 'websockets-sansio'
PANTHER_WS = 'panther.servers.uvicorn:PantherWebSocketProtocol'
# --server granian / hypercorn: the same app under another ASGI server (one worker, pinned the same way).
OTHER_SERVERS = ('granian', 'hypercorn')
SERVER_NAME = 'uvicorn'
# plus `--workers N`: 1, except the scenarios that relay between workers (2)

# `panther run` without an installed console script: the same click entry point
PANTHER_CLI = 'import sys; from panther.cli import main; sys.argv[0] = "panther"; main()'

REPORTED_PACKAGES = [
    'panther', 'uvicorn', 'websockets', 'uvloop', 'httptools', 'orjson',
    # the peers' frameworks and what carries their messages between workers
    'fastapi', 'starlette', 'broadcaster', 'anyio', 'channels', 'channels-redis', 'django', 'asgiref',
    'python-socketio', 'python-engineio', 'litestar', 'msgspec', 'redis',
]  # fmt: skip


# --------------------------------------------------------------------------- environments


def _venv_python(venv: Path) -> Path:
    return venv / 'bin' / 'python'


def ensure_venv(venv: Path, requirements: list[str], *, quiet: bool = False) -> Path:
    """Create ``venv`` with ``requirements`` unless it already has exactly them.

    Idempotent: a stamp file in the venv records what was installed.  Never
    touches the global environment (the reference shares our import name).
    """
    python = _venv_python(venv)
    stamp = venv / '.bench-requirements'
    wanted = '\n'.join(requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not quiet:
        print(f'setting up {venv.relative_to(BENCH_DIR.parent)}: {" ".join(requirements)}')
    if not python.exists():
        subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    subprocess.run(
        [
            str(python),
            '-m',
            'pip',
            'install',
            '--quiet',
            '--disable-pip-version-check',
            *requirements,
        ],
        check=True,
    )
    stamp.write_text(wanted)
    return python


def peer_venv(peer: str) -> Path:
    return BENCH_DIR / f'.venv-{peer}'


def ensure_environments(peers: list[str] | tuple[str, ...] = tuple(PEER_REQUIREMENTS)) -> None:
    """The reference and load venvs, and those of ``peers`` (default: every peer)."""
    ensure_venv(REFERENCE_VENV, REFERENCE_REQUIREMENTS)
    ensure_venv(LOAD_VENV, LOAD_REQUIREMENTS)
    for peer in peers:
        ensure_venv(peer_venv(peer), [*PEER_REQUIREMENTS[peer], *PEER_SERVER])


def global_python() -> str:
    """The interpreter that has this repository's panther installed (not a venv)."""
    if sys.prefix != sys.base_prefix:
        for name in ('python3', 'python'):
            candidate = Path(sys.base_prefix) / 'bin' / name
            if candidate.exists():
                return str(candidate)
    return sys.executable


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {'PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP'}
    }
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    """One server flavour: which interpreter, which family of app files."""

    name: str
    python: Callable[[], str]
    family: str  # 'bare' | 'panther' | 'groups'
    quiet: bool = False
    baseline: str = 'bare'
    pythonpath: str | None = None
    description: str = ''
    protocol: str = 'ws'  # what the load generator speaks: 'ws' or 'socketio'
    peer: str | None = None  # a PEER_REQUIREMENTS key: the target runs in that peer's venv

    def env(self, app_module: str) -> dict[str, str]:
        extra = {}
        if self.pythonpath:
            extra['PYTHONPATH'] = self.pythonpath
        if self.quiet:
            extra['BENCH_APP'] = app_module
        return clean_env(extra)


def _reference_python() -> str:
    return str(_venv_python(REFERENCE_VENV))


def _peer_python(peer: str) -> Callable[[], str]:
    return lambda: str(_venv_python(peer_venv(peer)))


PEER_TARGETS = [
    Target('fastapi', _peer_python('fastapi'), 'fastapi', peer='fastapi',
           description='FastAPI (Starlette WebSockets) + broadcaster (Redis pub/sub across workers)'),
    Target('channels', _peer_python('channels'), 'channels', peer='channels',
           description='Django Channels consumers + channels_redis RedisChannelLayer'),
    Target('socketio', _peer_python('socketio'), 'socketio', peer='socketio', protocol='socketio',
           description='python-socketio ASGI app + AsyncRedisManager; the load speaks Socket.IO v5 / Engine.IO v4'),
    Target('litestar', _peer_python('litestar'), 'litestar', peer='litestar',
           description='Litestar + its channels plugin (RedisChannelsPubSubBackend)'),
]  # fmt: skip
PEERS = [t.name for t in PEER_TARGETS]

TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target('bare', global_python, 'bare', description='bare ASGI app, global uvicorn'),
        Target(
            'bare-ref',
            _reference_python,
            'bare',
            description="bare ASGI app on the reference venv's uvicorn",
        ),
        Target(
            'bare-direct',
            global_python,
            'bare-direct',
            description='bare app writing ready frames straight to the transport, no checks (a floor)',
        ),
        Target('ours', global_python, 'panther', description='this repository, global uvicorn'),
        Target(
            'ours-groups',
            global_python,
            'groups',
            description='this repository, broadcast through groups',
        ),
        Target(
            'ours-metrics',
            global_python,
            'panther-metrics',
            baseline='ours',
            description='this repository with METRICS_PATH on (its ratio is to ours: metrics off)',
        ),
        Target(
            'ours-groups-metrics',
            global_python,
            'groups-metrics',
            baseline='ours-groups',
            description='broadcast through groups with METRICS_PATH on (its ratio is to ours-groups)',
        ),
        Target(
            'reference',
            _reference_python,
            'panther',
            baseline='bare-ref',
            description='panther 5.5.0 as shipped (logs each send at DEBUG)',
        ),
        Target(
            'reference-quiet',
            _reference_python,
            'panther',
            quiet=True,
            baseline='bare-ref',
            description='panther 5.5.0 with the panther logger at WARNING',
        ),
        *PEER_TARGETS,
    ]
}


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def raise_fd_limit() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _proc_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(')', 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and all its descendants."""
    ticks = os.sysconf('SC_CLK_TCK')
    total = 0
    for pid in _proc_tree(root):
        with contextlib.suppress(OSError):
            fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def system_busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine (all cores) since boot."""
    fields = [int(x) for x in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf('SC_CLK_TCK')


def wait_for_quiet_machine(max_wait: float, threshold: float = 15.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine is nearly idle; return its busy %.

    Other work on this 2-core machine (test suites, builds) skews every figure,
    so each run waits for a quiet second first, and records what it saw.
    """
    deadline = time.monotonic() + max_wait
    while True:
        before, start = system_busy_seconds(), time.monotonic()
        time.sleep(1.0)
        busy = 100 * (system_busy_seconds() - before) / (time.monotonic() - start)
        if busy <= threshold or time.monotonic() >= deadline:
            return busy


def rss_kib(pid: int) -> int:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def tree_rss_kib(root: int) -> int:
    total = 0
    for pid in _proc_tree(root):
        with contextlib.suppress(OSError):
            total += rss_kib(pid)
    return total


class ServerError(RuntimeError):
    pass


def _redis_cluster() -> contextlib.AbstractContextManager:
    """A throw-away Redis Cluster (3 masters, 3 replicas) pinned to SERVER_CPU, as the tests start it."""
    sys.path.insert(0, str(BENCH_DIR.parent))
    from tests.redis_cluster import run_redis_cluster

    return run_redis_cluster(prefix=('taskset', '-c', SERVER_CPU))


class RedisServer:
    """A throw-away redis-server pinned to SERVER_CPU: loopback, free port, no persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix='panther-bench-redis-'))
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> RedisServer:
        binary = shutil.which('redis-server')
        if binary is None:
            raise ServerError('redis-server not found (apt-get install redis-server)')
        command = [
            'taskset', '-c', SERVER_CPU, binary,
            '--bind', HOST, '--port', str(self.port),
            '--save', '', '--appendonly', 'no',
            '--dir', str(self.workdir), '--loglevel', 'warning',
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f'redis-server exited with {self.proc.returncode}')
            with contextlib.suppress(OSError):
                with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                    sock.sendall(b'PING\r\n')
                    if sock.recv(64).startswith(b'+PONG'):
                        return self
            time.sleep(0.1)
        self.__exit__()
        raise ServerError('redis-server did not answer PING within 20s')

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


class Server:
    """A uvicorn subprocess pinned to SERVER_CPU, in its own process group.

    ``launcher='panther'`` serves through ``panther run`` (our CLI, which wraps
    uvicorn's and, with ``--workers N``, gives the workers the shared-local bus);
    ``extra_pids`` (a Redis server) count as the server's CPU.
    """

    def __init__(
        self,
        target: Target,
        app_module: str,
        keep_logs: bool = False,
        *,
        workers: int = 1,
        launcher: str = 'uvicorn',
        env: dict[str, str] | None = None,
        extra_pids: tuple[int, ...] = (),
    ):
        self.target = target
        self.app_module = app_module
        self.keep_logs = keep_logs
        self.workers = workers
        self.launcher = launcher
        self.extra_env = env or {}
        self.extra_pids = extra_pids
        self.port = free_port()
        self.server_name = SERVER_NAME
        if SERVER_NAME == 'hypercorn':  # it has no --app-dir: the apps come from PYTHONPATH
            paths = [str(APPS_DIR), *filter(None, [target.pythonpath])]
            self.extra_env = {**self.extra_env, 'PYTHONPATH': os.pathsep.join(paths)}
        self.workdir = Path(tempfile.mkdtemp(prefix=f'panther-bench-{target.name}-'))
        self.log_path = self.workdir / 'server.log'
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f'ws://{HOST}:{self.port}'

    def command(self) -> list[str]:
        app = 'quiet:app' if self.target.quiet else f'{self.app_module}:app'
        if self.server_name in OTHER_SERVERS:
            return self._other_server_command(app)
        ws = PANTHER_WS if self.target.name.startswith('ours') else UVICORN_WS
        options = [
            '--app-dir', str(APPS_DIR),
            '--host', HOST, '--port', str(self.port),
            *UVICORN_OPTIONS,
            '--ws', ws,
            '--workers', str(self.workers),
        ]  # fmt: skip
        if self.launcher == 'panther':
            runner = ['-c', PANTHER_CLI, 'run', app, *options]
        else:
            runner = ['-m', 'uvicorn', *options, app]
        return ['taskset', '-c', SERVER_CPU, self.target.python(), *runner]

    def _other_server_command(self, app: str) -> list[str]:
        if self.server_name == 'granian':
            runner = ['-m', 'granian', '--interface', 'asgi', '--loop', 'uvloop', '--log-level', 'warning',
                      '--workers', str(self.workers), '--host', HOST, '--port', str(self.port),
                      '--working-dir', str(APPS_DIR), app]
        else:
            runner = ['-m', 'hypercorn', '--log-level', 'warning', '--workers', str(self.workers),
                      '--bind', f'{HOST}:{self.port}', app]
        return ['taskset', '-c', SERVER_CPU, self.target.python(), *runner]

    def __enter__(self) -> Server:
        log = self.log_path.open('wb')
        # cwd is a scratch directory: the reference writes logs/ under it, and
        # the repository root must not be on sys.path (it holds a `panther/`).
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            env={**self.target.env(self.app_module), **self.extra_env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            self._wait_ready(timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if not self.keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f'server exited with {self.proc.returncode}: {self.log_tail()}')
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.1)
                continue
            if self.workers == 1:
                time.sleep(0.3)
                return
            # With several workers the supervisor's socket accepts (into the backlog)
            # before any worker runs: wait for every worker process, then for their
            # start-up, or the first worker up would take every early connection.
            if len(_proc_tree(self.proc.pid)) > self.workers:
                time.sleep(3.0)
                return
            time.sleep(0.1)
        raise ServerError(f'server not ready after {timeout}s: {self.log_tail()}')

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log_path.read_text(errors='replace').strip().splitlines()
        except OSError:
            return ''
        interesting = [line for line in text if 'DeprecationWarning' not in line]
        return ' | '.join(interesting[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # the reference forks a multiprocessing Manager into the same group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid) + sum(cpu_seconds(pid) for pid in self.extra_pids)


def run_loadgen(server: Server, args: list[str], timeout: float, *, probe: Probe | None = None) -> dict:
    """Run loadgen.py pinned to LOAD_CPU; answer its events; return its result.

    Adds to the result the server's CPU use over the measured window and its
    RSS at every pause the load generator asks for (and ``probe``'s readings).
    """
    results, shared = run_loadgens(server, [args], timeout, probe=probe)
    return {**results[0], **shared}


#: Called at every start, end and pause of the load: readings the runner wants at those moments.
Probe = Callable[[], dict]


def run_loadgens(
    server: Server, arg_lists: list[list[str]], timeout: float, *, probe: Probe | None = None
) -> tuple[list[dict], dict]:
    """Several load generators at once (one process each, all pinned to LOAD_CPU).

    One process may not hold more connections than the open-files limit allows
    (20,000 here, and it cannot be raised), so a larger load is split. A pause
    is answered once every process still running has reached it, so a sample
    sees all of their connections. The measured window runs from the first
    ``start`` to the last ``end``. Returns each process's result, and what
    was measured of the server (``server_cpu``, ``server_memory``,
    ``background_cpu_percent``, ``probes``).
    """
    cmd = ['taskset', '-c', LOAD_CPU, str(_venv_python(LOAD_VENV)), str(LOADGEN)]
    procs = [
        subprocess.Popen(
            [*cmd, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
            start_new_session=True,
        )
        for args in arg_lists
    ]

    def kill_all() -> None:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)

    killer = threading.Timer(timeout, kill_all)
    killer.start()
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    stderr_lines: list[list[str]] = [[] for _ in procs]
    threads = []
    for index, proc in enumerate(procs):
        threads.append(threading.Thread(target=_read_lines, args=(proc.stdout, index, lines), daemon=True))
        threads.append(threading.Thread(target=stderr_lines[index].extend, args=(proc.stderr,), daemon=True))
    for thread in threads:
        thread.start()
    results: list[dict] = [{} for _ in procs]
    marks: dict[str, float] = {}
    pauses: dict[str, dict] = {}
    probes: dict[str, dict] = {}
    paused: dict[str, set[int]] = {}
    running, started, ended = set(range(len(procs))), set(), set()
    load_pids = [proc.pid for proc in procs]

    def mark(event: str) -> None:
        marks[f'{event}_cpu'] = server.cpu_seconds()
        marks[f'{event}_load_cpu'] = sum(cpu_seconds(pid) for pid in load_pids)
        marks[f'{event}_system'] = system_busy_seconds()
        marks[f'{event}_wall'] = time.perf_counter()
        if probe is not None:
            probes[event] = probe()

    def answer_pauses() -> None:
        for name, waiting in list(paused.items()):
            if waiting >= running:
                pauses[name] = {'rss_kib': rss_kib(server.pid), 'tree_rss_kib': tree_rss_kib(server.pid)}
                if probe is not None:
                    probes[name] = probe()
                for index in waiting & running:
                    procs[index].stdin.write('go\n')
                    procs[index].stdin.flush()
                del paused[name]

    try:
        while running:
            index, line = lines.get()
            if line is None:
                running.discard(index)
                answer_pauses()  # a process that died must not hold the others at a pause
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            event = message.pop('event', None)
            if event == 'start':
                if not started:
                    mark('start')
                started.add(index)
            elif event == 'end':
                ended.add(index)
                if ended >= started:
                    mark('end')
            elif event == 'pause':
                paused.setdefault(message['name'], set()).add(index)
                answer_pauses()
            elif event == 'result':
                results[index] = message
        for proc in procs:
            proc.wait(timeout=30)
    finally:
        killer.cancel()
        kill_all()
        for proc in procs:
            proc.wait()
        for thread in threads:
            thread.join(timeout=5)
    for index, result in enumerate(results):
        if not result:
            tail = ''.join(stderr_lines[index][-5:]).strip().replace('\n', ' | ')
            code = procs[index].returncode
            raise RuntimeError(f'load generator gave no result (exit {code}, timeout {timeout}s) {tail}')
    shared: dict = {}
    if 'start_cpu' in marks and 'end_cpu' in marks:
        wall = marks['end_wall'] - marks['start_wall']
        cpu = marks['end_cpu'] - marks['start_cpu']
        shared['server_cpu'] = {'wall_s': wall, 'cpu_s': cpu, 'cpu_percent': 100 * cpu / wall}
        load = marks['end_load_cpu'] - marks['start_load_cpu']
        system = marks['end_system'] - marks['start_system']
        # whatever else ran on the machine meanwhile (other sessions, the kernel)
        shared['background_cpu_percent'] = max(0.0, 100 * (system - cpu - load) / wall)
    if pauses:
        shared['server_memory'] = pauses
    if probes:
        shared['probes'] = probes
    return results, shared


def _read_lines(stream, index: int, lines: queue.Queue) -> None:
    for line in stream:
        lines.put((index, line))
    lines.put((index, None))


def preflight(target: Target, app_module: str) -> str | None:
    """None if ``app_module`` imports under ``target``; else the reason it does not."""
    python = target.python()
    if not Path(python).exists() and shutil.which(python) is None:
        return f'interpreter {python} missing (run: run.py setup)'
    code = (
        'import sys; sys.path.insert(0, sys.argv[1]); '
        'import importlib; importlib.import_module(sys.argv[2])'
    )
    with tempfile.TemporaryDirectory(prefix='panther-bench-check-') as scratch:
        try:
            done = subprocess.run(
                [python, '-c', code, str(APPS_DIR), app_module],
                cwd=scratch,
                env=target.env(app_module),
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            return f'importing {app_module} took over 60s'
    if done.returncode == 0:
        return None
    errors = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return errors[-1] if errors else f'import of {app_module} exited with {done.returncode}'


# --------------------------------------------------------------------------- machine info


_PROBE = r"""
import importlib.metadata as md, json, platform, sys
info = {'python': platform.python_version(), 'executable': sys.executable, 'packages': {}}
for name in sys.argv[1:]:
    try:
        info['packages'][name] = md.version(name)
    except md.PackageNotFoundError:
        pass
try:
    import panther
    info['panther_file'] = panther.__file__
except Exception as exc:
    info['panther_file'] = f'not importable: {exc}'
print(json.dumps(info))
"""


def interpreter_info(python: str) -> dict:
    with tempfile.TemporaryDirectory(prefix='panther-bench-probe-') as scratch:
        try:
            done = subprocess.run(
                [python, '-c', _PROBE, *REPORTED_PACKAGES],
                cwd=scratch,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
            info = json.loads(done.stdout)
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            return {'error': str(exc)}
    source = info.get('panther_file', '')
    if source.startswith('/') and 'site-packages' not in source:
        info['panther_git'] = git_describe(Path(source).parent)
    return info


def git_describe(directory: Path) -> str | None:
    try:
        return subprocess.run(
            ['git', '-C', str(directory), 'describe', '--always', '--dirty'],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _redis_version() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(
            ['redis-server', '--version'], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    return None


def machine_info(targets: list[Target]) -> dict:
    cpuinfo = Path('/proc/cpuinfo').read_text()
    model = next(
        (line.split(':', 1)[1].strip() for line in cpuinfo.splitlines() if 'model name' in line),
        platform.processor(),
    )
    meminfo = Path('/proc/meminfo').read_text().splitlines()[0].split()
    interpreters = {}
    for python in sorted({t.python() for t in targets}):
        interpreters[python] = interpreter_info(python)
    load = interpreter_info(str(_venv_python(LOAD_VENV)))
    with contextlib.suppress(Exception):
        load['packages']['picows'] = subprocess.run(
            [str(_venv_python(LOAD_VENV)), '-c', 'import picows; print(picows.__version__)'],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    return {
        'date': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
        'cpu_model': model,
        'cores': os.cpu_count(),
        'memory_gib': round(int(meminfo[1]) / 2**20, 1),
        'kernel': platform.release(),
        'runner_python': platform.python_version(),
        'server_cpu': SERVER_CPU,
        'load_cpu': LOAD_CPU,
        'uvicorn_options': [*UVICORN_OPTIONS, '--ws', f'{UVICORN_WS} (ours: {PANTHER_WS})',
                            '--workers', '1 (2 for relay-redis/-shared)'],
        'server': SERVER_NAME,
        'redis_server': _redis_version(),
        'fd_limit': resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        'interpreters': interpreters,
        'load_generator': load,
        'targets': {t.name: t.description for t in targets},
    }


# --------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    name: str
    apps: dict[str, str]  # family -> app module
    metric: str  # key in a run's summary used for ratios
    higher_is_better: bool
    unit: str
    cases: list[dict] = field(default_factory=lambda: [{}])
    workers: int = 1
    redis: bool = False  # a fresh redis-server per run; the app sees BENCH_REDIS_PORT
    redis_cluster: bool = False  # a fresh 3+3 Redis Cluster per run; the app also sees BENCH_REDIS_CLUSTER=1
    launcher: str = 'uvicorn'  # or 'panther' (`panther run`)
    # target name -> why it cannot do this workload at all; reported as 'unsupported'
    unsupported: dict[str, str] = field(default_factory=dict)

    def app_for(self, target: Target) -> str | None:
        return self.apps.get(target.family)


def _per_cpu_second(rate: float | None, result: dict) -> float | None:
    """``rate`` divided by the share of a core the server used: work per CPU-second."""
    busy = (result.get('server_cpu') or {}).get('cpu_percent')
    return rate / (busy / 100) if rate and busy else None


def _summary_throughput(result: dict) -> dict:
    lat = result.get('latency', {})
    return {
        'msgs_per_s': result.get('msgs_per_s'),
        'msgs_per_cpu_s': _per_cpu_second(result.get('msgs_per_s'), result),
        'p50_ms': lat.get('p50_ms'),
        'p99_ms': lat.get('p99_ms'),
        'server_cpu_percent': result.get('server_cpu', {}).get('cpu_percent'),
        'loadgen_cpu_percent': result.get('loadgen_cpu', {}).get('cpu_percent'),
    }


def _summary_broadcast(result: dict) -> dict:
    rounds = result.get('round_complete', {})
    return {
        'rounds': result.get('rounds_done'),
        'p50_ms': rounds.get('p50_ms'),
        'p99_ms': rounds.get('p99_ms'),
        'deliveries_per_s': result.get('deliveries_per_s'),
        'server_cpu_percent': (result.get('server_cpu') or {}).get('cpu_percent'),
        'loadgen_cpu_percent': (result.get('loadgen_cpu') or {}).get('cpu_percent'),
    }


def _summary_memory(result: dict) -> dict:
    memory = result.get('server_memory', {})
    before = memory.get('baseline', {}).get('rss_kib')
    after = memory.get('loaded', {}).get('rss_kib')
    connections = result.get('connections') or 0
    per_conn = (after - before) / connections if before and after and connections else None
    return {
        'connections': connections,
        'rss_before_mib': before / 1024 if before else None,
        'rss_loaded_mib': after / 1024 if after else None,
        'kib_per_connection': per_conn,
        'tree_rss_loaded_mib': memory.get('loaded', {}).get('tree_rss_kib', 0) / 1024,
        'open_seconds': result.get('open_seconds'),
    }


def _summary_session_memory(result: dict) -> dict:
    summary = _summary_memory(result)
    memory = result.get('server_memory', {})
    before = memory.get('baseline', {}).get('rss_kib')
    detached = memory.get('detached', {}).get('rss_kib')
    connections = result.get('connections') or 0
    summary['kib_per_detached_session'] = (
        (detached - before) / connections if before and detached and connections else None
    )
    return summary


def _summary_handshakes(result: dict) -> dict:
    lat = result.get('latency', {})
    return {
        'handshakes_per_s': result.get('handshakes_per_s'),
        'handshakes_per_cpu_s': _per_cpu_second(result.get('handshakes_per_s'), result),
        'p50_ms': lat.get('p50_ms'),
        'p99_ms': lat.get('p99_ms'),
        'failures': result.get('failures'),
        'server_cpu_percent': result.get('server_cpu', {}).get('cpu_percent'),
        'loadgen_cpu_percent': result.get('loadgen_cpu', {}).get('cpu_percent'),
    }


ECHO_APPS = {'bare': 'bare_echo', 'panther': 'panther_echo'}
# one app module per peer serves every route (echo, relay, listen, shout)
PEER_APPS = {peer: f'peer_{peer}' for peer in PEERS}
THROUGHPUT_APPS = {**ECHO_APPS, 'bare-direct': 'bare_direct', **PEER_APPS}

SCENARIOS = {
    'echo': Scenario('echo', THROUGHPUT_APPS, 'msgs_per_s', True, 'msgs/s'),
    # clients that negotiate permessage-deflate, as browsers do (no bare-direct: it writes raw frames)
    'echo-deflate': Scenario('echo-deflate', ECHO_APPS, 'msgs_per_s', True, 'msgs/s'),
    'relay': Scenario(
        'relay', {'bare': 'bare_hub', 'panther': 'panther_relay'}, 'msgs_per_s', True, 'msgs/s'
    ),
    # echo and relay taking turns on one server: their ratio without run-to-run noise
    'relay-vs-echo': Scenario(
        'relay-vs-echo',
        {'bare': 'bare_hub', 'panther': 'panther_echo_relay'},
        'relay_vs_echo',
        True,
        'x echo',
    ),
    'broadcast': Scenario(
        'broadcast',
        {
            'bare': 'bare_hub',
            'bare-direct': 'bare_direct',
            'panther': 'panther_broadcast',
            'groups': 'panther_broadcast_groups',
        },
        'p50_ms',
        False,
        'ms',
    ),
    'idle-memory': Scenario(
        'idle-memory', {**ECHO_APPS, **PEER_APPS}, 'kib_per_connection', False, 'KiB/conn'
    ),
    'handshakes': Scenario(
        'handshakes', {**ECHO_APPS, **PEER_APPS}, 'handshakes_per_s', True, 'handshakes/s'
    ),
    'relay-redis': Scenario(
        'relay-redis',
        {'panther': 'panther_relay_workers', **PEER_APPS},
        'msgs_per_s',
        True,
        'msgs/s',
        workers=2,
        redis=True,
    ),
    'relay-shared': Scenario(
        'relay-shared',
        {'panther': 'panther_relay_workers'},
        'msgs_per_s',
        True,
        'msgs/s',
        workers=2,
        launcher='panther',
    ),
    # groups spread over 2 workers (the kernel decides which worker a receiver lands on)
    'broadcast-redis': Scenario(
        'broadcast-redis',
        {'groups': 'panther_broadcast_groups', **PEER_APPS},
        'p50_ms',
        False,
        'ms',
        workers=2,
        redis=True,
    ),
    'broadcast-shared': Scenario(
        'broadcast-shared',
        {'groups': 'panther_broadcast_groups'},
        'p50_ms',
        False,
        'ms',
        workers=2,
        launcher='panther',
    ),
    # panther.v1 clients (resumable sessions): compare with echo / broadcast / idle-memory of `ours`
    'echo-session': Scenario('echo-session', {'panther': 'panther_echo'}, 'msgs_per_s', True, 'msgs/s'),
    'broadcast-session': Scenario(
        'broadcast-session', {'groups': 'panther_broadcast_groups'}, 'p50_ms', False, 'ms'
    ),
    # sessions, then the same sessions detached (TCP dropped without a close frame)
    'idle-memory-session': Scenario(
        'idle-memory-session', {'panther': 'panther_echo'}, 'kib_per_connection', False, 'KiB/conn'
    ),
    # the same two, through a Redis Cluster of 3 masters and 3 replicas (all pinned with the servers)
    'relay-redis-cluster': Scenario(
        'relay-redis-cluster',
        {'panther': 'panther_relay_workers'},
        'msgs_per_s',
        True,
        'msgs/s',
        workers=2,
        redis_cluster=True,
    ),
    'broadcast-redis-cluster': Scenario(
        'broadcast-redis-cluster',
        {'groups': 'panther_broadcast_groups'},
        'p50_ms',
        False,
        'ms',
        workers=2,
        redis_cluster=True,
    ),
    # what METRICS_PATH costs: the same app with metrics off and on, side by side
    'echo-metrics': Scenario(
        'echo-metrics', {'panther': 'panther_echo', 'panther-metrics': 'panther_echo_metrics'},
        'msgs_per_s', True, 'msgs/s',
    ),
    'broadcast-metrics': Scenario(
        'broadcast-metrics',
        {'groups': 'panther_broadcast_groups', 'groups-metrics': 'panther_broadcast_groups_metrics'},
        'p50_ms', False, 'ms',
    ),
}


def _summary_relay_vs_echo(result: dict) -> dict:
    return {
        'relay_vs_echo': result.get('relay_vs_echo'),
        'relay_msgs_per_s': result.get('relay_msgs_per_s'),
        'echo_msgs_per_s': result.get('echo_msgs_per_s'),
        'min_round_ratio': min(result.get('round_ratios') or [0]) or None,
        'max_round_ratio': max(result.get('round_ratios') or [0]) or None,
        'server_cpu_percent': (result.get('server_cpu') or {}).get('cpu_percent'),
        'loadgen_cpu_percent': (result.get('loadgen_cpu') or {}).get('cpu_percent'),
    }


SUMMARIES = {
    'echo': _summary_throughput,
    'echo-deflate': _summary_throughput,
    'relay': _summary_throughput,
    'relay-vs-echo': _summary_relay_vs_echo,
    'broadcast': _summary_broadcast,
    'idle-memory': _summary_memory,
    'handshakes': _summary_handshakes,
    'relay-redis': _summary_throughput,
    'relay-shared': _summary_throughput,
    'broadcast-redis': _summary_broadcast,
    'broadcast-shared': _summary_broadcast,
    'echo-session': _summary_throughput,
    'broadcast-session': _summary_broadcast,
    'idle-memory-session': _summary_session_memory,
    'relay-redis-cluster': _summary_throughput,
    'broadcast-redis-cluster': _summary_broadcast,
    'echo-metrics': _summary_throughput,
    'broadcast-metrics': _summary_broadcast,
}

_PEERS = ','.join(PEERS)
DEFAULT_TARGETS = {
    'echo': f'bare,bare-ref,bare-direct,ours,reference,reference-quiet,{_PEERS}',
    'echo-deflate': 'bare,bare-ref,ours,reference,reference-quiet',
    'relay': 'bare,bare-ref,ours,reference,reference-quiet',
    'relay-vs-echo': 'bare,ours',
    'broadcast': 'bare,bare-ref,bare-direct,ours,ours-groups,reference,reference-quiet',
    'idle-memory': f'bare,bare-ref,ours,reference,{_PEERS}',
    'handshakes': f'bare,bare-ref,ours,reference,reference-quiet,{_PEERS}',
    # no bare target: a bare app has no way to reach another worker
    'relay-redis': f'ours,reference,reference-quiet,{_PEERS}',
    # `panther run` is ours; 5.5.0 has no shared-local bus for uvicorn's workers
    'relay-shared': 'ours',
    'broadcast-redis': f'ours-groups,{_PEERS}',
    'broadcast-shared': 'ours-groups',
    'echo-session': 'ours',
    'broadcast-session': 'ours-groups',
    'idle-memory-session': 'ours',
    'relay-redis-cluster': 'ours',
    'broadcast-redis-cluster': 'ours-groups',
    'echo-metrics': 'ours,ours-metrics',
    'broadcast-metrics': 'ours-groups,ours-groups-metrics',
}


def loadgen_args(scenario: str, opts: argparse.Namespace, url: str, case: dict) -> list[str]:
    if scenario in ('echo', 'echo-deflate', 'echo-session', 'echo-metrics'):
        return [
            'echo', f'{url}/ws/echo',
            '--connections', str(opts.connections), '--size', str(opts.size),
            '--warmup', str(opts.warmup), '--duration', str(opts.duration),
            *(['--deflate'] if scenario == 'echo-deflate' else []),
            *(['--session'] if scenario == 'echo-session' else []),
        ]  # fmt: skip
    if scenario == 'relay':
        return [
            'relay', f'{url}/ws/relay',
            '--pairs', str(opts.pairs), '--size', str(opts.size),
            '--warmup', str(opts.warmup), '--duration', str(opts.duration),
        ]  # fmt: skip
    if scenario == 'relay-vs-echo':
        return [
            'echo-relay', url,
            '--connections', str(opts.connections), '--pairs', str(opts.pairs),
            '--size', str(opts.size), '--rounds', str(opts.rounds),
            '--warmup', str(opts.phase_warmup), '--duration', str(opts.phase),
        ]  # fmt: skip
    if scenario in ('relay-redis', 'relay-shared', 'relay-redis-cluster'):
        return [
            'relay-workers', f'{url}/ws/relay',
            '--pairs', str(opts.pairs), '--size', str(opts.size),
            '--warmup', str(opts.warmup), '--duration', str(opts.duration),
        ]  # fmt: skip
    if scenario.startswith('broadcast'):
        return [
            'broadcast', url,
            '--receivers', str(case['receivers']), '--size', str(opts.size),
            '--rounds', str(opts.rounds), '--warmup-rounds', str(opts.warmup_rounds),
            '--round-timeout', str(opts.round_timeout), '--budget', str(opts.budget),
            *(['--session'] if scenario == 'broadcast-session' else []),
        ]  # fmt: skip
    if scenario in ('idle-memory', 'idle-memory-session'):
        return [
            'idle', f'{url}/ws/echo',
            '--connections', str(opts.connections), '--settle', str(opts.settle),
            *(['--session', '--detach'] if scenario == 'idle-memory-session' else []),
        ]  # fmt: skip
    if scenario == 'handshakes':
        return [
            'handshakes', f'{url}/ws/echo{case.get("query", "")}',
            '--concurrency', str(opts.concurrency),
            '--warmup', str(opts.warmup), '--duration', str(opts.duration),
        ]  # fmt: skip
    raise ValueError(scenario)


def loadgen_timeout(scenario: str, opts: argparse.Namespace, case: dict) -> float:
    if scenario.startswith('broadcast'):
        warmup = opts.warmup_rounds * opts.round_timeout
        return 300 + warmup + opts.budget + 2 * opts.round_timeout
    if scenario in ('idle-memory', 'idle-memory-session'):
        return 300 + 2 * opts.settle
    if scenario == 'relay-vs-echo':
        return 120 + 2 * opts.rounds * (opts.phase_warmup + opts.phase + 10)
    return 120 + opts.warmup + opts.duration


def scenario_cases(scenario: str, opts: argparse.Namespace) -> list[dict]:
    if scenario.startswith('broadcast'):
        return [{'receivers': n} for n in opts.receivers]
    if scenario == 'handshakes' and opts.auth == 'jwt':
        return [{'auth': 'jwt'}]
    return [{}]


def case_label(case: dict) -> str:
    return ', '.join(f'{k}={v}' for k, v in case.items() if k != 'query') or 'default'


def run_scenario(scenario_name: str, opts: argparse.Namespace) -> dict:
    scenario = SCENARIOS[scenario_name]
    if getattr(opts, 'auth', 'none') == 'jwt':
        # the bare app stays unauthenticated: it is the floor, not a competitor
        scenario = Scenario(
            'handshakes',
            {'bare': 'bare_echo', 'panther': 'panther_auth_echo'},
            scenario.metric,
            scenario.higher_is_better,
            scenario.unit,
        )
    default = DEFAULT_TARGETS[scenario_name]
    if getattr(opts, 'server', 'uvicorn') in OTHER_SERVERS:
        default = 'bare,ours'  # the other servers serve the bare and our apps only (benchmarks/README.md)
    target_names = (opts.targets or default).split(',')
    unknown = [n for n in target_names if n not in TARGETS]
    if unknown:
        raise SystemExit(f'unknown target(s): {", ".join(unknown)}; known: {", ".join(TARGETS)}')
    targets = [TARGETS[n] for n in target_names]
    if opts.ours_src:
        for name in ('ours', 'ours-groups'):
            TARGETS[name].pythonpath = str(Path(opts.ours_src).resolve())
    ensure_environments([t.peer for t in targets if t.peer and scenario.app_for(t)])

    report = {
        'scenario': scenario_name,
        'name': f'{scenario_name}-jwt' if getattr(opts, 'auth', 'none') == 'jwt' else scenario_name,
        'metric': scenario.metric,
        'unit': scenario.unit,
        'higher_is_better': scenario.higher_is_better,
        'options': {k: v for k, v in vars(opts).items() if k not in {'func'}},
        'machine': machine_info(targets),
        'cases': [],
    }
    ours_file = (
        report['machine']['interpreters'].get(TARGETS['ours'].python(), {}).get('panther_file', '')
    )
    if opts.ours_src:
        # the probe above ran without PYTHONPATH: the servers import this checkout instead
        opts.ours_source_dir = Path(opts.ours_src).resolve()
        report['machine']['ours_src'] = str(opts.ours_source_dir)
    elif ours_file.startswith('/') and 'site-packages' not in ours_file:
        opts.ours_source_dir = Path(ours_file).parent
    print(f'== {scenario_name} ==  server on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}')
    for case in scenario_cases(scenario_name, opts):
        runs = run_case(scenario, case, targets, opts)
        add_ratios(runs, scenario)
        report['cases'].append({'case': case, 'runs': runs})
        print_table(scenario, case, runs)
    return report


def run_once(scenario: Scenario, case: dict, target: Target, app_module: str, opts) -> dict:
    """One server start, one load run, one server stop."""
    label = f'[{scenario.name} {case_label(case)}] {target.name}'
    idle_before = wait_for_quiet_machine(opts.max_wait_idle)
    note = f' (machine {idle_before:.0f}% busy beforehand)' if idle_before > 15 else ''
    print(f'{label}: running {app_module} ...{note}', flush=True)
    try:
        with contextlib.ExitStack() as stack:
            redis = stack.enter_context(RedisServer()) if scenario.redis else None
            env = {'BENCH_REDIS_PORT': str(redis.port)} if redis else None
            extra_pids = (redis.proc.pid,) if redis else ()
            if scenario.redis_cluster:
                redis_cluster = stack.enter_context(_redis_cluster())
                env = {'BENCH_REDIS_PORT': str(redis_cluster.port), 'BENCH_REDIS_CLUSTER': '1'}
                extra_pids = tuple(node.process.pid for node in redis_cluster.nodes)
            server = stack.enter_context(
                Server(
                    target,
                    app_module,
                    keep_logs=opts.keep_logs,
                    workers=scenario.workers,
                    launcher=scenario.launcher,
                    env=env,
                    extra_pids=extra_pids,
                )
            )
            if case.get('auth') == 'jwt' and target.family != 'bare':
                case = {**case, 'query': f'?authorization={fetch_token(server)}'}
            args = loadgen_args(scenario.name, opts, server.url, case)
            if target.protocol != 'ws':
                args += ['--protocol', target.protocol]
            raw = run_loadgen(server, args, loadgen_timeout(scenario.name, opts, case))
            raw['server_command'] = ' '.join(server.command())
            raw['loadgen_args'] = args
            tail = server.log_tail()
    except Exception as exc:
        print(f'{label}: failed ({exc})')
        return {'status': 'failed', 'reason': str(exc)}
    raw['machine_busy_before_percent'] = idle_before
    # an editable install can change while a long scenario runs: note the revision
    source = getattr(opts, 'ours_source_dir', None)
    if source and target.name.startswith('ours'):
        raw['panther_git'] = git_describe(source)
    if raw.get('error'):
        print(f'{label}: error: {raw["error"]} (server log: {tail})')
        return {'status': 'failed', 'reason': raw['error'], 'raw': raw}
    summary = SUMMARIES[scenario.name](raw)
    summary['background_cpu_percent'] = raw.get('background_cpu_percent')
    return {'status': 'ok', 'summary': summary, 'raw': raw}


def fetch_token(server: Server) -> str:
    """An access token from the auth app's ``GET /token``."""
    url = f'http://{HOST}:{server.port}/token'
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())['access_token']


def run_case(scenario: Scenario, case: dict, targets: list[Target], opts) -> dict:
    """Every target, ``opts.repeat`` times, the order rotated each round.

    Rotating spreads slow drifts of the machine over all targets.  A target's
    figure is its run with the median metric among the repeats that other work
    on the machine did not disturb (all repeats if every one was disturbed);
    every repeat's summary stays in the JSON.
    """
    runnable: list[tuple[Target, str]] = []
    runs: dict[str, dict] = {}
    for target in targets:
        app_module = scenario.app_for(target)
        if target.name in scenario.unsupported:
            reason = scenario.unsupported[target.name]
            print(f'[{scenario.name} {case_label(case)}] {target.name}: unsupported ({reason})')
            runs[target.name] = {'status': 'unsupported', 'reason': reason}
            continue
        if app_module is None:
            continue
        reason = preflight(target, app_module)
        if reason is not None:
            print(f'[{scenario.name} {case_label(case)}] {target.name}: not available ({reason})')
            runs[target.name] = {'status': 'not available', 'reason': reason}
            continue
        runnable.append((target, app_module))
        runs[target.name] = {'status': 'pending', 'app': app_module, 'repeats': []}

    repeat = max(1, getattr(opts, 'repeat', 1))
    retries = max(0, getattr(opts, 'retry_disturbed', 0))
    for round_no in range(repeat):
        shift = round_no % len(runnable) if runnable else 0
        for target, app_module in runnable[shift:] + runnable[:shift]:
            for attempt in range(1 + retries):
                result = run_once(scenario, case, target, app_module, opts)
                runs[target.name]['repeats'].append(result)
                background = (result.get('summary') or {}).get('background_cpu_percent') or 0
                if result['status'] != 'ok' or background <= DISTURBED_PERCENT:
                    break
                if attempt < retries:
                    print(f'  other work used {background:.0f}% of a core meanwhile; again')

    for target, _ in runnable:
        run = runs[target.name]
        good = [r for r in run['repeats'] if r['status'] == 'ok']
        if not good:
            run['status'] = 'failed'
            run['reason'] = run['repeats'][-1].get('reason', 'no successful run')
            continue
        quiet = [
            r
            for r in good
            if (r['summary'].get('background_cpu_percent') or 0) <= DISTURBED_PERCENT
        ]
        disturbed = len(good) - len(quiet)
        if quiet:
            good = quiet
        good.sort(key=lambda r: r['summary'].get(scenario.metric) or 0)
        chosen = good[len(good) // 2]
        values = [r['summary'].get(scenario.metric) for r in good]
        run.update(
            status='ok',
            summary={
                **chosen['summary'],
                'repeats': len(good),
                'spread': [values[0], values[-1]],
                'disturbed_repeats_dropped': disturbed if quiet else 0,
            },
            raw=chosen['raw'],
            failed_repeats=len(run['repeats']) - len(good),
        )
        for r in run['repeats']:
            r.pop('raw', None)
    return runs


def add_ratios(runs: dict, scenario: Scenario) -> None:
    def value(name: str) -> float | None:
        run = runs.get(name, {})
        if run.get('status') != 'ok':
            return None
        return run['summary'].get(scenario.metric)

    for name, run in runs.items():
        mine = value(name)
        if mine is None:
            continue
        baseline = TARGETS[name].baseline
        if value(baseline) is None:
            baseline = 'bare'
        for key, other in (('vs_bare', baseline), ('vs_reference', 'reference')):
            theirs = value(other)
            if theirs and other != name:
                run[key] = mine / theirs
                run[f'{key}_target'] = other


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:,.{digits}f}'
    return str(value)


TABLE_COLUMNS = {
    'echo': [
        ('msgs_per_s', 'msgs/s', 0),
        ('msgs_per_cpu_s', 'msgs/CPU-s', 0),
        ('p50_ms', 'p50 ms', 2),
        ('p99_ms', 'p99 ms', 2),
    ],
    'relay': [
        ('msgs_per_s', 'msgs/s', 0),
        ('msgs_per_cpu_s', 'msgs/CPU-s', 0),
        ('p50_ms', 'p50 ms', 2),
        ('p99_ms', 'p99 ms', 2),
    ],
    'broadcast': [
        ('p50_ms', 'p50 ms', 1),
        ('p99_ms', 'p99 ms', 1),
        ('deliveries_per_s', 'deliv/s', 0),
        ('rounds', 'rounds', 0),
    ],
    'idle-memory': [
        ('rss_before_mib', 'RSS0 MiB', 1),
        ('rss_loaded_mib', 'RSS MiB', 1),
        ('kib_per_connection', 'KiB/conn', 2),
        ('open_seconds', 'open s', 1),
    ],
    'handshakes': [
        ('handshakes_per_s', 'hs/s', 0),
        ('handshakes_per_cpu_s', 'hs/CPU-s', 0),
        ('p50_ms', 'p50 ms', 2),
        ('p99_ms', 'p99 ms', 2),
        ('failures', 'fail', 0),
    ],
}


TABLE_COLUMNS['echo-deflate'] = TABLE_COLUMNS['echo']
TABLE_COLUMNS['relay-vs-echo'] = [
    ('relay_vs_echo', 'relay/echo', 2),
    ('relay_msgs_per_s', 'relay msgs/s', 0),
    ('echo_msgs_per_s', 'echo msgs/s', 0),
    ('min_round_ratio', 'min round', 2),
    ('max_round_ratio', 'max round', 2),
]
TABLE_COLUMNS['relay-redis'] = TABLE_COLUMNS['relay-shared'] = TABLE_COLUMNS['relay']
TABLE_COLUMNS['broadcast-redis'] = TABLE_COLUMNS['broadcast-shared'] = TABLE_COLUMNS['broadcast']
TABLE_COLUMNS['echo-session'] = TABLE_COLUMNS['echo']
TABLE_COLUMNS['broadcast-session'] = TABLE_COLUMNS['broadcast']
TABLE_COLUMNS['idle-memory-session'] = [
    *TABLE_COLUMNS['idle-memory'], ('kib_per_detached_session', 'KiB/detached', 2)]
TABLE_COLUMNS['relay-redis-cluster'] = TABLE_COLUMNS['relay']
TABLE_COLUMNS['broadcast-redis-cluster'] = TABLE_COLUMNS['broadcast']
TABLE_COLUMNS['echo-metrics'] = TABLE_COLUMNS['echo']
TABLE_COLUMNS['broadcast-metrics'] = TABLE_COLUMNS['broadcast']


def print_table(scenario: Scenario, case: dict, runs: dict) -> None:
    columns = TABLE_COLUMNS[scenario.name]
    cpu_cols = not scenario.name.startswith('idle-memory')
    header = ['target', *(title for _, title, _ in columns)]
    if cpu_cols:
        header += ['srv CPU%', 'load CPU%', 'other CPU%']
    header += ['x bare', 'x ref']
    rows = []
    for name, run in runs.items():
        if run.get('status') != 'ok':
            rows.append([name, f'{run.get("status")}: {run.get("reason", "")[:70]}'])
            continue
        s = run['summary']
        row = [name, *(_fmt(s.get(key), digits) for key, _, digits in columns)]
        if cpu_cols:
            row += [
                _fmt(s.get('server_cpu_percent'), 0),
                _fmt(s.get('loadgen_cpu_percent'), 0),
                _fmt(s.get('background_cpu_percent'), 0),
            ]
        bare = run.get('vs_bare')
        ref = run.get('vs_reference')
        row += [
            f'{bare:.2f} ({run["vs_bare_target"]})' if bare else '-',
            f'{ref:.2f}' if ref else '-',
        ]
        rows.append(row)
    widths = [
        max(len(str(r[i])) for r in [header, *rows] if len(r) == len(header))
        for i in range(len(header))
    ]
    better = 'higher' if scenario.higher_is_better else 'lower'
    print(
        f'\n{scenario.name} ({case_label(case)}); ratios of {scenario.metric}, {better} is better'
    )
    print('  '.join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        if len(row) == 2:
            print(f'{row[0].ljust(widths[0])}  {row[1]}')
        else:
            print('  '.join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    busy = [
        name
        for name, run in runs.items()
        if run.get('status') == 'ok'
        and (run['summary'].get('background_cpu_percent') or 0) > DISTURBED_PERCENT
    ]
    if busy:
        print(
            f'warning: other work used over {DISTURBED_PERCENT}% of a core during: '
            f'{", ".join(busy)}; their figures are skewed'
        )
    print()


def save_report(report: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f'{report["name"]}.json'
    path.write_text(json.dumps(report, indent=2, default=str) + '\n')
    png = path.with_suffix('.png')
    done = subprocess.run(
        [str(_venv_python(LOAD_VENV)), str(PLOT), str(path), str(png)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        print(f'plot failed: {done.stderr.strip().splitlines()[-1:]}')
    else:
        print(f'saved {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}')
        print(f'saved {png.relative_to(Path.cwd()) if png.is_relative_to(Path.cwd()) else png}')
    return path


# --------------------------------------------------------------------------- issue targets


def _load_report(out_dir: Path, name: str) -> dict | None:
    path = out_dir / f'{name}.json'
    return json.loads(path.read_text()) if path.exists() else None


def _figure(report: dict | None, target: str, key: str, **case) -> float | None:
    """``key`` of ``target``'s summary in the case of ``report`` matching ``case``."""
    for entry in (report or {}).get('cases', []):
        if all(entry['case'].get(k) == v for k, v in case.items()):
            run = entry['runs'].get(target, {})
            if run.get('status') == 'ok':
                return run['summary'].get(key)
    return None


def _median_receiver_ms(report: dict | None, target: str, receivers: int) -> float | None:
    """Median over the rounds of the time until half the receivers had the message."""
    for entry in (report or {}).get('cases', []):
        if entry['case'].get('receivers') == receivers:
            rounds = (entry['runs'].get(target, {}).get('raw') or {}).get('rounds')
            if rounds:
                return statistics.median(r['median_ms'] for r in rounds)
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _ratio_row(target: str, required: float, higher_is_better: bool, mine, theirs) -> dict:
    return {
        'target': target,
        'value': _ratio(mine, theirs),
        'required': required,
        'higher_is_better': higher_is_better,
        'unit': 'x',
    }


def _relay_row(relay_ab: dict | None, relay: dict | None, echo: dict | None) -> dict:
    """Relay vs our echo, measured on one server with the two loops taking turns.

    The ``relay`` and ``echo`` scenarios are separate runs, minutes apart, whose
    levels drift by up to a quarter on this kind of machine; their quotient is
    kept beside the verdict, not used for it.
    """
    return {
        'target': 'relay, 1 worker >= 0.8x our echo (msgs/s, taking turns on one server)',
        'value': _figure(relay_ab, 'ours', 'relay_vs_echo'),
        'required': 0.8,
        'higher_is_better': True,
        'unit': 'x',
        'bare_ratio': _figure(relay_ab, 'bare', 'relay_vs_echo'),
        'separate_runs': _ratio(_figure(relay, 'ours', 'msgs_per_s'), _figure(echo, 'ours', 'msgs_per_s')),
    }


def _peer_row(title: str, report: dict | None, ours: str, key: str, higher_is_better: bool, required: float,
              **case) -> dict:
    """Ours against the best peer (issue #19), as "times better" (> 1: ours ahead).

    ``value`` is ours / best peer for rates and best peer / ours for times and
    sizes; ``per_peer`` has the same quotient against each peer (None where a
    peer did not run or failed, with its status in ``peer_status``).
    """
    mine = _figure(report, ours, key, **case)
    per_peer, status = {}, {}
    for peer in PEERS:
        theirs = _figure(report, peer, key, **case)
        per_peer[peer] = (_ratio(mine, theirs) if higher_is_better else _ratio(theirs, mine)) if theirs else None
        status[peer] = _status(report, peer, **case)
    measured = [v for v in per_peer.values() if v is not None]
    return {
        'target': title,
        'value': min(measured) if mine is not None and measured else None,
        'required': required,
        'higher_is_better': True,
        'unit': 'x',
        'per_peer': per_peer,
        'peer_status': status,
    }


def _status(report: dict | None, target: str, **case) -> str | None:
    """``ok``, ``failed``, ``unsupported``, ... for ``target`` in ``report``'s matching case; None if absent."""
    for entry in (report or {}).get('cases', []):
        if all(entry['case'].get(k) == v for k, v in case.items()):
            run = entry['runs'].get(target)
            return run.get('status') if run else None
    return None
def _metrics_cost_rows(out_dir: Path) -> list[dict]:
    """METRICS_PATH's cost: metrics on vs off in one run of ``echo-metrics`` and of ``broadcast-metrics``."""
    echo = _load_report(out_dir, 'echo-metrics')
    broadcast = _load_report(out_dir, 'broadcast-metrics')
    return [
        _ratio_row('echo with metrics on >= 0.95x metrics off (msgs/s)', 0.95, True,
                   _figure(echo, 'ours-metrics', 'msgs_per_s'), _figure(echo, 'ours', 'msgs_per_s')),
        _ratio_row('broadcast to 1,000 with metrics on <= 1.1x metrics off (p50 ms)', 1.1, False,
                   _figure(broadcast, 'ours-groups-metrics', 'p50_ms', receivers=1000),
                   _figure(broadcast, 'ours-groups', 'p50_ms', receivers=1000)),
    ]


def evaluate_targets(out_dir: Path) -> dict:
    """The benchmark issue's targets, each as measured / required, from the saved results.

    Ratios use figures of the same scenario run (one invocation); "relay vs our
    echo" comes from ``relay-vs-echo`` (both on one server, taking turns).
    """
    echo = _load_report(out_dir, 'echo')
    relay = _load_report(out_dir, 'relay')
    relay_ab = _load_report(out_dir, 'relay-vs-echo')
    relay_redis = _load_report(out_dir, 'relay-redis')
    broadcast = _load_report(out_dir, 'broadcast')
    memory = _load_report(out_dir, 'idle-memory')
    rows = [
        _ratio_row('echo >= 0.95x bare ASGI (msgs/s)', 0.95, True,
                   _figure(echo, 'ours', 'msgs_per_s'), _figure(echo, 'bare', 'msgs_per_s')),
        _relay_row(relay_ab, relay, echo),
        _ratio_row('relay via Redis (2 workers) >= 4x the reference (msgs/s)', 4.0, True,
                   _figure(relay_redis, 'ours', 'msgs_per_s'), _figure(relay_redis, 'reference', 'msgs_per_s')),
    ]
    # Issue #19: judged against the direct-frame floor of the same run, not against an absolute
    # time (which judged this machine's kernel rather than the code).
    limit = 1.1
    for receivers in (1000, 10000):
        groups = _figure(broadcast, 'ours-groups', 'p50_ms', receivers=receivers)
        # The other reading of "p50": the median receiver's delivery time, not the last one's.
        median_receiver = {
            target: _median_receiver_ms(broadcast, target, receivers) for target in ('ours-groups', 'bare-direct')
        }
        bare = _figure(broadcast, 'bare', 'p50_ms', receivers=receivers)
        floor = _figure(broadcast, 'bare-direct', 'p50_ms', receivers=receivers)
        rows.append(
            {
                'target': f'broadcast via groups to {receivers:,} <= {limit:g}x the direct-frame floor (p50 ms)',
                'value': _ratio(groups, floor),
                'required': limit,
                'higher_is_better': False,
                'unit': 'x',
                'groups_ms': groups,
                'bare_ms': bare,
                'vs_bare': _ratio(groups, bare),
                # the bare app writing frames straight to the transport: what is left is the kernel's work
                'floor_ms': floor,
                'median_receiver_ms': median_receiver['ours-groups'],
                'floor_median_receiver_ms': median_receiver['bare-direct'],
            }
        )
    rows += _metrics_cost_rows(out_dir)
    jwt = _load_report(out_dir, 'handshakes-jwt')
    rows.append(_ratio_row('handshakes with a JWT >= 0.9x bare handshakes without auth', 0.9, True,
                           _figure(jwt, 'ours', 'handshakes_per_s'), _figure(jwt, 'bare', 'handshakes_per_s')))
    rows.append(
        _ratio_row('idle memory per connection <= 1.1x bare ASGI', 1.1, False,
                   _figure(memory, 'ours', 'kib_per_connection'), _figure(memory, 'bare', 'kib_per_connection'))
    )
    handshakes = _load_report(out_dir, 'handshakes')
    broadcast_redis = _load_report(out_dir, 'broadcast-redis')
    rows += [
        _peer_row('echo: ahead of every peer (msgs/s)', echo, 'ours', 'msgs_per_s', True, 1.0),
        _peer_row('handshakes: ahead of every peer (handshakes/s)', handshakes, 'ours', 'handshakes_per_s',
                  True, 1.0),
        _peer_row('relay via Redis, 2 workers: >= 2x every peer (msgs/s)', relay_redis, 'ours', 'msgs_per_s',
                  True, 2.0),
        *(
            _peer_row(f'broadcast to {n:,} via Redis, 2 workers: >= 2x every peer (p50 ms, groups)',
                      broadcast_redis, 'ours-groups', 'p50_ms', False, 2.0, receivers=n)
            for n in (1000, 10000)
        ),
        _peer_row('idle memory per connection, against the peers: <= the lowest peer (KiB)', memory, 'ours',
                  'kib_per_connection', False, 1.0),
    ]
    for row in rows:
        value, required = row['value'], row['required']
        if value is None:
            row['met'] = None
        else:
            row['met'] = value >= required if row['higher_is_better'] else value <= required
        # "ahead of every peer" is not met while a peer that can do the workload has no figure
        missing = [p for p, st in row.get('peer_status', {}).items() if st not in ('ok', 'unsupported')]
        if missing and row['met']:
            row['met'] = None
            row['incomplete'] = missing
    return {
        'dates': {
            name: (report or {}).get('machine', {}).get('date')
            for name, report in (
                ('echo', echo),
                ('relay', relay),
                ('relay-vs-echo', relay_ab),
                ('relay-redis', relay_redis),
                ('broadcast', broadcast),
                ('idle-memory', memory),
                ('handshakes', handshakes),
                ('broadcast-redis', broadcast_redis),
            )
        },
        'targets': rows,
    }


def print_targets(report: dict) -> None:
    print('\nissue targets')
    for row in report['targets']:
        value = row['value']
        shown = '-' if value is None else f'{value:,.2f}{row["unit"]}'
        verdict = {True: 'met', False: 'MISSED', None: 'not measured'}[row['met']]
        if row.get('incomplete'):
            verdict = f'not decided (no figure from {", ".join(row["incomplete"])})'
        extra = ''
        if row.get('bare_ms') is not None:
            extra = (f'  (groups {row["groups_ms"] or 0:,.1f} ms; bare ASGI {row["bare_ms"]:,.1f} ms;'
                     f' groups {row["vs_bare"]:.2f}x bare)')
            if row.get('floor_ms') is not None:
                extra += f'  (bare, direct frames {row["floor_ms"]:,.1f} ms)'
            if row.get('median_receiver_ms') is not None:
                extra += (f'  [median receiver: {row["median_receiver_ms"]:,.1f} ms,'
                          f' floor {row["floor_median_receiver_ms"] or 0:,.1f} ms]')
        if row.get('per_peer'):
            shown_peers = [
                f'{peer} {ratio:.2f}x' if ratio is not None else f'{peer} {row["peer_status"][peer] or "not run"}'
                for peer, ratio in row['per_peer'].items()
            ]
            extra = f'  (ours vs {", ".join(shown_peers)}; > 1: ours ahead)'
        if row.get('separate_runs') is not None or row.get('bare_ratio') is not None:
            bare, apart = row['bare_ratio'] or 0, row['separate_runs'] or 0
            extra = f'  (bare ASGI {bare:.2f}x; the separate relay and echo runs {apart:.2f}x)'
        print(f'  {row["target"]}: {shown} -> {verdict}{extra}')
    print()


def _cell(report: dict | None, target: str, keys: tuple[str, ...], **case) -> str:
    """``keys`` of a target's summary as ``a (b)`` or ``a / b``; '-' when not measured."""
    values = [_figure(report, target, key, **case) for key in keys]
    if values[0] is None:
        status = _status(report, target, **case)
        return status if status in ('failed', 'unsupported', 'not available') else '-'

    def fmt(key: str, value: float | None) -> str:
        if value is None:
            return '-'
        if key == 'relay_vs_echo':
            return f'{value:.2f}x'
        return f'{value:,.1f}' if value < 100 else f'{value:,.0f}'

    shown = [fmt(k, v) for k, v in zip(keys, values, strict=True)]
    if len(shown) == 1:
        return shown[0]
    if keys[0].endswith('_ms'):
        return ' / '.join(shown)
    return f'{shown[0]} ({shown[1]})'


def _ahead_of_peers(report: dict | None, ours: str, key: str, **case) -> str:
    """How many times better ours is than the best peer that ran (> 1: ahead), and which peer that is."""
    mine = _figure(report, ours, key, **case)
    lower_is_better = key.endswith('_ms') or key == 'kib_per_connection'
    theirs = {p: v for p in PEERS if (v := _figure(report, p, key, **case))}
    if mine is None or not theirs:
        return '-'
    best = (min if lower_is_better else max)(theirs, key=theirs.get)
    times = theirs[best] / mine if lower_is_better else mine / theirs[best]
    return f'{times:.2f}x ({best})'


def markdown_table(out_dir: Path) -> str:
    """The headline figures of every saved scenario as one Markdown table."""
    rows = [
        ('echo msgs/s (p50 ms)', 'echo', ('msgs_per_s', 'p50_ms'), {}, 'ours'),
        ('echo, clients with permessage-deflate, msgs/s (p50 ms)', 'echo-deflate', ('msgs_per_s', 'p50_ms'), {},
         'ours'),
        ('relay, 1 worker, msgs/s (p50 ms)', 'relay', ('msgs_per_s', 'p50_ms'), {}, 'ours'),
        ('relay / echo, 1 worker, taking turns on one server', 'relay-vs-echo', ('relay_vs_echo',), {}, 'ours'),
        ('relay, 2 workers + Redis, msgs/s (p50 ms)', 'relay-redis', ('msgs_per_s', 'p50_ms'), {}, 'ours'),
        ('relay, 2 workers shared-local, msgs/s (p50 ms)', 'relay-shared', ('msgs_per_s', 'p50_ms'), {}, 'ours'),
        ('broadcast 1k, loop over ids, p50 / p99 ms', 'broadcast', ('p50_ms', 'p99_ms'), {'receivers': 1000}, 'ours'),
        ('broadcast 1k, groups, p50 / p99 ms', 'broadcast', ('p50_ms', 'p99_ms'), {'receivers': 1000}, 'ours-groups'),
        ('broadcast 10k, loop over ids, p50 / p99 ms', 'broadcast', ('p50_ms', 'p99_ms'), {'receivers': 10000}, 'ours'),
        ('broadcast 10k, groups, p50 / p99 ms', 'broadcast', ('p50_ms', 'p99_ms'), {'receivers': 10000}, 'ours-groups'),
        ('broadcast 1k, groups, 2 workers + Redis, p50 / p99 ms', 'broadcast-redis', ('p50_ms', 'p99_ms'),
         {'receivers': 1000}, 'ours-groups'),
        ('broadcast 10k, groups, 2 workers + Redis, p50 / p99 ms', 'broadcast-redis', ('p50_ms', 'p99_ms'),
         {'receivers': 10000}, 'ours-groups'),
        ('broadcast 1k, groups, 2 workers shared-local, p50 / p99 ms', 'broadcast-shared', ('p50_ms', 'p99_ms'),
         {'receivers': 1000}, 'ours-groups'),
        ('broadcast 10k, groups, 2 workers shared-local, p50 / p99 ms', 'broadcast-shared', ('p50_ms', 'p99_ms'),
         {'receivers': 10000}, 'ours-groups'),
        ('idle memory KiB/connection (10k)', 'idle-memory', ('kib_per_connection',), {}, 'ours'),
        ('handshakes/s (p50 ms)', 'handshakes', ('handshakes_per_s', 'p50_ms'), {}, 'ours'),
        ('handshakes/s with JWT (bare: no auth)', 'handshakes-jwt', ('handshakes_per_s', 'p50_ms'), {}, 'ours'),
    ]
    lines = [
        '| scenario | bare ASGI | bare, direct frames | ours | reference 5.5.0 | reference, quiet log '
        '| ours x bare | ours x reference | FastAPI + broadcaster | Django Channels | python-socketio | Litestar '
        '| ours vs best peer |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    reports: dict[str, dict | None] = {}
    for title, name, keys, case, ours in rows:
        report = reports.setdefault(name, _load_report(out_dir, name))
        if report is None:
            continue
        mine = _figure(report, ours, keys[0], **case)
        ratios = []
        for other in ('bare', 'reference'):
            theirs = _figure(report, other, keys[0], **case)
            ratios.append(f'{mine / theirs:.2f}' if mine is not None and theirs else '-')
        peers = ' | '.join(_cell(report, peer, keys, **case) for peer in PEERS)
        lines.append(
            f'| {title} | {_cell(report, "bare", keys, **case)} | {_cell(report, "bare-direct", keys, **case)} '
            f'| {_cell(report, ours, keys, **case)} '
            f'| {_cell(report, "reference", keys, **case)} | {_cell(report, "reference-quiet", keys, **case)} '
            f'| {ratios[0]} | {ratios[1]} | {peers} | {_ahead_of_peers(report, ours, keys[0], **case)} |'
        )
    return '\n'.join(lines)


def save_targets(out_dir: Path) -> None:
    print(markdown_table(out_dir))
    report = evaluate_targets(out_dir)
    print_targets(report)
    path = out_dir / 'targets.json'
    path.write_text(json.dumps(report, indent=2) + '\n')
    done = subprocess.run(
        [str(_venv_python(LOAD_VENV)), str(PLOT), str(path), str(path.with_suffix('.png'))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        print(f'plot failed: {done.stderr.strip().splitlines()[-1:]}')
    else:
        print(f'saved {path} and {path.with_suffix(".png").name}')


# --------------------------------------------------------------------------- CLI


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--repeat', type=int, default=1, help='runs per target (median reported, default 1)'
    )
    parser.add_argument('--targets', help=f'comma-separated, from: {", ".join(TARGETS)}')
    parser.add_argument(
        '--ours-src', help='put this directory first on PYTHONPATH for the ours targets'
    )
    parser.add_argument('--out-dir', type=Path, default=RESULTS_DIR)
    parser.add_argument('--keep-logs', action='store_true', help='keep server scratch dirs')
    parser.add_argument('--server', default='uvicorn', choices=['uvicorn', *OTHER_SERVERS],
                        help='ASGI server for every target (default uvicorn; granian/hypercorn: bare and ours)')
    parser.add_argument(
        '--retry-disturbed',
        type=int,
        default=2,
        help='re-run a run disturbed by other work on the machine up to N times (default 2)',
    )
    parser.add_argument(
        '--max-wait-idle',
        type=float,
        default=60.0,
        help='before each run wait up to this many seconds for a quiet machine',
    )


def _timed(parser: argparse.ArgumentParser, duration: float = 10.0) -> None:
    parser.add_argument('--duration', type=float, default=duration, help='measured seconds')
    parser.add_argument('--warmup', type=float, default=3.0, help='seconds before measuring')


def _broadcast_options(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument(
        '--receivers',
        type=lambda s: [int(x) for x in s.split(',')],
        default=[1000, 10000],
        help='comma-separated receiver counts (default 1000,10000)',
    )
    p.add_argument('--rounds', type=int, default=20)
    p.add_argument('--warmup-rounds', type=int, default=2)
    p.add_argument('--round-timeout', type=float, default=60.0)
    p.add_argument(
        '--budget',
        type=float,
        default=60.0,
        help='seconds of measured rounds per target; slow targets stop early (min 3 rounds)',
    )
    p.add_argument('--size', type=int, default=32)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)

    sub.add_parser('setup', help='create .venv-reference and .venv-load (idempotent)')

    p = sub.add_parser('echo', help='closed-loop echo: msgs/s and latency')
    _common(p)
    _timed(p)
    p.add_argument('--connections', type=int, default=50)
    p.add_argument('--size', type=int, default=32)

    p = sub.add_parser('echo-metrics', help='echo with METRICS_PATH off (ours) and on (ours-metrics)')
    _common(p)
    _timed(p)
    p.add_argument('--connections', type=int, default=50)
    p.add_argument('--size', type=int, default=32)

    p = sub.add_parser('echo-deflate', help='echo with clients that negotiate permessage-deflate (browsers do)')
    _common(p)
    _timed(p)
    p.add_argument('--connections', type=int, default=50)
    p.add_argument('--size', type=int, default=32)

    p = sub.add_parser('relay', help='closed-loop send to another connection by id')
    _common(p)
    _timed(p)
    p.add_argument('--pairs', type=int, default=25, help='sender/receiver pairs')
    p.add_argument('--size', type=int, default=32)

    p = sub.add_parser(
        'relay-vs-echo', help='echo and relay taking turns on one server: relay msgs/s per echo msg/s'
    )
    _common(p)
    p.add_argument('--connections', type=int, default=50, help='echo connections')
    p.add_argument('--pairs', type=int, default=25, help='relay sender/receiver pairs')
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--rounds', type=int, default=4, help='echo+relay rounds (order alternates)')
    p.add_argument('--phase', type=float, default=3.0, help='measured seconds per phase')
    p.add_argument('--phase-warmup', type=float, default=1.0, help='seconds before each phase')

    for name, where in (
        ('relay-redis', '2 uvicorn workers + a redis-server'),
        ('relay-shared', '`panther run --workers 2` (shared-local bus)'),
        ('relay-redis-cluster', '2 uvicorn workers + a Redis Cluster of 3 masters, 3 replicas'),
    ):
        p = sub.add_parser(name, help=f'relay between connections on different workers: {where}')
        _common(p)
        _timed(p)
        p.add_argument('--pairs', type=int, default=25, help='sender/receiver pairs')
        p.add_argument('--size', type=int, default=32)

    for name, help_text in (
        ('broadcast', 'one message to N receivers: time until all got it'),
        ('broadcast-redis', 'broadcast through groups, 2 uvicorn workers + a redis-server'),
        ('broadcast-shared', 'broadcast through groups, `panther run --workers 2`'),
        ('broadcast-redis-cluster', 'broadcast through groups, 2 uvicorn workers + a 3+3 Redis Cluster'),
    ):
        _broadcast_options(sub.add_parser(name, help=help_text))
    p = sub.add_parser('broadcast-metrics', help='broadcast through groups with METRICS_PATH off and on')
    _broadcast_options(p)
    p.set_defaults(receivers=[1000])

    p = sub.add_parser('idle-memory', help='server RSS per idle connection')
    _common(p)
    p.add_argument('--connections', type=int, default=10000)
    p.add_argument('--settle', type=float, default=3.0)

    p = sub.add_parser('echo-session', help='echo for panther.v1 clients (resumable sessions)')
    _common(p)
    _timed(p)
    p.add_argument('--connections', type=int, default=50)
    p.add_argument('--size', type=int, default=32)
    _broadcast_options(sub.add_parser('broadcast-session', help='broadcast through groups to panther.v1 clients'))
    p = sub.add_parser('idle-memory-session', help='server RSS per idle session, then per detached session')
    _common(p)
    p.add_argument('--connections', type=int, default=10000)
    p.add_argument('--settle', type=float, default=3.0)

    p = sub.add_parser('handshakes', help='connect + accept + close per second')
    _common(p)
    _timed(p)
    p.add_argument('--concurrency', type=int, default=20)
    p.add_argument(
        '--auth',
        choices=['none', 'jwt'],
        default='none',
        help='jwt: panther apps require a JWT (?authorization=...); saves handshakes-jwt.*',
    )

    p = sub.add_parser('targets', help="the issue's targets from the saved results (no run)")
    p.add_argument('--out-dir', type=Path, default=RESULTS_DIR)

    _scaling().add_parsers(sub)

    p = sub.add_parser('all', help='every scenario with its defaults')
    _common(p)
    p.add_argument('--duration', type=float, default=10.0)
    return parser


def _scaling():
    """benchmarks/scaling.py, which builds on this module (imported late: it imports this one)."""
    # Run as a script this module is __main__: scaling's `import run` must find it, not load a second copy.
    sys.modules.setdefault('run', sys.modules[__name__])
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    import scaling

    return scaling


def _defaults_for(scenario: str, base: argparse.Namespace) -> argparse.Namespace:
    parser = build_parser()
    args = [scenario]
    if base.targets:
        args += ['--targets', base.targets]
    if base.ours_src:
        args += ['--ours-src', base.ours_src]
    if scenario in ('echo', 'echo-deflate', 'echo-session', 'echo-metrics', 'relay', 'relay-redis', 'relay-shared',
                    'relay-redis-cluster', 'handshakes'):
        args += ['--duration', str(base.duration)]
    opts = parser.parse_args(args)
    opts.out_dir = base.out_dir
    opts.keep_logs = base.keep_logs
    opts.repeat = base.repeat
    opts.max_wait_idle = base.max_wait_idle
    opts.retry_disturbed = base.retry_disturbed
    return opts


def main(argv: list[str] | None = None) -> None:
    global SERVER_NAME
    opts = build_parser().parse_args(argv)
    raise_fd_limit()
    server = getattr(opts, 'server', 'uvicorn')
    if server != 'uvicorn':
        # Another server's results go to a folder of their own: results/<server>/<scenario>.json.
        SERVER_NAME = server
        opts.out_dir = opts.out_dir / server
    if opts.command == 'setup':
        ensure_environments()
        print('environments ready')
        return
    if opts.command == 'targets':
        save_targets(opts.out_dir)
        return
    if opts.command in _scaling().COMMANDS:
        _scaling().main(opts)
        return
    if opts.command != 'all':
        save_report(run_scenario(opts.command, opts), opts.out_dir)
        return
    for name in SCENARIOS:
        save_report(run_scenario(name, _defaults_for(name, opts)), opts.out_dir)
    jwt_opts = _defaults_for('handshakes', opts)
    jwt_opts.auth = 'jwt'
    save_report(run_scenario('handshakes', jwt_opts), opts.out_dir)
    save_targets(opts.out_dir)


if __name__ == '__main__':
    main()
