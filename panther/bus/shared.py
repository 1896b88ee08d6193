"""The shared-local bus: several workers on one machine, no external service.

Layout of the shared directory (mode 0700, one per server instance)::

    <dir>/<worker id>.sock                  each worker listens here (Unix-domain socket)
    <dir>/groups/<digest>/<worker id>       exists while that worker has members of the group

A sender keeps one stream per peer worker, so everything one worker sends to
another arrives in order. Frames are ``<length:4> <envelope>``; nothing is
re-encoded on the way, and the frames of one burst go out in one write
(``_Peer.queue``). A group send lists the group's directory and writes one
frame to each worker found there, never one per member. ``group_members`` asks
those workers over a short query connection (``Q`` mode) for their member ids.

Liveness needs no heartbeat: the kernel closes a process's listening socket when
the process dies (even by SIGKILL), so the next connect to it is refused. The
first contact that is refused removes the dead worker's socket file and group
markers, so its members disappear from ``group_members`` at once. A worker that is
alive but does not answer a membership query within ``query_timeout`` seconds is
left out of that one answer (with a warning).

Where the directory comes from:

- ``panther run main:app --workers N`` creates one and passes it to the workers in
  the ``PANTHER_BUS_DIR`` environment variable (``share_between_workers``);
- ``gunicorn --preload``: the app is built once in the master, which forks the
  workers; each worker derives the same directory from the master's pid and a
  random token drawn when the app was built (``preload_directory``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from panther.bus.base import Bus, Deliver, LocalGroups
from panther.connection_ids import CONNECTION_ID_LENGTH, WORKER_ID_LENGTH

logger = logging.getLogger('panther')

ENV_DIR = 'PANTHER_BUS_DIR'

_STREAM, _QUERY = b'M', b'Q'
_HIGH_WATER = 4 * 1024 * 1024  # bytes queued to one peer before a sender waits for it to read
_GATHER_PASSES = 16  # loop passes a peer's write waits at most while more frames still come


def preload_directory(built_pid: int, token: str) -> str:
    """The directory every worker forked from the process ``built_pid`` shares."""
    return os.path.join(tempfile.gettempdir(), f'panther-{os.getuid()}', f'{built_pid}-{token}')


def share_between_workers(uvicorn_args: list[str], settings: Any = None) -> str | None:
    """For ``panther run --workers N``: create a shared directory and export it to the workers.

    Called before uvicorn spawns its workers (they inherit the environment). Does
    nothing for one worker, when Redis is configured, or when ``PANTHER_BUS_DIR``
    is already set. Returns the directory, if one was created.
    """
    workers = _option_int(uvicorn_args, ('--workers',)) or _int(os.environ.get('WEB_CONCURRENCY'))
    if not workers or workers < 2 or os.environ.get(ENV_DIR) or getattr(settings, 'REDIS', None):
        return None
    directory = tempfile.mkdtemp(prefix='panther-bus-')
    os.environ[ENV_DIR] = directory
    atexit.register(shutil.rmtree, directory, True)
    return directory


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _option_int(args: list[str], names: tuple[str, ...], short: str | None = None) -> int | None:
    """The integer value of an option like ``--workers 3``, ``--workers=3``, ``-w3``."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return _int(args[i + 1])
            if arg.startswith(name + '='):
                return _int(arg.partition('=')[2])
        if short and arg.startswith(short):
            if arg == short and i + 1 < len(args):
                return _int(args[i + 1])
            if arg != short and not arg.startswith('--'):
                return _int(arg[len(short):].lstrip('='))
    return None


def _private_dir(path: Path, parents: bool = False) -> None:
    path.mkdir(mode=0o700, parents=parents, exist_ok=True)
    if path.stat().st_uid != os.getuid():
        # Another user could then read the sockets' traffic or plant fake workers.
        raise PermissionError(f'shared bus directory {path} belongs to another user')


def _listening(path: str) -> bool:
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


def _listen_at(path: str) -> socket.socket:
    """A listening Unix socket that appears at ``path`` only once it listens (mode 0600).

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


class _Inbound(asyncio.Protocol):
    """One connection from another worker: a stream of frames, or one membership query."""

    def __init__(self, bus: SharedBus) -> None:
        self.bus = bus
        self.buffer = bytearray()
        self.mode: bytes | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.mode is None:
            self.mode = bytes(buffer[:1])
            del buffer[:1]
        if self.mode == _STREAM:
            self._frames()
        elif self.mode == _QUERY:
            self._query()
        elif self.transport is not None:
            self.transport.close()

    def _frames(self) -> None:
        buffer = self.buffer
        deliver = self.bus._deliver
        size_total = len(buffer)
        position = 0
        while size_total - position >= 4:
            end = position + 4 + int.from_bytes(buffer[position:position + 4], 'big')
            if end > size_total:
                break
            try:
                deliver(bytes(buffer[position + 4:end]))
            except Exception:
                logger.exception('shared bus: a message could not be delivered; going on')
            position = end
        if position:
            del buffer[:position]

    def _query(self) -> None:
        buffer = self.buffer
        if len(buffer) < 2:
            return
        size = int.from_bytes(buffer[:2], 'big')
        if len(buffer) < 2 + size:
            return
        name = buffer[2:2 + size].decode()
        members = tuple(self.bus._groups.get(name, ()))
        assert self.transport is not None
        self.transport.write(len(members).to_bytes(4, 'big') + ''.join(members).encode())
        self.transport.close()


class _Peer(asyncio.Protocol):
    """This worker's outgoing stream to one other worker."""

    def __init__(self, bus: SharedBus, worker_id: str) -> None:
        self.bus = bus
        self.worker_id = worker_id
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []  # frames sent while the connection was being opened
        self.writable: asyncio.Future[None] | None = None
        self.outgoing: list[bytes] = []  # frames waiting for the next write (see queue)
        self.outgoing_bytes = 0
        self._seen = 0  # len(outgoing) when the flush was last scheduled
        self._passes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Flush what waited here, before any later send can write directly.
        transport.write(_STREAM + b''.join(self.pending))  # type: ignore[attr-defined]
        self.pending.clear()
        self.transport = transport  # type: ignore[assignment]

    def queue(self, frame: bytes) -> None:
        """Write ``frame`` soon, together with the frames sent in the next few loop passes.

        Every write to the peer's socket also wakes the peer; on a busy worker the
        frames of one read burst reach ``send`` a few task hops apart, so the write
        waits while the list still grows (at most ``_GATHER_PASSES`` passes, never
        once it stops growing) and the peer is woken once for all of them. Past
        ``_HIGH_WATER`` bytes it writes at once, so a sender that never yields
        still meets the transport's flow control.
        """
        outgoing = self.outgoing
        outgoing.append(frame)
        self.outgoing_bytes += len(frame)
        if self.outgoing_bytes >= _HIGH_WATER:
            self._write()
        elif len(outgoing) == 1:
            self._seen, self._passes = 1, 0
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        size = len(self.outgoing)
        if not size:
            return  # written early by queue
        if size != self._seen and self._passes < _GATHER_PASSES:
            self._seen = size
            self._passes += 1
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._write()

    def _write(self) -> None:
        frames, self.outgoing, self.outgoing_bytes = self.outgoing, [], 0
        if self.transport is not None:
            self.transport.write(b''.join(frames))
        else:
            logger.debug('shared bus: worker %s went away; %d message(s) dropped', self.worker_id, len(frames))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.bus._lost(self)
        self.resume_writing()

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)


class SharedBus(Bus):
    kind = 'shared-local'

    def __init__(self, directory: str | os.PathLike[str], query_timeout: float = 2.0,
                 private_parent: bool = False) -> None:
        self.directory = Path(directory)
        self.private_parent = private_parent  # the parent is panther's own per-user directory
        self.query_timeout = query_timeout
        self.worker_id = ''
        self._groups: LocalGroups = {}
        self._marked: set[str] = set()
        self._peers: dict[str, _Peer] = {}
        self._opening: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None

    # -- paths -------------------------------------------------------------------

    def _socket(self, worker_id: str) -> str:
        return str(self.directory / f'{worker_id}.sock')

    def _group_dir(self, name: str) -> Path:
        # A digest keeps any group name a valid, bounded file name.
        return self.directory / 'groups' / hashlib.blake2b(name.encode(), digest_size=16).hexdigest()

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, worker_id: str, deliver: Deliver, groups: LocalGroups | None = None) -> None:
        self.worker_id = worker_id
        self._deliver = deliver
        self._groups = groups if groups is not None else {}
        path = self._socket(worker_id)
        for attempt in range(3):
            if self.private_parent:
                _private_dir(self.directory.parent)
            _private_dir(self.directory, parents=True)
            _private_dir(self.directory / 'groups')
            try:
                listener = _listen_at(path)
                break
            except FileNotFoundError:
                if attempt == 2:  # the last worker of an earlier run was removing the directory
                    raise
        self._server = await asyncio.get_running_loop().create_unix_server(lambda: _Inbound(self), sock=listener)
        self._sweep()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        with contextlib.suppress(OSError):
            os.unlink(self._socket(self.worker_id))
        for name in list(self._marked):
            self._unmark(name)
        for task in self._opening:
            task.cancel()
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)
        for peer in list(self._peers.values()):
            if peer.outgoing:
                peer._write()  # close() below still sends what the transport buffered
            if peer.transport is not None:
                peer.transport.close()
        self._peers.clear()
        if self._sweep():
            # The last worker out tidies up.
            shutil.rmtree(self.directory / 'groups', ignore_errors=True)
            with contextlib.suppress(OSError):
                self.directory.rmdir()

    def _sweep(self) -> bool:
        """Forget workers that died without stopping (SIGKILL); True if no other worker is alive."""
        alone = True
        with contextlib.suppress(OSError), os.scandir(self.directory) as entries:
            for entry in entries:
                worker_id, _, suffix = entry.name.partition('.')
                if suffix != 'sock' or worker_id == self.worker_id:
                    continue
                if _listening(entry.path):
                    alone = False
                else:
                    self._forget(worker_id)
        return alone

    # -- sending -----------------------------------------------------------------

    async def send(self, worker_id: str, message: bytes) -> None:
        frame = len(message).to_bytes(4, 'big') + message
        peer = self._peers.get(worker_id)
        if peer is None:
            peer = self._peers[worker_id] = _Peer(self, worker_id)
            task = asyncio.get_running_loop().create_task(self._open(peer))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)
        if peer.transport is None:
            peer.pending.append(frame)
            return
        peer.queue(frame)
        if peer.writable is not None:
            await asyncio.shield(peer.writable)

    async def _open(self, peer: _Peer) -> None:
        try:
            await asyncio.get_running_loop().create_unix_connection(lambda: peer, self._socket(peer.worker_id))
        except (FileNotFoundError, ConnectionRefusedError):
            logger.debug('shared bus: worker %s is gone; %d message(s) dropped', peer.worker_id, len(peer.pending))
            self._forget(peer.worker_id)
        except OSError as exc:
            logger.warning('shared bus: cannot reach worker %s (%s); %d message(s) dropped',
                           peer.worker_id, exc, len(peer.pending))
        else:
            return
        peer.pending.clear()
        if self._peers.get(peer.worker_id) is peer:
            del self._peers[peer.worker_id]

    def _lost(self, peer: _Peer) -> None:
        if self._peers.get(peer.worker_id) is peer:
            del self._peers[peer.worker_id]

    def _forget(self, worker_id: str) -> None:
        """Remove what a dead worker left behind: its socket file and its group markers."""
        with contextlib.suppress(OSError):
            os.unlink(self._socket(worker_id))
        with contextlib.suppress(OSError), os.scandir(self.directory / 'groups') as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(entry.path, worker_id))

    # -- groups ------------------------------------------------------------------

    async def group_add(self, name: str, connection_id: str) -> None:
        if name not in self._marked:
            self._mark(name)

    async def group_discard(self, name: str, connection_id: str) -> None:
        if name in self._marked and not self._groups.get(name):
            self._unmark(name)

    def _mark(self, name: str) -> None:
        directory = self._group_dir(name)
        for _ in range(5):  # another worker may remove the empty directory in between
            try:
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                (directory / self.worker_id).touch()
            except FileNotFoundError:
                continue
            self._marked.add(name)
            return
        raise OSError(f'shared bus: cannot record membership of group {name!r} in {directory}')

    def _unmark(self, name: str) -> None:
        self._marked.discard(name)
        directory = self._group_dir(name)
        with contextlib.suppress(OSError):
            (directory / self.worker_id).unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()

    def _workers_of(self, name: str) -> list[str]:
        try:
            names = os.listdir(self._group_dir(name))
        except FileNotFoundError:
            return []
        own = self.worker_id
        return [w for w in names if w != own and len(w) == WORKER_ID_LENGTH]

    async def group_send(self, name: str, message: bytes) -> None:
        for worker_id in self._workers_of(name):
            await self.send(worker_id, message)

    async def group_members(self, name: str) -> list[str]:
        workers = self._workers_of(name)
        if not workers:
            return []
        answers = await asyncio.gather(*(self._ask(w, name) for w in workers))
        return [member for answer in answers for member in answer]

    async def _ask(self, worker_id: str, name: str) -> list[str]:
        raw_name = name.encode()
        writer = None
        try:
            async with asyncio.timeout(self.query_timeout):
                reader, writer = await asyncio.open_unix_connection(self._socket(worker_id))
                writer.write(_QUERY + len(raw_name).to_bytes(2, 'big') + raw_name)
                count = int.from_bytes(await reader.readexactly(4), 'big')
                body = (await reader.readexactly(count * CONNECTION_ID_LENGTH)).decode()
        except (FileNotFoundError, ConnectionRefusedError):
            self._forget(worker_id)
            return []
        except TimeoutError:
            logger.warning('shared bus: worker %s did not answer within %.1f s; its members of %r are left out',
                           worker_id, self.query_timeout, name)
            return []
        except (OSError, asyncio.IncompleteReadError) as exc:
            logger.warning('shared bus: membership query to worker %s failed (%r)', worker_id, exc)
            return []
        finally:
            if writer is not None:
                writer.close()
        return [body[i:i + CONNECTION_ID_LENGTH] for i in range(0, len(body), CONNECTION_ID_LENGTH)]
