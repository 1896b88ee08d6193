"""Real processes for tests: a panther/uvicorn/gunicorn server, a redis-server.

Each starts on a free loopback port, is waited for until it answers, and is
stopped (and its log kept for failure messages) when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / 'examples'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 20.0,
                  log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = log.read_text() if log and log.exists() else ''
            raise RuntimeError(f'process exited with {process.returncode} before listening:\n{output}')
        with contextlib.suppress(OSError), socket.create_connection(('127.0.0.1', port), timeout=0.2):
            return
        time.sleep(0.05)
    output = log.read_text() if log and log.exists() else ''
    raise TimeoutError(f'nothing listened on port {port} within {timeout}s:\n{output}')


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def http(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def ws(self) -> str:
        return f'ws://127.0.0.1:{self.port}'

    def log(self) -> str:
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(ROOT), env.get('PYTHONPATH', '')]))
    env['PYTHONUNBUFFERED'] = '1'
    env.update(extra or {})
    return env


@contextlib.contextmanager
def serve(
    target: str = 'main:app',
    cwd: str | Path = EXAMPLES / 'echo',
    *,
    server: str = 'panther',
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[Server]:
    """Run ``target`` under ``server`` ('panther', 'uvicorn' or 'gunicorn') in a subprocess.

    For gunicorn pass the worker options in ``args`` (``-w 3 -k panther.workers.UvicornWorker``).
    """
    port = port or free_port()
    if server == 'panther':
        command = [sys.executable, '-m', 'panther.cli', 'run', target, '--port', str(port), *args]
    elif server == 'uvicorn':
        command = [sys.executable, '-m', 'uvicorn', target, '--port', str(port), *args]
    elif server == 'gunicorn':
        command = [sys.executable, '-m', 'gunicorn', target, '-b', f'127.0.0.1:{port}', *args]
    else:
        raise ValueError(server)
    log_file = tempfile.NamedTemporaryFile('w+b', prefix='panther-server-', suffix='.log', delete=False)
    log_path = Path(log_file.name)
    process = subprocess.Popen(command, cwd=cwd, env=_env(env), stdout=log_file, stderr=subprocess.STDOUT,
                               start_new_session=True)
    running = Server(port, process, log_path)
    try:
        wait_for_port(port, process, log=log_path)
        yield running
    finally:
        running.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # workers a supervisor left behind
        log_file.close()


@dataclass
class Redis:
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f'redis://127.0.0.1:{self.port}/0'

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def start(self) -> None:
        """(Re)start on the same port, e.g. after ``stop()`` in an outage test."""
        self.process = _spawn_redis(self.port)
        wait_for_port(self.port, self.process)
        _wait_redis_ready(self.port)


def _spawn_redis(port: int) -> subprocess.Popen:
    binary = shutil.which('redis-server')
    if binary is None:
        raise RuntimeError('redis-server is not installed (scripts/test.sh installs it)')
    return subprocess.Popen(
        [binary, '--port', str(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
         '--protected-mode', 'no'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _wait_redis_ready(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(('127.0.0.1', port), timeout=0.5) as s:
            s.sendall(b'PING\r\n')
            if s.recv(64).startswith(b'+PONG'):
                return
        time.sleep(0.05)
    raise TimeoutError(f'redis-server on port {port} did not answer PING')


@contextlib.contextmanager
def run_redis() -> Iterator[Redis]:
    """A throwaway redis-server on a free loopback port, without persistence."""
    port = free_port()
    redis = Redis(port, _spawn_redis(port))
    try:
        wait_for_port(port, redis.process)
        _wait_redis_ready(port)
        yield redis
    finally:
        redis.stop()
