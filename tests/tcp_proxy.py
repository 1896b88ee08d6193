"""A TCP proxy a test controls: everything through it can be cut at once, as a network drop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target>, in a thread of its own.

    ``cut()`` aborts every connection open through it (both sides see a reset, no
    close frame: what a phone changing cell looks like to a server); new connections
    are accepted again right after, unless ``hold()`` was called (``release()`` undoes it).
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._holding = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError('proxy did not start')
        return self

    def stop(self) -> None:
        self._call(self._close_all)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def cut(self) -> int:
        """Abort every open connection; returns how many were cut."""
        return self._call(self._close_all)

    def hold(self) -> None:
        """Refuse (reset) new connections until ``release()``."""
        self._holding = True

    def release(self) -> None:
        self._holding = False

    def _call(self, fn):
        future = asyncio.run_coroutine_threadsafe(self._async(fn), self._loop)
        return future.result(10)

    @staticmethod
    async def _async(fn):
        return fn()

    def _close_all(self) -> int:
        pairs, self._pairs = self._pairs, set()
        for client, upstream in pairs:
            for writer in (client, upstream):
                sock = writer.get_extra_info('socket')
                with contextlib.suppress(OSError):
                    # SO_LINGER 0: close with a reset, as a broken network would.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
                writer.transport.abort()
        return len(pairs)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, '127.0.0.1', 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._holding:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection('127.0.0.1', self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._pairs.discard(pair)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if not writer.transport.is_closing():
                    writer.write_eof()


@contextlib.contextmanager
def tcp_proxy(target: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target).start()
    try:
        yield proxy
    finally:
        proxy.stop()
