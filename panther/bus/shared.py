"""The shared-local bus: several workers on one machine, no external service.

The workers meet in a private directory (``shared_dir``: where it comes from,
its layout, liveness) and talk over Unix sockets (``shared_wire``: the bytes).

A sender keeps one stream per peer worker, so everything one worker sends to
another arrives in order, and the frames of one burst go out in one write
(``_Peer.queue``). A group send lists the group's markers and writes one frame
to each worker found there, never one per member. ``group_members`` asks those
workers over a short query connection for their member ids.

The first contact with a worker that is refused (the kernel closed a dead
process's socket) removes the dead worker's socket file and group markers, so
its members disappear from ``group_members`` at once. A worker that is alive
but does not answer a membership query within ``query_timeout`` seconds is left
out of that one answer (with a warning).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from panther.bus import shared_wire
from panther.bus.base import Bus, Deliver, LocalGroups
from panther.bus.shared_dir import WorkerDirectory, listen_at, listening

logger = logging.getLogger('panther')

_HIGH_WATER = 4 * 1024 * 1024  # bytes queued to one peer before a sender waits for it to read
_GATHER_PASSES = 16  # loop passes a peer's write waits at most while more frames still come


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
        if self.mode == shared_wire.STREAM:
            deliver = self.bus._deliver
            for message in shared_wire.read_frames(buffer):
                try:
                    deliver(message)
                except Exception:
                    logger.exception('shared bus: a message could not be delivered; going on')
        elif self.mode == shared_wire.QUERY:
            name = shared_wire.read_query(buffer)
            if name is not None and self.transport is not None:
                self.transport.write(shared_wire.answer(self.bus._groups.get(name, ())))
                self.transport.close()
        elif self.transport is not None:
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
        transport.write(shared_wire.STREAM + b''.join(self.pending))  # type: ignore[attr-defined]
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
            self.write()
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
        self.write()

    def write(self) -> None:
        """Write every queued frame now (or drop them if the peer went away)."""
        frames, self.outgoing, self.outgoing_bytes = self.outgoing, [], 0
        if self.transport is not None:
            self.transport.write(b''.join(frames))
        else:
            logger.debug('shared bus: worker %s went away; %d message(s) dropped', self.worker_id, len(frames))

    def close(self) -> None:
        """Write what is still queued, then close (the transport still sends what it buffered)."""
        if self.outgoing:
            self.write()
        if self.transport is not None:
            self.transport.close()

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
        """``directory`` is the one every worker of this server shares (see ``shared_dir``);
        ``private_parent`` also checks its parent is this user's; ``query_timeout`` bounds
        a membership query to one worker."""
        self.directory = WorkerDirectory(directory, private_parent)
        self.query_timeout = query_timeout
        self.worker_id = ''
        self._groups: LocalGroups = {}
        self._marked: set[str] = set()
        self._peers: dict[str, _Peer] = {}
        self._opening: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, worker_id: str, deliver: Deliver, groups: LocalGroups | None = None) -> None:
        self.worker_id = worker_id
        self._deliver = deliver
        self._groups = groups if groups is not None else {}
        path = self.directory.socket(worker_id)
        for attempt in range(3):
            self.directory.create()
            try:
                listener = listen_at(path)
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
            os.unlink(self.directory.socket(self.worker_id))
        for name in list(self._marked):
            self._unmark(name)
        for task in self._opening:
            task.cancel()
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)
        for peer in list(self._peers.values()):
            peer.close()
        self._peers.clear()
        if self._sweep():
            self.directory.remove()  # the last worker out tidies up

    def _sweep(self) -> bool:
        """Forget workers that died without stopping (SIGKILL); True if no other worker is alive."""
        alone = True
        for worker_id in self.directory.workers():
            if worker_id == self.worker_id:
                continue
            if listening(self.directory.socket(worker_id)):
                alone = False
            else:
                self.directory.forget(worker_id)
        return alone

    # -- sending -----------------------------------------------------------------

    async def send(self, worker_id: str, message: bytes) -> None:
        frame = shared_wire.frame(message)
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
            await asyncio.get_running_loop().create_unix_connection(
                lambda: peer, self.directory.socket(peer.worker_id))
        except (FileNotFoundError, ConnectionRefusedError):
            logger.debug('shared bus: worker %s is gone; %d message(s) dropped', peer.worker_id, len(peer.pending))
            self.directory.forget(peer.worker_id)
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

    # -- groups ------------------------------------------------------------------

    async def group_add(self, name: str, connection_id: str) -> None:
        if name not in self._marked:
            self.directory.mark(name, self.worker_id)
            self._marked.add(name)

    async def group_discard(self, name: str, connection_id: str) -> None:
        if name in self._marked and not self._groups.get(name):
            self._unmark(name)

    def _unmark(self, name: str) -> None:
        self._marked.discard(name)
        self.directory.unmark(name, self.worker_id)

    def _workers_of(self, name: str) -> list[str]:
        own = self.worker_id
        return [w for w in self.directory.marked(name) if w != own]

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
        writer = None
        try:
            async with asyncio.timeout(self.query_timeout):
                reader, writer = await asyncio.open_unix_connection(self.directory.socket(worker_id))
                writer.write(shared_wire.query(name))
                size = shared_wire.answer_size(await reader.readexactly(4))
                body = await reader.readexactly(size)
        except (FileNotFoundError, ConnectionRefusedError):
            self.directory.forget(worker_id)
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
        return shared_wire.read_answer(body)
