"""A real Redis Cluster for tests: 3 masters and 3 replicas on free loopback ports.

``run_redis_cluster()`` starts six ``redis-server --cluster-enabled yes`` in temporary
directories, joins them with ``redis-cli --cluster create ... --cluster-replicas 1``,
waits until every node says ``cluster_state:ok`` and every replica is in sync, and
stops them all afterwards. A short ``cluster-node-timeout`` makes a killed master's
replica take over within a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import free_port, wait_for_port

NODE_TIMEOUT_MS = 1000


@dataclass
class Node:
    port: int
    process: subprocess.Popen

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last write, as a crashed machine."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)


@dataclass
class RedisCluster:
    nodes: list[Node] = field(default_factory=list)

    @property
    def port(self) -> int:
        """A start-up node's port (the first live node; any would do)."""
        return self._live().port

    def config(self) -> dict:
        return {'cluster': True, 'host': '127.0.0.1', 'port': self.port}

    def cli(self, port: int, *args: str) -> str:
        return subprocess.run([_binary('redis-cli'), '-h', '127.0.0.1', '-p', str(port), *args],
                              capture_output=True, text=True, timeout=10).stdout

    def master_of(self, key: str) -> Node:
        """The node serving ``key`` now (asked of a live node)."""
        slot = int(self.cli(self._live().port, 'CLUSTER', 'KEYSLOT', key).strip())
        for line in self.cli(self._live().port, 'CLUSTER', 'NODES').splitlines():
            parts = line.split()
            if 'master' not in parts[2] or 'fail' in parts[2]:
                continue
            for span in parts[8:]:
                low, _, high = span.partition('-')
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    port = int(parts[1].split(':')[1].split('@')[0])
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(f'no master serves slot {slot}')

    def _live(self) -> Node:
        return next(n for n in self.nodes if n.process.poll() is None)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node says the cluster is ok and every live replica is in sync."""
        deadline = time.monotonic() + timeout
        while True:
            live = [n for n in self.nodes if n.process.poll() is None]
            states = [self.cli(n.port, 'CLUSTER', 'INFO') for n in live]
            replication = [self.cli(n.port, 'INFO', 'replication') for n in live]
            ok = all('cluster_state:ok' in s for s in states) and all(
                'role:master' in r or 'master_link_status:up' in r for r in replication)
            if ok:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f'the Redis Cluster is not ok: {states} {replication}')
            time.sleep(0.1)

    def flush(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None and 'role:master' in self.cli(node.port, 'INFO', 'replication'):
                self.cli(node.port, 'FLUSHALL')


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f'{name} is not installed (scripts/test.sh installs it)')
    return path


def _spawn(port: int, bus_port: int, directory: Path, prefix: Sequence[str] = ()) -> subprocess.Popen:
    directory.mkdir()
    return subprocess.Popen(
        [*prefix, _binary('redis-server'), '--port', str(port), '--bind', '127.0.0.1', '--protected-mode', 'no',
         '--cluster-enabled', 'yes', '--cluster-port', str(bus_port), '--cluster-config-file', 'nodes.conf',
         '--cluster-node-timeout', str(NODE_TIMEOUT_MS), '--cluster-replica-validity-factor', '0',
         '--save', '', '--appendonly', 'no', '--dir', str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


@contextlib.contextmanager
def run_redis_cluster(masters: int = 3, prefix: Sequence[str] = ()) -> Iterator[RedisCluster]:
    """A fresh cluster of ``masters`` masters with one replica each; stopped afterwards.

    ``prefix`` goes before each ``redis-server`` command (the benchmarks pin them with ``taskset``).
    """
    cluster = RedisCluster()
    with tempfile.TemporaryDirectory(prefix='panther-redis-cluster-') as scratch:
        try:
            for i in range(masters * 2):
                port = free_port()
                cluster.nodes.append(Node(port, _spawn(port, free_port(), Path(scratch) / str(i), prefix)))
            for node in cluster.nodes:
                wait_for_port(node.port, node.process)
            addresses = [f'127.0.0.1:{n.port}' for n in cluster.nodes]
            created = subprocess.run(
                [_binary('redis-cli'), '--cluster', 'create', *addresses, '--cluster-replicas', '1',
                 '--cluster-yes'], capture_output=True, text=True, timeout=60)
            if created.returncode != 0:
                raise RuntimeError(f'redis-cli --cluster create failed:\n{created.stdout}\n{created.stderr}')
            cluster.wait_ok()
            yield cluster
        finally:
            for node in cluster.nodes:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.process.pid, signal.SIGKILL)
                node.process.wait(5)
