"""The shared-local bus's private directory: where it comes from, what it holds, who may use it.

Layout (mode 0700, one per server instance)::

    <dir>/<worker id>.sock                  each worker listens here (Unix-domain socket, mode 0600)
    <dir>/groups/<digest>/<worker id>       exists while that worker has members of the group

Where the directory comes from:

- ``panther run main:app --workers N`` creates one and passes it to the workers in
  the ``PANTHER_BUS_DIR`` environment variable (``share_between_workers``);
- ``gunicorn --preload``: the app is built once in the master, which forks the
  workers; each worker derives the same directory from the master's pid and a
  random token drawn when the app was built (``preload_directory``).

Liveness needs no heartbeat: the kernel closes a process's listening socket when
the process dies (even by SIGKILL), so a connect to its socket file is refused.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from panther.argv import int_option, to_int
from panther.connection_ids import WORKER_ID_LENGTH

ENV_DIR = 'PANTHER_BUS_DIR'


def preload_directory(built_pid: int, token: str) -> str:
    """The directory every worker forked from the process ``built_pid`` shares."""
    return os.path.join(tempfile.gettempdir(), f'panther-{os.getuid()}', f'{built_pid}-{token}')


def share_between_workers(uvicorn_args: list[str], settings: Any = None) -> str | None:
    """For ``panther run --workers N``: create a shared directory and export it to the workers.

    Called before uvicorn spawns its workers (they inherit the environment). Does
    nothing for one worker, when Redis is configured, or when ``PANTHER_BUS_DIR``
    is already set. Returns the directory, if one was created.
    """
    workers = int_option(uvicorn_args, '--workers') or to_int(os.environ.get('WEB_CONCURRENCY'))
    if not workers or workers < 2 or os.environ.get(ENV_DIR) or getattr(settings, 'REDIS', None):
        return None
    directory = tempfile.mkdtemp(prefix='panther-bus-')
    os.environ[ENV_DIR] = directory
    atexit.register(shutil.rmtree, directory, True)
    return directory


def private_dir(path: Path, parents: bool = False) -> None:
    """Create ``path`` (mode 0700) if needed; raise ``PermissionError`` if another user owns it."""
    path.mkdir(mode=0o700, parents=parents, exist_ok=True)
    if path.stat().st_uid != os.getuid():
        # Another user could then read the sockets' traffic or plant fake workers.
        raise PermissionError(f'shared bus directory {path} belongs to another user')


def listening(path: str) -> bool:
    """Whether a process still listens on the Unix socket ``path`` (connect is immediate either way)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True  # e.g. a full backlog: alive, just busy
    return True


def listen_at(path: str) -> socket.socket:
    """A listening, non-blocking Unix socket that appears at ``path`` only once it listens (mode 0600).

    Binding at ``path`` directly would leave a moment between bind and listen in which
    another worker's sweep finds the file, gets "connection refused", takes this worker
    for dead and unlinks its socket: this one would then fail to start or be unreachable.
    So the socket is bound under a name sweeps ignore and renamed into place.
    """
    staging = f'{path}.{os.getpid()}.binding'
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
        listener.bind(staging)
        os.chmod(staging, 0o600)
        listener.listen(1024)
        os.rename(staging, path)
    except BaseException:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise
    listener.setblocking(False)
    return listener


class WorkerDirectory:
    """The files of one shared directory: worker sockets and group markers."""

    def __init__(self, path: str | os.PathLike[str], private_parent: bool = False) -> None:
        self.path = Path(path)
        self.private_parent = private_parent  # the parent is panther's own per-user directory

    def create(self) -> None:
        """Create the directory and ``groups/`` (0700), refusing ones another user owns."""
        if self.private_parent:
            private_dir(self.path.parent)
        private_dir(self.path, parents=True)
        private_dir(self.path / 'groups')

    def socket(self, worker_id: str) -> str:
        """Where ``worker_id`` listens."""
        return str(self.path / f'{worker_id}.sock')

    def group(self, name: str) -> Path:
        """The directory of ``name``'s markers."""
        # A digest keeps any group name a valid, bounded file name.
        return self.path / 'groups' / hashlib.blake2b(name.encode(), digest_size=16).hexdigest()

    def workers(self) -> list[str]:
        """Ids of the workers with a socket file here (alive or not)."""
        found = []
        with contextlib.suppress(OSError), os.scandir(self.path) as entries:
            for entry in entries:
                worker_id, _, suffix = entry.name.partition('.')
                if suffix == 'sock':
                    found.append(worker_id)
        return found

    def mark(self, name: str, worker_id: str) -> None:
        """Record that ``worker_id`` has members of ``name``; ``OSError`` if it cannot."""
        directory = self.group(name)
        for _ in range(5):  # another worker may remove the empty directory in between
            try:
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                (directory / worker_id).touch()
            except FileNotFoundError:
                continue
            return
        raise OSError(f'shared bus: cannot record membership of group {name!r} in {directory}')

    def unmark(self, name: str, worker_id: str) -> None:
        """Remove ``worker_id``'s marker of ``name`` (and the group's directory once empty)."""
        directory = self.group(name)
        with contextlib.suppress(OSError):
            (directory / worker_id).unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()

    def marked(self, name: str) -> list[str]:
        """Ids of the workers with a marker of ``name``."""
        try:
            names = os.listdir(self.group(name))
        except FileNotFoundError:
            return []
        return [w for w in names if len(w) == WORKER_ID_LENGTH]

    def forget(self, worker_id: str) -> None:
        """Remove what a dead worker left behind: its socket file and its group markers."""
        with contextlib.suppress(OSError):
            os.unlink(self.socket(worker_id))
        with contextlib.suppress(OSError), os.scandir(self.path / 'groups') as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(entry.path, worker_id))

    def remove(self) -> None:
        """Remove the group markers and the directory, if nothing else is left in it."""
        shutil.rmtree(self.path / 'groups', ignore_errors=True)
        with contextlib.suppress(OSError):
            self.path.rmdir()
