"""A TCP proxy a test controls: forwards to an upstream port, and cuts every connection on demand.

``cut()`` aborts both sides at once (no close frame, no FIN handshake with the
peer), as a network drop does. ``upstreams`` may list several ports; each new
connection goes to the one ``choose()`` returns (round robin by default).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class TcpProxy:
    def __init__(self, upstreams: list[int], host: str = '127.0.0.1') -> None:
        self.upstreams = upstreams
        self.host = host
        self.port = 0
        self.connections = 0
        #: While True, new connections are dropped at once (the network is down).
        self.down = False
        self.choose: Callable[[int], int] = lambda n: upstreams[n % len(upstreams)]
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, path: str) -> str:
        return f'ws://{self.host}:{self.port}/{path.lstrip("/")}'

    def cut(self) -> int:
        """Abort every proxied connection now; returns how many were cut."""
        pairs = list(self._pairs)
        for a, b in pairs:
            a.transport.abort()
            b.transport.abort()
        self._pairs.clear()
        return len(pairs)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        port = self.choose(self.connections)
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass  # the proxy is closing
        finally:
            self._pairs.discard(pair)
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
